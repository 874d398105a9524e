// Boost.Beast HTTP/1.1 server: one listener, one Session per connection, each on its own strand.
// This is the only translation unit that includes Beast (it compiles slowly), so the listener, the
// session and the reply gate stay together in it: over 500 lines on purpose.
//
// Lifetime model:
//  * Core (the server state) owns the io_context and a registry of live sessions (strong refs).
//    A session removes itself from the registry when its connection ends (release()).
//  * A request handed to the Handler carries a ReplyState (shared by all copies of the
//    Responder). It holds only a weak_ptr to the session plus a shared Gate, so a Responder
//    that is called or dropped after the connection - or the whole server - is gone is a no-op.
//  * stop() closes the acceptor and idle connections; busy ones close after their reply. When
//    the registry is empty run() returns (a hard grace period bounds the wait).
#include "gateway/http/http_server.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <cstdlib>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gateway/http/http_request_reader.hpp"

namespace rabta::gateway {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

// After stop(), connections still busy past this are closed anyway so shutdown never hangs.
constexpr auto kStopGrace = 10s;
// After an error reply the client may still be sending (e.g. an oversized body). Reading and
// discarding for a short while before closing avoids a TCP reset that would destroy the reply
// in the client's receive buffer before it reads it.
constexpr auto kMaxLinger = 2s;
constexpr std::size_t kMaxLingerBytes = 4 * 1024 * 1024;
constexpr std::size_t kReadChunk = 4096;
constexpr std::size_t kKeepBuffer = 64 * 1024;
constexpr auto kAcceptRetry = 50ms;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

std::string peer_string(const net::ip::address& address) {
  // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d; the per-peer limit and the
  // logs should see the same string either way.
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    return net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6()).to_string();
  return address.to_string();
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_token(std::string_view name) {
  if (name.empty()) return false;
  constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
  return std::all_of(name.begin(), name.end(), [&](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || extra.find(c) != std::string_view::npos;
  });
}

bool is_safe_value(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

class Session;

// Shared between the server and every outstanding Responder: lets late Responders find out
// that the server is gone, and carries the in-flight count.
struct Gate {
  std::mutex mu;
  bool open = true;
  std::atomic<std::size_t> in_flight{0};
};

class Core {
 public:
  Core(HttpServerOptions options, Handler handler);
  ~Core();
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;

  void listen();
  std::uint16_t port() const { return port_.load(); }
  void run();
  void stop();
  net::io_context& context() { return ioc_; }
  std::size_t in_flight() const { return gate_->in_flight.load(); }
  std::uint64_t connections_accepted() const { return accepted_.load(); }

  // Used by sessions.
  const HttpServerOptions& options() const { return options_; }
  const Handler& handler() const { return handler_; }
  const std::shared_ptr<Gate>& gate() const { return gate_; }
  bool stopping() const { return stopping_.load(); }
  void remove_session(Session* session, const std::string& peer, bool counted) noexcept;

 private:
  void run_loop();
  void do_accept();
  void on_accept(beast::error_code ec, tcp::socket socket);
  void begin_stop();
  void force_close_all();
  void check_drained() noexcept;
  std::vector<std::shared_ptr<Session>> snapshot();

  const HttpServerOptions options_;
  const Handler handler_;
  std::shared_ptr<Gate> gate_ = std::make_shared<Gate>();
  // Declared before everything that uses it so that it is destroyed last.
  net::io_context ioc_;
  // Keeps run() going while requests wait for a Responder (no I/O is pending then).
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  // The acceptor, its timers and stop() bookkeeping run on this strand.
  net::strand<net::io_context::executor_type> accept_strand_;
  tcp::acceptor acceptor_;
  net::steady_timer accept_retry_;
  net::steady_timer grace_timer_;
  std::atomic<std::uint16_t> port_{0};
  std::atomic<bool> stopping_{false};

  std::mutex mu_;  // guards everything below
  std::unordered_map<Session*, std::shared_ptr<Session>> sessions_;
  bool accept_pending_ = false;  // an async_accept is under way (its handler has not run)
  std::atomic<std::uint64_t> accepted_{0};
  struct PeerCount {
    std::size_t open = 0;     // connections being served
    std::size_t refused = 0;  // connections over the cap, being answered 503
  };
  std::unordered_map<std::string, PeerCount> peers_;
  bool stop_started_ = false;
  bool finished_ = false;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Core& core, tcp::socket socket, std::string peer, bool counted)
      : core_(core),
        stream_(std::move(socket)),
        executor_(stream_.get_executor()),
        peer_(std::move(peer)),
        counted_(counted) {}

  // All of these may be called from any thread: they hop onto the connection's strand.
  void start() {
    net::dispatch(executor_, [self = shared_from_this()] {
      self->guarded([&] {
        // The first request must arrive completely within read_timeout of the accept.
        self->stream_.expires_after(self->core_.options().read_timeout);
        self->wait_request();
      });
    });
  }
  void post_reply(HttpResponse response) {
    net::post(executor_, [self = shared_from_this(), r = std::move(response)]() mutable {
      self->guarded([&] { self->on_reply(std::move(r)); });
    });
  }
  void post_close_if_idle() {
    net::post(executor_, [self = shared_from_this()] {
      if (self->state_ == State::waiting && self->served_any_) {
        spdlog::debug("http: {} closing idle connection on stop", self->peer_);
        self->release();
      }
    });
  }
  void post_force_close() {
    net::post(executor_, [self = shared_from_this()] {
      if (self->state_ != State::closed) {
        spdlog::warn("http: {} still busy after the stop grace period, closing", self->peer_);
        self->release();
      }
    });
  }

 private:
  enum class State { waiting, reading, handling, writing, lingering, closed };
  using Member = void (Session::*)(beast::error_code, std::size_t);

  // Completion handler that keeps the session alive and lets no exception reach Asio.
  auto bind_io(Member fn) {
    return [self = shared_from_this(), fn](beast::error_code ec, std::size_t n) {
      self->guarded([&] { (self.get()->*fn)(ec, n); });
    };
  }

  template <class F>
  void guarded(F&& f) noexcept {
    try {
      f();
    } catch (const std::exception& e) {
      spdlog::error("http: {} unexpected error, closing: {}", peer_, e.what());
      release();
    } catch (...) {
      spdlog::error("http: {} unexpected error, closing", peer_);
      release();
    }
  }

  std::string describe() const { return reader_ ? reader_->describe() : "request"; }

  void wait_request() {
    // On stop, a kept-alive connection waiting for its next request is closed (its client opens
    // a new one); a new connection still gets its first request read and answered: under
    // socket activation it may have been queued for us while the previous process stopped.
    if (core_.stopping() && served_any_) {
      spdlog::debug("http: {} closing idle connection on stop", peer_);
      release();
      return;
    }
    state_ = State::waiting;
    const auto& o = core_.options();
    reader_.emplace(RequestLimits{o.header_limit, o.body_limit});
    header_seen_ = false;
    if (!leftover_.empty()) {  // the client already sent (part of) the next request
      state_ = State::reading;
      if (requests_ > 0) stream_.expires_after(o.read_timeout);
      reader_->feed(leftover_);
      leftover_.clear();
      advance();
      return;
    }
    // Idle keep-alive connections should not each hold a buffer the size of a past request.
    if (buffer_.capacity() > kKeepBuffer) buffer_.shrink_to_fit();
    if (requests_ > 0) stream_.expires_after(o.idle_timeout);
    read_more();
  }

  void read_more() {
    stream_.async_read_some(buffer_.prepare(kReadChunk), bind_io(&Session::on_read));
  }

  void on_read(beast::error_code ec, std::size_t n) {
    if (state_ == State::closed) return;
    if (ec) {
      const auto& o = core_.options();
      if (state_ == State::waiting) {
        if (ec == beast::error::timeout)
          spdlog::debug("http: {} {} timeout, closing", peer_,
                        requests_ > 0 ? "idle" : "first request");
        else if (ec != net::error::eof)
          spdlog::debug("http: {} connection error: {}", peer_, ec.message());
      } else if (ec == beast::error::timeout) {
        spdlog::info("http: {} request not complete within read timeout ({} ms), dropping", peer_,
                     o.read_timeout.count());
      } else {
        spdlog::debug("http: {} read failed: {}", peer_, ec.message());
      }
      release();
      return;
    }
    buffer_.commit(n);
    if (state_ == State::waiting) {
      state_ = State::reading;
      // Set once for the whole request: bytes trickling in do not extend the deadline.
      if (requests_ > 0) stream_.expires_after(core_.options().read_timeout);
    }
    const auto data = buffer_.data();
    reader_->feed(std::string_view(static_cast<const char*>(data.data()), data.size()));
    buffer_.consume(buffer_.size());
    advance();
  }

  // Acts on what the reader has made of the bytes so far.
  void advance() {
    const auto st = reader_->state();
    if (st == RequestReader::State::failed) {
      const auto status = reader_->error_status();
      const auto& o = core_.options();
      if (status == 413)
        spdlog::warn("http: {} {}: body over the limit of {} bytes, answering 413", peer_,
                     describe(), o.body_limit);
      else if (status == 431)
        spdlog::warn("http: {} header over the limit of {} bytes, answering 431", peer_,
                     o.header_limit);
      else
        spdlog::info("http: {} malformed request ({}), answering {}", peer_,
                     reader_->error_reason(), status);
      respond_error(status,
                    (status == 400 ? "bad request: " : "") + reader_->error_reason() + "\n");
      return;
    }
    if (st == RequestReader::State::reading) {
      read_more();
      return;
    }
    if (!header_seen_) {
      header_seen_ = true;
      if (!counted_) {
        spdlog::warn("http: {} over the limit of {} connections per peer, answering 503", peer_,
                     core_.options().max_connections_per_peer);
        respond_error(503, "too many connections from this address\n");
        return;
      }
      if (st == RequestReader::State::header_done && reader_->expects_continue()) {
        net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                         bind_io(&Session::on_continue));
        return;
      }
    }
    if (st == RequestReader::State::done) {
      on_request();
      return;
    }
    read_more();
  }

  void on_continue(beast::error_code ec, std::size_t) {
    if (state_ == State::closed) return;
    if (ec) {
      spdlog::debug("http: {} write failed: {}", peer_, ec.message());
      release();
      return;
    }
    advance();
  }

  void on_request() {
    ++requests_;
    keep_alive_ = reader_->keep_alive();
    head_ = reader_->head();
    version_ = reader_->version();
    HttpRequest req = reader_->take();
    leftover_ = reader_->leftover();
    req.peer = peer_;
    what_ = req.method + " " + req.path;  // never the query: it may carry secrets
    spdlog::debug("http: {} {}", peer_, what_);

    state_ = State::handling;
    served_any_ = true;
    auto reply = std::make_shared<ReplyState>(weak_from_this(), core_.gate(), what_);
    Responder responder = [reply](HttpResponse r) { reply->complete(std::move(r), true); };
    try {
      core_.handler()(std::move(req), std::move(responder));
    } catch (const std::exception& e) {
      spdlog::error("http: {} handler threw on {}: {}", peer_, what_, e.what());
      reply->complete(HttpResponse::text(500, "internal error\n"), false);
    } catch (...) {
      spdlog::error("http: {} handler threw on {}", peer_, what_);
      reply->complete(HttpResponse::text(500, "internal error\n"), false);
    }
  }

  void on_reply(HttpResponse r) {
    if (state_ == State::closed) {
      spdlog::debug("http: {} reply to {} after the connection closed, dropped", peer_, what_);
      return;
    }
    if (state_ != State::handling) {
      spdlog::error("http: {} reply to {} while not handling a request, dropped", peer_, what_);
      return;
    }
    close_after_write_ = !keep_alive_ || core_.stopping();
    linger_after_write_ = false;
    write_response(std::move(r), version_, head_);
  }

  // Error replies close the connection; the rest of the request may still be unread.
  void respond_error(int status, std::string body) {
    close_after_write_ = true;
    linger_after_write_ = !(reader_ && reader_->state() == RequestReader::State::done);
    write_response(HttpResponse::text(status, std::move(body)), 11, false);
  }

  void write_response(HttpResponse r, unsigned version, bool head) {
    if (r.status < 200 || r.status > 599) {
      spdlog::error("http: {} handler answered {} with invalid status {}, sending 500", peer_,
                    what_, r.status);
      r = HttpResponse::text(500, "internal error\n");
    }
    res_ = {};
    res_.version(version);
    res_.result(static_cast<unsigned>(r.status));
    res_.set(http::field::server, "rabta");
    if (!r.content_type.empty() && is_safe_value(r.content_type))
      res_.set(http::field::content_type, r.content_type);
    for (auto& [name, value] : r.headers) {
      const auto lname = lower(name);
      // Framing headers are ours: a wrong Content-Length would desynchronise the connection.
      if (!is_token(name) || !is_safe_value(value) || lname == "content-length" ||
          lname == "transfer-encoding" || lname == "connection") {
        spdlog::warn("http: {} dropping invalid or reserved response header on {}", peer_, what_);
        continue;
      }
      if (lname == "server" || lname == "content-type")
        res_.set(name, value);
      else
        res_.insert(name, value);
    }
    // 204 and 304 must not carry a body (nor, for 204, a Content-Length).
    if (r.status != 204 && r.status != 304) {
      res_.content_length(r.body.size());
      if (!head) res_.body() = std::move(r.body);
    }
    res_.keep_alive(!close_after_write_);
    state_ = State::writing;
    // A client that stops reading must not pin the connection.
    stream_.expires_after(core_.options().read_timeout);
    http::async_write(stream_, res_, bind_io(&Session::on_write));
  }

  void on_write(beast::error_code ec, std::size_t) {
    if (state_ == State::closed) return;
    if (ec) {
      spdlog::debug("http: {} write failed: {}", peer_, ec.message());
      release();
      return;
    }
    res_ = {};
    if (!close_after_write_) {
      wait_request();
      return;
    }
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    if (!linger_after_write_) {
      release();
      return;
    }
    state_ = State::lingering;
    stream_.expires_after(
        std::min<std::chrono::steady_clock::duration>(core_.options().read_timeout, kMaxLinger));
    buffer_.clear();
    linger_read();
  }

  void linger_read() {
    stream_.async_read_some(buffer_.prepare(kReadChunk), bind_io(&Session::on_linger));
  }

  void on_linger(beast::error_code ec, std::size_t n) {
    if (state_ == State::closed) return;
    lingered_ += n;
    if (ec || lingered_ >= kMaxLingerBytes) {
      release();
      return;
    }
    linger_read();
  }

  // Ends the connection; idempotent. Always runs on the strand with a shared_ptr held by the
  // caller, so dropping the registry's reference here never destroys *this mid-call.
  void release() noexcept {
    if (state_ == State::closed) return;
    state_ = State::closed;
    stream_.close();
    core_.remove_session(this, peer_, counted_);
  }

  class ReplyState {
   public:
    ReplyState(std::weak_ptr<Session> session, std::shared_ptr<Gate> gate, std::string what)
        : session_(std::move(session)), gate_(std::move(gate)), what_(std::move(what)) {
      gate_->in_flight.fetch_add(1);
    }
    ReplyState(const ReplyState&) = delete;
    ReplyState& operator=(const ReplyState&) = delete;
    ~ReplyState() {
      if (done_.load()) return;
      try {
        bool open = false;
        {
          std::lock_guard lock(gate_->mu);
          open = gate_->open;
        }
        if (open)
          spdlog::error("http: responder for {} destroyed without being called, answering 500",
                        what_);
        complete(HttpResponse::text(500, "internal error\n"), false);
      } catch (...) {  // a destructor must not throw; the connection times out instead
      }
    }

    // Exactly once: later calls are ignored (and reported when warn_twice).
    bool complete(HttpResponse&& response, bool warn_twice) {
      if (done_.exchange(true)) {
        if (warn_twice)
          spdlog::warn("http: responder for {} called more than once, ignored", what_);
        return false;
      }
      gate_->in_flight.fetch_sub(1);
      std::lock_guard lock(gate_->mu);
      if (!gate_->open) return true;  // the server is being destroyed
      // The strong reference dies inside the lock, so a session can never be destroyed here
      // after the server (and its io_context) has started tearing down.
      if (auto session = session_.lock()) session->post_reply(std::move(response));
      return true;
    }

   private:
    std::weak_ptr<Session> session_;
    std::shared_ptr<Gate> gate_;
    std::string what_;
    std::atomic<bool> done_{false};
  };

  Core& core_;
  beast::tcp_stream stream_;
  const net::any_io_executor executor_;  // the connection's strand
  const std::string peer_;
  const bool counted_;  // false: over the per-peer cap, answered 503 after the request header
                        // (reading the header first lets the client see the reply)
  beast::flat_buffer buffer_;
  std::optional<RequestReader> reader_;
  std::string leftover_;      // bytes after the last request: the start of the next one
  bool header_seen_ = false;  // the current request's header was acted on (503, 100-continue)
  http::response<http::string_body> res_;
  State state_ = State::waiting;
  bool served_any_ = false;  // a request was handled on this connection
  std::uint64_t requests_ = 0;
  std::size_t lingered_ = 0;
  std::string what_;  // "METHOD /path" of the current request, for logs
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bool head_ = false;
  bool close_after_write_ = false;
  bool linger_after_write_ = false;
};

Core::Core(HttpServerOptions options, Handler handler)
    : options_(std::move(options)),
      handler_(std::move(handler)),
      ioc_(static_cast<int>(std::clamp(options_.threads, 1u, 1024u))),
      work_(net::make_work_guard(ioc_)),
      accept_strand_(net::make_strand(ioc_)),
      acceptor_(accept_strand_),
      accept_retry_(accept_strand_),
      grace_timer_(accept_strand_) {
  if (!handler_) throw std::invalid_argument("HttpServer: handler is empty");
}

Core::~Core() {
  {
    std::lock_guard lock(gate_->mu);
    gate_->open = false;
  }
  ioc_.stop();
  // Sessions are destroyed with the registry while ioc_ still exists; those referenced only
  // by queued handlers go when ioc_ destroys its handlers.
  std::lock_guard lock(mu_);
  sessions_.clear();
}

// systemd socket activation (the sd_listen_fds protocol, without libsystemd): a listening socket
// handed over as fd 3 with LISTEN_FDS=1 and LISTEN_PID=<this process>. -1 when there is none.
// The variables are removed so that no child inherits them.
int inherited_listen_fd() {
  const char* pid = std::getenv("LISTEN_PID");
  const char* fds = std::getenv("LISTEN_FDS");
  if (pid == nullptr || fds == nullptr) return -1;
  const bool ours = std::to_string(::getpid()) == pid && std::atoi(fds) >= 1;
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  if (!ours) return -1;
  ::fcntl(3, F_SETFD, FD_CLOEXEC);
  return 3;
}

void Core::listen() {
  const auto where = options_.host + ":" + std::to_string(options_.port);
  const auto fail = [&](const std::string& reason) {
    beast::error_code ignored;
    acceptor_.close(ignored);
    throw std::runtime_error("cannot listen on " + where + ": " + reason);
  };
  if (acceptor_.is_open()) fail("already listening");
  beast::error_code ec;
  // Under systemd's rabta.socket the kernel keeps queueing connections on this socket while
  // rabta restarts: a restart drops no request (deploy/systemd, docs/OPERATIONS.md).
  if (const int fd = inherited_listen_fd(); fd >= 0) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      fail("LISTEN_FDS: fd 3 is not a socket");
    acceptor_.assign(addr.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd, ec);
    if (ec) fail("LISTEN_FDS: " + ec.message());
    const auto local = acceptor_.local_endpoint(ec);
    if (ec) fail(ec.message());
    port_.store(local.port());
    spdlog::info("http: listening on {}:{} (socket handed over by systemd)",
                 local.address().to_string(), local.port());
    net::post(accept_strand_, [this] { do_accept(); });
    return;
  }
  tcp::resolver resolver(ioc_);
  const auto results =
      resolver.resolve(options_.host, std::to_string(options_.port),
                       tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec) fail(ec.message());
  if (results.empty()) fail("host did not resolve");
  const tcp::endpoint endpoint = results.begin()->endpoint();
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) fail(ec.message());
  acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) fail(ec.message());
  acceptor_.bind(endpoint, ec);
  if (ec) fail(ec.message());
  acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) fail(ec.message());
  const auto local = acceptor_.local_endpoint(ec);
  if (ec) fail(ec.message());
  port_.store(local.port());
  spdlog::info("http: listening on {}:{}", local.address().to_string(), local.port());
  net::post(accept_strand_, [this] { do_accept(); });
}

void Core::run() {
  const unsigned n = std::max(1u, options_.threads);
  std::vector<std::thread> extra;
  extra.reserve(n - 1);
  for (unsigned i = 1; i < n; ++i) extra.emplace_back([this] { run_loop(); });
  run_loop();
  for (auto& t : extra) t.join();
}

void Core::run_loop() {
  // Our handlers never throw; this keeps a throwing timer of another component from taking
  // down the thread (and with it the server).
  for (;;) {
    try {
      ioc_.run();
      return;
    } catch (const std::exception& e) {
      spdlog::error("http: event loop handler threw: {}", e.what());
    } catch (...) {
      spdlog::error("http: event loop handler threw");
    }
  }
}

void Core::stop() {
  stopping_.store(true);
  net::post(accept_strand_, [this] { begin_stop(); });
}

void Core::do_accept() {
  if (!acceptor_.is_open()) return;
  {
    std::lock_guard lock(mu_);
    accept_pending_ = true;
  }
  acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
    on_accept(ec, std::move(socket));
  });
}

void Core::on_accept(beast::error_code ec, tcp::socket socket) {
  {
    // Until this handler ran, a connection the accept already took may be in `socket`: the
    // stop waits for it (check_drained), so that it is served rather than reset.
    std::lock_guard lock(mu_);
    accept_pending_ = false;
  }
  struct DrainCheck {
    Core& core;
    ~DrainCheck() { core.check_drained(); }
  } drain_check{*this};
  try {
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
      // E.g. out of file descriptors: back off instead of spinning.
      spdlog::warn("http: accept failed: {}", ec.message());
      accept_retry_.expires_after(kAcceptRetry);
      accept_retry_.async_wait([this](beast::error_code e) {
        if (!e) do_accept();
      });
      return;
    }
    const auto endpoint = socket.remote_endpoint(ec);
    if (ec) {
      spdlog::debug("http: accepted connection already gone: {}", ec.message());
    } else {
      accepted_.fetch_add(1);
      auto peer = peer_string(endpoint.address());
      std::shared_ptr<Session> session;
      {
        std::lock_guard lock(mu_);
        // A connection taken just as the stop began is still served (its first request is
        // read and answered): dropping it would reset a request the client already sent.
        const auto cap = options_.max_connections_per_peer;
        auto& count = peers_[peer];
        std::optional<bool> counted;  // empty: drop the connection
        if (cap == 0 || count.open < cap) {
          ++count.open;
          counted = true;
        } else if (count.refused < cap) {
          ++count.refused;
          counted = false;
        }
        if (counted) {
          session = std::make_shared<Session>(*this, std::move(socket), peer, *counted);
          sessions_.emplace(session.get(), session);
        }
      }
      if (session) {
        spdlog::debug("http: {} connected", peer);
        session->start();
      } else {
        // Far over the cap (also as many 503s under way): not worth a reply, and each
        // connection kept for one would hold a descriptor.
        spdlog::info("http: {} over the connection limit of {}, closing without reply", peer,
                     options_.max_connections_per_peer);
        socket.close(ec);
      }
    }
  } catch (const std::exception& e) {
    spdlog::error("http: accept handling failed: {}", e.what());
  }
  do_accept();
}

std::vector<std::shared_ptr<Session>> Core::snapshot() {
  std::vector<std::shared_ptr<Session>> out;
  std::lock_guard lock(mu_);
  out.reserve(sessions_.size());
  for (const auto& [ptr, session] : sessions_) out.push_back(session);
  return out;
}

void Core::begin_stop() {
  try {
    {
      std::lock_guard lock(mu_);
      if (stop_started_) return;
      stop_started_ = true;
    }
    beast::error_code ignored;
    acceptor_.close(ignored);
    accept_retry_.cancel();
    const auto sessions = snapshot();
    spdlog::info("http: stopping, {} connection(s) open", sessions.size());
    for (const auto& s : sessions) s->post_close_if_idle();
    grace_timer_.expires_after(kStopGrace);
    grace_timer_.async_wait([this](beast::error_code ec) {
      if (!ec) force_close_all();
    });
  } catch (const std::exception& e) {
    spdlog::error("http: stop failed: {}", e.what());
  }
  check_drained();
}

void Core::force_close_all() {
  try {
    for (const auto& s : snapshot()) s->post_force_close();
  } catch (const std::exception& e) {
    spdlog::error("http: forced close failed: {}", e.what());
    ioc_.stop();  // last resort: run() must return
  }
}

void Core::remove_session(Session* session, const std::string& peer, bool counted) noexcept {
  std::shared_ptr<Session> keep;  // destroyed outside the lock
  {
    std::lock_guard lock(mu_);
    if (auto it = sessions_.find(session); it != sessions_.end()) {
      keep = std::move(it->second);
      sessions_.erase(it);
    }
    if (auto it = peers_.find(peer); it != peers_.end()) {
      auto& count = it->second;
      --(counted ? count.open : count.refused);
      if (count.open == 0 && count.refused == 0) peers_.erase(it);
    }
  }
  check_drained();
}

void Core::check_drained() noexcept {
  {
    std::lock_guard lock(mu_);
    if (!stop_started_ || finished_ || !sessions_.empty() || accept_pending_) return;
    finished_ = true;
  }
  spdlog::info("http: all connections closed, stopped");
  work_.reset();
  // Other components' timers on context() must not keep run() from returning.
  ioc_.stop();
}

}  // namespace

struct HttpServer::Impl {
  Impl(HttpServerOptions options, Handler handler) : core(std::move(options), std::move(handler)) {}
  Core core;
};

HttpServer::HttpServer(HttpServerOptions options, Handler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}
HttpServer::~HttpServer() = default;

void HttpServer::listen() {
  impl_->core.listen();
}
std::uint16_t HttpServer::port() const {
  return impl_->core.port();
}
void HttpServer::run() {
  impl_->core.run();
}
void HttpServer::stop() {
  impl_->core.stop();
}
boost::asio::io_context& HttpServer::context() {
  return impl_->core.context();
}
std::size_t HttpServer::in_flight() const {
  return impl_->core.in_flight();
}
std::uint64_t HttpServer::connections_accepted() const {
  return impl_->core.connections_accepted();
}

}  // namespace rabta::gateway
