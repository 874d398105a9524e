#include <sodium.h>

#include <array>
#include <cstdint>
#include <stdexcept>

#include "adapters/common/clock.hpp"

namespace rabta::common {

RandomIds::RandomIds() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium could not be initialised");
}

std::string RandomIds::case_reference(std::size_t length) {
  // One draw from the system's CSPRNG per reference (#13: randombytes_uniform per character was
  // one getrandom system call each), each character chosen by rejection so none is likelier.
  const auto n = static_cast<std::uint64_t>(flows::reference_alphabet.size());
  const std::uint64_t limit = (std::uint64_t{1} << 32) / n * n;
  std::string out;
  out.reserve(length);
  std::array<std::uint32_t, 16> draw{};
  while (out.size() < length) {
    randombytes_buf(draw.data(), sizeof draw);
    for (const std::uint32_t v : draw) {
      if (out.size() == length) break;
      if (v >= limit) continue;
      out.push_back(flows::reference_alphabet[v % n]);
    }
  }
  sodium_memzero(draw.data(), sizeof draw);
  return out;
}

}  // namespace rabta::common
