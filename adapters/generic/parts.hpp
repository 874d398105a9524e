// What the configurable USSD and SMS adapters (kind = "http") share: reading settings with the
// unknown ones refused by name, the authentication of the gateway's calls (auth.*), the call to
// the gateway's API (send.*), and the small helpers both use. Pure; no value read here ever
// goes into a message.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "adapters/generic/fields.hpp"
#include "adapters/sms/sms_adapter.hpp"

namespace rabta::adapters::generic {

// Reads a kind's settings; the constructor refuses a setting not in `known`.
class SettingsReader {
 public:
  SettingsReader(const sms::Settings& settings, const std::vector<std::string>& known);
  std::optional<std::string> get(const std::string& key) const;
  std::string get(const std::string& key, const std::string& fallback) const;
  std::string required(const std::string& key) const;  // missing or empty: SettingError
  std::optional<Source> source(const std::string& key) const;
  Source required_source(const std::string& key) const;
  // A secret: at least 16 characters, or a SettingError that says how to provide it.
  std::string secret(const std::string& key, std::size_t min_size = 16) const;
  std::int64_t integer(const std::string& key, std::int64_t fallback, std::int64_t lo,
                       std::int64_t hi) const;
  // A setting that must not be set (it would be ignored): SettingError(key, why).
  void unused(const std::string& key, const std::string& why) const;

 private:
  const sms::Settings& s_;
};

// An HMAC-SHA256 of a body in a header: `<group>.hmac_header`, `_secret`, `_encoding` (hex or
// base64) and `_prefix` (e.g. "sha256="), for the gateway's calls (auth) or rabta's (send).
struct Hmac {
  std::string header, secret, prefix;
  bool base64 = false;
  static Hmac read(const SettingsReader& r, const std::string& group);
  // The header's value for `body` (with `secret`, or another one to sign wrongly).
  std::string sign(std::string_view body) const { return sign(body, secret); }
  std::string sign(std::string_view body, std::string_view with_secret) const;
};

// Who may call the adapter's endpoints (auth.*), checked before anything is read.
struct InboundAuth {
  enum class Mode { key, basic, hmac, none };
  Mode mode = Mode::key;
  std::string key_query, key_header, key;
  std::string user, password;
  Hmac hmac;  // header name lower-cased

  static const std::vector<std::string>& settings();
  static InboundAuth read(const SettingsReader& r);
  // An HMAC signs the body only: refuses a body-less request or a field read from elsewhere
  // (its value could be changed under a valid signature). `sources`: setting -> source.
  void require_signed(bool has_body,
                      const std::vector<std::pair<std::string, const Source*>>& sources) const;
  // nullopt when the request carries the credentials; else 403 with the reason.
  std::optional<sms::Rejection> check(const sms::InboundHttp& request) const;
  // What a caller with these credentials adds to a request (the emulator), or wrong ones.
  void sign(std::vector<std::pair<std::string, std::string>>& headers,
            std::vector<common::FormField>& query, const std::string& body, bool wrong) const;
};

// A call to the gateway's API (send.*): the body a template, her number in it once at most.
struct SendCall {
  enum class Auth { none, basic, bearer, query_key, hmac };
  std::string method = "POST", content_type;
  Template url, body;
  Auth auth = Auth::none;
  std::string user, password, token, key_name, key;
  Hmac hmac;
  std::string secret, account;  // {{secret}}, {{account}}
  std::string success_field;    // JSON pointer; "" = any 2xx is accepted
  std::vector<std::string> success_values;
  std::vector<std::string> retry_values;  // values of the success field that mean "try again"
  std::string id_field;  // JSON pointer to the gateway's id of what it accepted ("" = none)

  static const std::vector<std::string>& settings();
  // `vars`: the variables the kind gives (secret and account are added); `number_vars`: the
  // ones that hold her number, placed once at most in the body, or (`number_in_url`) in the URL.
  static SendCall read(const SettingsReader& r, std::set<std::string> vars,
                       const std::vector<std::string>& number_vars, bool number_in_url);
  sms::HttpCall build(std::map<std::string, std::string> vars) const;
  // 2xx (and the success field, when set) = sent; 429, 5xx and no answer = retry; else
  // permanent. The error names the status or the gateway's status word only.
  sms::SendResult parse(long status, std::string_view body) const;
  // What the gateway answers a call it accepts (the emulator).
  std::string success_answer() const;
};

// Her number may be placed only where the gateway's API requires it.
void refuse_number(const std::string& key, const std::string& text, const std::string& what,
                   const std::vector<std::string>& number_vars);
Template::Escape escape_of(const std::string& key, const std::string& format);
std::string media_of(const std::string& format);
// "Name: value" -> {"Name", "value"}.
std::pair<std::string, std::string> header_setting(const std::string& key, const std::string& line);
// A value the gateway requires: absent is a missing field; an unreadable one is passed on.
std::variant<std::string, sms::Rejection> required_field(const Fields& f, const Source& s);
std::variant<std::string, sms::Rejection> optional_field(const Fields& f,
                                                         const std::optional<Source>& s);
bool one_of(const std::vector<std::string>& words, std::string_view value);  // any case
std::string either(const std::vector<std::string>& words);                   // "a, b or c"
// A gateway's id of a message, kept only when plain (letters, digits, '-', '_', '.'; 1..64).
std::string plain_code(std::string_view v);
// A gateway's status word or error code for the log and the row: plain and at most 8 characters,
// so that nothing as long as a phone number (her number echoed back) gets there; else
// "unexpected".
std::string status_word(std::string_view v);

}  // namespace rabta::adapters::generic
