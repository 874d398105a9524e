#include "adapters/http/curl_executor.hpp"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <mutex>
#include <stdexcept>

namespace rabta::adapters::http {

namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      throw std::runtime_error("curl_global_init failed");
  });
}

// One call in flight: owns its header list and collects the response.
struct Transfer {
  std::size_t index = 0;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string host;
  std::string body;
  bool too_large = false;
  std::array<char, CURL_ERROR_SIZE> error{};

  Transfer() = default;
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;
  ~Transfer() { curl_slist_free_all(headers); }
};

std::size_t collect(char* data, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t bytes = size * n;
  if (t->body.size() + bytes > CurlExecutor::max_response_bytes) {
    t->too_large = true;
    return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
  }
  t->body.append(data, bytes);
  return bytes;
}

}  // namespace

struct CurlExecutor::Impl {
  CURLM* multi = nullptr;
  std::vector<CURL*> idle;  // easy handles kept for reuse
  std::uint64_t connections_opened = 0;

  Impl() {
    global_init();
    multi = curl_multi_init();
    if (!multi) throw std::runtime_error("curl_multi_init failed");
  }
  ~Impl() {
    for (CURL* e : idle) curl_easy_cleanup(e);
    curl_multi_cleanup(multi);
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  CURL* take_handle() {
    if (idle.empty()) {
      CURL* e = curl_easy_init();
      if (!e) throw std::runtime_error("curl_easy_init failed");
      return e;
    }
    CURL* e = idle.back();
    idle.pop_back();
    return e;
  }

  // Back to the pool with no option left pointing into a finished Transfer. Resetting clears
  // options only: the connections stay in the multi handle's cache for the next calls.
  void give_back(CURL* e) {
    curl_easy_reset(e);
    idle.push_back(e);
  }

  void configure(Transfer& t, const adapters::sms::HttpCall& call,
                 std::chrono::milliseconds timeout) {
    CURL* e = t.easy;
    const long timeout_ms = std::max(1L, static_cast<long>(timeout.count()));
    curl_easy_setopt(e, CURLOPT_URL, call.url.c_str());
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, std::min(timeout_ms, 10'000L));
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t.error.data());
    curl_easy_setopt(e, CURLOPT_PRIVATE, &t);
    if (is_loopback_host(t.host)) curl_easy_setopt(e, CURLOPT_NOPROXY, "*");

    if (call.method == "GET") {
      curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
      if (call.method != "POST") curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, call.method.c_str());
      curl_easy_setopt(e, CURLOPT_POST, 1L);
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, call.body.data());
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(call.body.size()));
    }

    for (const auto& [name, value] : call.headers) {
      const std::string line = name + ": " + value;
      curl_slist* next = curl_slist_append(t.headers, line.c_str());
      if (!next) throw std::bad_alloc();
      t.headers = next;
    }
    // No "Expect: 100-continue" round trip before the body.
    curl_slist* next = curl_slist_append(t.headers, "Expect:");
    if (!next) throw std::bad_alloc();
    t.headers = next;
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t.headers);

    if (!call.basic_user.empty()) {
      curl_easy_setopt(e, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
      curl_easy_setopt(e, CURLOPT_USERNAME, call.basic_user.c_str());
      curl_easy_setopt(e, CURLOPT_PASSWORD, call.basic_password.c_str());
    }
  }
};

CurlExecutor::CurlExecutor() : impl_(std::make_unique<Impl>()) {}

CurlExecutor::~CurlExecutor() = default;

std::uint64_t CurlExecutor::connections_opened() const {
  return impl_->connections_opened;
}

std::string CurlExecutor::host_of(const std::string& url) {
  global_init();
  CURLU* u = curl_url();
  if (!u) return {};
  std::string host;
  if (curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK) {
    char* h = nullptr;
    if (curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK && h) host = h;
    curl_free(h);
  }
  curl_url_cleanup(u);
  return host;
}

bool CurlExecutor::is_loopback_host(const std::string& host) {
  std::string h = host;
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  std::transform(h.begin(), h.end(), h.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (h == "localhost" || h == "::1") return true;
  if (h.rfind("127.", 0) != 0) return false;
  int dots = 0;
  for (const char c : h) {
    if (c == '.')
      ++dots;
    else if (!std::isdigit(static_cast<unsigned char>(c)))
      return false;
  }
  return dots == 3;
}

std::vector<std::pair<long, std::string>> CurlExecutor::perform_all(
    const std::vector<adapters::sms::HttpCall>& calls, std::chrono::milliseconds timeout,
    std::size_t max_parallel,
    const std::function<void(std::size_t, const std::pair<long, std::string>&)>& done) {
  std::vector<std::pair<long, std::string>> results(calls.size());
  const auto report = [&](std::size_t i) {
    if (done) done(i, results[i]);
  };
  if (calls.empty()) return results;
  max_parallel = std::max<std::size_t>(1, max_parallel);
  curl_multi_setopt(impl_->multi, CURLMOPT_MAXCONNECTS, static_cast<long>(max_parallel));

  std::vector<std::unique_ptr<Transfer>> active;
  // On any exit (an exception included) no handle stays attached to the multi handle.
  struct Detach {
    Impl& impl;
    std::vector<std::unique_ptr<Transfer>>& active;
    ~Detach() {
      for (auto& t : active) {
        curl_multi_remove_handle(impl.multi, t->easy);
        impl.give_back(t->easy);
      }
      active.clear();
    }
  } detach{*impl_, active};

  std::size_t next = 0;
  auto start = [&](std::size_t i) {
    auto t = std::make_unique<Transfer>();
    t->index = i;
    t->host = host_of(calls[i].url);
    t->easy = impl_->take_handle();
    try {
      impl_->configure(*t, calls[i], timeout);
    } catch (...) {
      impl_->give_back(t->easy);
      throw;
    }
    if (curl_multi_add_handle(impl_->multi, t->easy) != CURLM_OK) {
      impl_->give_back(t->easy);
      results[i] = {0, "cannot start the request"};
      report(i);
      return;
    }
    active.push_back(std::move(t));
  };
  auto finish = [&](CURL* easy, CURLcode code) {
    const auto it = std::find_if(active.begin(), active.end(),
                                 [easy](const auto& t) { return t->easy == easy; });
    if (it == active.end()) return;
    Transfer& t = **it;
    curl_multi_remove_handle(impl_->multi, easy);
    auto& [status, body] = results[t.index];
    long connects = 0;
    if (curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK && connects > 0)
      impl_->connections_opened += static_cast<std::uint64_t>(connects);
    if (code == CURLE_OK) {
      long http = 0;
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &http);
      status = http;
      body = std::move(t.body);
      spdlog::debug("http {} {}", t.host, status);
    } else {
      status = 0;
      if (t.too_large)
        body = "response larger than " + std::to_string(max_response_bytes) + " bytes";
      else
        body = t.error[0] != '\0' ? std::string(t.error.data()) : curl_easy_strerror(code);
      spdlog::warn("http {} failed: {}", t.host, curl_easy_strerror(code));
    }
    impl_->give_back(easy);
    const std::size_t index = t.index;
    active.erase(it);
    report(index);
  };

  while (true) {
    while (next < calls.size() && active.size() < max_parallel) start(next++);
    if (active.empty() && next >= calls.size()) break;

    int running = 0;
    const CURLMcode mc = curl_multi_perform(impl_->multi, &running);
    if (mc != CURLM_OK) {
      // The multi handle itself failed: every call still in flight fails the same way.
      for (auto& t : active) {
        curl_multi_remove_handle(impl_->multi, t->easy);
        impl_->give_back(t->easy);
        results[t->index] = {0, curl_multi_strerror(mc)};
        report(t->index);
      }
      active.clear();
      spdlog::error("curl multi: {}", curl_multi_strerror(mc));
      continue;
    }
    int queued = 0;
    bool progressed = false;
    while (CURLMsg* msg = curl_multi_info_read(impl_->multi, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      finish(msg->easy_handle, msg->data.result);
      progressed = true;
    }
    if (progressed) continue;  // start the next calls at once
    curl_multi_poll(impl_->multi, nullptr, 0, running > 0 ? 1000 : 10, nullptr);
  }
  return results;
}

}  // namespace rabta::adapters::http
