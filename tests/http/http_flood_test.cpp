// SECURITY #11, HTTP denial of service: 2,000 of each hostile request against the whole gateway
// (real server, real store), then /healthz and a USSD hop are answered and the process holds no
// more open sockets than before. Before the fix an over-long chunk trailer made Beast throw
// inside the read: each one leaked a connection (256 locked the address out, ~1,024 exhausted
// the descriptors), and "Transfer-Encoding: xchunked" let a request hidden in the body through.
#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/gateway_fixture.hpp"

namespace rabta::test {
namespace {

using namespace std::chrono_literals;

// Open sockets of this process (server and clients alike). Other descriptors come and go with
// the store's lazily opened read connections and are not what a flood could leak.
int open_sockets() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    char target[64] = {};
    const std::string link = std::string("/proc/self/fd/") + e->d_name;
    if (::readlink(link.c_str(), target, sizeof target - 1) > 0 &&
        std::string_view(target).rfind("socket:", 0) == 0)
      ++n;
  }
  ::closedir(d);
  return n;
}

std::string list_descriptors() {
  std::string out;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return out;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    char target[256] = {};
    const std::string link = std::string("/proc/self/fd/") + e->d_name;
    const auto n = ::readlink(link.c_str(), target, sizeof target - 1);
    out += std::string(e->d_name) + "=" +
           (n > 0 ? std::string(target, static_cast<std::size_t>(n)) : "?") + " ";
  }
  ::closedir(d);
  return out;
}

// Sends `raw` on a new connection and reads until the server closes. Returns the status code of
// the first reply (0 when there was none).
int send_raw(std::uint16_t port, const std::string& raw) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  std::size_t sent = 0;
  while (sent < raw.size()) {
    const auto n = ::send(fd, raw.data() + sent, raw.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may answer and close before reading everything
    sent += static_cast<std::size_t>(n);
  }
  std::string reply;
  char buf[4096];
  for (;;) {
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    reply.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (reply.size() < 12 || reply.compare(0, 5, "HTTP/") != 0) return 0;
  return std::stoi(reply.substr(9, 3));
}

std::uint16_t port_of(const std::string& base) {
  return static_cast<std::uint16_t>(std::stoi(base.substr(base.rfind(':') + 1)));
}

struct Hostile {
  const char* name;
  std::string raw;
  int status;
};

std::vector<Hostile> hostile_requests() {
  const std::string head =
      "POST /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  return {
      {"trailer over 64 KiB",
       head + "1\r\nx\r\n0\r\nX-Pad: " + std::string(70 * 1024, 'p') + "\r\n\r\n", 413},
      {"chunk extension of 256 KiB",
       head + "1;e=" + std::string(256 * 1024, 'e') + "\r\nx\r\n0\r\n\r\n", 413},
      {"Transfer-Encoding: xchunked",
       "POST /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n"
       "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n",
       400},
      {"chunked on HTTP/1.0",
       "POST /healthz HTTP/1.0\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
       400},
      {"header over the limit",
       "GET /healthz HTTP/1.1\r\nX-Big: " + std::string(20 * 1024, 'h') + "\r\n\r\n", 431},
      {"garbage", std::string(3000, '\x01') + "\r\n\r\n", 400},
  };
}

TEST(HttpFlood, TwoThousandOfEachHostileRequestLeaveTheGatewayServing) {
  Gateway g;
  const auto port = port_of(g.base);
  // Warm up what a normal hop opens (the store's files, the client's connection).
  ASSERT_EQ(g.http.get(g.base + "/healthz").status, 200);
  ASSERT_EQ(g.hop("flood-before", "+923001234567", "").status, 200);
  const int baseline = open_sockets();
  ASSERT_GT(baseline, 0);

  for (const auto& h : hostile_requests()) {
    constexpr int kThreads = 8;
    constexpr int kEach = 2000 / kThreads;
    std::atomic<int> wrong{0};
    std::atomic<int> last{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&] {
        for (int i = 0; i < kEach; ++i) {
          const int status = send_raw(port, h.raw);
          if (status != h.status) {
            ++wrong;
            last = status;
          }
        }
      });
    for (auto& t : threads) t.join();
    EXPECT_EQ(wrong.load(), 0) << h.name << ": e.g. answered " << last.load();
  }

  EXPECT_EQ(g.http.get(g.base + "/healthz").status, 200);
  const auto hop = g.hop("flood-after", "+923001234567", "");
  EXPECT_EQ(hop.status, 200);
  EXPECT_EQ(hop.body.rfind("CON ", 0), 0u) << hop.body;
  // Every hostile connection was closed by the server: the count returns to the baseline.
  int now = open_sockets();
  for (int i = 0; i < 200 && now > baseline; ++i) {
    std::this_thread::sleep_for(10ms);
    now = open_sockets();
  }
  EXPECT_LE(now, baseline) << list_descriptors();
}

}  // namespace
}  // namespace rabta::test
