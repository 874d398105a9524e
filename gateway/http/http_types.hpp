// Plain HTTP request/response values passed between the Beast server and the handlers.
// No Boost.Beast here: handlers are functions of (request) -> response, testable without a socket.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rabta::gateway {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query exactly as received, e.g. "/ussd/africastalking?key=x"
  std::string path;    // target up to '?'
  std::string query;   // after '?', still percent-encoded ("" when absent)
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string peer;  // remote address, for logs and per-peer limits

  // First header with this (lower-case) name, or "" when absent.
  std::string_view header(std::string_view lower_name) const {
    for (const auto& [name, value] : headers)
      if (name == lower_name) return value;
    return {};
  }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers

  static HttpResponse text(int status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }

  // What every reply about her or a case carries: not cached, not sniffed, no referrer.
  void no_store() {
    headers.emplace_back("Cache-Control", "no-store");
    headers.emplace_back("X-Content-Type-Options", "nosniff");
    headers.emplace_back("Referrer-Policy", "no-referrer");
  }
};

// Completes a request. May be called from any thread, exactly once.
using Responder = std::function<void(HttpResponse)>;
// Handles one request; must not block (hand slow work to another thread and respond later).
using Handler = std::function<void(HttpRequest&&, Responder)>;

}  // namespace rabta::gateway
