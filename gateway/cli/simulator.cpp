#include "gateway/cli/simulator.hpp"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "adapters/common/form.hpp"
#include "gateway/cli/validate.hpp"
#include "gateway/http/http_server.hpp"
#include "gateway/settings/config.hpp"

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

// Her next input, echoed after "> " when scripted; nullopt (told on `err`) when input ended.
std::optional<std::string> next_input(std::istream& in, std::ostream& out, std::ostream& err,
                                      bool interactive) {
  if (interactive) out << "> ";
  out << std::flush;
  std::string line;
  if (!std::getline(in, line)) {
    if (interactive) out << '\n';
    out << std::flush;
    err << "rabta simulate: input ended before the gateway ended the session\n";
    return std::nullopt;
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (!interactive) out << "> " << line << '\n';
  return line;
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

    const auto input = next_input(in, out, err, interactive);
    if (!input) return 1;
    std::string line = *input;
    if (trim(line) == kHangUp) {
      out << "[hung up]\n" << std::flush;
      return 1;
    }
    inputs.push_back(std::move(line));
  }
}

}  // namespace rabta::gateway

namespace rabta::gateway {
namespace {

std::size_t append_header(char* data, std::size_t size, std::size_t nmemb, void* user) {
  auto* headers = static_cast<std::vector<std::pair<std::string, std::string>>*>(user);
  std::string line(data, size * nmemb);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (const auto colon = line.find(':'); colon != std::string::npos) {
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    headers->emplace_back(line.substr(0, colon), value);
  }
  return size * nmemb;
}

struct Response {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// One request of the emulated gateway, on its own handle (a hop is rare; clarity wins).
std::optional<Response> perform(const PresetSimulatorOptions& o,
                                const adapters::generic::EmulatedRequest& r, std::ostream& err) {
  ensure_curl_global_init();
  CurlHandle handle(curl_easy_init());
  if (!handle) {
    err << "rabta simulate: could not initialise libcurl\n";
    return std::nullopt;
  }
  CURL* h = handle.get();
  const std::string url = o.base_url + r.path_and_query;
  const std::string no_proxy = no_proxy_list();
  CurlHeaders headers;
  for (const auto& [n, v] : r.headers) {
    curl_slist* next = curl_slist_append(headers.get(), (n + ": " + v).c_str());
    if (!headers) headers.reset(next);
  }
  Response res;
  std::array<char, CURL_ERROR_SIZE> error{};
  set_str(h, CURLOPT_URL, url.c_str());
  set_str(h, CURLOPT_CUSTOMREQUEST, r.method.c_str());
  if (r.method != "GET") {
    set_str(h, CURLOPT_POSTFIELDS, r.body.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
  }
  set_ptr(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, static_cast<WriteCallback>(&append_body));
  set_ptr(h, CURLOPT_WRITEDATA, &res.body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, static_cast<WriteCallback>(&append_header));
  set_ptr(h, CURLOPT_HEADERDATA, &res.headers);
  set_long(h, CURLOPT_TIMEOUT_MS, o.timeout_ms);
  set_long(h, CURLOPT_CONNECTTIMEOUT_MS, o.timeout_ms);
  set_long(h, CURLOPT_NOSIGNAL, 1L);
  set_str(h, CURLOPT_NOPROXY, no_proxy.c_str());
  set_str(h, CURLOPT_USERAGENT, "rabta-simulate");
  set_ptr(h, CURLOPT_ERRORBUFFER, error.data());
  const CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    err << "rabta simulate: request to " << o.base_url
        << " failed: " << (error.front() != '\0' ? error.data() : curl_easy_strerror(rc)) << '\n';
    return std::nullopt;
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res.status);
  return res;
}

// The gateway's send API on loopback: every screen rabta sends, in order.
class SendApi {
 public:
  SendApi(const adapters::generic::GatewayEmulator& emulator, const std::string& listen)
      : emulator_(emulator) {
    HttpServerOptions o;
    const auto colon = listen.rfind(':');
    o.host = listen.substr(0, colon);
    o.port = static_cast<std::uint16_t>(std::stoi(listen.substr(colon + 1)));
    server_ = std::make_unique<HttpServer>(o, [this](HttpRequest&& r, Responder respond) {
      const auto screen = emulator_.read_send(r.body);
      if (!screen) return respond(HttpResponse::text(400, "not a screen of this gateway\n"));
      {
        std::lock_guard lock(mutex_);
        screens_.push_back(*screen);
      }
      cond_.notify_all();
      HttpResponse ok = HttpResponse::text(200, emulator_.send_answer());
      ok.content_type = "application/json";
      respond(std::move(ok));
    });
    server_->listen();
    thread_ = std::thread([this] { server_->run(); });
  }
  ~SendApi() {
    server_->stop();
    thread_.join();
  }
  std::optional<adapters::generic::EmulatedScreen> next(std::size_t index, long timeout_ms) {
    std::unique_lock lock(mutex_);
    if (!cond_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                        [&] { return screens_.size() > index; }))
      return std::nullopt;
    return screens_[index];
  }

 private:
  const adapters::generic::GatewayEmulator& emulator_;
  std::mutex mutex_;
  std::condition_variable cond_;
  std::vector<adapters::generic::EmulatedScreen> screens_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

}  // namespace

int run_preset_simulator(const adapters::generic::GatewayEmulator& emulator,
                         const PresetSimulatorOptions& options, std::istream& in, std::ostream& out,
                         std::ostream& err) {
  const bool interactive = &in == &std::cin && ::isatty(STDIN_FILENO) == 1;
  std::unique_ptr<SendApi> send_api;
  if (emulator.asynchronous()) {
    if (options.send_listen.empty()) {
      err << "rabta simulate: this gateway takes each screen by a separate call: give --send "
             "HOST:PORT, the address the channel's send.url points to\n";
      return 2;
    }
    try {
      send_api = std::make_unique<SendApi>(emulator, options.send_listen);
    } catch (const std::exception& e) {
      err << "rabta simulate: cannot listen on " << options.send_listen << ": " << e.what() << '\n';
      return 2;
    }
  }
  adapters::generic::EmulatedSession s;
  s.session_id = options.session_id.empty() ? random_session_id() : options.session_id;
  s.phone = options.phone;
  s.service_code = options.code;
  auto request = emulator.dial(s);
  std::size_t screens = 0;
  while (true) {
    const auto res = perform(options, request, err);
    if (!res) return 2;
    std::optional<adapters::generic::EmulatedScreen> screen;
    if (send_api) {
      if (!emulator.is_ack(static_cast<int>(res->status), res->body, s)) {
        err << "rabta simulate: gateway replied HTTP " << res->status
            << " without its acknowledgement: " << first_line(res->body) << '\n';
        return 2;
      }
      screen = send_api->next(screens++, options.timeout_ms);
      if (!screen) {
        err << "rabta simulate: no screen reached " << options.send_listen << " within "
            << options.timeout_ms << " ms\n";
        return 2;
      }
    } else {
      screen = emulator.read_reply(static_cast<int>(res->status), res->headers, res->body);
      if (!screen) {
        err << "rabta simulate: gateway replied HTTP " << res->status
            << " with a reply this gateway would not understand: " << first_line(res->body) << '\n';
        return 2;
      }
    }
    show_screen(out, screen->text, interactive);
    if (screen->end) {
      out << "[session ended]\n" << std::flush;
      return 0;
    }
    const auto input = next_input(in, out, err, interactive);
    if (!input) return 1;
    std::string line = *input;
    if (trim(line) == kHangUp) {
      if (const auto bye = emulator.hang_up(s)) perform(options, *bye, err);
      out << "[hung up]\n" << std::flush;
      return 1;
    }
    request = emulator.press(s, line);
  }
}

int simulate_channel(const std::string& config_path, const std::string& channel,
                     const PresetSimulatorOptions& options, std::istream& in, std::ostream& out,
                     std::ostream& err) {
  try {
    const Config config = load_config(config_path);
    std::vector<flows::Diagnostic> errors;
    const auto channels = build_ussd(config, errors);
    for (const auto& e : errors) err << e.to_string() << '\n';
    for (const auto& c : channels) {
      if (c.name != channel) continue;
      const auto* http = dynamic_cast<const adapters::generic::HttpUssd*>(c.adapter.get());
      if (!http) {
        err << "rabta simulate: [ussd." << channel
            << "] is not of kind \"http\"; for Africa's Talking give --url with ?key=...\n";
        return 2;
      }
      const adapters::generic::GatewayEmulator emulator(*http);
      return run_preset_simulator(emulator, options, in, out, err);
    }
    if (errors.empty())
      err << "rabta simulate: " << config_path << " has no [ussd." << channel << "]\n";
    return 2;
  } catch (const std::exception& e) {
    err << e.what() << '\n';
    return 2;
  }
}

}  // namespace rabta::gateway
