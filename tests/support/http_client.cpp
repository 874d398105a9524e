#include "tests/support/http_client.hpp"

#include <curl/curl.h>

#include <stdexcept>

namespace rabta::test {

namespace {

size_t write_body(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

CURL* handle(void* p) {
  return static_cast<CURL*>(p);
}

}  // namespace

HttpClient::HttpClient() : curl_(curl_easy_init()) {
  if (!curl_) throw std::runtime_error("curl_easy_init failed");
}

HttpClient::~HttpClient() {
  curl_easy_cleanup(handle(curl_));
}

HttpResult HttpClient::get(const std::string& url) {
  return perform(url, nullptr, "");
}

HttpResult HttpClient::post(const std::string& url, const std::string& body,
                            const std::string& content_type) {
  return perform(url, &body, content_type);
}

HttpResult HttpClient::request(const std::string& method, const std::string& url,
                               const std::vector<std::string>& headers, const std::string& body) {
  return perform(url, method == "GET" || method == "HEAD" ? nullptr : &body, "", method, headers);
}

HttpResult HttpClient::perform(const std::string& url, const std::string* body,
                               const std::string& content_type, const std::string& method,
                               const std::vector<std::string>& extra) {
  CURL* c = handle(curl_);
  HttpResult r;
  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, write_body);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.headers);
  curl_slist* headers = nullptr;
  if (body) {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
    if (!content_type.empty())
      headers = curl_slist_append(headers, ("Content-Type: " + content_type).c_str());
    headers = curl_slist_append(headers, "Expect:");
  }
  if (method == "HEAD")
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);  // a HEAD answer has headers only
  else if (!method.empty())
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  for (const auto& h : extra) headers = curl_slist_append(headers, h.c_str());
  if (headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    r.error = curl_easy_strerror(rc);
  } else {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    char* ct = nullptr;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    if (ct) r.content_type = ct;
  }
  curl_slist_free_all(headers);
  return r;
}

std::string form(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  CURL* c = curl_easy_init();
  for (const auto& [k, v] : fields) {
    char* e = curl_easy_escape(c, v.c_str(), static_cast<int>(v.size()));
    if (!out.empty()) out += '&';
    out += k + "=" + e;
    curl_free(e);
  }
  curl_easy_cleanup(c);
  return out;
}

}  // namespace rabta::test
