#include "adapters/webhook/sink.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <utility>

#include "adapters/common/cipher.hpp"
#include "adapters/common/crypto.hpp"
#include "adapters/http/curl_executor.hpp"

namespace rabta::adapters::webhook {

namespace {

using ordered_json = nlohmann::ordered_json;

constexpr std::array<std::string_view, 7> kEvents = {
    "opened", "escalated", "acknowledged", "assigned", "referred", "closed", "reopened"};

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

// "<event>:<reference>", and ":<step>" for an event that can happen again to the case.
std::string occurrence_key(const std::string& event, const std::string& reference,
                           std::int64_t step) {
  return event + ":" + reference + (step > 0 ? ":" + std::to_string(step) : "");
}

std::string dedupe_key_of(const WebhookSink& sink, const std::string& event,
                          const std::string& reference, std::int64_t step) {
  return webhook_kind(sink.name) + ":" + occurrence_key(event, reference, step);
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

}  // namespace

// --- Pure pieces

bool is_webhook_event(std::string_view event) {
  return std::find(kEvents.begin(), kEvents.end(), event) != kEvents.end();
}

std::string webhook_kind(std::string_view sink_name) {
  return std::string(webhook_kind_prefix) + std::string(sink_name);
}

std::string case_webhook_payload(const store::CaseRecord& c, const std::string& event,
                                 const WebhookFacts& facts, std::int64_t now_ms,
                                 std::int64_t step) {
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
  j["idempotency_key"] = occurrence_key(event, c.reference, step);
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
                                        std::int64_t now_ms, std::int64_t step) {
  if (sink.name.empty()) throw std::invalid_argument("webhook: the sink has no name");
  if (sink.secret.empty()) throw std::invalid_argument("webhook: the sink has no secret");
  if (c.reference.empty()) throw std::invalid_argument("webhook: the case has no reference");
  if (step < 0) throw std::invalid_argument("webhook: a step is a positive number");
  const std::string key = dedupe_key_of(sink, event, c.reference, step);

  const auto plain = ordered_json::parse(case_webhook_payload(c, event, facts, now_ms, step));
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
  std::string idempotency = event->get<std::string>() + ":" + reference->get<std::string>();
  if (const auto k = j.find("idempotency_key"); k != j.end() && k->is_string())
    idempotency = k->get<std::string>();
  return WebhookDelivery{dump(out), event->get<std::string>(), reference->get<std::string>(),
                         std::move(idempotency)};
}

WebhookOutcome classify_webhook_status(long status) {
  if (status >= 200 && status <= 299) return WebhookOutcome::sent;
  if (status == 0 || status == 408 || status == 429 || (status >= 500 && status <= 599))
    return WebhookOutcome::retry;
  return WebhookOutcome::dead;
}

// --- The dispatcher

std::string webhook_url_problem(const std::string& url) {
  if (url.empty()) return "the webhook url is empty";
  const std::string host = http::CurlExecutor::host_of(url);
  if (host.empty()) return "the webhook url does not parse";
  std::string scheme = url.substr(0, url.find(':'));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (scheme == "https") return {};
  if (scheme == "http" && http::CurlExecutor::is_loopback_host(host)) return {};
  return "the webhook url must be https (plain http only to a loopback host)";
}

std::string webhook_reference(const store::OutboxRecord& row) {
  constexpr std::string_view prefix = "case:";
  if (row.cause.size() <= prefix.size() || row.cause.compare(0, prefix.size(), prefix) != 0)
    return {};
  return row.cause.substr(prefix.size());
}

}  // namespace rabta::adapters::webhook
