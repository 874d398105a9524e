// Percent-decoding and -encoding are Boost.URL's (Debian libboost-url1.81-dev). Splitting a form
// body on '&' and '=' stays here: Boost.URL's query parser refuses bytes a URL may not carry
// (raw UTF-8, spaces), which aggregators do send in POST bodies. is_valid_utf8 is hand-written:
// no library rabta uses has a strict RFC 3629 validator.
#include "adapters/common/form.hpp"

#include <boost/url/encode.hpp>
#include <boost/url/encoding_opts.hpp>
#include <boost/url/pct_string_view.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <cstddef>
#include <cstdint>

namespace rabta::common {

std::optional<std::string> percent_decode(std::string_view s, bool plus_as_space) {
  // Refuses a '%' not followed by two hex digits.
  const auto checked = boost::urls::make_pct_string_view(s);
  if (!checked) return std::nullopt;
  boost::urls::encoding_opts options;
  options.space_as_plus = plus_as_space;
  return checked->decode(options);
}

std::string percent_encode(std::string_view s) {
  return boost::urls::encode(s, boost::urls::unreserved_chars);
}

std::variant<std::vector<FormField>, FormParseError> parse_form(std::string_view body) {
  std::vector<FormField> fields;
  std::size_t start = 0;
  while (start <= body.size()) {
    std::size_t amp = body.find('&', start);
    if (amp == std::string_view::npos) amp = body.size();
    const std::string_view pair = body.substr(start, amp - start);
    start = amp + 1;
    if (pair.empty()) continue;

    const std::size_t eq = pair.find('=');
    const std::string_view raw_name = pair.substr(0, eq);
    const std::string_view raw_value =
        eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);

    auto name = percent_decode(raw_name, true);
    if (!name) {
      // An undecodable name is not echoed: it is sender-controlled bytes, not a known field.
      return FormParseError{"malformed percent-encoding in a field name"};
    }
    auto value = percent_decode(raw_value, true);
    if (!value) {
      return FormParseError{"malformed percent-encoding in field '" + *name + "'"};
    }
    fields.push_back(FormField{std::move(*name), std::move(*value)});
  }
  return fields;
}

const std::string* find_field(const std::vector<FormField>& fields, std::string_view name) {
  for (const auto& f : fields) {
    if (f.name == name) return &f.value;
  }
  return nullptr;
}

bool is_valid_utf8(std::string_view s) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  auto byte = [&](std::size_t k) { return static_cast<std::uint8_t>(s[k]); };
  auto is_cont = [](std::uint8_t b) { return (b & 0xC0U) == 0x80U; };
  while (i < n) {
    const std::uint8_t b0 = byte(i);
    if (b0 < 0x80U) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    // The allowed range of the second byte is what rules out overlongs, surrogates and
    // code points past U+10FFFF (RFC 3629 section 4).
    std::uint8_t lo = 0x80U;
    std::uint8_t hi = 0xBFU;
    if (b0 >= 0xC2U && b0 <= 0xDFU) {
      len = 2;
    } else if (b0 == 0xE0U) {
      len = 3;
      lo = 0xA0U;
    } else if ((b0 >= 0xE1U && b0 <= 0xECU) || b0 == 0xEEU || b0 == 0xEFU) {
      len = 3;
    } else if (b0 == 0xEDU) {
      len = 3;
      hi = 0x9FU;
    } else if (b0 == 0xF0U) {
      len = 4;
      lo = 0x90U;
    } else if (b0 >= 0xF1U && b0 <= 0xF3U) {
      len = 4;
    } else if (b0 == 0xF4U) {
      len = 4;
      hi = 0x8FU;
    } else {
      return false;  // 0x80..0xC1 (stray continuation or overlong lead) and 0xF5..0xFF
    }
    if (n - i < len) return false;
    const std::uint8_t b1 = byte(i + 1);
    if (b1 < lo || b1 > hi) return false;
    for (std::size_t k = 2; k < len; ++k) {
      if (!is_cont(byte(i + k))) return false;
    }
    i += len;
  }
  return true;
}

std::string form_encode(const std::vector<FormField>& fields) {
  std::string out;
  bool first = true;
  for (const auto& f : fields) {
    if (!first) out.push_back('&');
    first = false;
    out += percent_encode(f.name);
    out.push_back('=');
    out += percent_encode(f.value);
  }
  return out;
}

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        if (static_cast<unsigned char>(c) >= 0x20U || c == '\t' || c == '\n' || c == '\r')
          out.push_back(c);
    }
  }
  return out;
}

}  // namespace rabta::common
