#include "adapters/africastalking/sms.hpp"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>
#include <vector>

#include "adapters/common/form.hpp"
#include "adapters/sms/support.hpp"

namespace rabta::adapters::africastalking {

namespace {

using common::FormField;
using sms::Delivery;
using sms::Rejection;
using sms::SendResult;
namespace support = sms::support;

// Per-recipient statusCode of the messaging API (PROTOCOLS §1.3).
struct RecipientStatus {
  int code;
  const char* name;
  sms::SendOutcome outcome;
};

constexpr RecipientStatus kRecipientStatuses[] = {
    {100, "Processed", sms::SendOutcome::sent},
    {101, "Sent", sms::SendOutcome::sent},
    {102, "Queued", sms::SendOutcome::sent},
    {401, "RiskHold", sms::SendOutcome::retry},
    {402, "InvalidSenderId", sms::SendOutcome::permanent},
    {403, "InvalidPhoneNumber", sms::SendOutcome::permanent},
    {404, "UnsupportedNumberType", sms::SendOutcome::permanent},
    {405, "InsufficientBalance", sms::SendOutcome::retry},
    {406, "UserInBlacklist", sms::SendOutcome::permanent},
    {407, "CouldNotRoute", sms::SendOutcome::retry},
    {409, "DoNotDisturbRejection", sms::SendOutcome::permanent},
    {500, "InternalServerError", sms::SendOutcome::retry},
    {501, "GatewayError", sms::SendOutcome::retry},
    {502, "RejectedByGateway", sms::SendOutcome::retry},
};

const RecipientStatus* recipient_status(std::int64_t code) {
  for (const auto& s : kRecipientStatuses)
    if (s.code == code) return &s;
  return nullptr;
}

const RecipientStatus* recipient_status(std::string_view name) {
  for (const auto& s : kRecipientStatuses)
    if (name == s.name) return &s;
  return nullptr;
}

// statusCode is a JSON number in AT's answers; a numeric string is accepted too.
std::optional<std::int64_t> status_code_of(const nlohmann::json& recipient) {
  const auto it = recipient.find("statusCode");
  if (it == recipient.end()) return std::nullopt;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    if (s.empty() || s.size() > 6) return std::nullopt;
    std::int64_t v = 0;
    for (const char c : s) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + (c - '0');
    }
    return v;
  }
  return std::nullopt;
}

SendResult classify_recipient(const nlohmann::json& recipient) {
  const auto code = status_code_of(recipient);
  if (!code) return support::retry("response without statusCode");
  std::string id;
  if (const auto it = recipient.find("messageId"); it != recipient.end() && it->is_string())
    id = it->get<std::string>();
  if (const auto* s = recipient_status(*code)) {
    if (s->outcome == sms::SendOutcome::sent) return support::sent(std::move(id));
    SendResult r{s->outcome, {}, std::string(s->name) + " (" + std::to_string(s->code) + ")"};
    return r;
  }
  // Codes AT may add: 1xx are acceptances, 5xx are its own faults, the rest refusals.
  const std::string what = "statusCode " + std::to_string(*code);
  if (*code >= 100 && *code < 200) return support::sent(std::move(id));
  if (*code >= 500 && *code < 600) return support::retry(what);
  return support::permanent(what);
}

SendResult classify_created(std::string_view body) {
  const auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_discarded() || !json.is_object()) return support::retry("unparseable response");
  const auto data = json.find("SMSMessageData");
  if (data == json.end() || !data->is_object()) return support::retry("unparseable response");
  const auto recipients = data->find("Recipients");
  if (recipients == data->end() || !recipients->is_array())
    return support::retry("unparseable response");
  if (recipients->empty() || !recipients->front().is_object()) {
    // AT answers a refused request with no recipient and the reason as the Message.
    if (const auto msg = data->find("Message"); msg != data->end() && msg->is_string()) {
      if (const auto* s = recipient_status(msg->get_ref<const std::string&>());
          s && s->outcome != sms::SendOutcome::sent)
        return SendResult{
            s->outcome, {}, std::string(s->name) + " (" + std::to_string(s->code) + ")"};
    }
    return support::retry("no recipient in response");
  }
  return classify_recipient(recipients->front());
}

Delivery delivery_of(std::string_view status, bool& final) {
  final = false;
  if (status == "Sent" || status == "Submitted") return Delivery::sent;
  if (status == "Buffered") return Delivery::queued;
  final = true;
  if (status == "Success") return Delivery::delivered;
  if (status == "Rejected" || status == "Failed") return Delivery::failed;
  final = false;
  return Delivery::unknown;
}

}  // namespace

SmsChannel::SmsChannel(const sms::Settings& settings)
    : username_(support::required_setting(settings, kind, "username")),
      api_key_(support::required_setting(settings, kind, "api_key")),
      secret_(support::required_setting(settings, kind, "secret")),
      from_(support::optional_setting(settings, "from")),
      base_url_(support::without_trailing_slash(
          support::optional_setting(settings, "base_url", default_base_url))) {
  support::require_http_url(kind, "base_url", base_url_);
}

std::variant<sms::Inbound, Rejection> SmsChannel::decode(const sms::InboundHttp& request) const {
  if (!support::key_matches(request.header(support::key_header), request.query, secret_))
    return Rejection{403, "missing or wrong key"};
  if (request.method != "POST") return Rejection{405, "expected POST"};
  if (support::media_type(request.header("content-type")) != "application/x-www-form-urlencoded")
    return Rejection{415, "expected Content-Type application/x-www-form-urlencoded"};
  const auto fields = support::parse_fields(request.body);
  if (!fields) return Rejection{400, "malformed form body"};
  if (auto bad = support::first_non_utf8(
          *fields, {"date", "from", "to", "text", "id", "linkId", "networkCode", "status",
                    "phoneNumber", "failureReason", "retryCount"}))
    return *bad;

  const auto field = [&](std::string_view name) { return common::find_field(*fields, name); };
  const std::string* text = field("text");
  const std::string* status = field("status");
  const std::string* id = field("id");
  if (text == nullptr && status == nullptr)
    return Rejection{400, "missing field 'text' or 'status'"};
  if (id == nullptr) return support::missing_field("id");
  if (id->empty()) return Rejection{400, "field 'id' is empty"};

  if (text != nullptr) {
    const std::string* from = field("from");
    if (from == nullptr) return support::missing_field("from");
    if (from->empty()) return Rejection{400, "field 'from' is empty"};
    const std::string* to = field("to");
    return sms::Inbound{sms::InboundSms{*id, *from, to ? *to : std::string(), *text}};
  }

  sms::DeliveryReport report;
  report.provider_message_id = *id;
  report.status = delivery_of(*status, report.final);
  if (report.status == Delivery::failed) {
    const std::string* reason = field("failureReason");
    report.error = reason ? support::safe_code(*reason, true, 48, "unrecognised failureReason")
                          : std::string("no failureReason");
  }
  return sms::Inbound{std::move(report)};
}

sms::HttpReply SmsChannel::encode_reply(std::string_view /*text*/, bool /*ucs2*/) const {
  // Replies go out through the API (replies_in_band() is false): the callback gets an empty 200.
  return sms::HttpReply{200, "text/plain; charset=utf-8", {}, {}};
}

sms::HttpCall SmsChannel::build_send(const sms::OutboundSms& message) const {
  std::vector<FormField> form{
      {"username", username_}, {"to", message.to}, {"message", message.text}};
  if (!from_.empty()) form.push_back({"from", from_});
  form.push_back({"bulkSMSMode", "1"});
  sms::HttpCall call;
  call.method = "POST";
  call.url = base_url_ + "/version1/messaging";
  call.headers = {{"apiKey", api_key_},
                  {"Accept", "application/json"},
                  {"Content-Type", "application/x-www-form-urlencoded"}};
  call.body = common::form_encode(form);
  return call;
}

sms::SendResult SmsChannel::parse_send(long status, std::string_view body) const {
  if (status == 0) return support::retry("transport error");
  if (status == 201) return classify_created(body);
  const std::string http = "HTTP " + std::to_string(status);
  if (status == 401 || status == 403) return support::retry("authentication failed");
  if (status == 429 || (status >= 500 && status < 600)) return support::retry(http);
  return support::permanent(http);
}

}  // namespace rabta::adapters::africastalking
