#include "adapters/twilio/sms.hpp"

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <utility>

#include "adapters/common/crypto.hpp"
#include "adapters/common/form.hpp"
#include "adapters/sms/support.hpp"

namespace rabta::adapters::twilio {

namespace {

using common::FormField;
using sms::Delivery;
using sms::Rejection;
using sms::SendResult;
namespace support = sms::support;

constexpr std::string_view kFormType = "application/x-www-form-urlencoded";

// Where the port of `url`'s authority is: [colon, end) or nullopt when it has none.
struct Authority {
  std::size_t begin = 0;                       // first character after "://"
  std::size_t end = 0;                         // first of "/?#" after begin, or the end
  std::size_t colon = std::string_view::npos;  // the ':' before a port, if any
};

std::optional<Authority> authority_of(std::string_view url) {
  const std::size_t sep = url.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  Authority a;
  a.begin = sep + 3;
  a.end = url.find_first_of("/?#", a.begin);
  if (a.end == std::string_view::npos) a.end = url.size();
  const std::string_view auth = url.substr(a.begin, a.end - a.begin);
  const std::size_t at = auth.rfind('@');
  const std::size_t host_begin = at == std::string_view::npos ? 0 : at + 1;
  const std::size_t bracket = auth.rfind(']');  // IPv6 literal: the port follows "]:"
  const std::size_t colon = auth.rfind(':');
  if (colon != std::string_view::npos && colon >= host_begin &&
      (bracket == std::string_view::npos || colon > bracket)) {
    const std::string_view port = auth.substr(colon + 1);
    if (!port.empty() &&
        std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      a.colon = a.begin + colon;
  }
  return a;
}

std::optional<std::int64_t> json_int(const nlohmann::json& obj, const char* name) {
  const auto it = obj.find(name);
  if (it == obj.end()) return std::nullopt;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  return std::nullopt;
}

struct StatusMapping {
  const char* name;
  Delivery status;
  bool final;
};

constexpr StatusMapping kStatuses[] = {
    {"queued", Delivery::queued, false},    {"accepted", Delivery::queued, false},
    {"scheduled", Delivery::queued, false}, {"sending", Delivery::sent, false},
    {"sent", Delivery::sent, false},        {"delivered", Delivery::delivered, true},
    {"read", Delivery::delivered, true},    {"undelivered", Delivery::failed, true},
    {"failed", Delivery::failed, true},     {"canceled", Delivery::failed, true},
};

// Error codes Twilio answers a send with when the number can never be reached.
constexpr std::int64_t kPermanentCodes[] = {21211, 21614, 21610, 21612, 21408};

}  // namespace

std::string compute_signature(std::string_view auth_token, std::string_view url,
                              const std::vector<FormField>& params) {
  std::vector<std::pair<std::string_view, std::string_view>> sorted;
  sorted.reserve(params.size());
  for (const auto& p : params) sorted.emplace_back(p.name, p.value);
  std::sort(sorted.begin(), sorted.end());  // by name, then value: byte order
  std::string s(url);
  for (const auto& [n, v] : sorted) {
    s += n;
    s += v;
  }
  return common::hmac_sha1_base64(auth_token, s);
}

std::vector<std::string> signature_urls(std::string_view url) {
  const auto a = authority_of(url);
  if (!a) return {std::string(url)};
  std::string without_port(url);
  std::string with_port(url);
  if (a->colon != std::string_view::npos) {
    without_port.erase(a->colon, a->end - a->colon);
  } else {
    const bool https = support::lower_ascii(url.substr(0, a->begin)) == "https://";
    with_port.insert(a->end, https ? ":443" : ":80");
  }
  return {std::move(without_port), std::move(with_port)};
}

bool signature_valid(std::string_view auth_token, std::string_view url,
                     const std::vector<FormField>& params, std::string_view signature) {
  if (auth_token.empty() || signature.empty()) return false;
  bool ok = false;
  // Every form is computed and compared, so the time taken does not say which one matched.
  for (const auto& u : signature_urls(url))
    ok = common::constant_time_equal(compute_signature(auth_token, u, params), signature) || ok;
  return ok;
}

SmsChannel::SmsChannel(const sms::Settings& settings)
    : account_sid_(support::required_setting(settings, kind, "account_sid")),
      auth_token_(support::required_setting(settings, kind, "auth_token")),
      from_(support::optional_setting(settings, "from")),
      messaging_service_sid_(support::optional_setting(settings, "messaging_service_sid")),
      base_url_(support::without_trailing_slash(
          support::optional_setting(settings, "base_url", default_base_url))),
      status_callback_(support::optional_setting(settings, "status_callback")) {
  if (from_.empty() && messaging_service_sid_.empty())
    throw std::invalid_argument(
        "channel twilio: missing setting 'from' or 'messaging_service_sid'");
  if (!from_.empty() && !messaging_service_sid_.empty())
    throw std::invalid_argument(
        "channel twilio: set only one of the settings 'from' and 'messaging_service_sid'");
  support::require_http_url(kind, "base_url", base_url_);
  if (!status_callback_.empty())
    support::require_http_url(kind, "status_callback", status_callback_);
}

std::variant<sms::Inbound, Rejection> SmsChannel::decode(const sms::InboundHttp& request) const {
  const Rejection unauthenticated{403, "missing or invalid signature"};
  const bool post = request.method == "POST";
  if (!post && request.method != "GET") return Rejection{405, "expected GET or POST"};
  const std::string_view signature = request.header("x-twilio-signature");
  if (signature.empty()) return unauthenticated;

  const auto query = support::parse_fields(request.query);
  const bool form = post && support::media_type(request.header("content-type")) == kFormType;
  std::vector<FormField> signed_params;  // a GET, or a JSON body, signs the URL alone
  if (form) {
    auto body = support::parse_fields(request.body);
    if (!body) return unauthenticated;
    signed_params = std::move(*body);
  } else if (post) {
    // A JSON body is covered by bodySHA256=<hex SHA-256 of the body> in the signed URL.
    const std::string* hash = query ? common::find_field(*query, "bodySHA256") : nullptr;
    if (hash == nullptr ||
        !common::constant_time_equal(support::lower_ascii(*hash), common::sha256_hex(request.body)))
      return unauthenticated;
  }
  if (!signature_valid(auth_token_, request.public_url, signed_params, signature))
    return unauthenticated;

  if (post && !form)
    return Rejection{415, "expected Content-Type application/x-www-form-urlencoded"};
  if (!post && !query) return Rejection{400, "malformed query string"};
  const std::vector<FormField>& fields = post ? signed_params : *query;
  if (auto bad = support::first_non_utf8(
          fields, {"MessageSid", "From", "To", "Body", "MessageStatus", "ErrorCode", "AccountSid"}))
    return *bad;
  const auto field = [&](std::string_view name) { return common::find_field(fields, name); };

  const std::string* body = field("Body");
  const std::string* status = field("MessageStatus");
  if (body == nullptr && status == nullptr)
    return Rejection{400, "missing field 'Body' or 'MessageStatus'"};
  const std::string* sid = field("MessageSid");
  if (sid == nullptr) return support::missing_field("MessageSid");
  if (sid->empty()) return Rejection{400, "field 'MessageSid' is empty"};

  if (body != nullptr) {
    const std::string* from = field("From");
    if (from == nullptr) return support::missing_field("From");
    if (from->empty()) return Rejection{400, "field 'From' is empty"};
    const std::string* to = field("To");
    if (to == nullptr) return support::missing_field("To");
    return sms::Inbound{sms::InboundSms{*sid, *from, *to, *body}};
  }

  sms::DeliveryReport report;
  report.provider_message_id = *sid;
  for (const auto& m : kStatuses) {
    if (*status == m.name) {
      report.status = m.status;
      report.final = m.final;
    }
  }
  if (report.status == Delivery::failed) {
    const std::string* code = field("ErrorCode");
    report.error = code && !code->empty()
                       ? support::safe_code(*code, false, 6, "unrecognised ErrorCode")
                       : std::string(support::safe_code(*status, true, 16, "failed"));
  }
  return sms::Inbound{std::move(report)};
}

sms::HttpReply SmsChannel::encode_reply(std::string_view text, bool /*ucs2*/) const {
  // Twilio chooses GSM-7 or UCS-2 itself.
  std::string xml = R"(<?xml version="1.0" encoding="UTF-8"?>)";
  if (text.empty()) {
    xml += "<Response/>";
  } else {
    xml += "<Response><Message>";
    xml += common::xml_escape(text);
    xml += "</Message></Response>";
  }
  return sms::HttpReply{200, "text/xml", std::move(xml), {}};
}

sms::HttpCall SmsChannel::build_send(const sms::OutboundSms& message) const {
  std::vector<FormField> form{{"To", message.to}};
  if (!messaging_service_sid_.empty())
    form.push_back({"MessagingServiceSid", messaging_service_sid_});
  else
    form.push_back({"From", from_});
  form.push_back({"Body", message.text});
  if (!status_callback_.empty()) form.push_back({"StatusCallback", status_callback_});
  sms::HttpCall call;
  call.method = "POST";
  call.url =
      base_url_ + "/2010-04-01/Accounts/" + common::percent_encode(account_sid_) + "/Messages.json";
  call.headers = {{"Accept", "application/json"}, {"Content-Type", std::string(kFormType)}};
  call.body = common::form_encode(form);
  call.basic_user = account_sid_;
  call.basic_password = auth_token_;
  return call;
}

sms::SendResult SmsChannel::parse_send(long status, std::string_view body) const {
  if (status == 0) return support::retry("transport error");
  const auto json = nlohmann::json::parse(body, nullptr, false);
  const bool object = !json.is_discarded() && json.is_object();
  if (status == 201) {
    std::string sid;
    if (object) {
      if (const auto it = json.find("sid"); it != json.end() && it->is_string())
        sid = it->get<std::string>();
      if (const auto st = json.find("status");
          st != json.end() && st->is_string() && (*st == "failed" || *st == "undelivered")) {
        const auto code = json_int(json, "error_code");
        return support::permanent(code ? "error " + std::to_string(*code) : "failed");
      }
    }
    // 201 Created: the message exists even if its id cannot be read; sending again would
    // send it twice.
    return support::sent(std::move(sid));
  }
  const std::string http = "HTTP " + std::to_string(status);
  if (status == 400) {
    const auto code = object ? json_int(json, "code") : std::nullopt;
    if (!code) return support::permanent(http);
    for (const auto c : kPermanentCodes)
      if (*code == c) return support::permanent("error " + std::to_string(c));
    return support::permanent(http + " error " + std::to_string(*code));
  }
  if (status == 401) return support::retry("authentication failed");
  if (status == 403) return support::retry("forbidden (account or permissions)");
  if (status == 429 || (status >= 500 && status < 600)) return support::retry(http);
  return support::permanent(http);
}

}  // namespace rabta::adapters::twilio
