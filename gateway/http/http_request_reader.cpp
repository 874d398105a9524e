#include "gateway/http/http_request_reader.hpp"

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <exception>
#include <limits>
#include <utility>
#include <vector>

namespace rabta::gateway {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The codings of every Transfer-Encoding field, in order, lower-cased ("" for an empty element).
std::vector<std::string> codings(const http::fields& fields) {
  std::vector<std::string> out;
  for (const auto& f : fields) {
    if (f.name() != http::field::transfer_encoding) continue;
    std::string_view v = f.value();
    for (;;) {
      const auto comma = v.find(',');
      const auto item = trim(v.substr(0, comma));
      if (!item.empty() || comma != std::string_view::npos) out.push_back(lower(item));
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return out;
}

// Syntax errors in the request (as opposed to limits or an early end of stream).
bool is_parse_error(const beast::error_code& ec) {
  if (ec.category() != http::make_error_code(http::error::bad_method).category()) return false;
  const int v = ec.value();
  return v >= static_cast<int>(http::error::bad_line_ending) &&
         v <= static_cast<int>(http::error::multiple_content_length);
}

}  // namespace

struct RequestReader::Parser {
  http::request_parser<http::string_body> p;
};

RequestReader::RequestReader(RequestLimits limits)
    : parser_(std::make_unique<Parser>()), limits_(limits) {
  auto& p = parser_->p;
  // The header limit is ours (feed): Beast's own counts the fields apart from the request line
  // once that line has been consumed, so where it trips depends on how the bytes were split.
  // Beast's is set past ours so that it never trips first.
  p.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(
      2 * limits_.header_limit + 1024, std::numeric_limits<std::uint32_t>::max())));
  p.body_limit(static_cast<std::uint64_t>(limits_.body_limit));
  p.eager(false);  // stop after the header, so that its length is known
}

RequestReader::~RequestReader() = default;

RequestReader::State RequestReader::fail(int status, std::string reason) {
  state_ = State::failed;
  error_status_ = status;
  error_reason_ = std::move(reason);
  pending_.clear();
  pending_.shrink_to_fit();
  return state_;
}

bool RequestReader::check_framing() {
  const auto& req = parser_->p.get();
  const auto te = codings(req);
  const bool has_te = req.count(http::field::transfer_encoding) > 0;
  if (!has_te) return true;
  if (req.version() < 11) {
    fail(400, "Transfer-Encoding is not allowed in HTTP/1.0");
    return false;
  }
  if (req.count(http::field::content_length) > 0) {
    fail(400, "Transfer-Encoding and Content-Length together");
    return false;
  }
  if (te.empty() || te.back() != "chunked") {
    fail(400, "Transfer-Encoding must end in chunked");
    return false;
  }
  if (te.size() != 1) {
    fail(501, "only the chunked transfer coding is supported");
    return false;
  }
  return true;
}

RequestReader::State RequestReader::feed(std::string_view bytes) {
  if (state_ == State::failed || state_ == State::done) {
    if (state_ == State::done) pending_.append(bytes);
    return state_;
  }
  pending_.append(bytes);
  auto& p = parser_->p;
  try {
    for (;;) {
      if (pending_.empty()) break;
      beast::error_code ec;
      const bool header_was_done = p.is_header_done();
      // Beast asserts that it is offered at least 5 bytes once it has seen the last chunk's
      // "0\r\n" (fuzz_http, reads of 1 byte). Waiting for 5 never stalls a body: every chunked
      // body ends in at least "0\r\n\r\n", and Beast consumes none of it before it is whole.
      if (header_was_done && p.chunked() && pending_.size() < 5) break;
      // Beast needs a whole line (a chunk size with its extensions) or the whole trailer in one
      // piece. Offering it at most header_limit bytes at a time bounds each of them the same
      // way however the bytes arrived.
      const std::size_t window =
          header_was_done ? std::min(pending_.size(), limits_.header_limit) : pending_.size();
      const auto used = p.put(boost::asio::buffer(pending_.data(), window), ec);
      if (header_was_done)
        body_wire_ += used;
      else
        header_bytes_ += used;
      pending_.erase(0, used);
      // The whole header (request line and fields), or what has come of it so far.
      if (header_bytes_ + (p.is_header_done() ? 0 : pending_.size()) > limits_.header_limit)
        return fail(431, "request header too large");
      if (!header_was_done && p.is_header_done()) {
        const auto& req = p.get();
        request_.method = std::string(req.method_string());
        request_.target = std::string(req.target());
        const auto q = request_.target.find('?');
        request_.path = request_.target.substr(0, q);
        if (q != std::string::npos) request_.query = request_.target.substr(q + 1);
        request_.headers.reserve(static_cast<std::size_t>(std::distance(req.begin(), req.end())));
        for (const auto& field : req)
          request_.headers.emplace_back(lower(field.name_string()), std::string(field.value()));
        keep_alive_ = req.keep_alive();
        head_ = req.method() == http::verb::head;
        version_ = req.version();
        if (!check_framing()) return state_;
        p.eager(true);
        if (state_ == State::reading) state_ = State::header_done;
      }
      if (ec == http::error::need_more) {
        if (used > 0) continue;
        if (header_was_done && window >= limits_.header_limit)
          return fail(413, "chunk line or trailer too large");
        break;
      }
      if (ec == http::error::body_limit) return fail(413, "request body too large");
      if (ec == http::error::header_limit) return fail(431, "request header too large");
      if (ec) return fail(400, is_parse_error(ec) ? ec.message() : "malformed request");
      if (p.is_header_done() && body_wire_ > limits_.body_limit + limits_.header_limit)
        return fail(413, "request body too large");
      if (p.is_done()) {
        request_.body = std::move(p.get().body());
        state_ = State::done;
        return state_;
      }
      if (used == 0) break;  // nothing more can be parsed without more bytes
    }
  } catch (const std::exception&) {
    return fail(400, "malformed request");
  }
  return state_;
}

bool RequestReader::expects_continue() const {
  const auto& p = parser_->p;
  if (!p.is_header_done() || p.is_done()) return false;
  const auto& req = p.get();
  return req.version() >= 11 && beast::iequals(req[http::field::expect], "100-continue");
}

std::string RequestReader::describe() const {
  if (!parser_->p.is_header_done()) return "request";
  return request_.method + " " + request_.path;
}

HttpRequest RequestReader::take() {
  return std::move(request_);
}

}  // namespace rabta::gateway
