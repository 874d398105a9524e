// Parsing and validation of the enrolment CSV read by `rabta contacts import FILE.csv`.
// Pure: no I/O, no database. The caller writes the accepted rows (pseudonym, encrypted phone)
// and reports the rejected ones.
//
// The file is RFC 4180 CSV: fields separated by ',', optionally quoted with '"' (a quote inside
// a quoted field is doubled, a quoted field may span lines), LF or CRLF line ends, a UTF-8 BOM
// at the start is skipped. Blank lines (also lines of empty fields, ",,,") are skipped.
//
// The first non-blank line is a header naming the columns, in any order, case-insensitive:
//   phone      required  her number; normalised with common::normalise_msisdn and must be
//                        "+" and 8-15 digits (Pakistani local 03xxxxxxxxx is accepted)
//   language   required  a key of rules.languages; also urdu/اردو -> ur, roman urdu/roman ->
//                        roman, english/انگریزی -> en
//   weekday    required  1-7 (1 = Monday), mon..sun, monday..sunday, or the Urdu names
//                        پیر (or سوموار), منگل, بدھ, جمعرات, جمعہ, ہفتہ, اتوار
//   window     required  "HH-HH" local hours in which she may be contacted, 0 <= start < end <= 24
//   district   optional  a key of rules.districts, or empty
//   channel    optional  "sms" or "ussd"; empty or absent means kDefaultChannel
//   sms_ok     optional  consent to unsolicited SMS; yes/no/y/n/1/0/true/false/ہاں/نہیں; default no
//   confirm_ok optional  consent to an SMS confirming a report; same values; default no
// Names and values are matched case-insensitively after trimming spaces; Urdu/Arabic-Indic
// digits (۰-۹, ٠-٩) count as digits. A row with channel sms needs sms_ok=yes (SAFETY S1: she
// must have consented to be texted). A number appearing a second time is rejected.
//
// Messages never contain a value from a data row (no phone numbers, no districts): a rejection
// names the line and the column only, so the import report can be logged or shown safely.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/common/cipher.hpp"
#include "adapters/common/crypto.hpp"
#include "adapters/store/store.hpp"

namespace rabta::gateway {

// The channel of a row whose channel column is absent or empty. With sms_ok defaulting to no,
// such a row is rejected unless the file says sms_ok=yes: nobody is texted by default.
// SAFETY S1: the default is USSD she dials herself; SMS prompts need channel=sms and sms_ok=yes.
inline constexpr const char* kDefaultChannel = "ussd";

struct EnrolmentRow {
  std::size_t line = 0;       // physical line in the file where the row starts (1-based)
  std::string phone;          // normalised E.164, e.g. "+923001234567"
  std::string language;       // a language key, e.g. "ur"
  std::string district;       // a district key, or ""
  int weekday = 0;            // 1 = Monday .. 7 = Sunday
  int window_start_hour = 0;  // local hours [start, end)
  int window_end_hour = 0;
  std::string channel;  // "sms" or "ussd"
  bool sms_ok = false;
  bool confirm_ok = false;
};

struct RejectedRow {
  std::size_t line = 0;
  // "column: problem", several joined by "; ". Names the column, never the value.
  std::string reason;
};

struct EnrolmentParse {
  std::vector<EnrolmentRow> accepted;
  std::vector<RejectedRow> rejected;
  std::string fatal;  // a header problem: the whole file is refused, accepted/rejected are empty
};

struct EnrolmentRules {
  std::vector<std::string> languages;  // allowed language keys; empty = any
  std::vector<std::string> districts;  // allowed district keys; empty = any
};

EnrolmentParse parse_enrolment_csv(std::string_view csv, const EnrolmentRules& rules);

}  // namespace rabta::gateway
