// Twilio Programmable Messaging (shared/PROTOCOLS.md §2): incoming messages and status
// callbacks are signed with X-Twilio-Signature; the reply goes back in-band as TwiML; messages
// are sent through the REST API with HTTP Basic auth.
//
// Settings: account_sid, auth_token, one of from / messaging_service_sid; optional base_url
// (default https://api.twilio.com) and status_callback (the URL Twilio posts status to).
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "adapters/common/form.hpp"
#include "adapters/sms/sms_adapter.hpp"

namespace rabta::adapters::twilio {

// base64(HMAC-SHA1(auth_token, url + name1 + value1 + ...)) with the parameters sorted by name
// and, for a repeated name, its values sorted (byte order).
std::string compute_signature(std::string_view auth_token, std::string_view url,
                              const std::vector<common::FormField>& params);

// The URL with its port removed, and the URL with the scheme's default port added (or as
// given when it names a port): the two forms Twilio's own validators accept.
std::vector<std::string> signature_urls(std::string_view url);

// True when `signature` matches either URL form (constant-time compare).
bool signature_valid(std::string_view auth_token, std::string_view url,
                     const std::vector<common::FormField>& params, std::string_view signature);

class SmsChannel final : public sms::SmsAdapter {
 public:
  static constexpr std::string_view kind = "twilio";
  static constexpr std::string_view default_base_url = "https://api.twilio.com";

  // Throws std::invalid_argument naming a missing or bad setting.
  explicit SmsChannel(const sms::Settings& settings);

  std::string_view name() const override { return kind; }
  std::variant<sms::Inbound, sms::Rejection> decode(const sms::InboundHttp& request) const override;
  bool replies_in_band() const override { return true; }
  sms::HttpReply encode_reply(std::string_view text, bool ucs2) const override;
  sms::HttpCall build_send(const sms::OutboundSms& message) const override;
  sms::SendResult parse_send(long status, std::string_view body) const override;

 private:
  std::string account_sid_;
  std::string auth_token_;
  std::string from_;
  std::string messaging_service_sid_;
  std::string base_url_;
  std::string status_callback_;
};

}  // namespace rabta::adapters::twilio
