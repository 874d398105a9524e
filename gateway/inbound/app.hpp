// Routes HTTP requests to adapters and services: a function of (request) -> response, with the
// response completed after the store committed. No sockets here (see http_server for those).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "adapters/common/cipher.hpp"
#include "adapters/common/clock.hpp"
#include "adapters/common/crypto.hpp"
#include "adapters/sms/sms_adapter.hpp"
#include "adapters/store/store.hpp"
#include "adapters/ussd/ussd_adapter.hpp"
#include "gateway/http/http_types.hpp"
#include "gateway/inbound/metrics.hpp"
#include "gateway/inbound/sms_service.hpp"
#include "gateway/inbound/ussd_service.hpp"
#include "gateway/settings/config.hpp"

namespace rabta::gateway {

// Runs `fn` after `delay` on the event loop (used to bound how long /healthz waits).
using Timer = std::function<void(std::chrono::milliseconds delay, std::function<void()> fn)>;

struct SmsChannel {
  std::string name;
  std::string path;
  std::shared_ptr<const adapters::sms::SmsAdapter> adapter;
  AllowList allow_from;  // empty: any address
};

// One USSD aggregator ([ussd.<name>]): its adapter and who may call it.
struct UssdChannel {
  std::string name;
  std::shared_ptr<const adapters::ussd::UssdAdapter> adapter;
  AllowList allow_from;            // empty: any address
  std::string duress_code_sha256;  // SAFETY S4 for hops on this channel ("" = none)
};

struct AppOptions {
  std::vector<UssdChannel> ussd;  // the USSD aggregators and the paths they route
  std::chrono::milliseconds health_timeout{2000};
  std::string public_url;              // scheme://host[:port] as aggregators call rabta
  std::vector<SmsChannel> channels;    // SMS channels and the paths their callbacks arrive on
  std::function<void()> outbox_ready;  // called after a commit that queued outbound messages
  // Seals the screens queued for asynchronous USSD gateways (required when one is configured).
  std::shared_ptr<const common::FieldCipher> cipher;
  // Further handlers by path prefix (e.g. "/api/", "/console/"), tried after the built-in routes.
  std::vector<std::pair<std::string, Handler>> prefix_routes;
  // GET /metrics: counters kept by the app, and the whole exposition when scraped.
  Metrics* metrics = nullptr;
  std::function<std::string()> metrics_text;
  AllowList metrics_allow;  // empty: loopback only
  // The client's address is read from Forwarded / X-Forwarded-For only on connections from these
  // (client_address in allow_list.hpp); it then replaces HttpRequest::peer for everything.
  AllowList trusted_proxies;
};

struct AppCounters {
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> rejected{0};
  std::atomic<std::uint64_t> hops{0};
  std::atomic<std::uint64_t> sms_in{0};
  std::atomic<std::uint64_t> delivery_reports{0};
  std::atomic<std::uint64_t> store_failures{0};
};

class App {
 public:
  // `sms` may be null when no SMS channel is configured.
  App(AppOptions options, store::Store& store, UssdService& ussd, SmsService* sms,
      const common::Pseudonymizer& pseudonymizer, const common::Clock& clock, Timer timer);

  void handle(HttpRequest&& request, Responder respond);
  const AppCounters& counters() const { return counters_; }

 private:
  void ussd(const UssdChannel& endpoint, const HttpRequest& request, Responder respond);
  void ussd_hop(const UssdChannel& endpoint, adapters::ussd::Hop in, Responder respond);
  // A fast 503 with Retry-After for a request the full writer queue refused (#13).
  static HttpResponse shed(HttpResponse busy, const char* what);
  void ussd_end(const adapters::ussd::UssdAdapter& adapter, adapters::ussd::SessionEnd ev,
                Responder respond);
  void sms(const SmsChannel& channel, const HttpRequest& request, Responder respond);
  void healthz(Responder respond);
  std::string route_of(const HttpRequest& request) const;
  HttpResponse reject(const HttpRequest& request, int status, const std::string& reason);

  AppOptions options_;
  store::Store& store_;
  UssdService& ussd_;
  SmsService* sms_;
  const common::Pseudonymizer& pseudonymizer_;
  const common::Clock& clock_;
  Timer timer_;
  AppCounters counters_;
};

}  // namespace rabta::gateway
