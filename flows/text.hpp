// Text facts the engine needs, with no I/O: input normalisation and USSD/SMS length rules.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace rabta::flows {

// Decodes UTF-8 into code points; invalid bytes become U+FFFD (callers validate earlier).
std::u32string utf8_decode(std::string_view s);
std::string utf8_encode(std::u32string_view s);

// What she typed, as the engine compares it: surrounding white space removed, Urdu (U+06F0..9)
// and Arabic-Indic (U+0660..9) digits turned into ASCII digits, ASCII letters lower-cased.
std::string normalise_input(std::string_view raw);

// True when every character is an ASCII digit (and there is at least one).
bool all_digits(std::string_view s);

enum class Encoding { gsm7, ucs2 };

struct TextLength {
  Encoding encoding = Encoding::gsm7;
  std::size_t units =
      0;  // septets for GSM-7 (extension characters count 2), UTF-16 units for UCS-2
};

// Classifies a text as GSM-7 (default alphabet + extension table) or UCS-2 and measures it.
TextLength measure(std::string_view utf8);

// USSD screen limits (3GPP TS 23.038: 160 octets = 182 septets; 80 characters in UCS-2).
inline constexpr std::size_t ussd_gsm7_limit = 182;
inline constexpr std::size_t ussd_ucs2_limit = 80;
std::size_t ussd_limit(Encoding e);
bool fits_ussd_screen(std::string_view utf8);

// SMS segments a text costs: GSM-7 160 in one SMS, 153 per part when concatenated; UCS-2 70 / 67
// (shared/PROTOCOLS.md §6). An empty text is one segment.
std::size_t sms_segments(const TextLength& length);

// The first characters of `utf8` that force UCS-2 (for messages that explain a length problem).
std::vector<std::string> non_gsm7_characters(std::string_view utf8, std::size_t max = 3);

}  // namespace rabta::flows
