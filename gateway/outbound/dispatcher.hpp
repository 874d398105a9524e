// The outbound SMS dispatcher: claims due "sms:<channel>" outbox rows, applies the recipient
// policy (SAFETY S1), sends the rest concurrently through each channel's adapter, and records
// each outcome through the store's writer.
//
// SAFETY S1 is enforced here, not only by whoever queued the row. For a row addressed to a
// woman (contact_id != 0) that is not a solicited reply, she must be "active" with sms_ok, out
// of her quiet period, and her local hour must be inside [window_start_hour, window_end_hour).
// Opted out / paused / removed / not enrolled / no consent / no valid window: the row is dead
// ("refused: <reason>") without any HTTP call. Quiet period or outside her window: the row goes
// back to pending with not_before at the next allowed time, which the row's TTL bounds
// (claim_outbox expires it). A window with start > end runs across midnight. A solicited reply
// is refused only when she was removed (or is unknown).
//
// Each claim counts as an attempt (claim_outbox increments attempts), deferrals included.
//
// After a crash, a row that was "sending" is in doubt (the provider may have accepted it). At its
// first pass the dispatcher settles them: a message to a woman becomes "unconfirmed" and is never
// sent again automatically (at most once: a second SMS on a shared phone is the worse failure);
// a message to a responder goes back to pending (at least once: a lost alert is worse, and the
// escalation ladder re-alerts anyway). scripts/crash-test measures both. Nothing logged names her
// number or the text: logs carry the outbox id, the channel, the outcome and the adapter's error.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "adapters/common/cipher.hpp"
#include "adapters/common/clock.hpp"
#include "adapters/sms/sms_adapter.hpp"
#include "adapters/store/store.hpp"
#include "flows/local_time.hpp"
#include "gateway/outbound/pass_loop.hpp"

namespace rabta::gateway {

class CurlExecutor;

struct ChannelRuntime {
  std::string name;  // rows of kind "sms:<name>" go through this channel
  std::shared_ptr<const adapters::sms::SmsAdapter> adapter;
  double rate_per_second = 10;  // 0 = unlimited
};

struct DispatcherOptions {
  int max_attempts = 8;
  std::chrono::milliseconds backoff_base{2000}, backoff_cap{600000}, lease{60000},
      send_timeout{15000}, poll_interval{500};
  int batch = 64;  // rows claimed per channel and pass at most
  std::size_t max_parallel = 16;
};

// --- Pure pieces

// A token bucket per channel: `rate_per_second` tokens a second, holding at most
// max(1, rate) (the burst); starts full. Rate 0 = unlimited. Driven by the caller's clock.
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

struct RecipientDecision {
  enum class Action { send, refuse, defer };
  Action action = Action::send;
  std::string reason;           // refuse/defer: e.g. "opted out", "quiet period"
  std::int64_t not_before = 0;  // defer: the next time she may be contacted
};

// SAFETY S1 for one message to a woman. `contact` nullptr = no such contact (refused).
RecipientDecision recipient_policy(const store::ContactRecord* contact, bool solicited,
                                   std::int64_t now_ms, const Zone& zone);

// --- The dispatcher

class Dispatcher {
 public:
  // Throws std::invalid_argument for a channel without an adapter, a duplicate channel name, or
  // options that cannot work (lease not longer than send_timeout, batch < 1, max_attempts < 1).
  Dispatcher(store::Store& store, std::vector<ChannelRuntime> channels,
             const common::FieldCipher& cipher, const Clock& clock, Zone zone,
             DispatcherOptions options, std::function<double()> random01);
  ~Dispatcher();  // stops the thread
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // What a pass did. dead = permanent failures, exhausted attempts and unreadable rows;
  // refused = S1 refusals (dead rows too, counted apart); deferred = put back by S1 (quiet
  // period, outside her window); retried = put back after a temporary failure.
  struct PassResult {
    int claimed = 0, sent = 0, retried = 0, dead = 0, refused = 0, deferred = 0;
  };

  // One pass: release stale leases (first pass only), claim due rows per channel (at most
  // min(batch, tokens available)), apply the recipient policy, send the rest concurrently and
  // record each result. Blocking; thread-safe (passes never overlap).
  PassResult run_once();

  // A thread that runs passes: after a pass it waits poll_interval or until wake(), or goes on
  // at once when a channel had a full batch.
  void start();
  void wake();
  // Finishes the pass in progress and joins the thread.
  void stop();

  struct Stats {
    std::uint64_t sent = 0, retried = 0, dead = 0, refused = 0;
  };
  Stats stats() const;

 private:
  PassResult pass();

  store::Store& store_;
  std::vector<ChannelRuntime> channels_;
  const common::FieldCipher& cipher_;
  const Clock& clock_;
  Zone zone_;
  DispatcherOptions options_;
  std::function<double()> random01_;

  std::mutex pass_mutex_;  // one pass at a time; guards everything below up to the thread
  std::vector<TokenBucket> buckets_;
  std::unique_ptr<CurlExecutor> http_;
  bool released_stale_ = false;
  bool more_due_ = false;

  std::atomic<std::uint64_t> sent_{0}, retried_{0}, dead_{0}, refused_{0};

  PassLoop loop_;  // last: its thread stops before the members it uses go
};

}  // namespace rabta::gateway
