// Africa's Talking USSD: decoding the session callback and the end-of-session notification,
// encoding the CON/END reply (shared/PROTOCOLS.md §1.1). Pure functions of the request's parts.
#pragma once

#include <string>
#include <string_view>
#include <variant>

namespace rabta::adapters::africastalking {

inline constexpr const char* provider_name = "africastalking";

struct UssdRequest {
  std::string session_id;
  std::string service_code;
  std::string phone_number;  // raw: turned into a pseudonym at once, never stored or logged
  std::string network_code;
  std::string text;  // all inputs so far joined by '*'; "" on the first hop
};

struct SessionEvent {
  std::string session_id;
  std::string status;        // "Incomplete", "Success", "Failed"
  std::string phone_number;  // raw, not used beyond decoding
  std::string hops_count;
  std::string duration_ms;
  std::string error_message;  // AT's text when status is Failed (no user data)
};

// Why a request is refused: an HTTP status and a reason safe to send back and to log.
struct Rejection {
  int status = 400;
  std::string reason;
};

std::variant<UssdRequest, Rejection> decode_ussd(std::string_view content_type,
                                                 std::string_view body);
std::variant<SessionEvent, Rejection> decode_session_event(std::string_view content_type,
                                                           std::string_view body);

// True when the `X-Rabta-Key` header (when present, it alone counts) or else the query string's
// key=<secret> is the secret (compared in constant time).
bool authenticate(std::string_view header_key, std::string_view query, std::string_view secret);

// "CON text" or "END text".
std::string encode_reply(bool end, std::string_view text);

}  // namespace rabta::adapters::africastalking
