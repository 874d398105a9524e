// Africa's Talking USSD: decoding the session callback and the end-of-session notification,
// encoding the CON/END reply (shared/PROTOCOLS.md §1.1). Pure functions of the request's parts.
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "adapters/ussd/ussd_adapter.hpp"

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

// Africa's Talking as a USSD adapter: hops POSTed to `path`, end-of-session notifications to
// `path` + "/events", both authenticated by the callback secret (header or query, see above).
class UssdChannel final : public ussd::UssdAdapter {
 public:
  UssdChannel(std::string path, std::string secret, std::string provider = provider_name);
  std::string_view provider() const override { return provider_; }
  std::string_view route(std::string_view path) const override;
  std::variant<ussd::Inbound, ussd::Rejection> decode(
      const ussd::InboundHttp& request) const override;
  ussd::HttpReply encode_reply(const ussd::ReplyTo& to, bool end,
                               std::string_view text) const override;
  ussd::HttpReply busy_reply(const ussd::ReplyTo& to) const override;

 private:
  std::string path_;
  std::string events_path_;
  std::string secret_;
  std::string provider_;
  std::string label_;
  std::string events_label_;
};

}  // namespace rabta::adapters::africastalking
