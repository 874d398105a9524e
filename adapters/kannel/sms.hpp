// Kannel 1.4.5 smsbox (shared/PROTOCOLS.md §3, shared/kannel/README.md): incoming messages come
// from an sms-service get-url or post-url, delivery reports from the dlr-url rabta puts into each
// sendsms request; every one of those URLs carries ?key=<secret>. The reply to an incoming
// message is the HTTP response body (in-band); X-Kannel-Coding: 2 makes Kannel send it as UCS-2.
//
// Settings: sendsms_url, username, password, from, secret, dlr_url (rabta's own URL for
// delivery reports, e.g. http://127.0.0.1:8080/sms/kannel?key=<secret>; when it has no key=,
// key=<secret> is appended).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "adapters/sms/sms_adapter.hpp"

namespace rabta::adapters::kannel {

// UTF-16BE bytes (as Kannel passes a UCS-2 message) as UTF-8; surrogate pairs are combined.
// nullopt for an odd number of bytes or an unpaired surrogate.
std::optional<std::string> utf16be_to_utf8(std::string_view bytes);

class SmsChannel final : public sms::SmsAdapter {
 public:
  static constexpr std::string_view kind = "kannel";

  // Throws std::invalid_argument naming a missing or bad setting.
  explicit SmsChannel(const sms::Settings& settings);

  std::string_view name() const override { return kind; }
  std::variant<sms::Inbound, sms::Rejection> decode(const sms::InboundHttp& request) const override;
  bool replies_in_band() const override { return true; }
  sms::HttpReply encode_reply(std::string_view text, bool ucs2) const override;
  sms::HttpCall build_send(const sms::OutboundSms& message) const override;
  sms::SendResult parse_send(long status, std::string_view body) const override;

 private:
  std::string sendsms_url_;
  std::string username_;
  std::string password_;
  std::string from_;
  std::string secret_;
  std::string dlr_url_;
};

}  // namespace rabta::adapters::kannel
