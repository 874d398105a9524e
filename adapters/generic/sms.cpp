#include "adapters/generic/sms.hpp"

#include "adapters/common/phone.hpp"
#include "adapters/sms/support.hpp"

namespace rabta::adapters::generic {

namespace support = sms::support;
using sms::Rejection;

namespace {

const std::vector<std::string> kNumber = {"to", "to_digits"};

std::vector<std::string> all_settings() {
  std::vector<std::string> keys = {
      "path",          "dlr_url",          "request.method", "request.body",  "request.id",
      "request.from",  "request.to",       "request.text",   "dlr.path",      "dlr.id",
      "dlr.outbox_id", "dlr.status",       "dlr.delivered",  "dlr.failed",    "dlr.sent",
      "dlr.queued",    "dlr.error",        "reply.in_band",  "reply.format",  "reply.content_type",
      "reply.body",    "reply.empty_body", "send.from",      "send.gsm_word", "send.ucs2_word"};
  for (const auto* more : {&InboundAuth::settings(), &SendCall::settings()})
    keys.insert(keys.end(), more->begin(), more->end());
  return keys;
}

const std::vector<std::string> kSettings = all_settings();

Fields::Body body_of(const std::string& key, const std::string& body) {
  if (body == "form") return Fields::Body::form;
  if (body == "json") return Fields::Body::json;
  if (body == "none") return Fields::Body::none;
  throw SettingError(key, "must be \"form\", \"json\" or \"none\"");
}

}  // namespace

const std::vector<std::string>& HttpSms::setting_names() {
  return kSettings;
}

std::string HttpSms::dlr_suffix(const sms::Settings& settings) {
  const auto it = settings.find("dlr.path");
  if (it == settings.end() || it->second.empty()) return "";
  return it->second[0] == '/' ? it->second : "/" + it->second;
}

HttpSms::HttpSms(const sms::Settings& settings) {
  const SettingsReader r(settings, kSettings);
  path_ = r.required("path");
  dlr_url_ = r.get("dlr_url", "");
  method_ = r.get("request.method", "POST");
  if (method_ != "POST" && method_ != "GET")
    throw SettingError("request.method", "must be \"POST\" or \"GET\"");
  const std::string body = r.get("request.body", method_ == "GET" ? "none" : "form");
  body_ = body_of("request.body", body);
  auto check_body = [&](const std::string& key, const Source& s) {
    if ((s.where == Source::Where::form && body_ != Fields::Body::form) ||
        (s.where == Source::Where::json && body_ != Fields::Body::json))
      throw SettingError(key, "reads the body, but request.body is \"" + body + "\"");
    return s;
  };
  id_ = check_body("request.id", r.required_source("request.id"));
  from_ = check_body("request.from", r.required_source("request.from"));
  text_ = check_body("request.text", r.required_source("request.text"));
  if (auto to = r.source("request.to")) to_ = check_body("request.to", *to);

  if (const std::string suffix = dlr_suffix(settings); !suffix.empty()) {
    dlr_path_ = path_ + suffix;
    Dlr d;
    d.id = r.source("dlr.id");
    d.outbox_id = r.source("dlr.outbox_id");
    if (!d.id && !d.outbox_id)
      throw SettingError("dlr.id", "is missing (or dlr.outbox_id): which message a report is of");
    if (d.id) check_body("dlr.id", *d.id);
    if (d.outbox_id) check_body("dlr.outbox_id", *d.outbox_id);
    d.status = check_body("dlr.status", r.required_source("dlr.status"));
    d.error = r.source("dlr.error");
    if (d.error) check_body("dlr.error", *d.error);
    d.delivered = split_list(r.get("dlr.delivered", ""));
    d.failed = split_list(r.get("dlr.failed", ""));
    d.sent = split_list(r.get("dlr.sent", ""));
    d.queued = split_list(r.get("dlr.queued", ""));
    if (d.delivered.empty()) throw SettingError("dlr.delivered", "is missing");
    if (d.failed.empty()) throw SettingError("dlr.failed", "is missing");
    dlr_ = std::move(d);
  } else {
    for (const char* key : {"dlr.id", "dlr.outbox_id", "dlr.status", "dlr.delivered", "dlr.failed",
                            "dlr.sent", "dlr.queued", "dlr.error"})
      r.unused(key, "needs dlr.path");
  }

  for (const auto* source :
       {&id_, &from_, &text_, to_ ? &*to_ : nullptr, dlr_ && dlr_->id ? &*dlr_->id : nullptr,
        dlr_ && dlr_->outbox_id ? &*dlr_->outbox_id : nullptr, dlr_ ? &dlr_->status : nullptr,
        dlr_ && dlr_->error ? &*dlr_->error : nullptr})
    if (source) known_.insert(source->label);
  auth_ = InboundAuth::read(r);
  auth_.require_signed(body_ != Fields::Body::none,
                       {{"request.id", &id_},
                        {"request.from", &from_},
                        {"request.text", &text_},
                        {"request.to", to_ ? &*to_ : nullptr},
                        {"dlr.id", dlr_ && dlr_->id ? &*dlr_->id : nullptr},
                        {"dlr.outbox_id", dlr_ && dlr_->outbox_id ? &*dlr_->outbox_id : nullptr},
                        {"dlr.status", dlr_ ? &dlr_->status : nullptr},
                        {"dlr.error", dlr_ && dlr_->error ? &*dlr_->error : nullptr}});
  // Delivery reports come to the URL given in each send: only a key in its query, or an
  // allow-list (auth.mode none), can let them in.
  if (dlr_ && auth_.mode != InboundAuth::Mode::none &&
      !(auth_.mode == InboundAuth::Mode::key && !auth_.key_query.empty()))
    throw SettingError("dlr.path",
                       "delivery reports come to a URL rabta gives the gateway, which can carry "
                       "only a key in its query: use auth.mode \"key\" with auth.key_query, or "
                       "\"none\" with allow_from");

  const std::string in_band = r.get("reply.in_band", "false");
  if (in_band != "true" && in_band != "false")
    throw SettingError("reply.in_band", "must be true or false");
  in_band_ = in_band == "true";
  const std::string format = r.get("reply.format", "text");
  reply_content_type_ = r.get("reply.content_type", media_of(format));
  if (reply_content_type_.find_first_of("\r\n") != std::string::npos)
    throw SettingError("reply.content_type", "must be on one line");
  empty_body_ = r.get("reply.empty_body", "");
  if (in_band_) {
    const std::string t = r.required("reply.body");
    refuse_number("reply.body", t, "a reply", {"to", "to_digits", "from"});
    reply_ = Template::compile("reply.body", t, {"text"}, escape_of("reply.format", format));
    if (!reply_.uses("text")) throw SettingError("reply.body", "must place the text, {{text}}");
  } else {
    r.unused("reply.body", "needs reply.in_band = true");
  }

  from_setting_ = r.get("send.from", "");
  gsm_word_ = r.get("send.gsm_word", gsm_word_);
  ucs2_word_ = r.get("send.ucs2_word", ucs2_word_);
  // A GET send has only its URL: there, and only there, her number and the text may go.
  send_ = SendCall::read(r, {"text", "to", "to_digits", "from", "outbox_id", "dlr_url", "encoding"},
                         kNumber, /*number_in_url=*/r.get("send.method", "POST") == "GET");
  if ((send_.body.uses("from") || send_.url.uses("from")) && from_setting_.empty())
    throw SettingError("send.from", "is missing ({{from}} is placed)");
  if ((send_.body.uses("dlr_url") || send_.url.uses("dlr_url")) && (!dlr_ || dlr_url_.empty()))
    throw SettingError("send.body", "places {{dlr_url}}, but dlr.path is not set");
  if (!send_.body.uses("to") && !send_.body.uses("to_digits") && !send_.url.uses("to") &&
      !send_.url.uses("to_digits"))
    throw SettingError("send.body", "must place her number, {{to}} or {{to_digits}}, once");
}

std::variant<sms::Inbound, Rejection> HttpSms::decode(const sms::InboundHttp& request) const {
  if (request.method != method_) return Rejection{405, "use " + method_};
  // Authenticate before anything is decoded or stored (SAFETY T1).
  if (auto why = auth_.check(request)) return *why;
  const bool report = dlr_ && request.path == dlr_path_;
  if (!report && request.path != path_) return Rejection{404, "no such endpoint"};
  auto parsed = Fields::parse(request, body_, known_);
  if (auto* r = std::get_if<Rejection>(&parsed)) return *r;
  const auto& fields = std::get<Fields>(parsed);
  return report ? decode_report(fields) : decode_message(fields);
}

std::variant<sms::Inbound, Rejection> HttpSms::decode_message(const Fields& f) const {
  sms::InboundSms m;
  for (auto [source, out] : {std::pair{&id_, &m.provider_message_id}, std::pair{&from_, &m.from},
                             std::pair{&text_, &m.text}}) {
    auto v = required_field(f, *source);
    if (auto* r = std::get_if<Rejection>(&v)) return *r;
    *out = std::get<std::string>(std::move(v));
  }
  auto to = optional_field(f, to_);
  if (auto* r = std::get_if<Rejection>(&to)) return *r;
  m.to = std::get<std::string>(std::move(to));
  if (m.provider_message_id.empty() || m.provider_message_id.size() > 128)
    return Rejection{400, "field '" + id_.label + "' must be 1 to 128 characters"};
  if (common::normalise_msisdn(m.from).empty())
    return Rejection{400, "field '" + from_.label + "' is not a phone number"};
  return sms::Inbound{std::move(m)};
}

std::variant<sms::Inbound, Rejection> HttpSms::decode_report(const Fields& f) const {
  const Dlr& d = *dlr_;
  sms::DeliveryReport r;
  auto id = optional_field(f, d.id);
  if (auto* rej = std::get_if<Rejection>(&id)) return *rej;
  r.provider_message_id = std::get<std::string>(std::move(id));
  auto outbox = optional_field(f, d.outbox_id);
  if (auto* rej = std::get_if<Rejection>(&outbox)) return *rej;
  const std::string& o = std::get<std::string>(outbox);
  if (!o.empty()) {
    if (o.find_first_not_of("0123456789") != std::string::npos || o.size() > 18)
      return Rejection{400, "field '" + d.outbox_id->label + "' must be a number"};
    r.outbox_id = std::stoll(o);
  }
  if (r.provider_message_id.empty() && r.outbox_id == 0)
    return support::missing_field(d.id ? d.id->label : d.outbox_id->label);
  if (plain_code(r.provider_message_id) != r.provider_message_id && !r.provider_message_id.empty())
    return Rejection{
        400, "field '" + (d.id ? d.id->label : std::string("id")) + "' is not a message id"};
  auto status = required_field(f, d.status);
  if (auto* rej = std::get_if<Rejection>(&status)) return *rej;
  const std::string& s = std::get<std::string>(status);
  if (one_of(d.delivered, s)) {
    r.status = sms::Delivery::delivered;
    r.final = true;
  } else if (one_of(d.failed, s)) {
    r.status = sms::Delivery::failed;
    r.final = true;
  } else if (one_of(d.sent, s)) {
    r.status = sms::Delivery::sent;
  } else if (one_of(d.queued, s)) {
    r.status = sms::Delivery::queued;
  } else {
    r.status = sms::Delivery::unknown;
  }
  auto error = optional_field(f, d.error);
  if (auto* rej = std::get_if<Rejection>(&error)) return *rej;
  const std::string& e = std::get<std::string>(error);
  if (!e.empty() && r.status == sms::Delivery::failed) r.error = status_word(e);
  return sms::Inbound{std::move(r)};
}

sms::HttpReply HttpSms::encode_reply(std::string_view text, bool) const {
  sms::HttpReply r;
  r.content_type = reply_content_type_;
  r.body = in_band_ && !text.empty() ? reply_.render({{"text", std::string(text)}}) : empty_body_;
  return r;
}

sms::HttpCall HttpSms::build_send(const sms::OutboundSms& m) const {
  const std::string id = std::to_string(m.outbox_id);
  std::string dlr_url = dlr_url_;
  if (!dlr_url.empty())
    dlr_url += (dlr_url.find('?') == std::string::npos ? "?" : "&") + std::string("outbox=") + id;
  return send_.build({{"text", m.text},
                      {"to", m.to},
                      {"to_digits", m.to.empty() || m.to[0] != '+' ? m.to : m.to.substr(1)},
                      {"from", from_setting_},
                      {"outbox_id", id},
                      {"dlr_url", dlr_url},
                      {"encoding", m.ucs2 ? ucs2_word_ : gsm_word_}});
}

sms::SendResult HttpSms::parse_send(long status, std::string_view body) const {
  return send_.parse(status, body);
}

}  // namespace rabta::adapters::generic
