// Africa's Talking SMS (shared/PROTOCOLS.md §1.2-1.3): incoming messages and delivery reports
// arrive as form POSTs to rabta's callback URL, which carries ?key=<secret> (AT signs nothing);
// replies go out as new messages through the bulk messaging API.
//
// Settings: username, api_key, secret; optional from (short code or sender id) and base_url
// (default https://api.africastalking.com; the sandbox is https://api.sandbox.africastalking.com).
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "adapters/sms/sms_adapter.hpp"

namespace rabta::adapters::africastalking {

class SmsChannel final : public sms::SmsAdapter {
 public:
  static constexpr std::string_view kind = "africastalking";
  static constexpr std::string_view default_base_url = "https://api.africastalking.com";

  // Throws std::invalid_argument naming a missing or bad setting.
  explicit SmsChannel(const sms::Settings& settings);

  std::string_view name() const override { return kind; }
  std::variant<sms::Inbound, sms::Rejection> decode(const sms::InboundHttp& request) const override;
  bool replies_in_band() const override { return false; }
  sms::HttpReply encode_reply(std::string_view text, bool ucs2) const override;
  sms::HttpCall build_send(const sms::OutboundSms& message) const override;
  sms::SendResult parse_send(long status, std::string_view body) const override;

 private:
  std::string username_;
  std::string api_key_;
  std::string secret_;
  std::string from_;
  std::string base_url_;
};

}  // namespace rabta::adapters::africastalking
