// A USSD aggregator described entirely in configuration (kind = "http"): where each field of its
// callback comes from, how a new session, a continuation and a release are told apart, whether
// its text is the whole path or only the newest input, how a reply is written, and how its calls
// are authenticated. The settings and their meaning: docs/AGGREGATORS.md; the shipped presets:
// config/presets/ussd/.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "adapters/generic/fields.hpp"
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
  bool replies_in_band() const override { return send_url_.empty(); }
  ussd::HttpReply ack_reply(const ussd::ReplyTo& to) const override;
  sms::HttpCall build_send(const ussd::AsyncReply& reply) const override;
  sms::SendResult parse_send(long status, std::string_view body) const override;
  std::chrono::milliseconds send_deadline() const override { return deadline_; }

  // Every setting this kind reads (for `rabta check` and the documentation test).
  static const std::vector<std::string>& setting_names();

 private:
  friend class GatewayEmulator;  // the gateway's side of the same settings (emulator.hpp)
  enum class Auth { key, basic, hmac, none };
  struct Events {
    std::string path;
    Source session_id, status;
    std::optional<Source> phone;
    std::vector<std::string> status_values;
  };
  std::optional<ussd::Rejection> authenticate(const ussd::InboundHttp& request) const;
  std::variant<ussd::Inbound, ussd::Rejection> decode_hop(const Fields& f) const;
  std::variant<ussd::Inbound, ussd::Rejection> decode_event(const Fields& f) const;
  ussd::HttpReply reply(const ussd::ReplyTo& to, bool end, std::string_view text, int status) const;
  void read_send(const void* reader);  // the send.* settings (through ussd.cpp's reader)

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

  Auth auth_ = Auth::key;
  std::string key_query_, key_header_, key_;
  std::string user_, password_;
  std::string hmac_header_, hmac_secret_, hmac_prefix_;
  bool hmac_base64_ = false;

  Template continue_reply_, end_reply_;
  std::string continue_header_name_, continue_header_value_;
  std::string end_header_name_, end_header_value_;
  std::string content_type_;
  bool utf16_ = false;
  int busy_status_ = 503;
  std::string busy_text_ = "Service busy, please try again later.";

  enum class SendAuth { none, basic, bearer, query_key, hmac };
  std::string send_url_;  // "" = answers in the HTTP response
  Template send_url_template_, send_body_;
  std::string send_method_ = "POST", send_content_type_;
  std::string continue_op_, end_op_;
  SendAuth send_auth_ = SendAuth::none;
  std::string send_user_, send_password_, send_token_, send_key_name_, send_key_;
  std::string send_hmac_header_, send_hmac_secret_, send_hmac_prefix_, send_secret_;
  std::string send_account_;  // {{account}}: the application's id at the gateway
  bool send_hmac_base64_ = false;
  std::string success_field_;
  std::vector<std::string> success_values_;
  std::chrono::milliseconds deadline_{0};
  int ack_status_ = 200;
  Template ack_body_;
};

}  // namespace rabta::adapters::generic
