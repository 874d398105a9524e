#include "gateway/cli/simulator.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdint>
#include <functional>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "adapters/common/form.hpp"

namespace rabta::gateway {
namespace {

using common::FormField;

struct Reply {
  int status = 200;
  std::string body;
};
using Handler = std::function<Reply(const std::string& text)>;

// The two-hop menu the brief describes.
Reply pick_menu(const std::string& text) {
  if (text.empty()) return {200, "CON Pick\n1. A\n2. B"};
  if (text == "1") return {200, "END Chose A"};
  return {200, "END Other"};
}

struct Request {
  std::string head;
  std::string body;
};

// A blocking loopback HTTP/1.1 server on an ephemeral port, enough for curl: reads one
// request at a time (Content-Length bodies), answers with keep-alive, records every request.
class FakeGateway {
 public:
  explicit FakeGateway(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw std::runtime_error("socket failed");
    const int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 8) != 0) {
      ::close(listen_fd_);
      throw std::runtime_error("bind/listen failed");
    }
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }

  ~FakeGateway() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }

  FakeGateway(const FakeGateway&) = delete;
  FakeGateway& operator=(const FakeGateway&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/ussd"; }

  std::vector<Request> requests() const {
    const std::lock_guard lock(mutex_);
    return requests_;
  }
  int connections() const { return connections_.load(); }

 private:
  // Waits until fd is readable or the server is stopping; false on stop/timeout/error.
  bool wait_readable(int fd) const {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      const int rc = ::poll(&p, 1, 20);
      if (rc > 0) return true;
      if (rc < 0) return false;
    }
    return false;
  }

  void run() {
    while (wait_readable(listen_fd_)) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++connections_;
      serve(fd);
      ::close(fd);
    }
  }

  void serve(int fd) {
    std::string buffer;
    while (true) {
      std::size_t head_end;
      while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos) {
        if (!read_more(fd, buffer)) return;
      }
      Request req;
      req.head = buffer.substr(0, head_end + 2);
      const std::size_t length = content_length(req.head);
      const std::size_t body_start = head_end + 4;
      while (buffer.size() < body_start + length) {
        if (!read_more(fd, buffer)) return;
      }
      req.body = buffer.substr(body_start, length);
      buffer.erase(0, body_start + length);

      std::string text;
      const auto parsed = common::parse_form(req.body);
      if (const auto* fields = std::get_if<std::vector<FormField>>(&parsed)) {
        if (const std::string* t = common::find_field(*fields, "text")) text = *t;
      }
      {
        const std::lock_guard lock(mutex_);
        requests_.push_back(req);
      }
      const Reply reply = handler_(text);
      const std::string response =
          "HTTP/1.1 " + std::to_string(reply.status) + " X\r\n" +
          "Content-Type: text/plain\r\nContent-Length: " + std::to_string(reply.body.size()) +
          "\r\n\r\n" + reply.body;
      if (::send(fd, response.data(), response.size(), MSG_NOSIGNAL) < 0) return;
    }
  }

  bool read_more(int fd, std::string& buffer) const {
    if (!wait_readable(fd)) return false;
    char chunk[4096];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  static std::size_t content_length(const std::string& head) {
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const std::string key = "\r\ncontent-length:";
    const std::size_t pos = lower.find(key);
    if (pos == std::string::npos) return 0;
    return static_cast<std::size_t>(std::stoul(lower.substr(pos + key.size())));
  }

  Handler handler_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  mutable std::mutex mutex_;
  std::vector<Request> requests_;
  std::thread thread_;
};

std::vector<FormField> decode(const std::string& body) {
  auto parsed = common::parse_form(body);
  EXPECT_TRUE(std::holds_alternative<std::vector<FormField>>(parsed)) << body;
  if (auto* fields = std::get_if<std::vector<FormField>>(&parsed)) return *fields;
  return {};
}

SimulatorOptions options_for(const FakeGateway& gw) {
  SimulatorOptions o;
  o.url = gw.url();
  o.phone = "+254700000001";
  o.code = "*384*1#";
  o.timeout_ms = 5000;
  return o;
}

struct Outcome {
  int rc = -1;
  std::string out;
  std::string err;
};

Outcome simulate(const SimulatorOptions& o, const std::string& script) {
  std::istringstream in(script);
  std::ostringstream out;
  std::ostringstream err;
  Outcome r;
  r.rc = run_simulator(o, in, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(Simulator, TwoHopMenuEndsWithExitZero) {
  FakeGateway gw(pick_menu);
  const Outcome r = simulate(options_for(gw), "1\n");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "Pick\n1. A\n2. B\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "> 1\n")) << r.out;  // scripted input is echoed
  EXPECT_TRUE(contains(r.out, "Chose A\n")) << r.out;
  EXPECT_FALSE(contains(r.out, "CON ")) << r.out;  // protocol prefixes are not shown
  EXPECT_FALSE(contains(r.out, "END ")) << r.out;
  EXPECT_TRUE(r.err.empty()) << r.err;

  const auto requests = gw.requests();
  ASSERT_EQ(requests.size(), 2U);
  const auto first = decode(requests[0].body);
  const auto second = decode(requests[1].body);
  ASSERT_EQ(first.size(), 5U);
  ASSERT_EQ(second.size(), 5U);

  const std::vector<std::string> names = {"sessionId", "serviceCode", "phoneNumber", "networkCode",
                                          "text"};
  for (std::size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(first[i].name, names[i]);
    EXPECT_EQ(second[i].name, names[i]);
  }
  EXPECT_EQ(first[0].value, second[0].value);  // one session across hops
  EXPECT_EQ(first[0].value.rfind("SIM", 0), 0U) << first[0].value;
  EXPECT_GT(first[0].value.size(), 3U);
  for (const auto& hop : {first, second}) {
    EXPECT_EQ(hop[1].value, "*384*1#");
    EXPECT_EQ(hop[2].value, "+254700000001");
    EXPECT_EQ(hop[3].value, "99999");
  }
  EXPECT_EQ(first[4].value, "");
  EXPECT_EQ(second[4].value, "1");

  for (const auto& req : requests) {
    EXPECT_TRUE(contains(req.head, "POST /ussd HTTP/1.1")) << req.head;
    EXPECT_TRUE(contains(req.head, "Content-Type: application/x-www-form-urlencoded")) << req.head;
  }
  EXPECT_EQ(gw.connections(), 1);  // one curl handle, connection kept alive
}

TEST(Simulator, OtherChoiceAndGivenSessionId) {
  FakeGateway gw(pick_menu);
  SimulatorOptions o = options_for(gw);
  o.session_id = "ATUid_fixed";
  o.network_code = "41001";
  const Outcome r = simulate(o, "2\n");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "Other\n")) << r.out;
  const auto requests = gw.requests();
  ASSERT_EQ(requests.size(), 2U);
  for (const auto& req : requests) {
    const auto fields = decode(req.body);
    ASSERT_NE(common::find_field(fields, "sessionId"), nullptr);
    EXPECT_EQ(*common::find_field(fields, "sessionId"), "ATUid_fixed");
    EXPECT_EQ(*common::find_field(fields, "networkCode"), "41001");
  }
}

TEST(Simulator, TextAccumulatesInputsJoinedByStar) {
  FakeGateway gw([](const std::string& text) -> Reply {
    if (text.empty()) return {200, "CON Menu\n1. Send money"};
    if (text == "1") return {200, "CON Recipient number:"};
    if (text == "1*2") return {200, "CON Amount:"};
    if (text == "1*2*500 rs") return {200, "END Sent 500"};
    return {200, "END Unexpected"};
  });
  const Outcome r = simulate(options_for(gw), "1\r\n2\n500 rs\n");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "Sent 500")) << r.out;
  const auto requests = gw.requests();
  ASSERT_EQ(requests.size(), 4U);
  const std::vector<std::string> texts = {"", "1", "1*2", "1*2*500 rs"};
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const auto fields = decode(requests[i].body);
    ASSERT_NE(common::find_field(fields, "text"), nullptr);
    EXPECT_EQ(*common::find_field(fields, "text"), texts[i]);
  }
  // Spaces go on the wire as %20, '*' percent-encoded, per form_encode.
  EXPECT_TRUE(contains(requests[3].body, "text=1%2A2%2A500%20rs")) << requests[3].body;
}

TEST(Simulator, ServerErrorExitsTwo) {
  FakeGateway gw([](const std::string&) -> Reply { return {500, "Internal Server Error\nstack"}; });
  const Outcome r = simulate(options_for(gw), "1\n");
  EXPECT_EQ(r.rc, 2);
  EXPECT_TRUE(contains(r.err, "500")) << r.err;
  EXPECT_TRUE(contains(r.err, "Internal Server Error")) << r.err;
  EXPECT_FALSE(contains(r.err, "stack")) << r.err;  // first line only
  EXPECT_EQ(gw.requests().size(), 1U);
}

TEST(Simulator, MissingPrefixExitsTwo) {
  FakeGateway gw([](const std::string&) -> Reply { return {200, "Welcome\n1. A"}; });
  const Outcome r = simulate(options_for(gw), "1\n");
  EXPECT_EQ(r.rc, 2);
  EXPECT_TRUE(contains(r.err, "200")) << r.err;
  EXPECT_TRUE(contains(r.err, "Welcome")) << r.err;
}

TEST(Simulator, EofBeforeEndExitsOne) {
  FakeGateway gw(pick_menu);
  const Outcome r = simulate(options_for(gw), "");
  EXPECT_EQ(r.rc, 1);
  EXPECT_TRUE(contains(r.out, "Pick")) << r.out;
  EXPECT_EQ(gw.requests().size(), 1U);
}

TEST(Simulator, SlashEndHangsUpWithoutSending) {
  FakeGateway gw(pick_menu);
  const Outcome r = simulate(options_for(gw), " /end \n1\n");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(gw.requests().size(), 1U);
}

TEST(Simulator, ConnectionRefusedExitsTwo) {
  // Take an ephemeral port and release it, so nothing listens there.
  std::string url;
  {
    FakeGateway gw(pick_menu);
    url = gw.url();
  }
  SimulatorOptions o;
  o.url = url;
  o.phone = "+254700000001";
  o.code = "*384#";
  o.timeout_ms = 2000;
  const Outcome r = simulate(o, "1\n");
  EXPECT_EQ(r.rc, 2);
  EXPECT_FALSE(r.err.empty());
  EXPECT_FALSE(contains(r.err, "254700000001")) << r.err;  // no phone numbers in errors
}

}  // namespace
}  // namespace rabta::gateway
