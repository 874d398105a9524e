// A USSD aggregator described entirely in configuration (kind = "http"): where each field of its
// callback comes from, how a new session, a continuation and a release are told apart, whether
// its text is the whole path or only the newest input, how a reply is written, and how its calls
// are authenticated. The settings and their meaning: docs/AGGREGATORS.md; the shipped presets:
// config/presets/ussd/.
#pragma once

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "adapters/generic/fields.hpp"
#include "adapters/generic/parts.hpp"
#include "adapters/ussd/ussd_adapter.hpp"

namespace rabta::adapters::generic {

class HttpUssd final : public ussd::UssdAdapter {
 public:
  // Throws SettingError naming the first setting that is missing, unknown or unusable.
  HttpUssd(std::string name, const sms::Settings& settings);

  std::string_view provider() const override { return name_; }
  std::string_view route(std::string_view path) const override;
  std::variant<ussd::Inbound, ussd::Rejection> decode(
      const ussd::InboundHttp& request) const override;
  ussd::HttpReply encode_reply(const ussd::ReplyTo& to, bool end,
                               std::string_view text) const override;
  ussd::HttpReply busy_reply(const ussd::ReplyTo& to) const override;

  // Asynchronous when `send.url` is set: the hop is answered with `ack`, the screen sent by
  // `send` through the outbox.
  bool replies_in_band() const override { return !send_.has_value(); }
  ussd::HttpReply ack_reply(const ussd::ReplyTo& to) const override;
  sms::HttpCall build_send(const ussd::AsyncReply& reply) const override;
  sms::SendResult parse_send(long status, std::string_view body) const override;
  std::chrono::milliseconds send_deadline() const override { return deadline_; }

  // Every setting this kind reads (for `rabta check` and the documentation test).
  static const std::vector<std::string>& setting_names();

 private:
  friend class GatewayEmulator;  // the gateway's side of the same settings (emulator.hpp)
  struct Events {
    std::string path;
    Source session_id, status;
    std::optional<Source> phone;
    std::vector<std::string> status_values;
  };
  std::variant<ussd::Inbound, ussd::Rejection> decode_hop(const Fields& f) const;
  std::variant<ussd::Inbound, ussd::Rejection> decode_event(const Fields& f) const;
  ussd::HttpReply reply(const ussd::ReplyTo& to, bool end, std::string_view text, int status) const;
  void read_send(const SettingsReader& r);  // the send.* settings

  std::string name_;
  std::string path_;
  std::string label_, events_label_;
  std::string method_ = "POST";
  Fields::Body body_ = Fields::Body::form;
  Source session_id_, phone_, input_;
  std::optional<Source> service_code_, sequence_, operation_;
  bool input_is_path_ = true;
  std::int64_t sequence_first_ = 1;
  std::vector<std::string> begin_, continue_, end_;
  std::optional<Events> events_;

  InboundAuth auth_;
  std::set<std::string> known_;  // the names of the fields read (named in a refusal)

  Template continue_reply_, end_reply_;
  std::string continue_header_name_, continue_header_value_;
  std::string end_header_name_, end_header_value_;
  std::string content_type_, ack_content_type_;
  bool utf16_ = false;
  int busy_status_ = 503;
  std::string busy_text_ = "Service busy, please try again later.";

  std::optional<SendCall> send_;  // set: asynchronous
  std::string continue_op_, end_op_;
  std::chrono::milliseconds deadline_{0};
  int ack_status_ = 200;
  Template ack_body_;
};

}  // namespace rabta::adapters::generic
