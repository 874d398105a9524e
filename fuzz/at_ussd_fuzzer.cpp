// Africa's Talking's USSD callback and end-of-session notification decoders: never crash;
// a decoded request's text encodes into a reply.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include "adapters/africastalking/ussd.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace at = rabta::adapters::africastalking;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  for (const std::string_view type :
       {std::string_view("application/x-www-form-urlencoded"),
        std::string_view("application/x-www-form-urlencoded; charset=UTF-8"),
        std::string_view("text/plain")}) {
    const auto hop = at::decode_ussd(type, in);
    if (const auto* r = std::get_if<at::UssdRequest>(&hop)) (void)at::encode_reply(false, r->text);
    (void)at::decode_session_event(type, in);
  }
  (void)at::authenticate("", in, "fuzz-secret-0123456789");
  (void)at::authenticate(in, "", "fuzz-secret-0123456789");
  return 0;
}
