#include "gateway/outbound/consumer.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>

#include "adapters/http/curl_executor.hpp"
#include "gateway/outbound/recorder.hpp"

namespace rabta::gateway {

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

// --- The consumer

OutboxConsumer::OutboxConsumer(std::string name, store::Store& store, OutboxSender& sender,
                               const common::Clock& clock, ConsumerOptions options,
                               std::function<double()> random01)
    : name_(std::move(name)),
      store_(store),
      sender_(sender),
      clock_(clock),
      options_(options),
      random01_(std::move(random01)),
      loop_(name_, options_.poll_interval, [this] {
        std::lock_guard lock(pass_mutex_);
        pass();
        return more_due_;
      }) {
  if (options_.batch < 1) throw std::invalid_argument(name_ + ": batch must be at least 1");
  if (options_.max_attempts < 1)
    throw std::invalid_argument(name_ + ": max_attempts must be at least 1");
  if (options_.lease <= options_.send_timeout)
    throw std::invalid_argument(name_ + ": lease must be longer than send_timeout");
  if (options_.backoff_base.count() < 0 || options_.backoff_cap.count() < 0)
    throw std::invalid_argument(name_ + ": backoff must not be negative");
  if (!random01_) throw std::invalid_argument(name_ + ": no random source");
  http_ = std::make_unique<adapters::http::CurlExecutor>();
}

OutboxConsumer::~OutboxConsumer() {
  stop();
}

void OutboxConsumer::take_lanes() {
  std::lock_guard lock(pass_mutex_);
  lanes_ = sender_.lanes();
  buckets_.clear();
  const std::int64_t now = clock_.now_ms();
  for (const auto& lane : lanes_) {
    if (lane.rate_per_second < 0 || std::isnan(lane.rate_per_second))
      throw std::invalid_argument(name_ + ": " + lane.kind + " has a negative rate");
    buckets_.emplace_back(lane.rate_per_second, now);
  }
}

// --- OutboxDispatcher

OutboxDispatcher::OutboxDispatcher(std::string name, store::Store& store,
                                   const common::Clock& clock, ConsumerOptions options,
                                   std::function<double()> random01)
    : consumer_(std::move(name), store, *this, clock, options, std::move(random01)) {}

OutboxDispatcher::~OutboxDispatcher() {
  consumer_.stop();
}

OutboxConsumer::PassResult OutboxConsumer::run_once() {
  std::lock_guard lock(pass_mutex_);
  return pass();
}

OutboxConsumer::PassResult OutboxConsumer::pass() {
  PassResult result;
  more_due_ = false;
  const std::int64_t now = clock_.now_ms();

  // Once at start; at every pass when other instances share the store (their dead ones' rows
  // come free when their leases run out).
  if (!settled_ || store_.shared()) {
    const auto r = store_.run([&](store::Tx& tx) { sender_.settle(tx, now); });
    if (r.ok) {
      settled_ = true;
      sender_.report_settled();
    } else {
      spdlog::error("{}: releasing stale rows failed: {}", name_, r.error);
    }
  }

  // Claim, and read what each row needs, in one transaction.
  std::vector<int> limits(lanes_.size());
  bool any = false;
  for (std::size_t i = 0; i < lanes_.size(); ++i) {
    limits[i] = std::min(options_.batch, buckets_[i].available(now));
    any = any || limits[i] > 0;
  }
  if (!any) return result;
  std::vector<ClaimedRow> claimed;
  std::vector<std::size_t> claimed_per_lane(lanes_.size());
  const std::int64_t lease_until = now + options_.lease.count();
  const auto r = store_.run([&](store::Tx& tx) {
    claimed.clear();
    for (std::size_t i = 0; i < lanes_.size(); ++i) {
      claimed_per_lane[i] = 0;
      if (limits[i] <= 0) continue;
      auto rows = tx.claim_outbox_exact(now, lease_until, limits[i], lanes_[i].kind);
      claimed_per_lane[i] = rows.size();
      for (auto& row : rows) {
        ClaimedRow c;
        c.context = sender_.read(tx, row);
        c.row = std::move(row);
        c.lane = i;
        claimed.push_back(std::move(c));
      }
    }
  });
  if (!r.ok) {
    spdlog::error("{}: claim failed: {}", name_, r.error);
    return result;
  }
  for (std::size_t i = 0; i < lanes_.size(); ++i)
    if (limits[i] == options_.batch && claimed_per_lane[i] == static_cast<std::size_t>(limits[i]))
      more_due_ = true;
  if (claimed.empty()) return result;
  result.claimed = static_cast<int>(claimed.size());

  OutcomeRecorder records(store_, "outbox");
  std::vector<const ClaimedRow*> sends;
  std::vector<adapters::sms::HttpCall> calls;
  using Action = Prepared::Action;
  for (const auto& c : claimed) {
    Prepared p;
    try {
      p = sender_.prepare(c, now);
    } catch (const std::exception&) {
      // Senders' messages never name the number, but nothing here needs the detail.
      p = {Action::dead, {}, "cannot build the request", 0};
    }
    const std::string who = sender_.describe(c);
    switch (p.action) {
      case Action::send:
        calls.push_back(std::move(p.call));
        sends.push_back(&c);
        buckets_[c.lane].take(1);
        break;
      case Action::retry:
        spdlog::warn("{}: {}: retry later", who, p.reason);
        records.retry(c.row.id, p.not_before, p.reason, now);
        ++result.retried;
        break;
      case Action::deferred:
        spdlog::info("{}: {} by {} s", who, p.reason, (p.not_before - now) / 1000);
        records.retry(c.row.id, p.not_before, p.reason, now);
        ++result.deferred;
        break;
      case Action::cancel:
        spdlog::info("{}: cancelled: {}", who, p.reason);
        records.cancel(c.row.id, p.reason, now);
        break;
      case Action::refused:
        spdlog::info("{}: {}", who, p.reason);
        records.dead(c.row.id, p.reason, now);
        ++result.refused;
        break;
      case Action::dead:
        spdlog::error("{}: dead: {}", who, p.reason);
        records.dead(c.row.id, p.reason, now);
        ++result.dead;
        break;
    }
  }

  // Each result is recorded as soon as its call completes (the store commits it with whatever
  // else is waiting), not after the slowest call of the batch: the time a message spends in
  // doubt (accepted by the provider, not yet recorded) is one round trip and one commit.
  std::vector<bool> recorded(sends.size(), false);
  const auto record = [&](std::size_t k, const std::pair<long, std::string>& response) {
    if (recorded[k]) return;
    recorded[k] = true;
    const std::int64_t done_at = clock_.now_ms();
    const ClaimedRow& c = *sends[k];
    const std::string who = sender_.describe(c);
    SendVerdict v;
    try {
      v = sender_.judge(c, response.first, response.second);
    } catch (const std::exception&) {
      v = {SendVerdict::Outcome::retry, "", "unreadable response"};
    }
    const int attempts = c.row.attempts;
    switch (v.outcome) {
      case SendVerdict::Outcome::sent:
        spdlog::info("{}: sent (http {})", who, response.first);
        records.sent(c.row.id, v.provider_id, done_at);
        ++result.sent;
        break;
      case SendVerdict::Outcome::retry:
        if (const auto cap = sender_.retry_forever(c)) {
          const std::int64_t wait = backoff_ms(attempts, options_.backoff_base,
                                               std::min(options_.backoff_cap, *cap), random01_());
          spdlog::warn("{}: failed, retry in {} ms (attempt {}, never given up): {}", who, wait,
                       attempts, v.error);
          records.retry(c.row.id, done_at + wait, v.error, done_at);
          ++result.retried;
        } else if (attempts >= options_.max_attempts) {
          spdlog::warn("{}: dead after {} attempts: {}", who, attempts, v.error);
          records.dead(c.row.id, "attempts exhausted: " + v.error, done_at);
          ++result.dead;
        } else {
          const std::int64_t wait =
              backoff_ms(attempts, options_.backoff_base, options_.backoff_cap, random01_());
          spdlog::warn("{}: retry in {} ms (attempt {}): {}", who, wait, attempts, v.error);
          records.retry(c.row.id, done_at + wait, v.error, done_at);
          ++result.retried;
        }
        break;
      case SendVerdict::Outcome::permanent: {
        const std::string error = v.error.empty() ? "permanent failure" : v.error;
        spdlog::warn("{}: dead: {}", who, error);
        records.dead(c.row.id, error, done_at);
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
      spdlog::error("{}: sending failed: {}", name_, e.what());
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

void OutboxConsumer::start() {
  loop_.start();
}

void OutboxConsumer::wake() {
  loop_.wake();
}

void OutboxConsumer::stop() {
  loop_.stop();
}

OutboxConsumer::Stats OutboxConsumer::stats() const {
  return {sent_.load(), retried_.load(), dead_.load(), refused_.load()};
}

}  // namespace rabta::gateway
