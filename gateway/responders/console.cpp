#include "gateway/responders/console.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iomanip>
#include <istream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <string_view>
#include <utility>
#include <variant>

#include "adapters/common/form.hpp"
#include "console_files.hpp"
#include "gateway/settings/config.hpp"

namespace rabta::gateway {

namespace {

std::string_view content_type_of(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  if (name.ends_with(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

void console_headers(HttpResponse& r) {
  r.no_store();
  // Scripts and styles only from the files below: no inline script, no other origin.
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'self'; base-uri 'none'; form-action 'self'; "
                         "frame-ancestors 'none'");
  r.headers.emplace_back("X-Frame-Options", "DENY");
}

HttpResponse console_text(int status, std::string body) {
  HttpResponse r = HttpResponse::text(status, std::move(body));
  console_headers(r);
  return r;
}

}  // namespace

Handler console_handler() {
  return [](HttpRequest&& request, Responder respond) {
    if (request.path != "/console" && request.path.rfind("/console/", 0) != 0)
      return respond(console_text(404, "not found\n"));
    if (request.method != "GET") {
      HttpResponse r = console_text(405, "use GET\n");
      r.headers.emplace_back("Allow", "GET, HEAD");
      return respond(std::move(r));
    }
    if (request.path == "/console") {
      HttpResponse r = console_text(302, "/console/\n");
      r.headers.emplace_back("Location", "/console/");
      return respond(std::move(r));
    }
    std::string_view name =
        std::string_view(request.path).substr(std::string_view("/console/").size());
    if (name.empty()) name = "index.html";
    for (const auto& f : console_files::files) {
      if (f.name != name) continue;
      HttpResponse r;
      r.status = 200;
      r.content_type = content_type_of(name);
      r.body.assign(reinterpret_cast<const char*>(f.data), f.size);
      console_headers(r);
      return respond(std::move(r));
    }
    respond(console_text(404, "not found\n"));
  };
}

}  // namespace rabta::gateway
