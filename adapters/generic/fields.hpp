// The two building blocks of an adapter described in configuration (kind = "http"): where a value
// comes from in an aggregator's request (a field source) and how a reply or a call is written (a
// template). Pure: no I/O; nothing here puts a value it reads into a message.
#pragma once

#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "adapters/common/form.hpp"
#include "adapters/sms/sms_adapter.hpp"

namespace rabta::adapters::generic {

// A setting that cannot be used: `key` is the setting's name as written in the configuration
// ("reply.continue"), so that the configuration can say at which file and line it was written.
// The reason never contains a secret's value.
struct SettingError : std::invalid_argument {
  SettingError(std::string key_, const std::string& reason)
      : std::invalid_argument(key_ + ": " + reason), key(std::move(key_)) {}
  std::string key;
};

// Where a value is read: "form:sessionId", "query:session_id", "json:/SessionId" (a JSON
// pointer; "json:SessionId" means "/SessionId"), "header:X-Session".
struct Source {
  enum class Where { form, query, json, header };
  Where where = Where::form;
  std::string name;  // the form or query field, the JSON pointer, or the lower-cased header
  // The name shown in a Rejection: the field as the aggregator spells it ("SessionId").
  std::string label;
};
// Throws SettingError(key, ...) when `spec` is not one of the forms above.
Source parse_source(const std::string& key, std::string_view spec);

// A request with its body parsed once, the way the adapter's `request.body` setting says.
class Fields {
 public:
  enum class Body { none, form, json };
  // A Rejection when the body is not of the configured kind (415), malformed (400) or not UTF-8.
  // A field that is not UTF-8 is named only when it is one of `known` (the fields the adapter
  // reads): the sender chose the other names, and a name may be anything, her number included.
  static std::variant<Fields, sms::Rejection> parse(const sms::InboundHttp& request, Body body,
                                                    const std::set<std::string>& known = {});
  Fields(Fields&&) noexcept;
  Fields& operator=(Fields&&) noexcept;
  ~Fields();

  // The value at `source`, nullopt when it is absent (a JSON null counts as absent); a Rejection
  // when it is present but not text (a JSON object or array) or not UTF-8.
  std::variant<std::optional<std::string>, sms::Rejection> get(const Source& source) const;

 private:
  Fields();
  std::vector<common::FormField> form_;
  std::vector<common::FormField> query_;
  bool query_ok_ = true;
  std::unique_ptr<nlohmann::json> json_;
  const sms::InboundHttp* request_ = nullptr;
};

// A template: text with {{name}} placeholders, each replaced by a variable's value escaped for
// the template's format (none, json string, xml text, url component).
class Template {
 public:
  enum class Escape { none, json, xml, url };
  // Throws SettingError(key, ...) for an unclosed or empty {{ }}, or a name not in `allowed`.
  static Template compile(const std::string& key, std::string_view text,
                          const std::set<std::string>& allowed, Escape escape);
  Template() = default;

  std::string render(const std::map<std::string, std::string>& vars) const;
  // The inverse of render, for the gateway's side (the emulator): the variables' values when
  // `text` is what this template renders, unescaped; nullopt when it is not. A variable takes
  // everything up to the next literal text's first occurrence.
  std::optional<std::map<std::string, std::string>> match(std::string_view text) const;
  // The number of literal characters (to prefer the more specific of two templates that match).
  std::size_t literal_size() const;
  bool uses(std::string_view name) const;
  int count(std::string_view name) const;
  bool empty() const { return parts_.empty(); }

 private:
  struct Part {
    bool variable = false;
    std::string text;  // literal text, or the variable's name
  };
  std::vector<Part> parts_;
  Escape escape_ = Escape::none;
};

// "a, b ,c" -> {"a","b","c"} (trimmed, empty items dropped).
std::vector<std::string> split_list(std::string_view list);
// The text as UTF-16BE bytes (for gateways that want UCS-2 replies). The input must be UTF-8.
std::string utf16be(std::string_view utf8);
// UTF-16BE bytes as UTF-8 (the emulator reading such a reply); nullopt when they are not UTF-16.
std::optional<std::string> from_utf16be(std::string_view bytes);

}  // namespace rabta::adapters::generic
