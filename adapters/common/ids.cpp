#include <sodium.h>

#include <stdexcept>

#include "adapters/common/clock.hpp"

namespace rabta::common {

RandomIds::RandomIds() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium could not be initialised");
}

std::string RandomIds::case_reference(std::size_t length) {
  std::string out;
  out.reserve(length);
  const auto n = static_cast<std::uint32_t>(flows::reference_alphabet.size());
  for (std::size_t i = 0; i < length; ++i)
    out.push_back(flows::reference_alphabet[randombytes_uniform(n)]);
  return out;
}

}  // namespace rabta::common
