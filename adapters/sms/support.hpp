// Helpers shared by the SMS adapters: settings, query strings, content types, safe error codes.
// Nothing here puts a setting's value, a phone number or a message text into a message.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/common/form.hpp"
#include "adapters/sms/sms_adapter.hpp"

namespace rabta::adapters::sms::support {

// The value of a setting that must be present and non-empty; otherwise throws
// std::invalid_argument("channel <kind>: missing setting '<name>'").
const std::string& required_setting(const Settings& settings, std::string_view kind,
                                    std::string_view name);
// The value of an optional setting, or `fallback` when absent or empty.
std::string optional_setting(const Settings& settings, std::string_view name,
                             std::string_view fallback = {});
// Throws std::invalid_argument naming the setting unless `value` is an http:// or https:// URL.
void require_http_url(std::string_view kind, std::string_view name, std::string_view value);
// `url` without trailing '/'.
std::string without_trailing_slash(std::string url);

std::string lower_ascii(std::string_view s);
// "text/plain; charset=\"UTF-8\"" -> "text/plain" (lower-cased, trimmed).
std::string media_type(std::string_view content_type);
// The charset parameter of a Content-Type, unquoted and lower-cased; "" when absent.
std::string charset_of(std::string_view content_type);

// The fields of a raw query string or form body; nullopt when its percent-encoding is malformed.
std::optional<std::vector<common::FormField>> parse_fields(std::string_view raw);
// True when the query string carries key=<secret> (constant-time compare). False when the
// secret is empty, the query is malformed or the key is missing.
bool query_key_matches(std::string_view query, std::string_view secret);
// The callback secret of a request (SECURITY #11): the `X-Rabta-Key` header when the request
// carries one (it then alone counts: a proxy's access log never sees the secret), else
// ?key=<secret> in the query. Constant-time; false when the secret is empty.
inline constexpr std::string_view key_header = "x-rabta-key";
bool key_matches(std::string_view header_key, std::string_view query, std::string_view secret);

Rejection missing_field(std::string_view name);
// A Rejection for the first field whose name or value is not UTF-8. It names the field only when
// it is one of `known` (names the sender chose may be anything, a phone number included).
std::optional<Rejection> first_non_utf8(const std::vector<common::FormField>& fields,
                                        std::initializer_list<std::string_view> known);

// An aggregator-supplied code made safe to store and log: kept only when it is 1..max_len
// characters, all of them letters (letters = true) or all digits (letters = false);
// otherwise `fallback`. A phone number or a message text cannot pass through.
std::string safe_code(std::string_view raw, bool letters, std::size_t max_len,
                      std::string_view fallback);

// Outcome helpers.
SendResult sent(std::string provider_message_id);
SendResult retry(std::string error);
SendResult permanent(std::string error);

}  // namespace rabta::adapters::sms::support
