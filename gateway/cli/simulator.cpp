#include "gateway/cli/simulator.hpp"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/common/form.hpp"

namespace rabta::gateway {
namespace {

constexpr std::string_view kContinue = "CON ";
constexpr std::string_view kEnd = "END ";
constexpr std::string_view kHangUp = "/end";

struct CurlDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlHandle = std::unique_ptr<CURL, CurlDeleter>;
using CurlHeaders = std::unique_ptr<curl_slist, SlistDeleter>;

// curl_global_init is not guaranteed thread-safe on every libcurl build; do it once.
void ensure_curl_global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Typed wrappers: curl_easy_setopt is variadic, so passing the exact type each option
// expects (long, pointer, curl_off_t) matters.
void set_long(CURL* h, CURLoption opt, long v) {
  curl_easy_setopt(h, opt, v);
}
void set_str(CURL* h, CURLoption opt, const char* v) {
  curl_easy_setopt(h, opt, v);
}
void set_ptr(CURL* h, CURLoption opt, void* v) {
  curl_easy_setopt(h, opt, v);
}

std::size_t append_body(char* data, std::size_t size, std::size_t nmemb, void* user) {
  static_cast<std::string*>(user)->append(data, size * nmemb);
  return size * nmemb;
}
using WriteCallback = std::size_t (*)(char*, std::size_t, std::size_t, void*);

std::string random_session_id() {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "SIM";
  for (int i = 0; i < 4; ++i) {
    const unsigned int word = rd();
    for (int shift = 28; shift >= 0; shift -= 4) id.push_back(kHex[(word >> shift) & 0xFU]);
  }
  return id;
}

std::string join_inputs(const std::vector<std::string>& inputs) {
  std::string text;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (i != 0) text.push_back('*');
    text += inputs[i];
  }
  return text;
}

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

std::string first_line(std::string_view body) {
  std::string line(body.substr(0, body.find('\n')));
  if (!line.empty() && line.back() == '\r') line.pop_back();
  constexpr std::size_t kMax = 200;  // an HTML error page should not flood the terminal
  if (line.size() > kMax) line = line.substr(0, kMax) + "...";
  return line;
}

// Terminal columns, roughly: code points, not bytes, so Urdu screens get a sensible rule.
std::size_t display_width(std::string_view line) {
  return static_cast<std::size_t>(std::count_if(line.begin(), line.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0U) != 0x80U;
  }));
}

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (true) {
    const std::size_t nl = text.find('\n', start);
    std::string line(text.substr(start, nl == std::string_view::npos ? nl : nl - start));
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return lines;
}

void show_screen(std::ostream& out, std::string_view screen, bool interactive) {
  const auto lines = split_lines(screen);
  if (interactive) {
    std::size_t width = 24;
    for (const auto& l : lines) width = std::max(width, display_width(l));
    const std::string rule(std::min<std::size_t>(width, 72), '-');
    out << rule << '\n';
    for (const auto& l : lines) out << l << '\n';
    out << rule << '\n';
  } else {
    for (const auto& l : lines) out << l << '\n';
  }
}

// Loopback is never sent through a proxy: the simulator talks to a local gateway far more
// often than not, and a stray http_proxy would otherwise swallow the request. Whatever
// no_proxy the user set still applies (CURLOPT_NOPROXY replaces it, so carry it over).
std::string no_proxy_list() {
  std::string list = "localhost,127.0.0.1,::1";
  for (const char* var : {"no_proxy", "NO_PROXY"}) {
    if (const char* v = std::getenv(var); v != nullptr && v[0] != '\0') {
      list += ',';
      list += v;
      break;
    }
  }
  return list;
}

struct HopReply {
  long status = 0;
  std::string body;
};

class UssdClient {
 public:
  UssdClient(const SimulatorOptions& options, std::ostream& err)
      : options_(options), err_(err), no_proxy_(no_proxy_list()) {
    ensure_curl_global_init();
    handle_.reset(curl_easy_init());
    headers_.reset(curl_slist_append(nullptr, "Content-Type: application/x-www-form-urlencoded"));
    // Appending to a non-empty list returns its unchanged head, or null on failure.
    if (headers_ && curl_slist_append(headers_.get(), "Accept: text/plain") == nullptr) {
      headers_.reset();
    }
  }

  bool ready() const { return handle_ != nullptr && headers_ != nullptr; }

  // One POST on the shared handle (so the connection is kept alive between hops).
  std::optional<HopReply> post(const std::string& body) {
    CURL* h = handle_.get();
    HopReply reply;
    error_buffer_.front() = '\0';
    set_str(h, CURLOPT_URL, options_.url.c_str());
    set_long(h, CURLOPT_POST, 1L);
    set_str(h, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    set_ptr(h, CURLOPT_HTTPHEADER, headers_.get());
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, static_cast<WriteCallback>(&append_body));
    set_ptr(h, CURLOPT_WRITEDATA, &reply.body);
    set_long(h, CURLOPT_TIMEOUT_MS, options_.timeout_ms);
    set_long(h, CURLOPT_CONNECTTIMEOUT_MS, options_.timeout_ms);
    set_long(h, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM; safe next to threads
    set_str(h, CURLOPT_NOPROXY, no_proxy_.c_str());
    set_str(h, CURLOPT_USERAGENT, "rabta-simulate");
    set_ptr(h, CURLOPT_ERRORBUFFER, error_buffer_.data());

    const CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
      err_ << "rabta simulate: request to " << options_.url << " failed: "
           << (error_buffer_.front() != '\0' ? error_buffer_.data() : curl_easy_strerror(rc))
           << '\n';
      return std::nullopt;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply.status);
    return reply;
  }

 private:
  const SimulatorOptions& options_;
  std::ostream& err_;
  std::string no_proxy_;
  // Declared before handle_ so they outlive it: the handle points into both.
  std::array<char, CURL_ERROR_SIZE> error_buffer_{};
  CurlHeaders headers_;
  CurlHandle handle_;
};

}  // namespace

int run_simulator(const SimulatorOptions& options, std::istream& in, std::ostream& out,
                  std::ostream& err) {
  // Framing and prompts only make sense for a person at a terminal; anything else is a
  // script whose transcript should read as a plain dialogue.
  const bool interactive = &in == &std::cin && ::isatty(STDIN_FILENO) == 1;
  const std::string session_id =
      options.session_id.empty() ? random_session_id() : options.session_id;

  UssdClient client(options, err);
  if (!client.ready()) {
    err << "rabta simulate: could not initialise libcurl\n";
    return 2;
  }

  std::vector<std::string> inputs;
  while (true) {
    const std::string body = common::form_encode({{"sessionId", session_id},
                                                  {"serviceCode", options.code},
                                                  {"phoneNumber", options.phone},
                                                  {"networkCode", options.network_code},
                                                  {"text", join_inputs(inputs)}});
    const auto reply = client.post(body);
    if (!reply) return 2;

    const std::string_view text = reply->body;
    const bool is_con = text.starts_with(kContinue);
    const bool is_end = text.starts_with(kEnd);
    if (reply->status != 200 || (!is_con && !is_end)) {
      err << "rabta simulate: gateway replied HTTP " << reply->status;
      if (reply->status == 200) err << " without a CON/END prefix";
      err << ": " << first_line(text) << '\n';
      return 2;
    }

    show_screen(out, text.substr(kContinue.size()), interactive);
    if (is_end) {
      out << "[session ended]\n" << std::flush;
      return 0;
    }

    if (interactive) out << "> ";
    out << std::flush;
    std::string line;
    if (!std::getline(in, line)) {
      if (interactive) out << '\n';
      out << std::flush;
      err << "rabta simulate: input ended before the gateway ended the session\n";
      return 1;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!interactive) out << "> " << line << '\n';
    if (trim(line) == kHangUp) {
      out << "[hung up]\n" << std::flush;
      return 1;
    }
    inputs.push_back(std::move(line));
  }
}

}  // namespace rabta::gateway
