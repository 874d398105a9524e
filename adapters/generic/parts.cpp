#include "adapters/generic/parts.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <nlohmann/json.hpp>

#include "adapters/common/crypto.hpp"
#include "adapters/sms/support.hpp"

namespace rabta::adapters::generic {

namespace support = sms::support;
using sms::Rejection;

SettingsReader::SettingsReader(const sms::Settings& s, const std::vector<std::string>& known)
    : s_(s) {
  for (const auto& [key, value] : s_)
    if (std::find(known.begin(), known.end(), key) == known.end())
      throw SettingError(key, "is not a setting of kind \"http\" (docs/AGGREGATORS.md)");
}

std::optional<std::string> SettingsReader::get(const std::string& key) const {
  const auto it = s_.find(key);
  if (it == s_.end()) return std::nullopt;
  return it->second;
}

std::string SettingsReader::get(const std::string& key, const std::string& fallback) const {
  return get(key).value_or(fallback);
}

std::string SettingsReader::required(const std::string& key) const {
  auto v = get(key);
  if (!v || v->empty()) throw SettingError(key, "is missing");
  return *v;
}

std::optional<Source> SettingsReader::source(const std::string& key) const {
  auto v = get(key);
  if (!v || v->empty()) return std::nullopt;
  return parse_source(key, *v);
}

Source SettingsReader::required_source(const std::string& key) const {
  return parse_source(key, required(key));
}

std::string SettingsReader::secret(const std::string& key, std::size_t min_size) const {
  auto v = get(key);
  if (!v || v->size() < min_size)
    throw SettingError(key, "is missing or shorter than " + std::to_string(min_size) +
                                " characters (set " + key + "_env or " + key +
                                "_file; `rabta init` creates the file)");
  return *v;
}

std::int64_t SettingsReader::integer(const std::string& key, std::int64_t fallback, std::int64_t lo,
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

void SettingsReader::unused(const std::string& key, const std::string& why) const {
  if (!get(key, "").empty()) throw SettingError(key, why);
}

Hmac Hmac::read(const SettingsReader& r, const std::string& group) {
  Hmac h;
  h.header = r.required(group + ".hmac_header");
  h.secret = r.secret(group + ".hmac_secret");
  const std::string enc = r.get(group + ".hmac_encoding", "hex");
  if (enc != "hex" && enc != "base64")
    throw SettingError(group + ".hmac_encoding", "must be \"hex\" or \"base64\"");
  h.base64 = enc == "base64";
  h.prefix = r.get(group + ".hmac_prefix", "");
  return h;
}

std::string Hmac::sign(std::string_view body, std::string_view with_secret) const {
  return prefix + (base64 ? common::hmac_sha256_base64(with_secret, body)
                          : common::hmac_sha256_hex(with_secret, body));
}

// ---- auth.* ----------------------------------------------------------------------------------

const std::vector<std::string>& InboundAuth::settings() {
  static const std::vector<std::string> keys = {
      "auth.mode",          "auth.key",        "auth.key_query",   "auth.key_header",
      "auth.user",          "auth.password",   "auth.hmac_header", "auth.hmac_secret",
      "auth.hmac_encoding", "auth.hmac_prefix"};
  return keys;
}

InboundAuth InboundAuth::read(const SettingsReader& r) {
  InboundAuth a;
  const std::string mode = r.required("auth.mode");
  if (mode == "key") {
    a.mode = Mode::key;
    a.key_query = r.get("auth.key_query", "");
    a.key_header = support::lower_ascii(r.get("auth.key_header", ""));
    if (a.key_query.empty() && a.key_header.empty())
      throw SettingError("auth.key_query",
                         "auth.mode \"key\" needs auth.key_query or auth.key_header");
    a.key = r.secret("auth.key");
  } else if (mode == "basic") {
    a.mode = Mode::basic;
    a.user = r.required("auth.user");
    a.password = r.secret("auth.password");
  } else if (mode == "hmac") {
    a.mode = Mode::hmac;
    a.hmac = Hmac::read(r, "auth");
    a.hmac.header = support::lower_ascii(a.hmac.header);
  } else if (mode == "none") {
    a.mode = Mode::none;  // the configuration requires allow_from then
  } else {
    throw SettingError("auth.mode", "must be \"key\", \"basic\", \"hmac\" or \"none\"");
  }
  return a;
}

void InboundAuth::require_signed(
    bool has_body, const std::vector<std::pair<std::string, const Source*>>& sources) const {
  if (mode != Mode::hmac) return;
  if (!has_body)
    throw SettingError("auth.mode",
                       "\"hmac\" signs the body, and these calls have none "
                       "(use \"key\" or \"basic\")");
  for (const auto& [setting, source] : sources)
    if (source && source->where != Source::Where::form && source->where != Source::Where::json)
      throw SettingError(setting, "is not in the body, which alone auth.mode \"hmac\" signs");
}

std::optional<Rejection> InboundAuth::check(const sms::InboundHttp& request) const {
  switch (mode) {
    case Mode::none:
      return std::nullopt;
    case Mode::key: {
      // The header, when the request carries it, alone counts (a proxy's log never sees it).
      if (!key_header.empty())
        for (const auto& [n, v] : request.headers)
          if (n == key_header)
            return common::constant_time_equal(v, key)
                       ? std::nullopt
                       : std::optional<Rejection>(Rejection{403, "missing or wrong key"});
      if (!key_query.empty())
        if (auto fields = support::parse_fields(request.query))
          if (const std::string* k = common::find_field(*fields, key_query);
              k && common::constant_time_equal(*k, key))
            return std::nullopt;
      return Rejection{403, "missing or wrong key"};
    }
    case Mode::basic: {
      const std::string_view h = request.header("authorization");
      if (h.size() > 6 && support::lower_ascii(h.substr(0, 6)) == "basic ")
        if (auto decoded = common::base64_decode(h.substr(6))) {
          const auto colon = decoded->find(':');
          if (colon != std::string::npos) {
            // Both compared, whichever is wrong: the time says nothing of which one.
            const bool user_ok = common::constant_time_equal(decoded->substr(0, colon), user);
            const bool password_ok =
                common::constant_time_equal(decoded->substr(colon + 1), password);
            if (user_ok && password_ok) return std::nullopt;
          }
        }
      return Rejection{403, "missing or wrong credentials"};
    }
    case Mode::hmac: {
      const std::string_view got = request.header(hmac.header);
      if (!got.empty() && common::constant_time_equal(got, hmac.sign(request.body)))
        return std::nullopt;
      return Rejection{403, "missing or wrong signature"};
    }
  }
  return Rejection{403, "missing or wrong key"};
}

void InboundAuth::sign(std::vector<std::pair<std::string, std::string>>& headers,
                       std::vector<common::FormField>& query, const std::string& body,
                       bool wrong) const {
  const std::string bad = "not-the-secret-0000000000";
  switch (mode) {
    case Mode::none:
      break;
    case Mode::key:
      if (!key_header.empty())
        headers.emplace_back(key_header, wrong ? bad : key);
      else
        query.push_back({key_query, wrong ? bad : key});
      break;
    case Mode::basic:
      headers.emplace_back("Authorization",
                           "Basic " + common::base64_encode(user + ":" + (wrong ? bad : password)));
      break;
    case Mode::hmac: {
      headers.emplace_back(hmac.header, hmac.sign(body, wrong ? bad : hmac.secret));
      break;
    }
  }
}

// ---- send.* ----------------------------------------------------------------------------------

const std::vector<std::string>& SendCall::settings() {
  static const std::vector<std::string> keys = {"send.url",
                                                "send.method",
                                                "send.format",
                                                "send.content_type",
                                                "send.body",
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
                                                "send.retry_values",
                                                "send.id_field"};
  return keys;
}

namespace {

std::string pointer_setting(const SettingsReader& r, const std::string& key) {
  std::string p = r.get(key, "");
  if (p.empty()) return p;
  if (p[0] != '/') p = "/" + p;
  try {
    (void)nlohmann::json::json_pointer(p);
  } catch (const nlohmann::json::exception&) {
    throw SettingError(key, "is not a JSON pointer");
  }
  return p;
}

}  // namespace

SendCall SendCall::read(const SettingsReader& r, std::set<std::string> vars,
                        const std::vector<std::string>& number_vars, bool number_in_url) {
  SendCall c;
  vars.insert({"secret", "account"});
  const std::string url = r.required("send.url");
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
    throw SettingError("send.url", "must be an http:// or https:// URL");
  if (!number_in_url)
    refuse_number("send.url", url, "the URL (proxies and logs keep URLs)", number_vars);
  // Only a GET send (number_in_url) places the text and her number in its URL: the gateway's
  // API has nowhere else for them.
  std::set<std::string> url_vars = vars;
  if (!number_in_url) {
    url_vars.erase("text");
    for (const auto& v : number_vars) url_vars.erase(v);
  }
  c.url = Template::compile("send.url", url, url_vars, Template::Escape::url);
  c.method = r.get("send.method", "POST");
  if (c.method != "POST" && c.method != "PUT" && (c.method != "GET" || !number_in_url))
    throw SettingError("send.method", number_in_url ? "must be \"POST\", \"PUT\" or \"GET\""
                                                    : "must be \"POST\" or \"PUT\"");
  const std::string format = r.get("send.format", c.method == "GET" ? "text" : "json");
  const Template::Escape escape = escape_of("send.format", format);
  c.content_type = r.get("send.content_type", media_of(format));
  if (c.content_type.find_first_of("\r\n") != std::string::npos)
    throw SettingError("send.content_type", "must be on one line");
  c.secret = r.get("send.secret", "");
  c.account = r.get("send.account", "");
  const std::string body = r.get("send.body", "");
  if (c.method == "GET" && !body.empty())
    throw SettingError("send.body", "a GET has no body: place the values in send.url");
  if (c.method != "GET" && body.empty()) throw SettingError("send.body", "is missing");
  c.body = Template::compile("send.body", body, vars, escape);
  if (!c.body.uses("text") && !c.url.uses("text"))
    throw SettingError(c.method == "GET" ? "send.url" : "send.body",
                       "must place the text, {{text}}");
  int numbers = 0;
  for (const auto& v : number_vars) numbers += c.body.count(v) + c.url.count(v);
  if (numbers > 1) {
    bool in_url = false;
    for (const auto& v : number_vars) in_url = in_url || c.url.uses(v);
    throw SettingError(in_url ? "send.url" : "send.body",
                       "may place her number once only (in send.url or send.body)");
  }
  if ((c.body.uses("secret") || c.url.uses("secret")) && c.secret.empty())
    throw SettingError("send.secret", "is missing ({{secret}} is placed)");
  const std::string auth = r.get("send.auth", "none");
  if (auth == "none") {
    c.auth = Auth::none;
  } else if (auth == "basic") {
    c.auth = Auth::basic;
    c.user = r.required("send.user");
    c.password = r.secret("send.password", 1);
  } else if (auth == "bearer") {
    c.auth = Auth::bearer;
    c.token = r.secret("send.token", 1);
  } else if (auth == "query_key") {
    c.auth = Auth::query_key;
    c.key_name = r.required("send.key_name");
    c.key = r.secret("send.key", 1);
  } else if (auth == "hmac") {
    c.auth = Auth::hmac;
    c.hmac = Hmac::read(r, "send");
  } else {
    throw SettingError("send.auth",
                       "must be \"none\", \"basic\", \"bearer\", \"query_key\" or \"hmac\"");
  }
  if (c.auth == Auth::none && !c.body.uses("secret") && !c.url.uses("secret"))
    throw SettingError("send.auth",
                       "is \"none\" and no {{secret}} is placed: the gateway could not tell "
                       "rabta's calls from anyone's");
  c.success_field = pointer_setting(r, "send.success_field");
  if (!c.success_field.empty()) {
    c.success_values = split_list(r.get("send.success_values", ""));
    if (c.success_values.empty())
      throw SettingError("send.success_values", "is missing (send.success_field is set)");
    c.retry_values = split_list(r.get("send.retry_values", ""));
  } else {
    r.unused("send.retry_values", "needs send.success_field");
  }
  c.id_field = pointer_setting(r, "send.id_field");
  return c;
}

sms::HttpCall SendCall::build(std::map<std::string, std::string> vars) const {
  vars["secret"] = secret;
  vars["account"] = account;
  sms::HttpCall call;
  call.method = method;
  call.url = url.render(vars);
  call.body = body.render(vars);
  if (method != "GET") call.headers.emplace_back("Content-Type", content_type);
  switch (auth) {
    case Auth::none:
      break;
    case Auth::basic:
      call.basic_user = user;
      call.basic_password = password;
      break;
    case Auth::bearer:
      call.headers.emplace_back("Authorization", "Bearer " + token);
      break;
    case Auth::query_key:
      call.url += (call.url.find('?') == std::string::npos ? "?" : "&") +
                  common::percent_encode(key_name) + "=" + common::percent_encode(key);
      break;
    case Auth::hmac:
      call.headers.emplace_back(hmac.header, hmac.sign(call.body));
      break;
  }
  return call;
}

sms::SendResult SendCall::parse(long status, std::string_view body_text) const {
  // curl's message may quote the URL, and a GET send carries her number there: not repeated.
  if (status == 0) return support::retry("transport error");
  if (status == 429 || status >= 500) return support::retry("http " + std::to_string(status));
  if (status < 200 || status > 299) return support::permanent("http " + std::to_string(status));
  if (success_field.empty() && id_field.empty()) return support::sent("");
  const auto j = nlohmann::json::parse(body_text, nullptr, /*allow_exceptions=*/false);
  const auto text_at = [&j](const std::string& pointer) -> std::optional<std::string> {
    if (j.is_discarded() || !j.is_structured()) return std::nullopt;
    const nlohmann::json::json_pointer p(pointer);
    if (!j.contains(p)) return std::nullopt;
    const auto& v = j.at(p);
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number_integer() || v.is_number_unsigned()) return v.dump();
    return std::nullopt;
  };
  if (!success_field.empty()) {
    const auto code = text_at(success_field);
    if (!code)
      return support::permanent("http " + std::to_string(status) + " without " +
                                success_field.substr(1));
    if (std::find(retry_values.begin(), retry_values.end(), *code) != retry_values.end())
      return support::retry("the gateway answered " + status_word(*code));
    if (std::find(success_values.begin(), success_values.end(), *code) == success_values.end())
      return support::permanent("the gateway answered " + status_word(*code));
  }
  std::string id;
  if (!id_field.empty()) id = text_at(id_field).value_or("");
  // The id goes to the row and matches delivery reports: kept only when plain.
  if (!id.empty() && plain_code(id) != id) id.clear();
  return support::sent(id);
}

std::string SendCall::success_answer() const {
  nlohmann::json j = nlohmann::json::object();
  if (!success_field.empty())
    j[nlohmann::json::json_pointer(success_field)] = success_values.front();
  if (!id_field.empty()) j[nlohmann::json::json_pointer(id_field)] = "emulated-1";
  return j.dump();
}

// ---- helpers ---------------------------------------------------------------------------------

void refuse_number(const std::string& key, const std::string& text, const std::string& what,
                   const std::vector<std::string>& number_vars) {
  for (const auto& v : number_vars)
    for (const std::string& form : {"{{" + v + "}}", "{{ " + v + " }}"})
      if (text.find(form) != std::string::npos)
        throw SettingError(key, "her number may not appear in " + what +
                                    " (only once, in the field the gateway's API requires)");
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

bool one_of(const std::vector<std::string>& words, std::string_view value) {
  const std::string v = support::lower_ascii(value);
  return std::any_of(words.begin(), words.end(),
                     [&](const std::string& w) { return support::lower_ascii(w) == v; });
}

std::string either(const std::vector<std::string>& words) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i)
    out += (i == 0 ? "" : i + 1 == words.size() ? " or " : ", ") + words[i];
  return out;
}

std::string plain_code(std::string_view v) {
  if (v.empty() || v.size() > 64) return "unexpected";
  for (const char c : v)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      return "unexpected";
  return std::string(v);
}

std::string status_word(std::string_view v) {
  return v.size() <= 8 ? plain_code(v) : std::string("unexpected");
}

}  // namespace rabta::adapters::generic
