// A blocking HTTP/1.1 client for tests (libcurl): real requests over loopback.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace rabta::test {

struct HttpResult {
  long status = 0;  // 0 = transport error
  std::string body;
  std::string content_type;
  std::string headers;  // the raw response header block
  std::string error;
};

class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResult get(const std::string& url);
  HttpResult post(const std::string& url, const std::string& body,
                  const std::string& content_type = "application/x-www-form-urlencoded");
  // Any method with these headers ("Name: value") and body.
  HttpResult request(const std::string& method, const std::string& url,
                     const std::vector<std::string>& headers, const std::string& body);

 private:
  HttpResult perform(const std::string& url, const std::string* body,
                     const std::string& content_type, const std::string& method = "",
                     const std::vector<std::string>& extra = {});
  void* curl_;
};

// "a=b&c=d" with every value percent-encoded.
std::string form(const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace rabta::test
