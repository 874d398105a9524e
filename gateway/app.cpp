#include "gateway/app.hpp"

#include <spdlog/spdlog.h>

#include "adapters/africastalking/ussd.hpp"

namespace rabta::gateway {

namespace at = adapters::africastalking;

App::App(AppOptions options, store::Store& store, UssdService& ussd,
         const common::Pseudonymizer& pseudonymizer, Timer timer)
    : options_(std::move(options)),
      store_(store),
      ussd_(ussd),
      pseudonymizer_(pseudonymizer),
      timer_(std::move(timer)) {}

HttpResponse App::reject(const HttpRequest& request, int status, const std::string& reason) {
  ++counters_.rejected;
  // Method and path only: the query carries the secret and the body her number.
  spdlog::warn("{} {} from {}: {} {}", request.method, request.path, request.peer, status, reason);
  return HttpResponse::text(status, reason + "\n");
}

void App::handle(HttpRequest&& request, Responder respond) {
  ++counters_.requests;
  const auto& at_cfg = options_.africastalking;
  if (request.path == "/healthz") {
    if (request.method != "GET" && request.method != "HEAD")
      return respond(reject(request, 405, "use GET"));
    return healthz(std::move(respond));
  }
  if (at_cfg.enabled && (request.path == at_cfg.path || request.path == at_cfg.path + "/events")) {
    if (request.method != "POST") return respond(reject(request, 405, "use POST"));
    // Authenticate before anything is decoded or stored (SAFETY T1).
    if (!at::authenticate(request.query, options_.africastalking_secret))
      return respond(reject(request, 403, "missing or wrong key"));
    if (request.path == at_cfg.path) return ussd_hop(request, std::move(respond));
    return ussd_event(request, std::move(respond));
  }
  respond(reject(request, 404, "no such endpoint"));
}

void App::ussd_hop(const HttpRequest& request, Responder respond) {
  auto decoded = at::decode_ussd(request.header("content-type"), request.body);
  if (auto* r = std::get_if<at::Rejection>(&decoded))
    return respond(reject(request, r->status, r->reason));
  auto& req = std::get<at::UssdRequest>(decoded);
  UssdHop hop;
  hop.provider = at::provider_name;
  hop.session_id = std::move(req.session_id);
  hop.pseudonym = pseudonymizer_.pseudonym(req.phone_number);
  hop.text = std::move(req.text);
  ++counters_.hops;

  auto reply = std::make_shared<UssdReply>();
  const auto started = std::chrono::steady_clock::now();
  store_.submit(
      [this, hop = std::move(hop), reply](store::Tx& tx) { *reply = ussd_.handle_hop(tx, hop); },
      [this, reply, respond = std::move(respond), started](const store::JobResult& result) {
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - started)
                            .count();
        if (!result.ok) {
          ++counters_.store_failures;
          spdlog::error("ussd hop not stored: {}", result.error);
          // Nothing was committed, so nothing may be acknowledged: the aggregator sees a failure.
          return respond(HttpResponse::text(503, "END Service busy, please try again later."));
        }
        spdlog::debug("ussd session {} {} in {} us", reply->session, reply->outcome, us);
        respond(HttpResponse::text(200, at::encode_reply(reply->end, reply->text)));
      });
}

void App::ussd_event(const HttpRequest& request, Responder respond) {
  auto decoded = at::decode_session_event(request.header("content-type"), request.body);
  if (auto* r = std::get_if<at::Rejection>(&decoded))
    return respond(reject(request, r->status, r->reason));
  auto ev = std::get<at::SessionEvent>(std::move(decoded));
  auto known = std::make_shared<bool>(false);
  store_.submit(
      [this, ev, known](store::Tx& tx) {
        *known = ussd_.handle_end(tx, at::provider_name, ev.session_id, ev.status);
      },
      [this, ev, known, respond = std::move(respond)](const store::JobResult& result) {
        if (!result.ok) {
          ++counters_.store_failures;
          spdlog::error("ussd session end not stored: {}", result.error);
          return respond(HttpResponse::text(503, "not stored, retry\n"));
        }
        // An unknown session is answered 200 too: retrying would not make it known.
        if (!*known) spdlog::info("session end ({}) for an unknown session", ev.status);
        respond(HttpResponse::text(200, "OK\n"));
      });
}

void App::healthz(Responder respond) {
  // Healthy only while a write commits: a heartbeat row through the same writer as every hop.
  struct Once {
    std::atomic<bool> done{false};
    Responder respond;
  };
  auto once = std::make_shared<Once>();
  once->respond = std::move(respond);
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  store_.submit([now](store::Tx& tx) { tx.heartbeat(now); },
                [once](const store::JobResult& r) {
                  if (once->done.exchange(true)) return;
                  once->respond(r.ok ? HttpResponse::text(200, "ok\n")
                                     : HttpResponse::text(503, "database not writable\n"));
                });
  if (timer_)
    timer_(options_.health_timeout, [once] {
      if (once->done.exchange(true)) return;
      once->respond(HttpResponse::text(503, "database did not answer in time\n"));
    });
}

}  // namespace rabta::gateway
