// The one outbox consumer loop. Both dispatchers (SMS: dispatcher.hpp, signed webhooks:
// webhook_dispatcher.hpp) are an OutboxSender run by an OutboxConsumer, which owns everything
// they share: settling the rows a crash left "sending" (once, at the first pass), a token bucket
// per lane, claiming with a lease, sending concurrently, recording each outcome as soon as its
// call completes (OutcomeRecorder), the retry rule (full-jitter exponential backoff, at most
// max_attempts unless the sender says a row never gives up), the counters and the PassLoop.
// What a row means (her contact and S1, a case's consent, the payload format, a provider's
// reply) is the sender's.
#pragma once

#include <any>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "adapters/common/clock.hpp"
#include "adapters/sms/sms_adapter.hpp"
#include "adapters/store/store.hpp"
#include "gateway/outbound/pass_loop.hpp"

namespace rabta::adapters::http {
class CurlExecutor;
}

namespace rabta::gateway {

// A token bucket per lane: `rate_per_second` tokens a second, holding at most max(1, rate)
// (the burst); starts full. Rate 0 = unlimited. Driven by the caller's clock.
class TokenBucket {
 public:
  TokenBucket(double rate_per_second, std::int64_t now_ms);
  // Whole tokens available at now_ms (refills first); a large number when unlimited.
  int available(std::int64_t now_ms);
  // Spends n tokens (may leave a debt that later refills pay off).
  void take(int n);
  bool unlimited() const { return rate_ <= 0; }

 private:
  void refill(std::int64_t now_ms);

  double rate_;
  double burst_;
  double tokens_;
  std::int64_t last_ms_;
};

// Full-jitter exponential backoff: random01 * min(cap, base * 2^(attempts - 1)), in ms.
// attempts counts the attempt that just failed (1 = the first); random01 is in [0, 1].
std::int64_t backoff_ms(int attempts, std::chrono::milliseconds base, std::chrono::milliseconds cap,
                        double random01);

struct ConsumerOptions {
  int max_attempts = 8;
  std::chrono::milliseconds backoff_base{2000}, backoff_cap{600000}, lease{60000},
      send_timeout{15000}, poll_interval{500};
  int batch = 64;  // rows claimed per lane and pass at most
  std::size_t max_parallel = 16;
};

// One claimed row, with what its sender read beside it in the claim's transaction.
struct ClaimedRow {
  store::OutboxRecord row;
  std::size_t lane = 0;  // the lane whose claim returned it
  std::any context;      // the sender's (her contact, the case's status, her consent)
};

// What becomes of a claimed row before any call is made.
struct Prepared {
  enum class Action { send, retry, cancel, dead, refused, deferred };
  Action action = Action::send;
  adapters::sms::HttpCall call;  // send
  std::string reason;            // anything else: the row's recorded error ("refused: ...")
  std::int64_t not_before = 0;   // retry, deferred
};

// What a completed call means.
struct SendVerdict {
  enum class Outcome { sent, retry, permanent };
  Outcome outcome = Outcome::retry;
  std::string provider_id;  // sent
  std::string error;        // retry, permanent: recorded and logged (never a number or text)
};

// What differs between the SMS and webhook consumers.
class OutboxSender {
 public:
  virtual ~OutboxSender() = default;

  struct Lane {
    std::string kind;  // the outbox kind claimed ("sms:kannel", "webhook:ngo")
    double rate_per_second = 10;
  };
  virtual std::vector<Lane> lanes() const = 0;
  // Rows a crash left "sending", in the first pass's transaction; `report` runs after its commit.
  virtual void settle(store::Tx& tx, std::int64_t now) = 0;
  virtual void report_settled() = 0;
  // In the claim's transaction, beside each row: what prepare() will need.
  virtual std::any read(store::Tx& tx, const store::OutboxRecord& row) = 0;
  // Outside any transaction: the call to make, or the outcome decided without one.
  virtual Prepared prepare(const ClaimedRow& c, std::int64_t now) = 0;
  // The response of a call: status 0 with curl's message for a transport failure.
  virtual SendVerdict judge(const ClaimedRow& c, long status, const std::string& body) = 0;
  // For a row that never gives up after a temporary failure (SAFETY W6: a case alert while its
  // case is open), the longest wait between its retries; nullopt for a row that may give up
  // after max_attempts.
  virtual std::optional<std::chrono::milliseconds> retry_forever(const ClaimedRow&) const {
    return std::nullopt;
  }
  // Names the row in log lines ("outbox 12 via kannel"): ids and kinds only, never a payload.
  virtual std::string describe(const ClaimedRow& c) const = 0;
};

class OutboxConsumer {
 public:
  // What a pass did. dead = permanent failures, exhausted attempts and unreadable rows;
  // refused = SAFETY S1 refusals (dead rows too, counted apart); deferred = put back by S1;
  // retried = put back after a temporary failure; cancelled rows count in none.
  struct PassResult {
    int claimed = 0, sent = 0, retried = 0, dead = 0, refused = 0, deferred = 0;
  };
  struct Stats {
    std::uint64_t sent = 0, retried = 0, dead = 0, refused = 0;
  };

  // `name` labels the loop's log lines ("outbox: dispatcher", "webhook ngo"). Throws
  // std::invalid_argument for options that cannot work (lease not longer than send_timeout,
  // batch < 1, max_attempts < 1, negative backoff or rate, no random source).
  OutboxConsumer(std::string name, store::Store& store, OutboxSender& sender,
                 const common::Clock& clock, ConsumerOptions options,
                 std::function<double()> random01);
  ~OutboxConsumer();  // stops the thread
  OutboxConsumer(const OutboxConsumer&) = delete;
  OutboxConsumer& operator=(const OutboxConsumer&) = delete;

  // One pass: settle (first pass only), claim due rows per lane (at most min(batch, tokens
  // available)), prepare, send concurrently and record each result as its call completes.
  // Blocking; thread-safe (passes never overlap).
  PassResult run_once();

  // A thread that runs passes: after a pass it waits poll_interval or until wake(), or goes on
  // at once when a lane had a full batch.
  void start();
  void wake();
  // Finishes the pass in progress and joins the thread.
  void stop();

  Stats stats() const;

  // Reads the sender's lanes and fills their token buckets; throws std::invalid_argument for a
  // negative rate. Before the first pass.
  void take_lanes();

 private:
  PassResult pass();

  const std::string name_;
  store::Store& store_;
  OutboxSender& sender_;
  const common::Clock& clock_;
  ConsumerOptions options_;
  std::function<double()> random01_;
  std::vector<OutboxSender::Lane> lanes_;

  std::mutex pass_mutex_;  // one pass at a time; guards everything below up to the thread
  std::vector<TokenBucket> buckets_;
  std::unique_ptr<adapters::http::CurlExecutor> http_;
  bool settled_ = false;
  bool more_due_ = false;

  std::atomic<std::uint64_t> sent_{0}, retried_{0}, dead_{0}, refused_{0};

  PassLoop loop_;  // last: its thread stops before the members it uses go
};

// What both dispatchers are: an OutboxSender with its consumer, and the consumer's controls as
// their public face. A dispatcher's constructor calls take_lanes() once its own members are
// built, and its destructor stop() before they go.
class OutboxDispatcher : protected OutboxSender {
 public:
  using PassResult = OutboxConsumer::PassResult;
  using Stats = OutboxConsumer::Stats;

  // One pass of the consumer. Blocking; passes never overlap.
  PassResult run_once() { return consumer_.run_once(); }
  void start() { consumer_.start(); }
  void wake() { consumer_.wake(); }
  void stop() { consumer_.stop(); }
  Stats stats() const { return consumer_.stats(); }

 protected:
  OutboxDispatcher(std::string name, store::Store& store, const common::Clock& clock,
                   ConsumerOptions options, std::function<double()> random01);
  ~OutboxDispatcher() override;
  OutboxDispatcher(const OutboxDispatcher&) = delete;
  OutboxDispatcher& operator=(const OutboxDispatcher&) = delete;

  OutboxConsumer consumer_;
};

}  // namespace rabta::gateway
