// Form (x-www-form-urlencoded) and percent decoding: never crash; a body that parses encodes
// back to a body that parses to the same fields.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "adapters/common/form.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)rabta::common::percent_decode(in, true);
  (void)rabta::common::percent_decode(in, false);
  (void)rabta::common::is_valid_utf8(in);
  const auto parsed = rabta::common::parse_form(in);
  if (const auto* fields = std::get_if<std::vector<rabta::common::FormField>>(&parsed)) {
    const std::string again = rabta::common::form_encode(*fields);
    const auto reparsed = rabta::common::parse_form(again);
    const auto* same = std::get_if<std::vector<rabta::common::FormField>>(&reparsed);
    if (same == nullptr || *same != *fields) std::abort();  // the round trip must hold
  }
  return 0;
}
