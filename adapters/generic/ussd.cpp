#include "adapters/generic/ussd.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <nlohmann/json.hpp>
#include <set>

#include "adapters/common/crypto.hpp"
#include "adapters/common/phone.hpp"
#include "adapters/sms/support.hpp"

namespace rabta::adapters::generic {

namespace support = sms::support;
using ussd::Rejection;

namespace {

const std::vector<std::string> kSettings = {
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
    "auth.mode",
    "auth.key",
    "auth.key_query",
    "auth.key_header",
    "auth.user",
    "auth.password",
    "auth.hmac_header",
    "auth.hmac_secret",
    "auth.hmac_encoding",
    "auth.hmac_prefix",
    "reply.format",
    "reply.content_type",
    "reply.charset",
    "reply.continue",
    "reply.end",
    "reply.continue_header",
    "reply.end_header",
    "reply.busy_status",
    "reply.busy_text",
    "send.url",
    "send.method",
    "send.format",
    "send.content_type",
    "send.body",
    "send.continue_op",
    "send.end_op",
    "send.auth",
    "send.user",
    "send.password",
    "send.token",
    "send.key_name",
    "send.key",
    "send.hmac_header",
    "send.hmac_secret",
    "send.hmac_encoding",
    "send.hmac_prefix",
    "send.secret",
    "send.account",
    "send.success_field",
    "send.success_values",
    "send.deadline_ms",
    "ack.status",
    "ack.body",
};

// Reads settings and remembers which ones it read, so that an unknown one is refused by name.
class Reader {
 public:
  explicit Reader(const sms::Settings& s) : s_(s) {
    for (const auto& [key, value] : s_)
      if (std::find(kSettings.begin(), kSettings.end(), key) == kSettings.end())
        throw SettingError(key, "is not a setting of kind \"http\" (docs/AGGREGATORS.md)");
  }
  std::optional<std::string> get(const std::string& key) const {
    const auto it = s_.find(key);
    if (it == s_.end()) return std::nullopt;
    return it->second;
  }
  std::string get(const std::string& key, const std::string& fallback) const {
    return get(key).value_or(fallback);
  }
  std::string required(const std::string& key) const {
    auto v = get(key);
    if (!v || v->empty()) throw SettingError(key, "is missing");
    return *v;
  }
  std::optional<Source> source(const std::string& key) const {
    auto v = get(key);
    if (!v || v->empty()) return std::nullopt;
    return parse_source(key, *v);
  }
  Source required_source(const std::string& key) const { return parse_source(key, required(key)); }
  std::string secret(const std::string& key) const {
    auto v = get(key);
    if (!v || v->size() < 16)
      throw SettingError(key, "is missing or shorter than 16 characters (set " + key + "_env or " +
                                  key + "_file; `rabta init` creates the file)");
    return *v;
  }
  std::int64_t integer(const std::string& key, std::int64_t fallback, std::int64_t lo,
                       std::int64_t hi) const {
    auto v = get(key);
    if (!v) return fallback;
    std::int64_t n = 0;
    const auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc() || p != v->data() + v->size() || n < lo || n > hi)
      throw SettingError(
          key, "must be a whole number from " + std::to_string(lo) + " to " + std::to_string(hi));
    return n;
  }

 private:
  const sms::Settings& s_;
};

bool one_of(const std::vector<std::string>& words, std::string_view value) {
  const std::string v = support::lower_ascii(value);
  return std::any_of(words.begin(), words.end(),
                     [&](const std::string& w) { return support::lower_ascii(w) == v; });
}

// "Incomplete, Success or Failed".
std::string either(const std::vector<std::string>& words) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i)
    out += (i == 0 ? "" : i + 1 == words.size() ? " or " : ", ") + words[i];
  return out;
}

// "Name: value" -> {"Name", "value"}.
std::pair<std::string, std::string> header_setting(const std::string& key,
                                                   const std::string& line) {
  const auto colon = line.find(':');
  if (colon == std::string::npos || colon == 0)
    throw SettingError(key, "must be \"Header-Name: value\"");
  std::string value = line.substr(colon + 1);
  while (!value.empty() && value.front() == ' ') value.erase(0, 1);
  const std::string name = line.substr(0, colon);
  if (name.find_first_of(" \t\r\n") != std::string::npos ||
      value.find_first_of("\r\n") != std::string::npos)
    throw SettingError(key, "must be \"Header-Name: value\" on one line");
  return {name, value};
}

// A value the gateway requires: absent is a missing field, an error is passed on.
std::variant<std::string, Rejection> required_field(const Fields& f, const Source& s) {
  auto v = f.get(s);
  if (auto* r = std::get_if<Rejection>(&v)) return *r;
  auto& got = std::get<std::optional<std::string>>(v);
  if (!got) return support::missing_field(s.label);
  return *std::move(got);
}

std::variant<std::string, Rejection> optional_field(const Fields& f,
                                                    const std::optional<Source>& s) {
  if (!s) return std::string();
  auto v = f.get(*s);
  if (auto* r = std::get_if<Rejection>(&v)) return *r;
  return std::get<std::optional<std::string>>(v).value_or("");
}

std::optional<Rejection> check_session_id(const Source& s, const std::string& id) {
  if (id.empty() || id.size() > 128)
    return Rejection{400, "field '" + s.label + "' must be 1 to 128 characters"};
  return std::nullopt;
}

// Her number may be placed only where the gateway's send call requires it (send.body).
void refuse_phone(const std::string& key, const std::string& text, const std::string& what) {
  for (const char* v : {"phone", "phone_digits"})
    for (const std::string& form : {std::string("{{") + v + "}}", std::string("{{ ") + v + " }}"})
      if (text.find(form) != std::string::npos)
        throw SettingError(key, "her number may not appear in " + what +
                                    " (only once, in send.body, where the gateway requires it)");
}

Template::Escape escape_of(const std::string& key, const std::string& format) {
  if (format == "json") return Template::Escape::json;
  if (format == "xml") return Template::Escape::xml;
  if (format == "form") return Template::Escape::url;
  if (format == "text") return Template::Escape::none;
  throw SettingError(key, "must be \"json\", \"form\", \"xml\" or \"text\"");
}

std::string media_of(const std::string& format) {
  if (format == "json") return "application/json; charset=utf-8";
  if (format == "xml") return "application/xml; charset=utf-8";
  if (format == "form") return "application/x-www-form-urlencoded";
  return "text/plain; charset=utf-8";
}

// A gateway's status word kept only when it is short and plain (it goes to the log and the row).
std::string plain_code(std::string_view v) {
  if (v.empty() || v.size() > 32) return "unexpected";
  for (const char c : v)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      return "unexpected";
  return std::string(v);
}

}  // namespace

const std::vector<std::string>& HttpUssd::setting_names() {
  return kSettings;
}

void HttpUssd::read_send(const void* reader) {
  const Reader& r = *static_cast<const Reader*>(reader);
  if (send_url_.rfind("http://", 0) != 0 && send_url_.rfind("https://", 0) != 0)
    throw SettingError("send.url", "must be an http:// or https:// URL");
  refuse_phone("send.url", send_url_, "the URL (proxies and logs keep URLs)");
  send_url_template_ = Template::compile("send.url", send_url_, {"session_id", "service_code"},
                                         Template::Escape::url);
  send_method_ = r.get("send.method", "POST");
  if (send_method_ != "POST" && send_method_ != "PUT")
    throw SettingError("send.method", "must be \"POST\" or \"PUT\"");
  const std::string format = r.get("send.format", "json");
  const Template::Escape escape = escape_of("send.format", format);
  send_content_type_ = r.get("send.content_type", media_of(format));
  if (send_content_type_.find_first_of("\r\n") != std::string::npos)
    throw SettingError("send.content_type", "must be on one line");
  continue_op_ = r.get("send.continue_op", "");
  end_op_ = r.get("send.end_op", "");
  send_secret_ = r.get("send.secret", "");
  send_account_ = r.get("send.account", "");
  send_body_ = Template::compile(
      "send.body", r.required("send.body"),
      {"text", "session_id", "service_code", "op", "phone", "phone_digits", "secret", "account"},
      escape);
  if (!send_body_.uses("text")) throw SettingError("send.body", "must place the screen, {{text}}");
  if (send_body_.count("phone") + send_body_.count("phone_digits") > 1)
    throw SettingError("send.body", "may place her number once only");
  if (!send_body_.uses("op"))
    throw SettingError("send.body", "must place {{op}}: whether the screen continues or ends");
  if (continue_op_.empty() || end_op_.empty())
    throw SettingError(continue_op_.empty() ? "send.continue_op" : "send.end_op",
                       "is missing ({{op}} is in send.body)");
  if (send_body_.uses("secret") && send_secret_.empty())
    throw SettingError("send.secret", "is missing ({{secret}} is in send.body)");
  const std::string auth = r.get("send.auth", "none");
  if (auth == "none") {
    send_auth_ = SendAuth::none;
  } else if (auth == "basic") {
    send_auth_ = SendAuth::basic;
    send_user_ = r.required("send.user");
    send_password_ = r.secret("send.password");
  } else if (auth == "bearer") {
    send_auth_ = SendAuth::bearer;
    send_token_ = r.secret("send.token");
  } else if (auth == "query_key") {
    send_auth_ = SendAuth::query_key;
    send_key_name_ = r.required("send.key_name");
    send_key_ = r.secret("send.key");
  } else if (auth == "hmac") {
    send_auth_ = SendAuth::hmac;
    send_hmac_header_ = r.required("send.hmac_header");
    send_hmac_secret_ = r.secret("send.hmac_secret");
    const std::string enc = r.get("send.hmac_encoding", "hex");
    if (enc != "hex" && enc != "base64")
      throw SettingError("send.hmac_encoding", "must be \"hex\" or \"base64\"");
    send_hmac_base64_ = enc == "base64";
    send_hmac_prefix_ = r.get("send.hmac_prefix", "");
  } else {
    throw SettingError("send.auth",
                       "must be \"none\", \"basic\", \"bearer\", \"query_key\" or \"hmac\"");
  }
  if (send_auth_ == SendAuth::none && !send_body_.uses("secret"))
    throw SettingError("send.auth",
                       "is \"none\" and send.body places no {{secret}}: the "
                       "gateway could not tell rabta's calls from anyone's");
  success_field_ = r.get("send.success_field", "");
  if (!success_field_.empty()) {
    if (success_field_[0] != '/') success_field_ = "/" + success_field_;
    try {
      (void)nlohmann::json::json_pointer(success_field_);
    } catch (const nlohmann::json::exception&) {
      throw SettingError("send.success_field", "is not a JSON pointer");
    }
    success_values_ = split_list(r.get("send.success_values", ""));
    if (success_values_.empty())
      throw SettingError("send.success_values", "is missing (send.success_field is set)");
  }
  deadline_ = std::chrono::milliseconds(r.integer("send.deadline_ms", 10'000, 1'000, 120'000));
}

HttpUssd::HttpUssd(std::string name, const sms::Settings& settings) : name_(std::move(name)) {
  const Reader r(settings);
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

  const std::string auth = r.required("auth.mode");
  if (auth == "key") {
    auth_ = Auth::key;
    key_query_ = r.get("auth.key_query", "");
    key_header_ = support::lower_ascii(r.get("auth.key_header", ""));
    if (key_query_.empty() && key_header_.empty())
      throw SettingError("auth.key_query",
                         "auth.mode \"key\" needs auth.key_query or "
                         "auth.key_header");
    key_ = r.secret("auth.key");
  } else if (auth == "basic") {
    auth_ = Auth::basic;
    user_ = r.required("auth.user");
    password_ = r.secret("auth.password");
  } else if (auth == "hmac") {
    auth_ = Auth::hmac;
    hmac_header_ = support::lower_ascii(r.required("auth.hmac_header"));
    hmac_secret_ = r.secret("auth.hmac_secret");
    const std::string enc = r.get("auth.hmac_encoding", "hex");
    if (enc != "hex" && enc != "base64")
      throw SettingError("auth.hmac_encoding", "must be \"hex\" or \"base64\"");
    hmac_base64_ = enc == "base64";
    hmac_prefix_ = r.get("auth.hmac_prefix", "");
  } else if (auth == "none") {
    auth_ = Auth::none;  // the configuration requires allow_from then
  } else {
    throw SettingError("auth.mode", "must be \"key\", \"basic\", \"hmac\" or \"none\"");
  }

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
  send_url_ = r.get("send.url", "");
  const bool async = !send_url_.empty();
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
    refuse_phone(key, *text, "a reply");
    (key == std::string("reply.continue") ? continue_reply_ : end_reply_) =
        Template::compile(key, *text, vars, escape);
  }
  if (!async && (!continue_reply_.uses("text") || !end_reply_.uses("text")))
    throw SettingError(continue_reply_.uses("text") ? "reply.end" : "reply.continue",
                       "must place the screen, {{text}}");
  const std::string ack = r.get("ack.body", "");
  refuse_phone("ack.body", ack, "the acknowledgement");
  ack_body_ = Template::compile("ack.body", ack, {"session_id", "service_code"}, escape);
  ack_status_ = static_cast<int>(r.integer("ack.status", 200, 200, 299));
  if (async)
    read_send(&r);
  else
    for (const auto& key : kSettings)
      if ((key.rfind("send.", 0) == 0 || key.rfind("ack.", 0) == 0) && !r.get(key, "").empty())
        throw SettingError(key, "needs send.url (an asynchronous gateway)");
  if (auto h = r.get("reply.continue_header"); h && !h->empty())
    std::tie(continue_header_name_, continue_header_value_) =
        header_setting("reply.continue_header", *h);
  if (auto h = r.get("reply.end_header"); h && !h->empty())
    std::tie(end_header_name_, end_header_value_) = header_setting("reply.end_header", *h);
  busy_status_ = static_cast<int>(r.integer("reply.busy_status", 503, 200, 599));
  busy_text_ = r.get("reply.busy_text", busy_text_);
}

std::string_view HttpUssd::route(std::string_view path) const {
  if (path == path_) return label_;
  if (events_ && path == events_->path) return events_label_;
  return {};
}

std::optional<Rejection> HttpUssd::authenticate(const ussd::InboundHttp& request) const {
  switch (auth_) {
    case Auth::none:
      return std::nullopt;
    case Auth::key: {
      // The header, when the request carries it, alone counts (a proxy's log never sees it).
      if (!key_header_.empty()) {
        for (const auto& [n, v] : request.headers)
          if (n == key_header_)
            return common::constant_time_equal(v, key_)
                       ? std::nullopt
                       : std::optional<Rejection>(Rejection{403, "missing or wrong key"});
      }
      if (!key_query_.empty()) {
        if (auto fields = support::parse_fields(request.query))
          if (const std::string* k = common::find_field(*fields, key_query_);
              k && common::constant_time_equal(*k, key_))
            return std::nullopt;
      }
      return Rejection{403, "missing or wrong key"};
    }
    case Auth::basic: {
      const std::string_view h = request.header("authorization");
      if (h.size() > 6 && support::lower_ascii(h.substr(0, 6)) == "basic ") {
        if (auto decoded = common::base64_decode(h.substr(6))) {
          const auto colon = decoded->find(':');
          if (colon != std::string::npos &&
              common::constant_time_equal(decoded->substr(0, colon), user_) &
                  common::constant_time_equal(decoded->substr(colon + 1), password_))
            return std::nullopt;
        }
      }
      return Rejection{403, "missing or wrong credentials"};
    }
    case Auth::hmac: {
      const std::string expected =
          hmac_prefix_ + (hmac_base64_ ? common::hmac_sha256_base64(hmac_secret_, request.body)
                                       : common::hmac_sha256_hex(hmac_secret_, request.body));
      const std::string_view got = request.header(hmac_header_);
      if (!got.empty() && common::constant_time_equal(got, expected)) return std::nullopt;
      return Rejection{403, "missing or wrong signature"};
    }
  }
  return Rejection{403, "missing or wrong key"};
}

std::variant<ussd::Inbound, Rejection> HttpUssd::decode(const ussd::InboundHttp& request) const {
  if (request.method != method_) return Rejection{405, "use " + method_};
  // Authenticate before anything is decoded or stored (SAFETY T1).
  if (auto why = authenticate(request)) return *why;
  auto parsed = Fields::parse(request, body_);
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
  r.content_type = content_type_;
  r.body = ack_body_.render({{"session_id", to.session_id}, {"service_code", to.service_code}});
  return r;
}

sms::HttpCall HttpUssd::build_send(const ussd::AsyncReply& reply) const {
  const std::map<std::string, std::string> vars = {
      {"text", reply.text},
      {"session_id", reply.session_id},
      {"service_code", reply.service_code},
      {"op", reply.end ? end_op_ : continue_op_},
      {"phone", reply.to},
      {"phone_digits", reply.to.empty() || reply.to[0] != '+' ? reply.to : reply.to.substr(1)},
      {"secret", send_secret_},
      {"account", send_account_}};
  sms::HttpCall call;
  call.method = send_method_;
  call.url = send_url_template_.render(vars);
  call.body = send_body_.render(vars);
  call.headers.emplace_back("Content-Type", send_content_type_);
  switch (send_auth_) {
    case SendAuth::none:
      break;
    case SendAuth::basic:
      call.basic_user = send_user_;
      call.basic_password = send_password_;
      break;
    case SendAuth::bearer:
      call.headers.emplace_back("Authorization", "Bearer " + send_token_);
      break;
    case SendAuth::query_key:
      call.url += (call.url.find('?') == std::string::npos ? "?" : "&") +
                  common::percent_encode(send_key_name_) + "=" + common::percent_encode(send_key_);
      break;
    case SendAuth::hmac:
      call.headers.emplace_back(
          send_hmac_header_,
          send_hmac_prefix_ + (send_hmac_base64_
                                   ? common::hmac_sha256_base64(send_hmac_secret_, call.body)
                                   : common::hmac_sha256_hex(send_hmac_secret_, call.body)));
      break;
  }
  return call;
}

sms::SendResult HttpUssd::parse_send(long status, std::string_view body) const {
  if (status == 0) {
    std::string m(body.substr(0, body.find('?')));  // never a URL's query (a key may be there)
    if (m.size() > 200) m.resize(200);
    return support::retry("transport error: " + m);
  }
  if (status == 429 || status >= 500) return support::retry("http " + std::to_string(status));
  if (status < 200 || status > 299) return support::permanent("http " + std::to_string(status));
  if (success_field_.empty()) return support::sent("");
  const auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  const nlohmann::json::json_pointer pointer(success_field_);
  if (j.is_discarded() || !j.is_object() || !j.contains(pointer) || !j.at(pointer).is_string())
    return support::permanent("http " + std::to_string(status) + " without " +
                              success_field_.substr(1));
  const std::string code = j.at(pointer).get<std::string>();
  if (std::find(success_values_.begin(), success_values_.end(), code) != success_values_.end())
    return support::sent("");
  return support::permanent("the gateway answered " + plain_code(code));
}

}  // namespace rabta::adapters::generic
