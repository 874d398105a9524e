#include "gateway/inbound/app.hpp"

#include <spdlog/spdlog.h>

#include <cctype>
#include <stdexcept>

#include "gateway/outbound/ussd_reply.hpp"

namespace rabta::gateway {

App::App(AppOptions options, store::Store& store, UssdService& ussd, SmsService* sms,
         const common::Pseudonymizer& pseudonymizer, const common::Clock& clock, Timer timer)
    : options_(std::move(options)),
      store_(store),
      ussd_(ussd),
      sms_(sms),
      pseudonymizer_(pseudonymizer),
      clock_(clock),
      timer_(std::move(timer)) {
  // Screens for an asynchronous gateway are sealed when queued: refused here, not per hop.
  for (const auto& u : options_.ussd)
    if (!u.adapter->replies_in_band() && !options_.cipher)
      throw std::invalid_argument("[ussd." + u.name + "] answers by a send call: no cipher given");
}

HttpResponse App::reject(const HttpRequest& request, int status, const std::string& reason) {
  ++counters_.rejected;
  // Method and path only: the query carries the secret and the body her number.
  spdlog::warn("{} {} from {}: {} {}", request.method, request.path, request.peer, status, reason);
  return HttpResponse::text(status, reason + "\n");
}

namespace {

bool loopback(std::string_view peer) {
  return peer == "::1" || peer.rfind("127.", 0) == 0 || peer.rfind("::ffff:127.", 0) == 0;
}

}  // namespace

// A fixed label per route for the request counters: never the path itself (it could carry
// anything a client sends).
std::string App::route_of(const HttpRequest& request) const {
  if (request.path == "/healthz") return "healthz";
  if (request.path == "/metrics") return "metrics";
  for (const auto& endpoint : options_.ussd)
    if (const auto label = endpoint.adapter->route(request.path); !label.empty())
      return std::string(label);
  for (const auto& [prefix, handler] : options_.prefix_routes) {
    if (request.path.rfind(prefix, 0) != 0) continue;
    std::string label;  // the prefix's letters and digits: "/api/v1/" -> "api_v1"
    for (const char c : prefix) {
      if (std::isalnum(static_cast<unsigned char>(c))) {
        label += c;
      } else if (!label.empty() && label.back() != '_') {
        label += '_';
      }
    }
    while (!label.empty() && label.back() == '_') label.pop_back();
    return label;
  }
  for (const auto& channel : options_.channels)
    if (request.path == channel.path || request.path.rfind(channel.path + "/", 0) == 0)
      return "sms_" + channel.name;
  return "other";
}

namespace {

// Every value of a header, in order, joined by "," (a list may be split over several fields).
std::string joined(const HttpRequest& request, std::string_view lower_name) {
  std::string out;
  for (const auto& [name, value] : request.headers)
    if (name == lower_name) out += (out.empty() ? "" : ",") + value;
  return out;
}

}  // namespace

void App::handle(HttpRequest&& request, Responder respond) {
  ++counters_.requests;
  if (!options_.trusted_proxies.empty())
    request.peer = client_address(request.peer, options_.trusted_proxies,
                                  joined(request, "forwarded"), joined(request, "x-forwarded-for"));
  if (options_.metrics != nullptr) {
    respond = [m = options_.metrics, route = route_of(request),
               inner = std::move(respond)](HttpResponse r) {
      m->count_request(route, r.status);
      inner(std::move(r));
    };
  }
  // HEAD is answered wherever GET is, with the same headers and no body (the server drops it).
  // Only reads take it: a hop or a message is never a HEAD.
  if (request.path == "/metrics" && options_.metrics_text) {
    if (request.method != "GET" && request.method != "HEAD")
      return respond(reject(request, 405, "use GET"));
    const bool allowed = options_.metrics_allow.empty()
                             ? loopback(request.peer)
                             : options_.metrics_allow.allows(request.peer);
    if (!allowed) return respond(reject(request, 403, "source address not allowed for /metrics"));
    HttpResponse r = HttpResponse::text(200, options_.metrics_text());
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return respond(std::move(r));
  }
  if (request.path == "/healthz") {
    if (request.method != "GET" && request.method != "HEAD")
      return respond(reject(request, 405, "use GET"));
    return healthz(std::move(respond));
  }
  for (const auto& endpoint : options_.ussd)
    if (!endpoint.adapter->route(request.path).empty())
      return ussd(endpoint, request, std::move(respond));
  for (const auto& [prefix, handler] : options_.prefix_routes)
    if (request.path.rfind(prefix, 0) == 0) {
      // The console and the API serve a HEAD as their GET (their GETs only read).
      if (request.method == "HEAD") request.method = "GET";
      return handler(std::move(request), std::move(respond));
    }
  // A channel owns its path and everything below it (e.g. Twilio's status callback at /status).
  for (const auto& channel : options_.channels)
    if (sms_ && (request.path == channel.path || request.path.rfind(channel.path + "/", 0) == 0))
      return channel.allow_from.allows(request.peer)
                 ? sms(channel, request, std::move(respond))
                 : respond(reject(request, 403, "source address not in allow_from"));
  respond(reject(request, 404, "no such endpoint"));
}

namespace {

HttpResponse to_response(const adapters::sms::HttpReply& r) {
  HttpResponse out;
  out.status = r.status;
  out.content_type = r.content_type;
  out.body = r.body;
  out.headers = r.headers;
  return out;
}

}  // namespace

void App::sms(const SmsChannel& channel, const HttpRequest& request, Responder respond) {
  namespace sms = adapters::sms;
  sms::InboundHttp in;
  in.method = request.method;
  in.public_url = options_.public_url + request.target;
  in.path = request.path;
  in.query = request.query;
  in.headers = request.headers;
  in.body = request.body;
  // The adapter authenticates before it decodes anything (SAFETY T1).
  auto decoded = channel.adapter->decode(in);
  if (auto* r = std::get_if<sms::Rejection>(&decoded))
    return respond(reject(request, r->status, r->reason));
  auto& inbound = std::get<sms::Inbound>(decoded);
  const auto* adapter = channel.adapter.get();

  if (auto* dlr = std::get_if<sms::DeliveryReport>(&inbound)) {
    ++counters_.delivery_reports;
    auto known = std::make_shared<bool>(false);
    const std::string name = channel.name;
    store_.submit(
        [dlr = *dlr, name, known, &clock = clock_](store::Tx& tx) {
          const std::int64_t now = clock.now_ms();
          const std::string status = sms::to_string(dlr.status);
          *known = dlr.outbox_id > 0
                       ? tx.update_delivery_by_id(dlr.outbox_id, status, now)
                       : tx.update_delivery(name, dlr.provider_message_id, status, now);
        },
        [this, adapter, known, name, respond = std::move(respond)](const store::JobResult& r) {
          if (!r.ok) {
            ++counters_.store_failures;
            spdlog::error("delivery report on {} not stored: {}", name, r.error);
            return respond(HttpResponse::text(503, "not stored, retry\n"));
          }
          // Accepted either way: an error would only make the aggregator retry forever.
          if (!*known) spdlog::info("delivery report on {} for an unknown message", name);
          respond(to_response(adapter->encode_reply("", false)));
        });
    return;
  }

  auto& msg = std::get<sms::InboundSms>(inbound);
  ++counters_.sms_in;
  SmsIn in_sms;
  in_sms.channel = channel.name;
  in_sms.provider_message_id = msg.provider_message_id;
  in_sms.pseudonym = pseudonymizer_.pseudonym(msg.from);
  in_sms.phone = common::normalise_msisdn(msg.from);
  in_sms.text = std::move(msg.text);
  auto out = std::make_shared<SmsOut>();
  const bool in_band = adapter->replies_in_band();
  store_.submit_bounded([this, in_sms = std::move(in_sms), out,
                         in_band](store::Tx& tx) { *out = sms_->handle(tx, in_sms, in_band); },
                        [this, adapter, out, name = channel.name,
                         respond = std::move(respond)](const store::JobResult& r) {
                          if (r.busy)
                            return respond(shed(HttpResponse::text(503, "busy, retry\n"), "sms"));
                          if (!r.ok) {
                            ++counters_.store_failures;
                            spdlog::error("sms on {} not stored: {}", name, r.error);
                            // Nothing committed: the aggregator must retry (Kannel and Twilio do on
                            // 5xx).
                            return respond(HttpResponse::text(503, "not stored, retry\n"));
                          }
                          spdlog::debug("sms on {}: {} (session {})", name, out->outcome,
                                        out->session);
                          if (out->queued && options_.outbox_ready) options_.outbox_ready();
                          respond(to_response(adapter->encode_reply(out->reply, out->ucs2)));
                        });
}

void App::ussd(const UssdChannel& endpoint, const HttpRequest& request, Responder respond) {
  // The adapter answers a method its endpoint does not take (405).
  if (!endpoint.allow_from.allows(request.peer))
    return respond(reject(request, 403, "source address not in allow_from"));
  adapters::ussd::InboundHttp in;
  in.method = request.method;
  in.path = request.path;
  in.query = request.query;
  in.headers = request.headers;
  in.body = request.body;
  // The adapter authenticates before it decodes anything (SAFETY T1).
  auto decoded = endpoint.adapter->decode(in);
  if (auto* r = std::get_if<adapters::ussd::Rejection>(&decoded))
    return respond(reject(request, r->status, r->reason));
  auto& inbound = std::get<adapters::ussd::Inbound>(decoded);
  if (auto* hop = std::get_if<adapters::ussd::Hop>(&inbound))
    return ussd_hop(endpoint, std::move(*hop), std::move(respond));
  ussd_end(*endpoint.adapter, std::get<adapters::ussd::SessionEnd>(std::move(inbound)),
           std::move(respond));
}

void App::ussd_hop(const UssdChannel& endpoint, adapters::ussd::Hop in, Responder respond) {
  const adapters::ussd::UssdAdapter& adapter = *endpoint.adapter;
  const adapters::ussd::ReplyTo to{in.session_id, in.service_code};
  UssdHop hop;
  hop.provider = std::string(adapter.provider());
  hop.session_id = std::move(in.session_id);
  hop.pseudonym = pseudonymizer_.pseudonym(in.phone);
  hop.phone = common::normalise_msisdn(in.phone);
  hop.text = std::move(in.text);
  hop.text_is_path = in.text_is_path;
  hop.sequence = in.sequence;
  hop.begins = in.begins;
  hop.service_code = std::move(in.service_code);
  hop.duress_code_sha256 = endpoint.duress_code_sha256;
  ++counters_.hops;

  auto reply = std::make_shared<UssdReply>();
  const auto started = std::chrono::steady_clock::now();
  // An asynchronous gateway takes the screen by a separate call: it is queued in this hop's
  // transaction (gateway/outbound/ussd_reply.hpp), so that it exists only if the hop committed,
  // and the HTTP response is only the acknowledgement.
  const bool async = !adapter.replies_in_band();
  store_.submit_bounded(
      [this, &endpoint, hop = std::move(hop), reply, async](store::Tx& tx) {
        *reply = ussd_.handle_hop(tx, hop);
        if (!async) return;
        const adapters::ussd::AsyncReply screen{hop.session_id, hop.phone, reply->text, reply->end};
        // Keyed by session and hop: a retried hop queues nothing twice.
        tx.insert_outbox(make_ussd_reply_outbox(
            endpoint.name, reply->session, reply->hop, reply->contact, screen, clock_.now_ms(),
            endpoint.adapter->send_deadline().count(), *options_.cipher));
      },
      [this, &adapter, to, reply, async, respond = std::move(respond),
       started](const store::JobResult& result) {
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - started)
                            .count();
        if (result.busy) return respond(shed(to_response(adapter.busy_reply(to)), "ussd hop"));
        if (!result.ok) {
          ++counters_.store_failures;
          spdlog::error("ussd hop not stored: {}", result.error);
          // Nothing was committed, so nothing may be acknowledged: the aggregator sees a failure.
          return respond(to_response(adapter.busy_reply(to)));
        }
        spdlog::debug("ussd session {} {} in {} us", reply->session, reply->outcome, us);
        if (options_.metrics != nullptr)
          options_.metrics->observe_hop(std::chrono::microseconds(us));
        if (async) {
          if (options_.outbox_ready) options_.outbox_ready();
          return respond(to_response(adapter.ack_reply(to)));
        }
        respond(to_response(adapter.encode_reply(to, reply->end, reply->text)));
      });
}

HttpResponse App::shed(HttpResponse busy, const char* what) {
  // Overload (#13): the writer is [database] max_queue jobs behind. Nothing is stored, so nothing
  // is acknowledged: a fast 503 the aggregator may retry, not a reply that comes ever later.
  spdlog::warn("{} refused: too many writes wait for the database ([database] max_queue)", what);
  busy.status = 503;
  busy.headers.emplace_back("Retry-After", "1");
  return busy;
}

void App::ussd_end(const adapters::ussd::UssdAdapter& adapter, adapters::ussd::SessionEnd ev,
                   Responder respond) {
  auto known = std::make_shared<bool>(false);
  // The number it names, as a pseudonym only (SAFETY W5: it ends that number's session).
  const std::string pseudonym =
      ev.phone.empty() ? std::string() : pseudonymizer_.pseudonym(ev.phone);
  ev.phone.clear();
  store_.submit(
      [this, &adapter, ev, known, pseudonym](store::Tx& tx) {
        *known = ussd_.handle_end(tx, std::string(adapter.provider()), ev.session_id, ev.status,
                                  pseudonym);
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
  const auto now = clock_.now_ms();
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
