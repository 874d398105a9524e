// HTTP/1.1 server on Boost.Asio + Boost.Beast (the only translation unit that includes Beast).
// Owns its io_context and worker threads. Each connection enforces header/body limits, a read
// timeout (a request must arrive completely within it: slow clients are dropped), an idle
// keep-alive timeout and a per-peer connection cap. Requests are handed to the Handler; the
// reply is written when the Responder is called (from any thread).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "gateway/http/http_types.hpp"

namespace boost::asio {
class io_context;
}

namespace rabta::gateway {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0 = pick a free port (see HttpServer::port())
  std::size_t header_limit = 8 * 1024;
  std::size_t body_limit = 8 * 1024;
  std::chrono::milliseconds read_timeout{10'000};  // whole request, first byte to last
  std::chrono::milliseconds idle_timeout{30'000};  // keep-alive wait for the next request
  std::size_t max_connections_per_peer = 256;
  unsigned threads = 1;
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens; throws std::runtime_error with the address on failure.
  void listen();
  std::uint16_t port() const;
  // Runs the event loop on `threads` threads (the caller's included) until stop() has drained.
  void run();
  // Graceful: stop accepting, let in-flight requests get their replies, close idle connections,
  // then let run() return. Safe to call from any thread or from a signal handler callback.
  void stop();
  // The event loop, for timers of the scheduler/dispatcher loops that share it.
  boost::asio::io_context& context();
  // Number of requests that have been handed to the handler but not yet answered.
  std::size_t in_flight() const;
  // Connections accepted since listen() (keep-alive reuse shows as fewer connections than
  // requests).
  std::uint64_t connections_accepted() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rabta::gateway
