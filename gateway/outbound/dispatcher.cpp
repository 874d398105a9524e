#include "gateway/outbound/dispatcher.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <set>
#include <stdexcept>
#include <utility>

#include "adapters/http/curl_executor.hpp"
#include "gateway/outbound/outbound_sms.hpp"
#include "gateway/outbound/recorder.hpp"

namespace rabta::gateway {

namespace sms = adapters::sms;

// --- TokenBucket

TokenBucket::TokenBucket(double rate_per_second, std::int64_t now_ms)
    : rate_(rate_per_second > 0 ? rate_per_second : 0),
      burst_(std::max(1.0, rate_)),
      tokens_(burst_),
      last_ms_(now_ms) {}

void TokenBucket::refill(std::int64_t now_ms) {
  if (now_ms <= last_ms_) return;  // a clock that went back refills nothing
  tokens_ = std::min(burst_, tokens_ + rate_ * static_cast<double>(now_ms - last_ms_) / 1000.0);
  last_ms_ = now_ms;
}

int TokenBucket::available(std::int64_t now_ms) {
  if (unlimited()) return std::numeric_limits<int>::max();
  refill(now_ms);
  // A tiny epsilon so that 0.2 s * 5/s counts as the whole token it is meant to be.
  const double whole = std::floor(tokens_ + 1e-9);
  return whole <= 0 ? 0 : static_cast<int>(std::min(whole, 1e9));
}

void TokenBucket::take(int n) {
  if (unlimited()) return;
  tokens_ -= n;
}

// --- Backoff

std::int64_t backoff_ms(int attempts, std::chrono::milliseconds base, std::chrono::milliseconds cap,
                        double random01) {
  const int exponent = std::clamp(attempts - 1, 0, 62);
  const double ceiling = std::min(static_cast<double>(cap.count()),
                                  std::ldexp(static_cast<double>(base.count()), exponent));
  const double r = std::isnan(random01) ? 0.0 : std::clamp(random01, 0.0, 1.0);
  return static_cast<std::int64_t>(std::floor(r * std::max(0.0, ceiling)));
}

// --- Recipient policy (SAFETY S1)

namespace {

bool valid_window(const store::ContactRecord& c) {
  return c.window_start_hour >= 0 && c.window_start_hour < 24 && c.window_end_hour >= 0 &&
         c.window_end_hour <= 24 && c.window_start_hour != c.window_end_hour;
}

// [start, end), wrapping past midnight when start > end (e.g. 20..8).
bool in_window(const store::ContactRecord& c, int hour) {
  if (c.window_start_hour < c.window_end_hour)
    return c.window_start_hour <= hour && hour < c.window_end_hour;
  return hour >= c.window_start_hour || hour < c.window_end_hour;
}

RecipientDecision refuse(std::string reason) {
  return {RecipientDecision::Action::refuse, std::move(reason), 0};
}

}  // namespace

RecipientDecision recipient_policy(const store::ContactRecord* contact, bool solicited,
                                   std::int64_t now_ms, const Zone& zone) {
  namespace cs = store::contact_status;
  if (!contact) return refuse("unknown contact");
  const auto& c = *contact;
  if (c.status == cs::removed) return refuse("removed");
  if (solicited) return {};
  if (c.status == cs::opted_out) return refuse("opted out");
  if (c.status == cs::paused) return refuse("paused");
  if (c.status != cs::active) return refuse("not enrolled");
  if (!c.sms_ok) return refuse("no sms consent");
  if (!valid_window(c)) return refuse("no contact window");

  std::int64_t at = now_ms;
  std::string reason;
  if (c.quiet_until > now_ms) {
    at = c.quiet_until;
    reason = "quiet period";
  }
  if (!in_window(c, to_local(at, zone).hour)) {
    const std::int64_t next = next_window_start(at, c.window_start_hour, zone);
    at = std::max(next, at + 1);  // always strictly later: never a deferral to now
    if (reason.empty()) reason = "outside her window";
  }
  if (at == now_ms) return {};
  return {RecipientDecision::Action::defer, std::move(reason), at};
}

// --- Recording outcomes

namespace {

// A claimed row and the woman it goes to (when it goes to one).
struct Claimed {
  store::OutboxRecord row;
  std::optional<store::ContactRecord> contact;
  bool alert = false;       // a responder's case alert (cause "case:<ref>")
  std::string case_status;  // its case's status when claimed ("" = no such case)
};

// SAFETY W6: a case alert that fails is retried at least this often while its case is open.
constexpr std::int64_t kAlertRetryCapMs = 60'000;

}  // namespace

// --- Dispatcher

Dispatcher::Dispatcher(store::Store& store, std::vector<ChannelRuntime> channels,
                       const common::FieldCipher& cipher, const Clock& clock, Zone zone,
                       DispatcherOptions options, std::function<double()> random01)
    : store_(store),
      channels_(std::move(channels)),
      cipher_(cipher),
      clock_(clock),
      zone_(std::move(zone)),
      options_(options),
      random01_(std::move(random01)),
      loop_("outbox: dispatcher", options_.poll_interval, [this] {
        std::lock_guard lock(pass_mutex_);
        pass();
        return more_due_;
      }) {
  std::set<std::string> names;
  for (const auto& ch : channels_) {
    if (ch.name.empty()) throw std::invalid_argument("dispatcher: a channel has no name");
    if (!ch.adapter)
      throw std::invalid_argument("dispatcher: channel " + ch.name + " has no adapter");
    if (!names.insert(ch.name).second)
      throw std::invalid_argument("dispatcher: channel " + ch.name + " is listed twice");
    if (ch.rate_per_second < 0 || std::isnan(ch.rate_per_second))
      throw std::invalid_argument("dispatcher: channel " + ch.name + " has a negative rate");
  }
  if (options_.batch < 1) throw std::invalid_argument("dispatcher: batch must be at least 1");
  if (options_.max_attempts < 1)
    throw std::invalid_argument("dispatcher: max_attempts must be at least 1");
  if (options_.lease <= options_.send_timeout)
    throw std::invalid_argument("dispatcher: lease must be longer than send_timeout");
  if (options_.backoff_base.count() < 0 || options_.backoff_cap.count() < 0)
    throw std::invalid_argument("dispatcher: backoff must not be negative");
  if (!random01_) throw std::invalid_argument("dispatcher: no random source");
  const std::int64_t now = clock_.now_ms();
  for (const auto& ch : channels_) buckets_.emplace_back(ch.rate_per_second, now);
  http_ = std::make_unique<CurlExecutor>();
}

Dispatcher::~Dispatcher() {
  stop();
}

Dispatcher::PassResult Dispatcher::run_once() {
  std::lock_guard lock(pass_mutex_);
  return pass();
}

Dispatcher::PassResult Dispatcher::pass() {
  PassResult result;
  more_due_ = false;
  const std::int64_t now = clock_.now_ms();

  if (!released_stale_) {
    std::pair<int, int> settled;
    const auto r = store_.run(
        [&](store::Tx& tx) { settled = tx.settle_in_doubt_outbox(sms_kind_prefix, now); });
    if (r.ok) {
      released_stale_ = true;
      if (settled.first > 0)
        spdlog::info(
            "outbox: {} messages to responders were being sent when rabta stopped: "
            "sending them again",
            settled.first);
      if (settled.second > 0)
        spdlog::warn(
            "outbox: {} messages to women were being sent when rabta stopped: held as "
            "unconfirmed, never sent twice (rabta outbox list --unconfirmed)",
            settled.second);
    } else {
      spdlog::error("outbox: releasing stale rows failed: {}", r.error);
    }
  }

  // Claim, and read the recipients, in one transaction.
  std::vector<int> limits(channels_.size());
  bool any = false;
  for (std::size_t i = 0; i < channels_.size(); ++i) {
    limits[i] = std::min(options_.batch, buckets_[i].available(now));
    any = any || limits[i] > 0;
  }
  if (!any) return result;
  std::vector<Claimed> claimed;
  std::vector<std::size_t> claimed_per_channel(channels_.size());
  const std::int64_t lease_until = now + options_.lease.count();
  const auto r = store_.run([&](store::Tx& tx) {
    claimed.clear();
    for (std::size_t i = 0; i < channels_.size(); ++i) {
      if (limits[i] <= 0) continue;
      auto rows = tx.claim_outbox(now, lease_until, limits[i], sms_kind(channels_[i].name));
      claimed_per_channel[i] = rows.size();
      for (auto& row : rows) {
        Claimed c{std::move(row), std::nullopt, false, ""};
        if (c.row.contact_id != 0) c.contact = tx.find_contact_by_id(c.row.contact_id);
        if (c.row.contact_id == 0 && c.row.cause.rfind("case:", 0) == 0) {
          c.alert = true;
          if (const auto k = tx.find_case(c.row.cause.substr(5))) c.case_status = k->status;
        }
        claimed.push_back(std::move(c));
      }
    }
  });
  if (!r.ok) {
    spdlog::error("outbox: claim failed: {}", r.error);
    return result;
  }
  for (std::size_t i = 0; i < channels_.size(); ++i)
    if (limits[i] == options_.batch &&
        claimed_per_channel[i] == static_cast<std::size_t>(limits[i]))
      more_due_ = true;
  if (claimed.empty()) return result;
  result.claimed = static_cast<int>(claimed.size());

  OutcomeRecorder records(store_, "outbox");
  struct Send {
    std::size_t channel;
    std::int64_t id;
    int attempts;
    bool alert;
  };
  std::vector<Send> sends;
  std::vector<sms::HttpCall> calls;

  for (const auto& c : claimed) {
    const auto& row = c.row;
    // Route by the exact kind: a prefix claim for "sms:at" also returns "sms:at2" rows.
    const auto ch = std::find_if(channels_.begin(), channels_.end(),
                                 [&row](const auto& x) { return row.kind == sms_kind(x.name); });
    if (ch == channels_.end()) {
      // A channel this process does not run (its name extends one it does): put the row back
      // for later rather than kill it over configuration; its TTL still bounds it.
      spdlog::warn("outbox {}: no channel for kind {}: retry later", row.id, row.kind);
      records.retry(row.id, now + options_.backoff_cap.count(), "no such channel configured", now);
      ++result.retried;
      continue;
    }
    const auto index = static_cast<std::size_t>(ch - channels_.begin());
    if (c.alert && c.case_status != store::case_status::open) {
      // Someone acknowledged (or closed) the case: the alert has done its work.
      spdlog::info("outbox {} via {}: alert cancelled: the case is {}", row.id, ch->name,
                   c.case_status.empty() ? "gone" : c.case_status);
      records.cancel(row.id, "case " + (c.case_status.empty() ? "gone" : c.case_status), now);
      continue;
    }

    const auto payload = read_sms_payload(row, cipher_);
    if (!payload) {
      spdlog::error("outbox {} via {}: dead: unreadable payload", row.id, ch->name);
      records.dead(row.id, "unreadable payload", now);
      ++result.dead;
      continue;
    }
    if (row.contact_id != 0) {
      RecipientDecision d;
      try {
        d = recipient_policy(c.contact ? &*c.contact : nullptr, payload->solicited, now, zone_);
      } catch (const std::exception& e) {
        // Her record cannot be judged (e.g. a date out of range): nothing is sent; try later.
        spdlog::error("outbox {} via {}: recipient policy failed: {}", row.id, ch->name, e.what());
        d = {RecipientDecision::Action::defer, "policy error", now + options_.backoff_cap.count()};
      }
      if (d.action == RecipientDecision::Action::refuse) {
        spdlog::info("outbox {} via {}: refused: {}", row.id, ch->name, d.reason);
        records.dead(row.id, "refused: " + d.reason, now);
        ++result.refused;
        continue;
      }
      if (d.action == RecipientDecision::Action::defer) {
        spdlog::info("outbox {} via {}: deferred ({}) by {} s", row.id, ch->name, d.reason,
                     (d.not_before - now) / 1000);
        records.retry(row.id, d.not_before, "deferred: " + d.reason, now);
        ++result.deferred;
        continue;
      }
    }
    try {
      calls.push_back(ch->adapter->build_send(
          sms::OutboundSms{row.id, payload->to, payload->text, payload->ucs2}));
    } catch (const std::exception&) {
      // Adapters' messages never name the number, but nothing from here on needs the detail.
      spdlog::error("outbox {} via {}: dead: the adapter cannot build the request", row.id,
                    ch->name);
      records.dead(row.id, "cannot build the request", now);
      ++result.dead;
      continue;
    }
    sends.push_back({index, row.id, row.attempts, c.alert});
    buckets_[index].take(1);
  }

  // Each result is recorded as soon as its call completes (the store commits it with whatever
  // else is waiting), not after the slowest call of the batch: the time a message spends in
  // doubt (accepted by the provider, not yet recorded) is one round trip and one commit.
  std::vector<bool> recorded(sends.size(), false);
  const auto record = [&](std::size_t k, const std::pair<long, std::string>& response) {
    if (recorded[k]) return;
    recorded[k] = true;
    const std::int64_t done_at = clock_.now_ms();
    const auto& s = sends[k];
    const auto& ch = channels_[s.channel];
    sms::SendResult sr;
    try {
      sr = ch.adapter->parse_send(response.first, response.second);
    } catch (const std::exception&) {
      sr = {sms::SendOutcome::retry, "", "unreadable response"};
    }
    switch (sr.outcome) {
      case sms::SendOutcome::sent:
        spdlog::info("outbox {} via {}: sent", s.id, ch.name);
        records.sent(s.id, sr.provider_message_id, done_at);
        ++result.sent;
        break;
      case sms::SendOutcome::retry:
        if (s.alert) {
          // SAFETY W6: an alert is never given up while its case is open and unacknowledged
          // (the dispatcher cancels it once it is not); the escalation pass alerts the next
          // rung at once while this one keeps trying.
          const std::int64_t wait = backoff_ms(
              s.attempts, options_.backoff_base,
              std::min(options_.backoff_cap, std::chrono::milliseconds(kAlertRetryCapMs)),
              random01_());
          spdlog::warn("outbox {} via {}: alert failed, retry in {} ms (attempt {}): {}", s.id,
                       ch.name, wait, s.attempts, sr.error);
          records.retry(s.id, done_at + wait, sr.error, done_at);
          ++result.retried;
        } else if (s.attempts >= options_.max_attempts) {
          spdlog::warn("outbox {} via {}: dead after {} attempts: {}", s.id, ch.name, s.attempts,
                       sr.error);
          records.dead(s.id, "attempts exhausted: " + sr.error, done_at);
          ++result.dead;
        } else {
          const std::int64_t wait =
              backoff_ms(s.attempts, options_.backoff_base, options_.backoff_cap, random01_());
          spdlog::warn("outbox {} via {}: retry in {} ms (attempt {}): {}", s.id, ch.name, wait,
                       s.attempts, sr.error);
          records.retry(s.id, done_at + wait, sr.error, done_at);
          ++result.retried;
        }
        break;
      case sms::SendOutcome::permanent: {
        const std::string error = sr.error.empty() ? "permanent failure" : sr.error;
        spdlog::warn("outbox {} via {}: dead: {}", s.id, ch.name, error);
        records.dead(s.id, error, done_at);
        ++result.dead;
        break;
      }
    }
  };
  if (!calls.empty()) {
    std::vector<std::pair<long, std::string>> responses;
    try {
      responses = http_->perform_all(calls, options_.send_timeout, options_.max_parallel, record);
    } catch (const std::exception& e) {
      spdlog::error("outbox: sending failed: {}", e.what());
      responses.assign(calls.size(), {0L, std::string("the HTTP client failed")});
    }
    for (std::size_t k = 0; k < sends.size(); ++k) record(k, responses[k]);
  }
  records.wait();

  sent_ += static_cast<std::uint64_t>(result.sent);
  retried_ += static_cast<std::uint64_t>(result.retried);
  dead_ += static_cast<std::uint64_t>(result.dead);
  refused_ += static_cast<std::uint64_t>(result.refused);
  return result;
}

void Dispatcher::start() {
  loop_.start();
}

void Dispatcher::wake() {
  loop_.wake();
}

void Dispatcher::stop() {
  loop_.stop();
}

Dispatcher::Stats Dispatcher::stats() const {
  return {sent_.load(), retried_.load(), dead_.load(), refused_.load()};
}

}  // namespace rabta::gateway
