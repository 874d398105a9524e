// HttpServer over real loopback sockets. The client side is plain Boost.Asio with a tiny
// response parser (no Beast here, so the test also checks the exact bytes on the wire).
#include "gateway/http/http_server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gateway/http/http_request_reader.hpp"

namespace rabta::gateway {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Blocking-style client whose every read is bounded by a deadline.
class Client {
 public:
  explicit Client(std::uint16_t port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  }

  // Write errors are ignored: the server may legitimately close while we are sending.
  bool send(std::string_view data) {
    boost::system::error_code ec;
    net::write(socket_, net::buffer(data.data(), data.size()), ec);
    return !ec;
  }

  // head: the reply to a HEAD request announces a length but carries no body.
  std::optional<Reply> read_reply(std::chrono::milliseconds timeout = 3000ms,
                                  bool head_request = false) {
    const auto deadline = Clock::now() + timeout;
    std::size_t header_end;
    while ((header_end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!fill(deadline)) return std::nullopt;
    Reply r;
    const std::string head = buf_.substr(0, header_end);
    buf_.erase(0, header_end + 4);
    std::size_t pos = head.find("\r\n");
    const std::string status_line = head.substr(0, pos);
    if (status_line.size() < 12 || status_line.compare(0, 5, "HTTP/") != 0) return std::nullopt;
    r.status = std::stoi(status_line.substr(9, 3));
    while (pos != std::string::npos) {
      const std::size_t start = pos + 2;
      pos = head.find("\r\n", start);
      const std::string line = head.substr(start, pos == std::string::npos ? pos : pos - start);
      const auto colon = line.find(':');
      if (colon == std::string::npos) return std::nullopt;
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers[lower(line.substr(0, colon))] = value;
    }
    if (head_request || r.headers.count("content-length") == 0) return r;
    const auto length = std::stoul(r.headers["content-length"]);
    while (buf_.size() < length)
      if (!fill(deadline)) return std::nullopt;
    r.body = buf_.substr(0, length);
    buf_.erase(0, length);
    return r;
  }

  std::optional<Reply> request(std::string_view raw) {
    send(raw);
    return read_reply();
  }

  // True when the server closes (EOF or reset) within the timeout; data is discarded.
  bool wait_closed(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (fill(deadline)) buf_.clear();
    return closed_;
  }

 private:
  bool fill(Clock::time_point deadline) {
    if (closed_) return false;
    char tmp[16384];
    bool done = false;
    boost::system::error_code ec;
    std::size_t n = 0;
    socket_.async_read_some(net::buffer(tmp), [&](boost::system::error_code e, std::size_t k) {
      ec = e;
      n = k;
      done = true;
    });
    ioc_.restart();
    ioc_.run_until(deadline);
    if (!done) {  // timed out: cancel and let the handler run before tmp goes away
      socket_.cancel();
      ioc_.restart();
      ioc_.run();
      if (!ec) buf_.append(tmp, n);
      return false;
    }
    if (ec) {
      closed_ = true;
      return false;
    }
    buf_.append(tmp, n);
    return true;
  }

  net::io_context ioc_;
  tcp::socket socket_;
  std::string buf_;
  bool closed_ = false;
};

std::string get(const std::string& target, const std::string& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: test\r\n" + extra + "\r\n";
}

std::string post(const std::string& target, const std::string& body) {
  return "POST " + target + " HTTP/1.1\r\nHost: test\r\nContent-Type: text/plain\r\n" +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Runs a server on 127.0.0.1:<free port> in a background thread; stops and joins on exit.
class Server {
 public:
  Server(HttpServerOptions options, Handler handler)
      : server_(with_free_port(std::move(options)), std::move(handler)) {
    server_.listen();
    done_ = std::async(std::launch::async, [this] { server_.run(); });
  }
  ~Server() {
    server_.stop();
    if (done_.wait_for(15s) != std::future_status::ready) {
      ADD_FAILURE() << "run() did not return after stop()";
      std::abort();  // the thread still uses server_: leaving would be undefined behaviour
    }
  }
  HttpServer& operator*() { return server_; }
  HttpServer* operator->() { return &server_; }
  std::uint16_t port() const { return server_.port(); }
  // True when run() has returned within the timeout.
  bool wait_stopped(std::chrono::milliseconds timeout) {
    return done_.wait_for(timeout) == std::future_status::ready;
  }

 private:
  static HttpServerOptions with_free_port(HttpServerOptions o) {
    o.host = "127.0.0.1";
    o.port = 0;
    return o;
  }
  HttpServer server_;
  std::future<void> done_;
};

Handler echo_handler(std::atomic<int>* calls = nullptr) {
  return [calls](HttpRequest&& req, Responder respond) {
    if (calls) ++*calls;
    HttpResponse res;
    res.content_type = "application/x-echo";
    res.headers.emplace_back("X-Echo", "yes");
    res.body = req.method + "|" + req.path + "|" + req.query + "|" +
               std::string(req.header("x-test")) + "|" + req.body + "|" + req.peer;
    respond(std::move(res));
  };
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 2000ms) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

TEST(HttpServer, GetAndPostRoundTrip) {
  Server server({}, echo_handler());
  ASSERT_NE(server.port(), 0);
  Client c(server.port());

  auto r = c.request(get("/echo/path?a=1&b=%20x", "X-Test: Hello\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("content-type"), "application/x-echo");
  EXPECT_EQ(r->header("server"), "rabta");
  EXPECT_EQ(r->header("x-echo"), "yes");
  EXPECT_EQ(r->body, "GET|/echo/path|a=1&b=%20x|Hello||127.0.0.1");
  EXPECT_EQ(r->header("content-length"), std::to_string(r->body.size()));

  r = c.request(post("/submit", "from=%2B254700000000&text=hi"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "POST|/submit|||from=%2B254700000000&text=hi|127.0.0.1");
  EXPECT_EQ(r->header("content-length"), std::to_string(r->body.size()));
}

TEST(HttpServer, ChunkedBodyAndExpectContinue) {
  Server server({}, echo_handler());
  Client c(server.port());
  auto r = c.request(
      "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "POST|/c|||hello world|127.0.0.1");

  // curl sends Expect: 100-continue for larger bodies and waits for the interim reply.
  Client e(server.port());
  e.send("POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
  auto interim = e.read_reply(2000ms);
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  e.send("abc");
  r = e.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "POST|/e|||abc|127.0.0.1");
}

TEST(HttpServer, HeadSendsLengthWithoutBody) {
  Server server({}, echo_handler());
  Client c(server.port());
  c.send("HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n");
  auto r = c.read_reply(3000ms, true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("content-length"),
            std::to_string(std::string("HEAD|/h||||127.0.0.1").size()));
  // Had body bytes followed the HEAD reply, they would corrupt this next reply.
  r = c.request(get("/next"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "GET|/next||||127.0.0.1");
}

TEST(HttpServer, KeepAliveServesSeveralRequests) {
  std::atomic<int> calls{0};
  Server server({}, echo_handler(&calls));
  Client c(server.port());
  for (int i = 0; i < 3; ++i) {
    auto r = c.request(get("/k" + std::to_string(i)));
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "GET|/k" + std::to_string(i) + "||||127.0.0.1");
    EXPECT_NE(lower(r->header("connection")), "close");
  }
  EXPECT_EQ(calls.load(), 3);

  // Connection: close is honoured.
  auto r = c.request(get("/last", "Connection: close\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(lower(r->header("connection")), "close");
  EXPECT_TRUE(c.wait_closed(2000ms));
}

TEST(HttpServer, ResponderCalledFromAnotherThread) {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Responder> pending;
  Server server({}, [&](HttpRequest&&, Responder respond) {
    std::lock_guard lock(mu);
    pending.push_back(std::move(respond));
    cv.notify_all();
  });
  Client c(server.port());
  c.send(get("/later"));

  Responder respond;
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 2s, [&] { return !pending.empty(); }));
    respond = std::move(pending.front());
    pending.pop_front();
  }
  EXPECT_EQ(server->in_flight(), 1u);
  std::thread worker([r = std::move(respond)] { r(HttpResponse::text(202, "queued")); });
  worker.join();
  auto r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 202);
  EXPECT_EQ(r->body, "queued");
  EXPECT_EQ(r->header("content-type"), "text/plain; charset=utf-8");
  EXPECT_EQ(server->in_flight(), 0u);
}

TEST(HttpServer, ResponderAfterClientLeftIsHarmless) {
  std::mutex mu;
  std::vector<Responder> pending;
  Server server({}, [&](HttpRequest&& req, Responder respond) {
    if (req.path != "/gone") {
      respond(HttpResponse::text(200, "ok"));
      return;
    }
    std::lock_guard lock(mu);
    pending.push_back(std::move(respond));
  });
  {
    Client c(server.port());
    c.send(get("/gone"));
    ASSERT_TRUE(eventually([&] { return server->in_flight() == 1; }));
  }  // client closes before the reply
  std::vector<Responder> taken;
  {
    std::lock_guard lock(mu);
    taken.swap(pending);
  }
  ASSERT_EQ(taken.size(), 1u);
  std::thread([&] { taken.front()(HttpResponse::text(200, "too late")); }).join();
  taken.front()(HttpResponse::text(200, "twice"));  // ignored (and logged)
  EXPECT_EQ(server->in_flight(), 0u);
  // The server still works.
  Client d(server.port());
  auto r = d.request(get("/ok"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(HttpServer, ResponderOutlivingTheServerIsHarmless) {
  std::mutex mu;
  std::vector<Responder> kept;
  auto server = std::make_unique<HttpServer>(HttpServerOptions{.host = "127.0.0.1", .port = 0},
                                             [&](HttpRequest&&, Responder respond) {
                                               std::lock_guard lock(mu);
                                               kept.push_back(std::move(respond));
                                             });
  server->listen();
  auto done = std::async(std::launch::async, [&] { server->run(); });
  Client c(server->port());
  c.send(get("/held"));
  ASSERT_TRUE(eventually([&] { return server->in_flight() == 1; }));
  // Abrupt teardown (no graceful stop): the loop is stopped and the server destroyed while
  // another component still holds the responder.
  server->context().stop();
  ASSERT_EQ(done.wait_for(5s), std::future_status::ready);
  server.reset();
  std::lock_guard lock(mu);
  ASSERT_EQ(kept.size(), 1u);
  Responder copy = kept.front();
  std::thread([&] { kept.front()(HttpResponse::text(200, "nobody listens")); }).join();
  kept.clear();
  copy = nullptr;  // the last copy goes: no 500 can be posted either
}

TEST(HttpServer, OversizedBodyIs413AndHandlerNotCalled) {
  std::atomic<int> calls{0};
  HttpServerOptions o;
  o.body_limit = 8 * 1024;
  Server server(o, echo_handler(&calls));

  Client c(server.port());
  const std::string body(1024 * 1024, 'x');
  c.send(post("/big", body));
  auto r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_FALSE(r->body.empty());
  EXPECT_EQ(r->header("content-length"), std::to_string(r->body.size()));
  EXPECT_EQ(lower(r->header("connection")), "close");
  EXPECT_TRUE(c.wait_closed(3000ms));

  // Chunked bodies have no Content-Length up front: the limit applies while reading.
  Client d(server.port());
  std::string chunked = "POST /big HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 10; ++i) chunked += "400\r\n" + std::string(1024, 'y') + "\r\n";
  chunked += "0\r\n\r\n";
  r = d.request(chunked);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(calls.load(), 0);
}

TEST(HttpServer, OversizedHeaderIs431) {
  std::atomic<int> calls{0};
  HttpServerOptions o;
  o.header_limit = 8 * 1024;
  Server server(o, echo_handler(&calls));
  Client c(server.port());
  auto r = c.request(get("/h", "X-Big: " + std::string(16 * 1024, 'h') + "\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_EQ(r->header("content-length"), std::to_string(r->body.size()));
  EXPECT_TRUE(c.wait_closed(3000ms));
  EXPECT_EQ(calls.load(), 0);
}

TEST(HttpServer, MalformedRequestIs400) {
  std::atomic<int> calls{0};
  Server server({}, echo_handler(&calls));
  for (const char* raw : {"THIS IS NOT HTTP\r\n\r\n", "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
                          "POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n"}) {
    Client c(server.port());
    auto r = c.request(raw);
    ASSERT_TRUE(r) << raw;
    EXPECT_EQ(r->status, 400) << raw;
    EXPECT_NE(r->body.find("bad request"), std::string::npos);
    EXPECT_EQ(r->header("server"), "rabta");
    EXPECT_TRUE(c.wait_closed(3000ms));
  }
  EXPECT_EQ(calls.load(), 0);
}

TEST(HttpServer, SlowLorisDroppedWhileOthersAreServed) {
  HttpServerOptions o;
  o.read_timeout = 500ms;
  Server server(o, echo_handler());

  Client slow(server.port());
  Client fast(server.port());
  ASSERT_TRUE(fast.request(get("/warmup")));

  const std::string trickle =
      "GET /slow HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + std::string(100, 'p') + "\r\n\r\n";
  const auto first_byte = Clock::now();
  std::optional<Clock::time_point> closed_at;
  int served = 0;
  for (std::size_t i = 0; i < trickle.size() && !closed_at; ++i) {
    const auto tick = first_byte + 100ms * static_cast<int>(i + 1);
    slow.send(std::string_view(trickle).substr(i, 1));
    auto r = fast.request(get("/fast" + std::to_string(i)));
    ASSERT_TRUE(r) << "normal client not served during the trickle";
    EXPECT_EQ(r->status, 200);
    ++served;
    // Waiting for closure doubles as the pause between trickled bytes.
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(tick - Clock::now());
    if (slow.wait_closed(std::max(left, 1ms))) closed_at = Clock::now();
    ASSERT_LT(Clock::now() - first_byte, 3s) << "slow client never dropped";
  }
  ASSERT_TRUE(closed_at);
  const auto after = *closed_at - first_byte;
  EXPECT_GE(after, 450ms) << "dropped before its read_timeout";
  EXPECT_GE(served, 4);
  // The normal client is still fine afterwards.
  auto r = fast.request(get("/after"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(HttpServer, IdleKeepAliveConnectionIsClosed) {
  HttpServerOptions o;
  o.idle_timeout = 300ms;
  Server server(o, echo_handler());
  Client c(server.port());
  ASSERT_TRUE(c.request(get("/once")));
  const auto start = Clock::now();
  ASSERT_TRUE(c.wait_closed(3000ms)) << "the idle connection is closed (idle_timeout 300 ms)";
  EXPECT_GE(Clock::now() - start, 250ms) << "closed before its idle_timeout";
}

TEST(HttpServer, PerPeerConnectionCap) {
  HttpServerOptions o;
  o.max_connections_per_peer = 2;
  Server server(o, echo_handler());

  auto c1 = std::make_unique<Client>(server.port());
  Client c2(server.port());
  ASSERT_TRUE(c1->request(get("/1")));
  ASSERT_TRUE(c2.request(get("/2")));

  Client c3(server.port());
  auto r = c3.request(get("/3"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_TRUE(c3.wait_closed(3000ms));

  // The accepted ones are unaffected.
  r = c2.request(get("/2again"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);

  // While as many 503s as the cap are under way, further connections are closed unanswered.
  {
    Client r1(server.port());
    Client r2(server.port());
    Client dropped(server.port());
    EXPECT_TRUE(dropped.wait_closed(2000ms));
    r = r1.request(get("/r1"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
  }

  // Once one closes, a new connection gets a slot (the server sees the close asynchronously).
  c1.reset();
  ASSERT_TRUE(eventually([&] {
    Client c4(server.port());
    auto reply = c4.request(get("/4"));
    return reply && reply->status == 200;
  }));
}

TEST(HttpServer, HandlerThrowingGets500) {
  Server server({}, [](HttpRequest&& req, Responder respond) {
    if (req.path == "/throw") throw std::runtime_error("boom");
    if (req.path == "/drop") return;  // a bug: the responder is dropped unanswered
    if (req.path == "/answer-then-throw") {
      respond(HttpResponse::text(200, "answered"));
      throw std::runtime_error("late boom");
    }
    respond(HttpResponse::text(200, "ok"));
  });
  Client c(server.port());
  auto r = c.request(get("/throw"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->body, "internal error\n");

  r = c.request(get("/drop"));  // same connection: a 500 keeps the connection usable
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);

  r = c.request(get("/answer-then-throw"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "answered");

  r = c.request(get("/fine"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "ok");
  EXPECT_EQ(server->in_flight(), 0u);
}

TEST(HttpServer, InvalidResponseFieldsAreSanitised) {
  Server server({}, [](HttpRequest&& req, Responder respond) {
    HttpResponse res = HttpResponse::text(req.path == "/bad-status" ? 42 : 200, "x");
    res.headers.emplace_back("Content-Length", "999");
    res.headers.emplace_back("X-Injected", "a\r\nSet-Cookie: evil");
    res.headers.emplace_back("X-Fine", "1");
    respond(std::move(res));
  });
  Client c(server.port());
  auto r = c.request(get("/ok"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("content-length"), "1");
  EXPECT_EQ(r->header("x-injected"), "");
  EXPECT_EQ(r->header("set-cookie"), "");
  EXPECT_EQ(r->header("x-fine"), "1");
  r = c.request(get("/bad-status"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
}

TEST(HttpServer, StopLetsInFlightRequestFinish) {
  HttpServerOptions o;
  std::mutex held_mutex;
  Responder held;
  std::unique_ptr<Server> server;
  server = std::make_unique<Server>(o, [&](HttpRequest&& req, Responder respond) {
    if (req.path != "/slow") {
      respond(HttpResponse::text(200, "fast"));
      return;
    }
    // Held until the test lets it go: the idle connection must close while this one is busy.
    std::lock_guard lock(held_mutex);
    held = std::move(respond);
  });

  Client idle(server->port());
  ASSERT_TRUE(idle.request(get("/fast")));
  Client busy(server->port());
  busy.send(get("/slow"));
  ASSERT_TRUE(eventually([&] { return (**server).in_flight() == 1; }));

  (**server).stop();
  EXPECT_TRUE(idle.wait_closed(2000ms))
      << "the idle connection closes at once, not after the busy one";
  {
    std::lock_guard lock(held_mutex);
    ASSERT_TRUE(held);
    held(HttpResponse::text(200, "slow but complete"));
  }

  auto r = busy.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "slow but complete");
  EXPECT_EQ(lower(r->header("connection")), "close");
  EXPECT_TRUE(busy.wait_closed(2000ms));
  EXPECT_TRUE(server->wait_stopped(3000ms));
  EXPECT_EQ((**server).in_flight(), 0u);

  // No longer accepting.
  boost::system::error_code ec;
  net::io_context ioc;
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server->port()), ec);
  EXPECT_TRUE(ec);
}

TEST(HttpServer, StopWithoutConnectionsReturnsPromptly) {
  Server server({}, echo_handler());
  const auto start = Clock::now();
  server->stop();
  EXPECT_TRUE(server.wait_stopped(2000ms));
  EXPECT_LT(Clock::now() - start, 1s);
}

TEST(HttpServer, ManyClientsOnSeveralThreads) {
  HttpServerOptions o;
  o.threads = 4;
  std::atomic<int> calls{0};
  Server server(o, echo_handler(&calls));
  constexpr int kClients = 8;
  constexpr int kRequests = 25;
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      Client c(server.port());
      for (int j = 0; j < kRequests; ++j) {
        const std::string body = std::to_string(i) + "-" + std::to_string(j);
        auto r = c.request(post("/m", body));
        if (r && r->status == 200 && r->body == "POST|/m|||" + body + "|127.0.0.1") ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), kClients * kRequests);
  EXPECT_EQ(calls.load(), kClients * kRequests);
}

TEST(HttpServer, ListenFailureNamesTheAddress) {
  Server first({}, echo_handler());
  HttpServerOptions o;
  o.host = "127.0.0.1";
  o.port = first.port();
  HttpServer second(o, echo_handler());
  try {
    second.listen();
    FAIL() << "listen on a busy port succeeded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(
        std::string(e.what()).find("cannot listen on 127.0.0.1:" + std::to_string(first.port())),
        std::string::npos)
        << e.what();
  }
}

// SECURITY #11, HTTP: each hostile framing is answered and its connection closed; nothing is
// handed to the handler, and the server keeps serving.
std::string chunked_head(const std::string& extra = "") {
  return "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n" + extra + "\r\n";
}

TEST(HttpServer, ChunkTrailerOverTheLimitIs413AndTheConnectionCloses) {
  std::atomic<int> calls{0};
  Server server({}, echo_handler(&calls));
  Client c(server.port());
  // Before: Beast threw inside the read (a field over 64 KiB) and the connection was never closed.
  c.send(chunked_head() + "1\r\nx\r\n0\r\nX-Pad: " + std::string(70 * 1024, 'p') + "\r\n\r\n");
  auto r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(c.wait_closed(3000ms));
  EXPECT_EQ(calls.load(), 0);
  Client d(server.port());
  r = d.request(get("/after"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(HttpServer, ChunkExtensionsAreBounded) {
  std::atomic<int> calls{0};
  Server server({}, echo_handler(&calls));
  {
    Client c(server.port());
    c.send(chunked_head() + "1;ext=" + std::string(1024 * 1024, 'e') + "\r\nx\r\n0\r\n\r\n");
    auto r = c.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    EXPECT_TRUE(c.wait_closed(3000ms));
  }
  {
    // Many small chunks, each with an extension under the line limit: the framing counts too.
    Client c(server.port());
    std::string body = chunked_head();
    for (int i = 0; i < 400; ++i) body += "1;e=" + std::string(100, 'e') + "\r\nx\r\n";
    body += "0\r\n\r\n";
    auto r = c.request(body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
  }
  EXPECT_EQ(calls.load(), 0);
  // A short extension is legal and ignored.
  Client c(server.port());
  auto r = c.request(chunked_head() + "3;name=value\r\nabc\r\n0\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("|abc|"), std::string::npos);
}

TEST(HttpServer, TransferEncodingMustBeExactlyChunked) {
  std::atomic<int> calls{0};
  Server server({}, echo_handler(&calls));
  const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n";
  const std::vector<std::pair<std::string, int>> cases = {
      // Read as "no body" before: the request hidden in the body was served.
      {"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n" + smuggled, 400},
      {"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, identity\r\n\r\n" + smuggled,
       400},
      {"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n" +
           smuggled,
       400},
      {"POST /c HTTP/1.0\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
       400},
      {"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
       "3\r\nabc\r\n0\r\n\r\n",
       400},
      {"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, "
       "chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
       501},
  };
  for (const auto& [raw, status] : cases) {
    Client c(server.port());
    auto r = c.request(raw);
    ASSERT_TRUE(r) << raw;
    EXPECT_EQ(r->status, status) << raw;
    EXPECT_EQ(lower(r->header("connection")), "close") << raw;
    EXPECT_TRUE(c.wait_closed(3000ms)) << raw;
  }
  EXPECT_EQ(calls.load(), 0);
}

TEST(HttpServer, TrailerFieldsDoNotReachTheHandler) {
  Server server({}, echo_handler());
  Client c(server.port());
  auto r = c.request(chunked_head() + "3\r\nabc\r\n0\r\nX-Test: from-trailer\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "POST|/c||" + std::string("|abc|127.0.0.1"));
}

TEST(HttpServer, PipelinedRequestsAfterAChunkedOneAreServed) {
  std::atomic<int> calls{0};
  Server server({}, echo_handler(&calls));
  Client c(server.port());
  c.send(chunked_head() + "3\r\nabc\r\n0\r\n\r\n" + get("/second") + get("/third"));
  for (const char* path : {"/c", "/second", "/third"}) {
    auto r = c.read_reply();
    ASSERT_TRUE(r) << path;
    EXPECT_NE(r->body.find(path), std::string::npos) << r->body;
  }
  EXPECT_EQ(calls.load(), 3);
}

// The reader alone: the same bytes give the same outcome however they are split into reads.
// fuzz_http found the header limit tripping only on split reads: Beast counts the fields apart
// from the request line once the line is consumed, so a 1,200-byte header passed when read whole.
TEST(RequestReader, TheHeaderLimitHoldsHoweverTheBytesAreSplit) {
  const auto outcome = [](const std::string& raw, std::size_t step) {
    RequestReader r({1024, 2048});
    for (std::size_t at = 0; at < raw.size() && r.state() != RequestReader::State::failed &&
                             r.state() != RequestReader::State::done;
         at += step)
      r.feed(std::string_view(raw).substr(at, step));
    return std::pair{r.state(), r.error_status()};
  };
  const auto request = [](std::size_t target, std::size_t field) {
    return "GET /" + std::string(target, 't') + " HTTP/1.1\r\nX-A: " + std::string(field, 'a') +
           "\r\n\r\n";
  };
  const std::string over = request(300, 880);  // line and fields each under 1,024, together over
  const std::string under = request(300, 680);
  ASSERT_GT(over.size(), 1024u);
  ASSERT_LT(under.size(), 1024u);
  for (const std::size_t step : {over.size() + 1, std::size_t{1}, std::size_t{7}, std::size_t{33},
                                 std::size_t{64}, std::size_t{1000}}) {
    EXPECT_EQ(outcome(over, step), std::pair(RequestReader::State::failed, 431)) << step;
    EXPECT_EQ(outcome(under, step), std::pair(RequestReader::State::done, 0)) << step;
  }
}

TEST(RequestReader, AChunkedBodyArrivingOneByteAtATimeIsReadWhole) {
  // fuzz_http: Beast asserted (with assertions on: the ASan build) when the last chunk of a body
  // came a byte at a time. Every read size gives the same request.
  const std::string raw = "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
  const std::string with_data =
      "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n";
  for (const auto& [bytes, body] :
       {std::pair{raw, std::string()}, std::pair{with_data, std::string("abc")}})
    for (std::size_t step = 1; step <= bytes.size(); ++step) {
      RequestReader r({1024, 2048});
      for (std::size_t at = 0; at < bytes.size(); at += step)
        r.feed(std::string_view(bytes).substr(at, step));
      ASSERT_EQ(r.state(), RequestReader::State::done) << step;
      EXPECT_EQ(r.take().body, body) << step;
    }
}

}  // namespace
}  // namespace rabta::gateway
