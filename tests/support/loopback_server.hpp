// The one loopback HTTP server of the tests: rabta's own Beast server on an ephemeral port that
// records every request and answers through the test's handler. Every fake on the far side of an
// HTTP call is a handler on it: the aggregator's send API (tests/outbound/dispatcher_test.cpp),
// a case-management system receiving signed webhooks (webhook_test.cpp), and a USSD gateway for
// the simulator (tests/cli/simulator_test.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gateway/http/http_server.hpp"

namespace rabta::test {

class LoopbackServer {
 public:
  // Answers now (the usual case) or later: the Responder may be kept and called from any thread.
  using Handler = std::function<void(const gateway::HttpRequest&, gateway::Responder)>;

  explicit LoopbackServer(Handler handler) : handler_(std::move(handler)) {
    gateway::HttpServerOptions o;
    o.port = 0;
    server_ = std::make_unique<gateway::HttpServer>(
        o, [this](gateway::HttpRequest&& r, gateway::Responder respond) {
          {
            std::lock_guard lock(mutex_);
            requests_.push_back(r);
          }
          handler_(r, std::move(respond));
        });
    server_->listen();
    thread_ = std::thread([this] { server_->run(); });
  }
  // A server that answers every request with the handler's response.
  static Handler answering(std::function<gateway::HttpResponse(const gateway::HttpRequest&)> f) {
    return [f = std::move(f)](const gateway::HttpRequest& r, gateway::Responder respond) {
      respond(f(r));
    };
  }
  ~LoopbackServer() {
    server_->stop();
    thread_.join();
  }
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  // "http://127.0.0.1:<port>" followed by `path_and_query`.
  std::string url(const std::string& path_and_query = "") const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + path_and_query;
  }
  // Every request received so far, in order (header names lower-cased).
  std::vector<gateway::HttpRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  std::size_t count() const {
    std::lock_guard lock(mutex_);
    return requests_.size();
  }
  // TCP connections accepted (keep-alive reuse shows as fewer connections than requests).
  std::uint64_t connections() const { return server_->connections_accepted(); }

 private:
  Handler handler_;
  mutable std::mutex mutex_;
  std::vector<gateway::HttpRequest> requests_;
  std::unique_ptr<gateway::HttpServer> server_;
  std::thread thread_;
};

}  // namespace rabta::test
