// GET /metrics in Prometheus text format (version 0.0.4). Counters are kept here, cheaply, on
// the hot path; gauges about the database (outbox, cases, delivery failures) are read from the
// store's read connection when scraped. Nothing in it names a person: counts, ages and sizes
// only. Served only to the addresses in [metrics] allow_from (default loopback).
// The text format is written by hand on purpose: Debian's prometheus-cpp would bring its own
// registry and, for pull, its own HTTP server beside rabta's (which applies allow_from and the
// request limits), while rabta renders about twenty families at scrape time from these counters
// and one database snapshot; tests/e2e/metrics_test.py parses the output as exposition format.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "adapters/store/store.hpp"

namespace rabta::gateway {

// What the dispatchers report (their own counters since start).
struct DispatchCounters {
  std::uint64_t sent = 0, retried = 0, dead = 0, refused = 0;
  std::uint64_t webhooks_sent = 0, webhooks_retried = 0, webhooks_dead = 0;
};

class Metrics {
 public:
  static constexpr std::array<double, 12> kHopBuckets{0.001, 0.002, 0.005, 0.01, 0.025, 0.05,
                                                      0.1,   0.25,  0.5,   1.0,  2.5,   5.0};

  // route: a fixed label (e.g. "ussd_africastalking", "sms_kannel", "api_v1"), never a path.
  void count_request(std::string_view route, int status);
  void observe_hop(std::chrono::microseconds latency);

  // The whole exposition. `db` from Tx::metrics_snapshot at `now_ms`.
  std::string render(const store::StoreStats& store, const store::MetricsSnapshot& db,
                     const DispatchCounters& dispatch, std::int64_t now_ms) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;  // guarded by mutex_
  std::array<std::atomic<std::uint64_t>, kHopBuckets.size()> hop_buckets_{};
  std::atomic<std::uint64_t> hop_count_{0};
  std::atomic<std::uint64_t> hop_micros_{0};
};

}  // namespace rabta::gateway
