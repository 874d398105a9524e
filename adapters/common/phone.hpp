// One identity for a phone number (SAFETY W1): every way a number is written maps to one E.164
// string, which is what pseudonyms, sealed numbers, the roster, enrolment and every adapter's
// sender and recipient use. Pure: no I/O; the numbering plan of the deployment's country comes
// from config ([numbers] default_country, Pakistan shipped).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rabta::common {

// How national numbers of one country are written.
struct NumberPlan {
  std::string country;                  // ISO 3166 alpha-2, e.g. "PK"
  std::string country_code;             // E.164 country calling code, e.g. "92"
  std::string trunk_prefix;             // dialled before a national number, e.g. "0" ("" = none)
  std::size_t national_length = 0;      // digits of a national (significant) number, e.g. 10
  std::size_t national_min_length = 0;  // shortest one (landlines), e.g. 9; 0 = national_length
  std::size_t min_length() const {
    return national_min_length ? national_min_length : national_length;
  }
};

// The plans rabta knows by country (PK, IN, BD, AF, NP, LK, KE, NG, GB, US). nullopt = unknown.
std::optional<NumberPlan> number_plan(std::string_view country);
// The countries number_plan() knows, for error messages.
std::vector<std::string> known_number_plan_countries();

// The process-wide plan, set once from config before any thread starts (Pakistan by default).
const NumberPlan& default_number_plan();
void set_default_number_plan(const NumberPlan& plan);

struct PhoneNumber {
  std::string e164;    // "+923001234567"; empty when `error` is set
  std::string reason;  // why it is not a phone number (never quotes the input)
  explicit operator bool() const { return !e164.empty(); }
};

// Canonical E.164 of a written phone number, for the given plan. Accepts, for the same number:
// "+923001234567", "923001234567", "00923001234567", "03001234567", "3001234567",
// "0300-1234567", "+92 300 1234567", "+92 (0)300 1234567", "(0300) 123 4567", "tel:+92...",
// Urdu and Arabic-Indic digits. Refuses letters, a "+" that is not leading, too few or too many
// digits (E.164 allows 15), and a number of the plan's country of the wrong length.
PhoneNumber canonical_phone(std::string_view raw, const NumberPlan& plan);

// canonical_phone(raw, default_number_plan()).e164: "" when it is not a phone number.
std::string normalise_msisdn(std::string_view raw);

}  // namespace rabta::common
