// Runs many outbound HTTP calls at once with libcurl's multi interface. Blocking: used on the
// dispatcher's own thread, never on the HTTP server's event loop.
//
// One CURLM per executor keeps its connection cache between calls (keep-alive to the aggregator).
// Proxies from the environment are honoured except for loopback hosts. Only a call's host and
// status are ever logged: URLs' query strings and bodies carry phone numbers and secrets.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "adapters/sms/sms_adapter.hpp"

namespace rabta::adapters::http {

class CurlExecutor {
 public:
  CurlExecutor();
  ~CurlExecutor();
  CurlExecutor(const CurlExecutor&) = delete;
  CurlExecutor& operator=(const CurlExecutor&) = delete;

  // (HTTP status, body) per call, in the order of `calls`. Status 0 = transport failure
  // (connection refused, timeout, ...): the body then holds curl's error text. `timeout` bounds
  // each call as a whole; at most `max_parallel` (at least 1) run at the same time. Not
  // reentrant: one thread at a time per executor. `done`, when set, is called (on this thread)
  // with a call's index as soon as that call's result is in the vector being built, so the
  // caller can act on each result without waiting for the slowest call.
  std::vector<std::pair<long, std::string>> perform_all(
      const std::vector<adapters::sms::HttpCall>& calls, std::chrono::milliseconds timeout,
      std::size_t max_parallel,
      const std::function<void(std::size_t, const std::pair<long, std::string>&)>& done = {});

  // New connections opened so far (the rest reused a kept-alive one).
  std::uint64_t connections_opened() const;

  // The host part of a URL ("" when it does not parse): what logs may show of a URL.
  static std::string host_of(const std::string& url);
  // 127.0.0.0/8, ::1 and "localhost": hosts that never go through a proxy.
  static bool is_loopback_host(const std::string& host);

  // Responses larger than this are cut off and reported as a transport failure.
  static constexpr std::size_t max_response_bytes = 1024 * 1024;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rabta::adapters::http
