#include "gateway/outbound/webhook_dispatcher.hpp"

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
#include "gateway/outbound/consent.hpp"
#include "gateway/outbound/recorder.hpp"

namespace rabta::gateway {

namespace {
// curl's message for a transport failure, with anything that could be a URL's query cut off.
std::string transport_error(const std::string& message) {
  std::string m = message.substr(0, message.find('?'));
  if (m.size() > 200) m.resize(200);
  return "transport error: " + m;
}

// A claimed row with her consent as it stands now.
struct Claimed {
  store::OutboxRecord row;
  std::optional<bool> referral;
  std::optional<bool> callback;
};

}  // namespace

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
      const std::string reference = webhook_reference(c.row);
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

  OutcomeRecorder records(store_, "webhook outbox");
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
        records.sent(s.id, "", done_at);
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
