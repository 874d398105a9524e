// An SMS gateway described entirely in configuration (kind = "http" in [channels.<name>]): where
// each field of an incoming message and of a delivery report comes from, how its calls are
// authenticated, and the call that sends a message (a GET or POST template, her number in one
// place only, the delivery-report URL in the call). The settings: docs/AGGREGATORS.md; the
// shipped presets: config/presets/sms/.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "adapters/generic/fields.hpp"
#include "adapters/generic/parts.hpp"
#include "adapters/sms/sms_adapter.hpp"

namespace rabta::adapters::generic {

class HttpSms final : public sms::SmsAdapter {
 public:
  // `settings` holds the channel's `path` (where its callbacks arrive) and `dlr_url` (the URL
  // given to the gateway for delivery reports), both added by the gateway from the channel.
  // Throws SettingError naming the first setting that is missing, unknown or unusable.
  explicit HttpSms(const sms::Settings& settings);

  std::string_view name() const override { return "http"; }
  std::variant<sms::Inbound, sms::Rejection> decode(const sms::InboundHttp& request) const override;
  bool replies_in_band() const override { return in_band_; }
  sms::HttpReply encode_reply(std::string_view text, bool ucs2) const override;
  sms::HttpCall build_send(const sms::OutboundSms& message) const override;
  sms::SendResult parse_send(long status, std::string_view body) const override;

  static const std::vector<std::string>& setting_names();
  // The relative path delivery reports arrive on, below the channel's ("" = none).
  static std::string dlr_suffix(const sms::Settings& settings);

 private:
  std::variant<sms::Inbound, sms::Rejection> decode_message(const Fields& f) const;
  std::variant<sms::Inbound, sms::Rejection> decode_report(const Fields& f) const;

  std::string path_, dlr_path_, dlr_url_;
  std::string method_ = "POST";
  Fields::Body body_ = Fields::Body::form;
  Source id_, from_, text_;
  std::optional<Source> to_;
  struct Dlr {
    std::optional<Source> id, outbox_id, error;
    Source status;
    std::vector<std::string> delivered, failed, sent, queued;
  };
  std::optional<Dlr> dlr_;
  InboundAuth auth_;
  std::set<std::string> known_;  // the names of the fields read (named in a refusal)
  bool in_band_ = false;
  Template reply_;
  std::string reply_content_type_, empty_body_;
  SendCall send_;
  std::string from_setting_, gsm_word_ = "text", ucs2_word_ = "unicode";
};

}  // namespace rabta::adapters::generic
