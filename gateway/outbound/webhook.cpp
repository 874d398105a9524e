#include "gateway/outbound/webhook.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <utility>
#include <vector>

#include "adapters/common/cipher.hpp"
#include "adapters/common/crypto.hpp"
#include "adapters/http/curl_executor.hpp"
#include "adapters/sms/sms_adapter.hpp"
#include "gateway/responders/consent.hpp"

namespace rabta::gateway {

namespace {

using ordered_json = nlohmann::ordered_json;

constexpr std::array<std::string_view, 4> kEvents = {"opened", "acknowledged", "closed",
                                                     "escalated"};

// Her consent, fail-closed: only an explicit yes counts.
bool granted(const std::optional<bool>& consent) {
  return consent.has_value() && *consent;
}

std::string dump(const ordered_json& j) {
  // Invalid UTF-8 (never expected: every value is a code, a name or a validated answer) is
  // replaced rather than thrown, so one odd value cannot wedge a case's events.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::optional<std::string> hex_decode(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = hex_value(hex[i]);
    const int lo = hex_value(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

// The key that encrypts her number inside webhook rows: derived from the sink secret (which
// lives outside the database) with a label of its own, so it is never the signing key itself.
common::FieldCipher payload_cipher(const WebhookSink& sink) {
  const auto derived =
      hex_decode(common::hmac_sha256_hex(sink.secret, "rabta.webhook.phone_enc.v1"));
  common::FieldCipher::Key key{};
  if (!derived || derived->size() != key.size())
    throw std::logic_error("webhook: key derivation failed");
  std::copy(derived->begin(), derived->end(), key.begin());
  return common::FieldCipher({{1, key}}, 1);
}

// What a row holds sealed (SECURITY #11): her number, her district and when she is safe to call,
// each as "<name>_enc" bound to its row and name by "outbox.webhook_<name>:<dedupe key>".
bool sealed_in_row(std::string_view name) {
  return name == "phone" || name == "district" || name == "call_time";
}

std::string sealed_associated_data(std::string_view dedupe_key, std::string_view name) {
  return "outbox.webhook_" + std::string(name) + ":" + std::string(dedupe_key);
}

std::string dedupe_key_of(const WebhookSink& sink, const std::string& event,
                          const std::string& reference) {
  return webhook_kind(sink.name) + ":" + event + ":" + reference;
}

// The case reference a row is about, from its cause ("case:<reference>"), or "".
std::string reference_of(const store::OutboxRecord& row) {
  constexpr std::string_view prefix = "case:";
  if (row.cause.size() <= prefix.size() || row.cause.compare(0, prefix.size(), prefix) != 0)
    return {};
  return row.cause.substr(prefix.size());
}

// Only digits, at most 18 of them (no sign, no overflow).
std::optional<std::int64_t> parse_seconds(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  std::int64_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

// curl's message for a transport failure, with anything that could be a URL's query cut off.
std::string transport_error(const std::string& message) {
  std::string m = message.substr(0, message.find('?'));
  if (m.size() > 200) m.resize(200);
  return "transport error: " + m;
}

// Submits outcome jobs to the store's writer (they commit together) and waits for all of them.
class Recorder {
 public:
  explicit Recorder(store::Store& store) : store_(store), state_(std::make_shared<State>()) {}
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;
  ~Recorder() { wait(); }

  void add(std::int64_t outbox_id, const char* what, store::Job job) {
    {
      std::lock_guard lock(state_->mutex);
      ++state_->outstanding;
    }
    store_.submit(std::move(job), [state = state_, outbox_id, what](const store::JobResult& r) {
      if (!r.ok) spdlog::error("webhook outbox {}: {} not recorded: {}", outbox_id, what, r.error);
      std::lock_guard lock(state->mutex);
      --state->outstanding;
      state->cv.notify_all();
    });
  }
  void sent(std::int64_t id, std::int64_t now) {
    add(id, "sent", [id, now](store::Tx& tx) { tx.outbox_sent(id, "", now); });
  }
  void retry(std::int64_t id, std::int64_t not_before, std::string error, std::int64_t now) {
    add(id, "retry", [id, not_before, error = std::move(error), now](store::Tx& tx) {
      tx.outbox_retry(id, not_before, error, now);
    });
  }
  void dead(std::int64_t id, std::string error, std::int64_t now) {
    add(id, "dead",
        [id, error = std::move(error), now](store::Tx& tx) { tx.outbox_dead(id, error, now); });
  }
  void wait() {
    std::unique_lock lock(state_->mutex);
    state_->cv.wait(lock, [this] { return state_->outstanding == 0; });
  }

 private:
  struct State {
    std::mutex mutex;
    std::condition_variable cv;
    int outstanding = 0;
  };
  store::Store& store_;
  std::shared_ptr<State> state_;
};

// A claimed row with her consent as it stands now.
struct Claimed {
  store::OutboxRecord row;
  std::optional<bool> referral;
  std::optional<bool> callback;
};

}  // namespace

// --- Pure pieces

bool is_webhook_event(std::string_view event) {
  return std::find(kEvents.begin(), kEvents.end(), event) != kEvents.end();
}

std::string webhook_kind(std::string_view sink_name) {
  return std::string(webhook_kind_prefix) + std::string(sink_name);
}

std::string case_webhook_payload(const store::CaseRecord& c, const std::string& event,
                                 const WebhookFacts& facts, std::int64_t now_ms) {
  if (!is_webhook_event(event)) throw std::invalid_argument("webhook: unknown event");
  ordered_json j;
  j["event"] = event;
  j["reference"] = c.reference;
  j["severity"] = c.severity;
  j["category"] = c.category;
  j["status"] = c.status;
  j["team"] = c.team;
  j["created_at"] = c.created_at;
  j["sent_at"] = now_ms;
  j["idempotency_key"] = event + ":" + c.reference;
  // SAFETY D3: nothing identifying without her referral consent; her number also needs her
  // callback consent. A consent never asked is a no.
  if (granted(facts.referral_consent)) {
    j["district"] = facts.district;
    j["call_time"] = facts.call_time;
    if (granted(facts.callback_consent) && !facts.phone.empty()) j["phone"] = facts.phone;
  }
  return dump(j);
}

std::string sign(const std::string& secret, std::int64_t t, const std::string& body) {
  const std::string ts = std::to_string(t);
  return "t=" + ts + ",v1=" + common::hmac_sha256_hex(secret, ts + "." + body);
}

bool verify_signature(const std::string& secret, std::string_view header_value,
                      const std::string& body, std::int64_t now_s, std::int64_t tolerance_s) {
  if (secret.empty() || tolerance_s < 0 || now_s < 0) return false;
  std::optional<std::int64_t> t;
  std::vector<std::string_view> candidates;
  std::size_t start = 0;
  while (start <= header_value.size()) {
    const std::size_t comma = std::min(header_value.find(',', start), header_value.size());
    const std::string_view part = header_value.substr(start, comma - start);
    start = comma + 1;
    const std::size_t eq = part.find('=');
    if (eq == std::string_view::npos) return false;
    const std::string_view name = part.substr(0, eq);
    const std::string_view value = part.substr(eq + 1);
    if (name == "t") {
      if (t) return false;  // two timestamps: ambiguous
      t = parse_seconds(value);
      if (!t) return false;
    } else if (name == "v1") {
      candidates.push_back(value);
    }  // other schemes are ignored
  }
  if (!t || candidates.empty()) return false;
  const std::int64_t age = *t > now_s ? *t - now_s : now_s - *t;
  if (age > tolerance_s) return false;
  const std::string expected = common::hmac_sha256_hex(secret, std::to_string(*t) + "." + body);
  bool match = false;
  for (const auto& candidate : candidates)
    match = common::constant_time_equal(expected, candidate) || match;  // no early exit
  return match;
}

store::OutboxRecord make_webhook_outbox(const WebhookSink& sink, const store::CaseRecord& c,
                                        const std::string& event, const WebhookFacts& facts,
                                        std::int64_t now_ms) {
  if (sink.name.empty()) throw std::invalid_argument("webhook: the sink has no name");
  if (sink.secret.empty()) throw std::invalid_argument("webhook: the sink has no secret");
  if (c.reference.empty()) throw std::invalid_argument("webhook: the case has no reference");
  const std::string key = dedupe_key_of(sink, event, c.reference);

  const auto plain = ordered_json::parse(case_webhook_payload(c, event, facts, now_ms));
  const common::FieldCipher cipher = payload_cipher(sink);
  ordered_json j = ordered_json::object();
  for (const auto& [name, value] : plain.items()) {
    if (sealed_in_row(name))
      j[name + "_enc"] = common::hex_encode(
          cipher.encrypt(value.get<std::string>(), sealed_associated_data(key, name)));
    else
      j[name] = value;
  }

  store::OutboxRecord row;
  row.kind = webhook_kind(sink.name);
  row.dedupe_key = key;
  row.payload = dump(j);
  row.cause = "case:" + c.reference;
  row.status = store::outbox_status::pending;
  row.created_at = now_ms;
  row.not_before = now_ms;
  row.expires_at = 0;  // case events never expire: a dead letter stays visible instead
  return row;
}

std::optional<WebhookDelivery> read_webhook_payload(const WebhookSink& sink,
                                                    const store::OutboxRecord& row,
                                                    std::optional<bool> referral_consent,
                                                    std::optional<bool> callback_consent) {
  const auto j = ordered_json::parse(row.payload, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  const auto event = j.find("event");
  const auto reference = j.find("reference");
  if (event == j.end() || !event->is_string() || !is_webhook_event(event->get<std::string>()) ||
      reference == j.end() || !reference->is_string() || reference->get<std::string>().empty() ||
      j.contains("phone"))
    return std::nullopt;  // "phone" in clear was never written by make_webhook_outbox

  const bool referral = granted(referral_consent);
  const bool callback = referral && granted(callback_consent);
  std::optional<common::FieldCipher> cipher;  // derived from the secret once, when needed
  ordered_json out = ordered_json::object();
  for (const auto& [name, value] : j.items()) {
    const std::string base =
        name.ends_with("_enc") ? name.substr(0, name.size() - 4) : std::string();
    if (sealed_in_row(base)) {
      // Withdrawn since it was queued: left out, never decrypted.
      if (!(base == "phone" ? callback : referral)) continue;
      if (!value.is_string()) return std::nullopt;
      const auto blob = hex_decode(value.get<std::string>());
      if (!blob) return std::nullopt;
      if (!cipher) cipher.emplace(payload_cipher(sink));
      auto opened = cipher->decrypt(*blob, sealed_associated_data(row.dedupe_key, base));
      if (!opened) return std::nullopt;
      out[base] = std::move(*opened);
    } else if (name == "district" || name == "call_time") {
      if (referral) out[name] = value;  // a row queued before they were sealed
    } else {
      out[name] = value;
    }
  }
  return WebhookDelivery{dump(out), event->get<std::string>(), reference->get<std::string>()};
}

WebhookOutcome classify_webhook_status(long status) {
  if (status >= 200 && status <= 299) return WebhookOutcome::sent;
  if (status == 0 || status == 408 || status == 429 || (status >= 500 && status <= 599))
    return WebhookOutcome::retry;
  return WebhookOutcome::dead;
}

// --- The dispatcher

WebhookDispatcher::WebhookDispatcher(store::Store& store, WebhookSink sink, const Clock& clock,
                                     WebhookDispatcherOptions options,
                                     std::function<double()> random01)
    : store_(store),
      sink_(std::move(sink)),
      kind_(webhook_kind(sink_.name)),
      clock_(clock),
      options_(options),
      random01_(std::move(random01)),
      bucket_(options.rate_per_second, clock.now_ms()),
      loop_("webhook " + sink_.name, options_.poll_interval, [this] {
        std::lock_guard lock(pass_mutex_);
        pass();
        return more_due_;
      }) {
  if (sink_.name.empty()) throw std::invalid_argument("webhook: the sink has no name");
  if (sink_.secret.empty())
    throw std::invalid_argument("webhook " + sink_.name + ": no secret: nothing is sent unsigned");
  if (const std::string problem = webhook_url_problem(sink_.url); !problem.empty())
    throw std::invalid_argument("webhook " + sink_.name + ": " + problem);
  if (options_.batch < 1) throw std::invalid_argument("webhook: batch must be at least 1");
  if (options_.max_attempts < 1)
    throw std::invalid_argument("webhook: max_attempts must be at least 1");
  if (options_.lease <= options_.send_timeout)
    throw std::invalid_argument("webhook: lease must be longer than send_timeout");
  if (options_.backoff_base.count() < 0 || options_.backoff_cap.count() < 0)
    throw std::invalid_argument("webhook: backoff must not be negative");
  if (options_.rate_per_second < 0 || std::isnan(options_.rate_per_second))
    throw std::invalid_argument("webhook: the rate must not be negative");
  if (!random01_) throw std::invalid_argument("webhook: no random source");
  http_ = std::make_unique<CurlExecutor>();
}

WebhookDispatcher::~WebhookDispatcher() {
  stop();
}

WebhookDispatcher::PassResult WebhookDispatcher::run_once() {
  std::lock_guard lock(pass_mutex_);
  return pass();
}

WebhookDispatcher::PassResult WebhookDispatcher::pass() {
  PassResult result;
  more_due_ = false;
  const std::int64_t now = clock_.now_ms();

  if (!released_stale_) {
    int released = 0;
    const auto r = store_.run([&](store::Tx& tx) { released = tx.release_stale_outbox(now); });
    if (r.ok) {
      released_stale_ = true;
      if (released > 0) spdlog::info("outbox: {} stale sending rows back to pending", released);
    } else {
      spdlog::error("outbox: releasing stale rows failed: {}", r.error);
    }
  }

  const int limit = std::min(options_.batch, bucket_.available(now));
  if (limit <= 0) return result;

  // Claim, and read her consent as it stands now, in one transaction (SAFETY D3).
  std::vector<Claimed> claimed;
  const std::int64_t lease_until = now + options_.lease.count();
  const auto r = store_.run([&](store::Tx& tx) {
    claimed.clear();
    for (auto& row : tx.claim_outbox(now, lease_until, limit, kind_)) {
      Claimed c{std::move(row), std::nullopt, std::nullopt};
      const std::string reference = reference_of(c.row);
      if (!reference.empty()) {
        if (const auto k = tx.find_case(reference)) {
          // What she said for THIS case (SAFETY W2), as it stands now.
          c.referral = consent_for_case(tx, k->id, "referral_ngo");
          c.callback = consent_for_case(tx, k->id, "callback");
        }
      }
      claimed.push_back(std::move(c));
    }
  });
  if (!r.ok) {
    spdlog::error("webhook {}: claim failed: {}", sink_.name, r.error);
    return result;
  }
  more_due_ = limit == options_.batch && claimed.size() == static_cast<std::size_t>(limit);
  if (claimed.empty()) return result;
  result.claimed = static_cast<int>(claimed.size());

  Recorder records(store_);
  struct Send {
    std::int64_t id;
    int attempts;
    std::string event;
    std::string reference;
  };
  std::vector<Send> sends;
  std::vector<adapters::sms::HttpCall> calls;
  const std::int64_t t = clock_.now_ms() / 1000;  // signed now: the timestamp is fresh

  for (const auto& c : claimed) {
    const auto& row = c.row;
    if (row.kind != kind_) {
      // A prefix claim for "webhook:x" also returns "webhook:x2" rows: not this sink's to send.
      spdlog::warn("webhook outbox {}: no sink for kind {}: retry later", row.id, row.kind);
      records.retry(row.id, now + options_.backoff_cap.count(), "no such webhook sink", now);
      ++result.retried;
      continue;
    }
    std::optional<WebhookDelivery> d;
    try {
      d = read_webhook_payload(sink_, row, c.referral, c.callback);
    } catch (const std::exception&) {
      d.reset();
    }
    if (!d) {
      spdlog::error("webhook {}: outbox {}: dead: unreadable payload", sink_.name, row.id);
      records.dead(row.id, "unreadable payload (was the webhook secret changed?)", now);
      ++result.dead;
      continue;
    }
    adapters::sms::HttpCall call;
    call.method = "POST";
    call.url = sink_.url;
    call.headers = {{"Content-Type", "application/json"},
                    {"Idempotency-Key", d->event + ":" + d->reference},
                    {webhook_signature_header, sign(sink_.secret, t, d->body)},
                    {"User-Agent", "rabta-webhook/1"}};
    call.body = std::move(d->body);
    calls.push_back(std::move(call));
    sends.push_back({row.id, row.attempts, std::move(d->event), std::move(d->reference)});
    bucket_.take(1);
  }

  std::vector<std::pair<long, std::string>> responses;
  if (!calls.empty()) {
    try {
      responses = http_->perform_all(calls, options_.send_timeout, options_.max_parallel);
    } catch (const std::exception& e) {
      spdlog::error("webhook {}: sending failed: {}", sink_.name, e.what());
      responses.assign(calls.size(), {0L, std::string("the HTTP client failed")});
    }
  }

  const std::int64_t done_at = clock_.now_ms();
  for (std::size_t k = 0; k < sends.size(); ++k) {
    const auto& s = sends[k];
    const long status = responses[k].first;
    const std::string error =
        status == 0 ? transport_error(responses[k].second) : "http " + std::to_string(status);
    switch (classify_webhook_status(status)) {
      case WebhookOutcome::sent:
        spdlog::info("webhook {}: outbox {} ({} {}): sent, http {}", sink_.name, s.id, s.event,
                     s.reference, status);
        records.sent(s.id, done_at);
        ++result.sent;
        break;
      case WebhookOutcome::retry:
        if (s.attempts >= options_.max_attempts) {
          spdlog::warn("webhook {}: outbox {} ({} {}): dead after {} attempts: {}", sink_.name,
                       s.id, s.event, s.reference, s.attempts, error);
          records.dead(s.id, "attempts exhausted: " + error, done_at);
          ++result.dead;
        } else {
          const std::int64_t wait =
              backoff_ms(s.attempts, options_.backoff_base, options_.backoff_cap, random01_());
          spdlog::warn("webhook {}: outbox {} ({} {}): retry in {} ms (attempt {}): {}", sink_.name,
                       s.id, s.event, s.reference, wait, s.attempts, error);
          records.retry(s.id, done_at + wait, error, done_at);
          ++result.retried;
        }
        break;
      case WebhookOutcome::dead:
        spdlog::warn("webhook {}: outbox {} ({} {}): dead: {}", sink_.name, s.id, s.event,
                     s.reference, error);
        records.dead(s.id, error, done_at);
        ++result.dead;
        break;
    }
  }
  records.wait();

  sent_ += static_cast<std::uint64_t>(result.sent);
  retried_ += static_cast<std::uint64_t>(result.retried);
  dead_ += static_cast<std::uint64_t>(result.dead);
  return result;
}

void WebhookDispatcher::start() {
  loop_.start();
}

void WebhookDispatcher::wake() {
  loop_.wake();
}

void WebhookDispatcher::stop() {
  loop_.stop();
}

WebhookDispatcher::Stats WebhookDispatcher::stats() const {
  return {sent_.load(), retried_.load(), dead_.load()};
}

}  // namespace rabta::gateway
