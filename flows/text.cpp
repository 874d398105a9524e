// Text helpers of the pure core: UTF-8, input normalisation, and the SMS encodings' arithmetic.
// Written by hand on purpose where no maintained library fits: the GSM 03.38 (GSM-7) tables and
// segment counting below (neither glibc's iconv nor ICU, the Debian candidates, has a GSM-7
// charset); UTF-8 decoding is the few lines the tables need, not a dependency.
#include "flows/text.hpp"

#include <algorithm>
#include <array>

namespace rabta::flows {

std::u32string utf8_decode(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    int len = 0;
    char32_t cp = 0;
    if (c < 0x80) {
      len = 1;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      out.push_back(U'\uFFFD');
      ++i;
      continue;
    }
    if (i + static_cast<std::size_t>(len) > s.size()) {
      out.push_back(U'\uFFFD');
      break;
    }
    bool ok = true;
    for (int k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
      if ((cc & 0xC0) != 0x80) {
        ok = false;
        break;
      }
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (!ok) {
      out.push_back(U'\uFFFD');
      ++i;
      continue;
    }
    out.push_back(cp);
    i += static_cast<std::size_t>(len);
  }
  return out;
}

std::string utf8_encode(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t cp : s) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  return out;
}

namespace {

bool is_space(char32_t c) {
  return c == U' ' || c == U'\t' || c == U'\n' || c == U'\r' || c == U'\u00A0' || c == U'\u200F' ||
         c == U'\u200E' || c == U'\u200C' || c == U'\u200D' || c == U'\uFEFF';
}

}  // namespace

std::string normalise_input(std::string_view raw) {
  std::u32string cps = utf8_decode(raw);
  std::size_t b = 0;
  std::size_t e = cps.size();
  while (b < e && is_space(cps[b])) ++b;
  while (e > b && is_space(cps[e - 1])) --e;
  std::u32string out;
  out.reserve(e - b);
  for (std::size_t i = b; i < e; ++i) {
    char32_t c = cps[i];
    if (c >= U'\u06F0' && c <= U'\u06F9') c = U'0' + (c - U'\u06F0');
    if (c >= U'\u0660' && c <= U'\u0669') c = U'0' + (c - U'\u0660');
    if (c >= U'A' && c <= U'Z') c = c - U'A' + U'a';
    out.push_back(c);
  }
  return utf8_encode(out);
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

namespace {

// GSM 03.38 default alphabet as Unicode code points (index = GSM code).
constexpr std::array<char32_t, 128> gsm7_basic = {
    U'@',      U'\u00A3', U'$',      U'\u00A5', U'\u00E8', U'\u00E9', U'\u00F9', U'\u00EC',
    U'\u00F2', U'\u00C7', U'\n',     U'\u00D8', U'\u00F8', U'\r',     U'\u00C5', U'\u00E5',
    U'\u0394', U'_',      U'\u03A6', U'\u0393', U'\u039B', U'\u03A9', U'\u03A0', U'\u03A8',
    U'\u03A3', U'\u0398', U'\u039E', U'\x1B',   U'\u00C6', U'\u00E6', U'\u00DF', U'\u00C9',
    U' ',      U'!',      U'"',      U'#',      U'\u00A4', U'%',      U'&',      U'\'',
    U'(',      U')',      U'*',      U'+',      U',',      U'-',      U'.',      U'/',
    U'0',      U'1',      U'2',      U'3',      U'4',      U'5',      U'6',      U'7',
    U'8',      U'9',      U':',      U';',      U'<',      U'=',      U'>',      U'?',
    U'\u00A1', U'A',      U'B',      U'C',      U'D',      U'E',      U'F',      U'G',
    U'H',      U'I',      U'J',      U'K',      U'L',      U'M',      U'N',      U'O',
    U'P',      U'Q',      U'R',      U'S',      U'T',      U'U',      U'V',      U'W',
    U'X',      U'Y',      U'Z',      U'\u00C4', U'\u00D6', U'\u00D1', U'\u00DC', U'\u00A7',
    U'\u00BF', U'a',      U'b',      U'c',      U'd',      U'e',      U'f',      U'g',
    U'h',      U'i',      U'j',      U'k',      U'l',      U'm',      U'n',      U'o',
    U'p',      U'q',      U'r',      U's',      U't',      U'u',      U'v',      U'w',
    U'x',      U'y',      U'z',      U'\u00E4', U'\u00F6', U'\u00F1', U'\u00FC', U'\u00E0'};

// Extension table characters: each costs two septets (ESC + code).
constexpr std::array<char32_t, 10> gsm7_extension = {U'\f', U'^', U'{', U'}', U'\\',
                                                     U'[',  U'~', U']', U'|', U'\u20AC'};

// 0 = not in GSM-7, 1 = basic, 2 = extension.
int gsm7_cost(char32_t c) {
  if (c == U'\x1B') return 0;  // the escape itself is not a character she can send
  if (std::find(gsm7_basic.begin(), gsm7_basic.end(), c) != gsm7_basic.end()) return 1;
  if (std::find(gsm7_extension.begin(), gsm7_extension.end(), c) != gsm7_extension.end()) return 2;
  return 0;
}

}  // namespace

TextLength measure(std::string_view utf8) {
  const std::u32string cps = utf8_decode(utf8);
  std::size_t septets = 0;
  bool gsm = true;
  for (char32_t c : cps) {
    const int cost = gsm7_cost(c);
    if (cost == 0) {
      gsm = false;
      break;
    }
    septets += static_cast<std::size_t>(cost);
  }
  if (gsm) return {Encoding::gsm7, septets};
  std::size_t units = 0;
  for (char32_t c : cps) units += c > 0xFFFF ? 2 : 1;
  return {Encoding::ucs2, units};
}

std::size_t ussd_limit(Encoding e) {
  return e == Encoding::gsm7 ? ussd_gsm7_limit : ussd_ucs2_limit;
}

bool fits_ussd_screen(std::string_view utf8) {
  const TextLength len = measure(utf8);
  return len.units <= ussd_limit(len.encoding);
}

std::size_t sms_segments(const TextLength& length) {
  const bool gsm = length.encoding == Encoding::gsm7;
  const std::size_t single = gsm ? 160 : 70;
  const std::size_t part = gsm ? 153 : 67;
  if (length.units <= single) return 1;
  return (length.units + part - 1) / part;
}

std::vector<std::string> non_gsm7_characters(std::string_view utf8, std::size_t max) {
  std::vector<std::string> out;
  for (char32_t c : utf8_decode(utf8)) {
    if (gsm7_cost(c) != 0) continue;
    std::string s = utf8_encode(std::u32string_view(&c, 1));
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
    if (out.size() >= max) break;
  }
  return out;
}

}  // namespace rabta::flows
