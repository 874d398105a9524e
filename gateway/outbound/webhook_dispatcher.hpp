// The webhook dispatcher: sends the "webhook:<sink>" outbox rows (format, signature and consent
// rules: adapters/webhook/sink.hpp), records each outcome, retries with backoff.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "adapters/common/clock.hpp"
#include "adapters/store/records.hpp"
#include "adapters/store/store.hpp"
#include "adapters/webhook/sink.hpp"
#include "gateway/outbound/consumer.hpp"

namespace rabta::gateway {

// The consumer's options with the webhook's own defaults (a receiver is slower to come back than
// an aggregator: more attempts, longer backoff, fewer requests in flight) and one rate.
struct WebhookDispatcherOptions : ConsumerOptions {
  WebhookDispatcherOptions() {
    max_attempts = 12;
    backoff_base = std::chrono::milliseconds(5000);
    backoff_cap = std::chrono::milliseconds(1'800'000);
    poll_interval = std::chrono::milliseconds(1000);
    batch = 32;
    max_parallel = 4;
  }
  double rate_per_second = 10;  // requests a second at most (0 = unlimited)
};

// The OutboxSender of the "webhook:<name>" rows of one sink, run by the one outbox consumer loop
// (consumer.hpp): reads her consent for the case as it stands at claim time, signs each request
// at send time, and reads 2xx as sent, 408/429/5xx and transport failures as retry, the rest as
// dead (adapters::webhook::classify_webhook_status).
class WebhookDispatcher : public OutboxDispatcher {
 public:
  // Throws std::invalid_argument for a sink without a name, secret or usable URL (see
  // adapters::webhook::webhook_url_problem), or options that cannot work (lease not longer than
  // send_timeout, batch < 1, max_attempts < 1, negative backoff or rate, no random source).
  WebhookDispatcher(store::Store& store, adapters::webhook::WebhookSink sink,
                    const common::Clock& clock, WebhookDispatcherOptions options,
                    std::function<double()> random01);
  ~WebhookDispatcher() override;  // stops the thread

 private:
  std::vector<Lane> lanes() const override;
  void settle(store::Tx& tx, std::int64_t now) override;
  void report_settled() override;
  std::any read(store::Tx& tx, const store::OutboxRecord& row) override;
  Prepared prepare(const ClaimedRow& c, std::int64_t now) override;
  SendVerdict judge(const ClaimedRow& c, long status, const std::string& body) override;
  std::string describe(const ClaimedRow& c) const override;

  adapters::webhook::WebhookSink sink_;
  std::string kind_;
  const common::Clock& clock_;
  double rate_per_second_;
  std::chrono::milliseconds backoff_cap_;
  int released_ = 0;
};

}  // namespace rabta::gateway
