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

 private:
  HttpResult perform(const std::string& url, const std::string* body,
                     const std::string& content_type);
  void* curl_;
};

// "a=b&c=d" with every value percent-encoded.
std::string form(const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace rabta::test
