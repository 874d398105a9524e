// The webhook dispatcher: sends the "webhook:<sink>" outbox rows (format, signature and consent
// rules: adapters/webhook/sink.hpp), records each outcome, retries with backoff.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "adapters/common/clock.hpp"
#include "adapters/store/records.hpp"
#include "adapters/store/store.hpp"
#include "adapters/webhook/sink.hpp"
#include "gateway/outbound/dispatcher.hpp"

namespace rabta::gateway {

class CurlExecutor;

struct WebhookDispatcherOptions {
  int max_attempts = 12;
  std::chrono::milliseconds backoff_base{5000}, backoff_cap{1'800'000}, lease{60000},
      send_timeout{15000}, poll_interval{1000};
  int batch = 32;                // rows claimed per pass at most
  std::size_t max_parallel = 4;  // requests in flight to the receiver at once
  double rate_per_second = 10;   // requests a second at most (0 = unlimited)
};

// The same shape as the SMS Dispatcher: claims due "webhook:<name>" rows, sends them signed
// now, records each outcome through the store's writer.
class WebhookDispatcher {
 public:
  // Throws std::invalid_argument for a sink without a name, secret or usable URL (see
  // webhook_url_problem), or options that cannot work (lease not longer than send_timeout,
  // batch < 1, max_attempts < 1, negative backoff or rate, no random source).
  WebhookDispatcher(store::Store& store, WebhookSink sink, const Clock& clock,
                    WebhookDispatcherOptions options, std::function<double()> random01);
  ~WebhookDispatcher();  // stops the thread
  WebhookDispatcher(const WebhookDispatcher&) = delete;
  WebhookDispatcher& operator=(const WebhookDispatcher&) = delete;

  // dead = permanent failures, exhausted attempts and unreadable rows; retried = put back after
  // a temporary failure (or a row of another sink whose name extends this one's).
  struct PassResult {
    int claimed = 0, sent = 0, retried = 0, dead = 0;
  };

  // One pass: release stale leases (first pass only), claim due rows (at most min(batch, tokens
  // available)), read her current consent, send concurrently and record each result. Blocking;
  // thread-safe (passes never overlap).
  PassResult run_once();

  // A thread that runs passes: after a pass it waits poll_interval or until wake(), or goes on
  // at once after a full batch.
  void start();
  void wake();
  // Finishes the pass in progress and joins the thread.
  void stop();

  struct Stats {
    std::uint64_t sent = 0, retried = 0, dead = 0;
  };
  Stats stats() const;

 private:
  PassResult pass();

  store::Store& store_;
  WebhookSink sink_;
  std::string kind_;
  const Clock& clock_;
  WebhookDispatcherOptions options_;
  std::function<double()> random01_;

  std::mutex pass_mutex_;  // one pass at a time; guards everything below up to the thread
  TokenBucket bucket_;
  std::unique_ptr<CurlExecutor> http_;
  bool released_stale_ = false;
  bool more_due_ = false;

  std::atomic<std::uint64_t> sent_{0}, retried_{0}, dead_{0};

  PassLoop loop_;  // last: its thread stops before the members it uses go
};

}  // namespace rabta::gateway
