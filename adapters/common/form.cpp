#include "adapters/common/form.hpp"

#include <cstddef>
#include <cstdint>

namespace rabta::common {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

void append_encoded(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_unreserved(c)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4U]);
      out.push_back(kHex[c & 0x0FU]);
    }
  }
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view s, bool plus_as_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      if (s.size() - i < 3) return std::nullopt;  // fewer than two characters follow '%'
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>((hi << 4) | lo));
      i += 2;
    } else if (c == '+' && plus_as_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
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
    append_encoded(out, f.name);
    out.push_back('=');
    append_encoded(out, f.value);
  }
  return out;
}

}  // namespace rabta::common
