#include "adapters/sms/support.hpp"

#include <stdexcept>
#include <utility>
#include <variant>

#include "adapters/common/crypto.hpp"

namespace rabta::adapters::sms::support {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && lower_ascii(s.substr(0, prefix.size())) == prefix;
}

}  // namespace

const std::string& required_setting(const Settings& settings, std::string_view kind,
                                    std::string_view name) {
  const auto it = settings.find(std::string(name));
  if (it == settings.end() || it->second.empty())
    throw std::invalid_argument("channel " + std::string(kind) + ": missing setting '" +
                                std::string(name) + "'");
  return it->second;
}

std::string optional_setting(const Settings& settings, std::string_view name,
                             std::string_view fallback) {
  const auto it = settings.find(std::string(name));
  if (it == settings.end() || it->second.empty()) return std::string(fallback);
  return it->second;
}

void require_http_url(std::string_view kind, std::string_view name, std::string_view value) {
  const bool http = starts_with_ci(value, "http://") && value.size() > 7;
  const bool https = starts_with_ci(value, "https://") && value.size() > 8;
  if (!http && !https)
    throw std::invalid_argument("channel " + std::string(kind) + ": setting '" + std::string(name) +
                                "' must be an http:// or https:// URL");
}

std::string without_trailing_slash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

std::string media_type(std::string_view content_type) {
  return lower_ascii(trim(content_type.substr(0, content_type.find(';'))));
}

std::string charset_of(std::string_view content_type) {
  std::size_t pos = content_type.find(';');
  while (pos != std::string_view::npos) {
    const std::size_t next = content_type.find(';', pos + 1);
    std::string_view param = trim(content_type.substr(
        pos + 1, next == std::string_view::npos ? std::string_view::npos : next - pos - 1));
    const std::size_t eq = param.find('=');
    if (eq != std::string_view::npos && lower_ascii(trim(param.substr(0, eq))) == "charset") {
      std::string_view value = trim(param.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
        value = value.substr(1, value.size() - 2);
      return lower_ascii(value);
    }
    pos = next;
  }
  return {};
}

std::optional<std::vector<common::FormField>> parse_fields(std::string_view raw) {
  auto parsed = common::parse_form(raw);
  if (auto* fields = std::get_if<std::vector<common::FormField>>(&parsed))
    return std::move(*fields);
  return std::nullopt;
}

bool query_key_matches(std::string_view query, std::string_view secret) {
  if (secret.empty()) return false;
  const auto fields = parse_fields(query);
  if (!fields) return false;
  const std::string* key = common::find_field(*fields, "key");
  return key != nullptr && common::constant_time_equal(*key, secret);
}

bool key_matches(std::string_view header_key, std::string_view query, std::string_view secret) {
  if (secret.empty()) return false;
  if (!header_key.empty()) return common::constant_time_equal(header_key, secret);
  return query_key_matches(query, secret);
}

Rejection missing_field(std::string_view name) {
  return Rejection{400, "missing field '" + std::string(name) + "'"};
}

std::optional<Rejection> first_non_utf8(const std::vector<common::FormField>& fields,
                                        std::initializer_list<std::string_view> known) {
  for (const auto& f : fields) {
    if (!common::is_valid_utf8(f.name)) return Rejection{400, "a field name is not valid UTF-8"};
    if (common::is_valid_utf8(f.value)) continue;
    for (const auto k : known)
      if (f.name == k) return Rejection{400, "field '" + f.name + "' is not valid UTF-8"};
    return Rejection{400, "a field is not valid UTF-8"};
  }
  return std::nullopt;
}

std::string safe_code(std::string_view raw, bool letters, std::size_t max_len,
                      std::string_view fallback) {
  if (raw.empty() || raw.size() > max_len) return std::string(fallback);
  for (const char c : raw) {
    const bool ok =
        letters ? ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) : (c >= '0' && c <= '9');
    if (!ok) return std::string(fallback);
  }
  return std::string(raw);
}

SendResult sent(std::string provider_message_id) {
  return SendResult{SendOutcome::sent, std::move(provider_message_id), {}};
}
SendResult retry(std::string error) {
  return SendResult{SendOutcome::retry, {}, std::move(error)};
}
SendResult permanent(std::string error) {
  return SendResult{SendOutcome::permanent, {}, std::move(error)};
}

}  // namespace rabta::adapters::sms::support
