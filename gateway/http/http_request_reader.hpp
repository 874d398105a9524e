// Reads one HTTP/1.1 request from raw bytes, with every buffer bounded. No socket: the server
// feeds it what it reads, and the fuzz target feeds it arbitrary bytes (fuzz/http_fuzzer.cpp).
//
// What it refuses, with the status the server answers before closing the connection:
//  * a header block over header_limit (431);
//  * a body over body_limit (413); for a chunked body the whole body on the wire counts (chunk
//    sizes, extensions and the trailer as well as the data) against body_limit + header_limit,
//    and no single chunk line or trailer may exceed header_limit (413);
//  * a Transfer-Encoding other than exactly "chunked" (RFC 9112 6.1: a request whose final
//    coding is not chunked cannot be framed, 400; other codings before it are not supported,
//    501), Transfer-Encoding on HTTP/1.0 or together with Content-Length (400);
//  * anything the parser does not accept, including anything that throws inside it (400).
// Trailer fields are read and discarded: a header cannot be smuggled in after the body.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/http/http_types.hpp"

namespace rabta::gateway {

struct RequestLimits {
  std::size_t header_limit = 8 * 1024;
  std::size_t body_limit = 8 * 1024;
};

class RequestReader {
 public:
  enum class State { reading, header_done, done, failed };

  explicit RequestReader(RequestLimits limits);
  ~RequestReader();
  RequestReader(const RequestReader&) = delete;
  RequestReader& operator=(const RequestReader&) = delete;

  // Takes bytes as they arrive. Returns the new state; bytes past the end of a complete request
  // are kept (leftover()) for the next one.
  State feed(std::string_view bytes);
  State state() const { return state_; }
  // After failed: the status to answer and a short reason (never request contents).
  int error_status() const { return error_status_; }
  const std::string& error_reason() const { return error_reason_; }
  // Once the header is read.
  bool expects_continue() const;
  std::string describe() const;  // "METHOD /path" (never the query), or "request"
  // After done: the request (once) and what followed it on the connection.
  HttpRequest take();
  bool keep_alive() const { return keep_alive_; }
  bool head() const { return head_; }
  unsigned version() const { return version_; }
  std::string leftover() { return std::move(pending_); }
  // Bytes currently held (bounded by header_limit plus one read).
  std::size_t buffered() const { return pending_.size(); }

 private:
  State fail(int status, std::string reason);
  bool check_framing();  // on the header: Transfer-Encoding rules

  struct Parser;
  std::unique_ptr<Parser> parser_;
  RequestLimits limits_;
  std::string pending_;
  State state_ = State::reading;
  int error_status_ = 0;
  std::string error_reason_;
  std::size_t header_bytes_ = 0;  // bytes of the header consumed so far
  std::size_t body_wire_ = 0;     // bytes of the body consumed so far, framing included
  bool keep_alive_ = false;
  bool head_ = false;
  unsigned version_ = 11;
  HttpRequest request_;
};

}  // namespace rabta::gateway
