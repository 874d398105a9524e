#include "adapters/generic/ussd.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <nlohmann/json.hpp>
#include <set>

#include "adapters/common/crypto.hpp"
#include "adapters/common/phone.hpp"
#include "adapters/generic/parts.hpp"
#include "adapters/sms/support.hpp"

namespace rabta::adapters::generic {

namespace support = sms::support;
using ussd::Rejection;

namespace {

const std::vector<std::string> kNumber = {"phone", "phone_digits"};

std::vector<std::string> all_settings() {
  std::vector<std::string> keys = {
      "path",
      "request.method",
      "request.body",
      "request.session_id",
      "request.phone",
      "request.input",
      "request.input_mode",
      "request.service_code",
      "request.sequence",
      "request.sequence_first",
      "request.operation",
      "request.begin",
      "request.continue",
      "request.end",
      "events.path",
      "events.session_id",
      "events.phone",
      "events.status",
      "events.status_values",
      "reply.format",
      "reply.content_type",
      "reply.charset",
      "reply.continue",
      "reply.end",
      "reply.continue_header",
      "reply.end_header",
      "reply.busy_status",
      "reply.busy_text",
      "send.continue_op",
      "send.end_op",
      "send.deadline_ms",
      "ack.status",
      "ack.body",
  };
  for (const auto* more : {&InboundAuth::settings(), &SendCall::settings()})
    keys.insert(keys.end(), more->begin(), more->end());
  return keys;
}

const std::vector<std::string> kSettings = all_settings();

std::optional<Rejection> check_session_id(const Source& s, const std::string& id) {
  if (id.empty() || id.size() > 128)
    return Rejection{400, "field '" + s.label + "' must be 1 to 128 characters"};
  return std::nullopt;
}

}  // namespace

const std::vector<std::string>& HttpUssd::setting_names() {
  return kSettings;
}

void HttpUssd::read_send(const SettingsReader& r) {
  send_ = SendCall::read(r, {"text", "session_id", "op", "phone", "phone_digits"}, kNumber,
                         /*number_in_url=*/false);
  continue_op_ = r.get("send.continue_op", "");
  end_op_ = r.get("send.end_op", "");
  if (!send_->body.uses("op") && !send_->url.uses("op"))
    throw SettingError("send.body", "must place {{op}}: whether the screen continues or ends");
  if (continue_op_.empty() || end_op_.empty())
    throw SettingError(continue_op_.empty() ? "send.continue_op" : "send.end_op",
                       "is missing ({{op}} is placed)");
  deadline_ = std::chrono::milliseconds(r.integer("send.deadline_ms", 10'000, 1'000, 120'000));
}

HttpUssd::HttpUssd(std::string name, const sms::Settings& settings) : name_(std::move(name)) {
  const SettingsReader r(settings, kSettings);
  path_ = r.required("path");
  if (path_[0] != '/') throw SettingError("path", "must start with '/'");
  label_ = "ussd_" + name_;
  events_label_ = label_ + "_events";

  method_ = r.get("request.method", "POST");
  if (method_ != "POST" && method_ != "GET")
    throw SettingError("request.method", "must be \"POST\" or \"GET\"");
  const std::string body = r.get("request.body", method_ == "GET" ? "none" : "form");
  if (body == "form")
    body_ = Fields::Body::form;
  else if (body == "json")
    body_ = Fields::Body::json;
  else if (body == "none")
    body_ = Fields::Body::none;
  else
    throw SettingError("request.body", "must be \"form\", \"json\" or \"none\"");
  auto check_body = [&](const std::string& key, const Source& s) {
    if ((s.where == Source::Where::form && body_ != Fields::Body::form) ||
        (s.where == Source::Where::json && body_ != Fields::Body::json))
      throw SettingError(key, "reads the body, but request.body is \"" + body + "\"");
    return s;
  };
  session_id_ = check_body("request.session_id", r.required_source("request.session_id"));
  phone_ = check_body("request.phone", r.required_source("request.phone"));
  input_ = check_body("request.input", r.required_source("request.input"));
  for (auto [key, out] :
       {std::pair{"request.service_code", &service_code_},
        std::pair{"request.sequence", &sequence_}, std::pair{"request.operation", &operation_}})
    if (auto s = r.source(key)) *out = check_body(key, *s);
  const std::string mode = r.get("request.input_mode", "path");
  if (mode != "path" && mode != "latest")
    throw SettingError("request.input_mode",
                       "must be \"path\" (every input so far, joined by "
                       "'*') or \"latest\" (only the newest input)");
  input_is_path_ = mode == "path";
  sequence_first_ = r.integer("request.sequence_first", 1, 0, 1);
  if (sequence_ && input_is_path_)
    throw SettingError("request.sequence", "is only for request.input_mode = \"latest\"");
  if (operation_) {
    begin_ = split_list(r.get("request.begin", ""));
    continue_ = split_list(r.get("request.continue", ""));
    end_ = split_list(r.get("request.end", ""));
    if (begin_.empty())
      throw SettingError("request.begin", "is missing (request.operation is set)");
    if (continue_.empty())
      throw SettingError("request.continue", "is missing (request.operation is set)");
  } else {
    for (const char* key : {"request.begin", "request.continue", "request.end"})
      if (!r.get(key, "").empty()) throw SettingError(key, "needs request.operation");
  }
  if (!input_is_path_ && !operation_ && !sequence_)
    throw SettingError("request.input_mode",
                       "\"latest\" needs request.operation or request.sequence, to tell a new "
                       "session's first hop and a retried hop apart");

  if (auto events_path = r.get("events.path"); events_path && !events_path->empty()) {
    Events e;
    e.path = (*events_path)[0] == '/' ? *events_path : path_ + "/" + *events_path;
    if (e.path == path_) throw SettingError("events.path", "must differ from path");
    e.session_id = check_body("events.session_id", r.required_source("events.session_id"));
    e.status = check_body("events.status", r.required_source("events.status"));
    if (auto p = r.source("events.phone")) e.phone = check_body("events.phone", *p);
    e.status_values = split_list(r.get("events.status_values", ""));
    events_ = std::move(e);
  } else {
    for (const char* key :
         {"events.session_id", "events.phone", "events.status", "events.status_values"})
      if (!r.get(key, "").empty()) throw SettingError(key, "needs events.path");
  }

  for (const auto* source :
       {&session_id_, &phone_, &input_, service_code_ ? &*service_code_ : nullptr,
        sequence_ ? &*sequence_ : nullptr, operation_ ? &*operation_ : nullptr,
        events_ ? &events_->session_id : nullptr, events_ ? &events_->status : nullptr,
        events_ && events_->phone ? &*events_->phone : nullptr})
    if (source) known_.insert(source->label);
  auth_ = InboundAuth::read(r);
  auth_.require_signed(body_ != Fields::Body::none,
                       {{"request.session_id", &session_id_},
                        {"request.phone", &phone_},
                        {"request.input", &input_},
                        {"request.service_code", service_code_ ? &*service_code_ : nullptr},
                        {"request.sequence", sequence_ ? &*sequence_ : nullptr},
                        {"request.operation", operation_ ? &*operation_ : nullptr},
                        {"events.session_id", events_ ? &events_->session_id : nullptr},
                        {"events.status", events_ ? &events_->status : nullptr},
                        {"events.phone", events_ && events_->phone ? &*events_->phone : nullptr}});

  const std::string format = r.get("reply.format", "text");
  Template::Escape escape = Template::Escape::none;
  if (format == "text") {
    content_type_ = "text/plain; charset=utf-8";
  } else if (format == "json") {
    escape = Template::Escape::json;
    content_type_ = "application/json; charset=utf-8";
  } else if (format == "xml") {
    escape = Template::Escape::xml;
    content_type_ = "application/xml; charset=utf-8";
  } else {
    throw SettingError("reply.format", "must be \"text\", \"json\" or \"xml\"");
  }
  const std::string charset = r.get("reply.charset", "utf-8");
  if (charset != "utf-8" && charset != "utf-16be")
    throw SettingError("reply.charset", "must be \"utf-8\" or \"utf-16be\"");
  utf16_ = charset == "utf-16be";
  if (utf16_)
    content_type_ = content_type_.substr(0, content_type_.find(';')) + "; charset=utf-16be";
  content_type_ = r.get("reply.content_type", content_type_);
  if (content_type_.find_first_of("\r\n") != std::string::npos)
    throw SettingError("reply.content_type", "must be on one line");
  const bool async = !r.get("send.url", "").empty();
  // Her number is never a variable of a reply: the aggregator knows whose session it is.
  const std::set<std::string> vars = {"text", "session_id", "service_code"};
  for (const char* key : {"reply.continue", "reply.end"}) {
    const auto text = r.get(key);
    if (async) {
      if (text && !text->empty())
        throw SettingError(key, "is not used when send.url is set (the screen goes by send.body)");
      continue;
    }
    if (!text || text->empty()) throw SettingError(key, "is missing");
    refuse_number(key, *text, "a reply", kNumber);
    (key == std::string("reply.continue") ? continue_reply_ : end_reply_) =
        Template::compile(key, *text, vars, escape);
  }
  if (!async && (!continue_reply_.uses("text") || !end_reply_.uses("text")))
    throw SettingError(continue_reply_.uses("text") ? "reply.end" : "reply.continue",
                       "must place the screen, {{text}}");
  const std::string ack = r.get("ack.body", "");
  refuse_number("ack.body", ack, "the acknowledgement", kNumber);
  ack_body_ = Template::compile("ack.body", ack, {"session_id", "service_code"}, escape);
  // The acknowledgement is never re-encoded: its Content-Type keeps UTF-8.
  ack_content_type_ = r.get("reply.content_type", media_of(format == "text" ? "text" : format));
  ack_status_ = static_cast<int>(r.integer("ack.status", 200, 200, 299));
  if (async)
    read_send(r);
  else
    for (const auto& key : kSettings)
      if ((key.rfind("send.", 0) == 0 || key.rfind("ack.", 0) == 0) && !r.get(key, "").empty())
        throw SettingError(key, "needs send.url (an asynchronous gateway)");
  if (auto h = r.get("reply.continue_header"); h && !h->empty())
    std::tie(continue_header_name_, continue_header_value_) =
        header_setting("reply.continue_header", *h);
  if (auto h = r.get("reply.end_header"); h && !h->empty())
    std::tie(end_header_name_, end_header_value_) = header_setting("reply.end_header", *h);
  // Asynchronous: the busy answer must not read as an acknowledgement (nothing was stored).
  busy_status_ = static_cast<int>(r.integer("reply.busy_status", 503, async ? 400 : 200, 599));
  busy_text_ = r.get("reply.busy_text", busy_text_);
}

std::string_view HttpUssd::route(std::string_view path) const {
  if (path == path_) return label_;
  if (events_ && path == events_->path) return events_label_;
  return {};
}

std::variant<ussd::Inbound, Rejection> HttpUssd::decode(const ussd::InboundHttp& request) const {
  if (request.method != method_) return Rejection{405, "use " + method_};
  // Authenticate before anything is decoded or stored (SAFETY T1).
  if (auto why = auth_.check(request)) return *why;
  auto parsed = Fields::parse(request, body_, known_);
  if (auto* r = std::get_if<Rejection>(&parsed)) return *r;
  const auto& fields = std::get<Fields>(parsed);
  if (events_ && request.path == events_->path) return decode_event(fields);
  return decode_hop(fields);
}

std::variant<ussd::Inbound, Rejection> HttpUssd::decode_hop(const Fields& f) const {
  ussd::Hop hop;
  hop.text_is_path = input_is_path_;
  std::string phone;
  // In the order Africa's Talking's adapter names them: session, code, number, text.
  for (auto [source, out] :
       {std::pair{&session_id_, &hop.session_id},
        std::pair{service_code_ ? &*service_code_ : nullptr, &hop.service_code},
        std::pair{&phone_, &phone}, std::pair{&input_, &hop.text}}) {
    if (!source) continue;
    auto v = required_field(f, *source);
    if (auto* r = std::get_if<Rejection>(&v)) return *r;
    *out = std::get<std::string>(std::move(v));
  }
  std::string operation;
  if (operation_) {
    auto v = required_field(f, *operation_);
    if (auto* r = std::get_if<Rejection>(&v)) return *r;
    operation = std::get<std::string>(std::move(v));
  }
  if (sequence_) {
    auto v = required_field(f, *sequence_);
    if (auto* r = std::get_if<Rejection>(&v)) return *r;
    const std::string& s = std::get<std::string>(v);
    std::int64_t n = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || p != s.data() + s.size() || n < sequence_first_ ||
        n > sequence_first_ + 100'000)
      return Rejection{400, "field '" + sequence_->label + "' must be a whole number from " +
                                std::to_string(sequence_first_)};
    hop.sequence = n - sequence_first_ + 1;
  }
  if (auto why = check_session_id(session_id_, hop.session_id)) return *why;
  if (common::normalise_msisdn(phone).empty())
    return Rejection{400, "field '" + phone_.label + "' is not a phone number"};
  hop.phone = std::move(phone);
  if (operation_) {
    if (one_of(end_, operation))
      return ussd::Inbound{ussd::SessionEnd{std::move(hop.session_id),
                                            support::lower_ascii(operation), std::move(hop.phone)}};
    const bool begin = one_of(begin_, operation);
    hop.begins = begin;
    if (!begin && !one_of(continue_, operation))
      return Rejection{400, "field '" + operation_->label + "' must be " + either([&] {
                              auto all = begin_;
                              all.insert(all.end(), continue_.begin(), continue_.end());
                              all.insert(all.end(), end_.begin(), end_.end());
                              return all;
                            }())};
    // Only the newest input: on the first hop that is the code she dialled, not an answer.
    if (begin && !input_is_path_) hop.text.clear();
  }
  return ussd::Inbound{std::move(hop)};
}

std::variant<ussd::Inbound, Rejection> HttpUssd::decode_event(const Fields& f) const {
  ussd::SessionEnd end;
  for (auto [source, out] : {std::pair{&events_->session_id, &end.session_id},
                             std::pair{&events_->status, &end.status}}) {
    auto v = required_field(f, *source);
    if (auto* r = std::get_if<Rejection>(&v)) return *r;
    *out = std::get<std::string>(std::move(v));
  }
  auto phone = optional_field(f, events_->phone);
  if (auto* r = std::get_if<Rejection>(&phone)) return *r;
  end.phone = std::get<std::string>(std::move(phone));
  if (auto why = check_session_id(events_->session_id, end.session_id)) return *why;
  if (!events_->status_values.empty()) {
    const auto it =
        std::find(events_->status_values.begin(), events_->status_values.end(), end.status);
    if (it == events_->status_values.end())
      return Rejection{
          400, "field '" + events_->status.label + "' must be " + either(events_->status_values)};
  } else {
    // Any word the aggregator uses, kept only when it is a short word (it goes to the log).
    end.status = support::safe_code(end.status, true, 32, "ended");
  }
  return ussd::Inbound{std::move(end)};
}

ussd::HttpReply HttpUssd::reply(const ussd::ReplyTo& to, bool end, std::string_view text,
                                int status) const {
  ussd::HttpReply r;
  r.status = status;
  r.content_type = content_type_;
  const std::map<std::string, std::string> vars = {{"text", std::string(text)},
                                                   {"session_id", to.session_id},
                                                   {"service_code", to.service_code}};
  r.body = (end ? end_reply_ : continue_reply_).render(vars);
  if (utf16_) r.body = utf16be(r.body);
  const std::string& name = end ? end_header_name_ : continue_header_name_;
  if (!name.empty()) r.headers.emplace_back(name, end ? end_header_value_ : continue_header_value_);
  return r;
}

ussd::HttpReply HttpUssd::encode_reply(const ussd::ReplyTo& to, bool end,
                                       std::string_view text) const {
  return reply(to, end, text, 200);
}

ussd::HttpReply HttpUssd::busy_reply(const ussd::ReplyTo& to) const {
  if (!replies_in_band()) {
    // Nothing was stored and nothing will be sent: the gateway sees a failure and may retry.
    ussd::HttpReply r;
    r.status = busy_status_;
    r.body = busy_text_ + "\n";
    return r;
  }
  return reply(to, true, busy_text_, busy_status_);
}

ussd::HttpReply HttpUssd::ack_reply(const ussd::ReplyTo& to) const {
  ussd::HttpReply r;
  r.status = ack_status_;
  r.content_type = ack_content_type_;
  r.body = ack_body_.render({{"session_id", to.session_id}, {"service_code", to.service_code}});
  return r;
}

sms::HttpCall HttpUssd::build_send(const ussd::AsyncReply& reply) const {
  return send_->build(
      {{"text", reply.text},
       {"session_id", reply.session_id},
       {"op", reply.end ? end_op_ : continue_op_},
       {"phone", reply.to},
       {"phone_digits", reply.to.empty() || reply.to[0] != '+' ? reply.to : reply.to.substr(1)}});
}

sms::SendResult HttpUssd::parse_send(long status, std::string_view body) const {
  return send_->parse(status, body);
}

}  // namespace rabta::adapters::generic
