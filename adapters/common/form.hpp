// application/x-www-form-urlencoded parsing and encoding, plus strict UTF-8 validation.
// Used for provider webhook bodies and query strings; nothing here logs field values,
// because they carry phone numbers and message text.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace rabta::common {

struct FormField {
  std::string name;
  std::string value;
  bool operator==(const FormField&) const = default;
};

// Why a body was rejected. The reason names the offending field, never its value.
struct FormParseError {
  std::string reason;
};

// Decodes %XX escapes (and '+' as space when plus_as_space). Returns nullopt when a '%'
// is not followed by two hex digits. The result may be arbitrary bytes: callers that need
// text should check it with is_valid_utf8.
std::optional<std::string> percent_decode(std::string_view s, bool plus_as_space);

// Splits on '&' and '='; '+' is a space; empty pairs are skipped; a key without '=' gets an
// empty value; repeated names are kept in order.
std::variant<std::vector<FormField>, FormParseError> parse_form(std::string_view body);

// First field with this name, or nullptr.
const std::string* find_field(const std::vector<FormField>& fields, std::string_view name);

// Strict UTF-8: rejects overlong forms, surrogates (U+D800..U+DFFF), code points above
// U+10FFFF and truncated sequences.
bool is_valid_utf8(std::string_view s);

// Percent-encodes everything except the unreserved set A-Za-z0-9-._~ (space becomes %20),
// joining fields as name=value&name=value.
std::string form_encode(const std::vector<FormField>& fields);

// Every byte but the unreserved ones (A-Z a-z 0-9 - . _ ~) as %XX, upper-case hex (RFC 3986).
std::string percent_encode(std::string_view s);

// Text for an XML element or attribute: & < > " ' as entities; control characters other than
// tab, newline and carriage return dropped (XML 1.0 cannot carry them).
std::string xml_escape(std::string_view text);

}  // namespace rabta::common
