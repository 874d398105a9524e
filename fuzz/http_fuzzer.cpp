// The HTTP request reader on raw bytes, without a socket (gateway/http/http_request_reader.hpp):
// never crash, never hold more than its limits, and read the same request however the bytes are
// split into reads. The first input byte chooses the split; the rest is what arrives on the
// connection.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "gateway/http/http_request_reader.hpp"

namespace {

using rabta::gateway::RequestLimits;
using rabta::gateway::RequestReader;

constexpr RequestLimits kLimits{1024, 2048};

struct Outcome {
  RequestReader::State state;
  int status = 0;
  std::string request;  // method, target, headers and body of a complete request
};

Outcome read_all(std::string_view in, std::size_t step) {
  RequestReader reader(kLimits);
  for (std::size_t at = 0; at < in.size(); at += step) {
    const auto st = reader.feed(in.substr(at, step));
    // Everything the reader holds is bounded: the header limit plus one read.
    if (reader.buffered() > kLimits.header_limit + step && st != RequestReader::State::done)
      std::abort();
    if (st == RequestReader::State::failed || st == RequestReader::State::done) break;
  }
  Outcome out{reader.state(), reader.error_status(), {}};
  if (out.state == RequestReader::State::failed &&
      (out.status < 400 || out.status > 599 || reader.error_reason().empty()))
    std::abort();
  if (out.state == RequestReader::State::done) {
    auto r = reader.take();
    if (r.body.size() > kLimits.body_limit) std::abort();
    out.request = r.method + ' ' + r.target + '\n';
    for (const auto& [k, v] : r.headers) out.request += k + ':' + v + '\n';
    out.request += '\n' + r.body;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t step = 1 + data[0] % 64;
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto whole = read_all(in, in.size() + 1);
  const auto split = read_all(in, step);
  // A complete request reads the same in one piece and in small reads.
  if (whole.state == RequestReader::State::done &&
      (split.state != RequestReader::State::done || split.request != whole.request))
    std::abort();
  return 0;
}
