// Parsing of the enrolment CSV (enrolment.hpp). About 500 lines: the RFC 4180 reader (no Debian
// C++ CSV library is in rabta's dependencies), then the columns and values of one import.
#include "gateway/checkins/enrolment.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>

#include "adapters/common/crypto.hpp"

namespace rabta::gateway {
namespace {

// ---- CSV (RFC 4180) -------------------------------------------------------------------------

struct Field {
  std::string value;
  bool malformed = false;     // a quote inside an unquoted field, or text after a closing quote
  bool unterminated = false;  // a quoted field still open at the end of the file
};

struct Record {
  std::size_t line = 0;  // physical line where the record starts
  std::vector<Field> fields;
};

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

// Splits the whole file into records, counting physical lines (also inside quoted fields).
std::vector<Record> split_csv(std::string_view csv) {
  std::vector<Record> records;
  std::size_t pos = 0;
  std::size_t line = 1;
  const std::size_t n = csv.size();
  while (pos < n) {
    Record rec;
    rec.line = line;
    bool end_of_record = false;
    while (!end_of_record) {
      Field f;
      std::size_t p = pos;
      while (p < n && is_space(csv[p])) ++p;
      if (p < n && csv[p] == '"') {
        pos = p + 1;
        bool closed = false;
        while (pos < n) {
          const char c = csv[pos];
          if (c == '"') {
            if (pos + 1 < n && csv[pos + 1] == '"') {
              f.value.push_back('"');
              pos += 2;
              continue;
            }
            ++pos;
            closed = true;
            break;
          }
          if (c == '\n') ++line;
          f.value.push_back(c);
          ++pos;
        }
        if (!closed) f.unterminated = true;
        // Only spaces (and the CR of a CRLF) may follow the closing quote.
        while (pos < n && csv[pos] != ',' && csv[pos] != '\n') {
          if (!is_space(csv[pos]) && !(csv[pos] == '\r' && pos + 1 < n && csv[pos + 1] == '\n')) {
            f.malformed = true;
          }
          ++pos;
        }
      } else {
        while (pos < n && csv[pos] != ',' && csv[pos] != '\n') {
          if (csv[pos] == '"') f.malformed = true;
          f.value.push_back(csv[pos]);
          ++pos;
        }
        if (pos < n && csv[pos] == '\n' && !f.value.empty() && f.value.back() == '\r') {
          f.value.pop_back();
        }
      }
      rec.fields.push_back(std::move(f));
      if (pos >= n) {
        end_of_record = true;
      } else if (csv[pos] == ',') {
        ++pos;
        if (pos >= n) {
          rec.fields.emplace_back();  // a trailing ',' at the end of the file
          end_of_record = true;
        }
      } else {  // '\n'
        ++pos;
        ++line;
        end_of_record = true;
      }
    }
    records.push_back(std::move(rec));
  }
  return records;
}

// ---- Text normalisation ---------------------------------------------------------------------

std::string_view trim(std::string_view s) {
  while (!s.empty() && (is_space(s.front()) || s.front() == '\r' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (is_space(s.back()) || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

// For matching names and keywords: trimmed, ASCII lower case, runs of spaces collapsed to one,
// Urdu/Arabic-Indic digits as ASCII digits, Arabic letter forms that Urdu keyboards sometimes
// produce folded to their Urdu forms (ه -> ہ, ي/ى -> ی, ك -> ک), tatweel and ZWNJ/ZWJ dropped.
std::string fold(std::string_view raw) {
  const std::string_view s = trim(raw);
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    const auto next = i + 1 < s.size() ? static_cast<unsigned char>(s[i + 1]) : 0U;
    if (c < 0x80) {
      if (is_space(s[i])) {
        if (!out.empty() && out.back() != ' ') out.push_back(' ');
      } else {
        out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : s[i]);
      }
    } else if (c == 0xD9 && next >= 0xA0 && next <= 0xA9) {  // U+0660..U+0669
      out.push_back(static_cast<char>('0' + (next - 0xA0)));
      ++i;
    } else if (c == 0xDB && next >= 0xB0 && next <= 0xB9) {  // U+06F0..U+06F9
      out.push_back(static_cast<char>('0' + (next - 0xB0)));
      ++i;
    } else if (c == 0xD9 && next == 0x87) {  // U+0647 ARABIC HEH -> U+06C1 HEH GOAL
      out.append("\xDB\x81");
      ++i;
    } else if (c == 0xD9 && (next == 0x8A || next == 0x89)) {  // U+064A, U+0649 -> U+06CC
      out.append("\xDB\x8C");
      ++i;
    } else if (c == 0xD9 && next == 0x83) {  // U+0643 ARABIC KAF -> U+06A9 KEHEH
      out.append("\xDA\xA9");
      ++i;
    } else if (c == 0xD9 && next == 0x80) {  // U+0640 TATWEEL
      ++i;
    } else if (c == 0xE2 && next == 0x80 && i + 2 < s.size() &&
               (static_cast<unsigned char>(s[i + 2]) == 0x8C ||
                static_cast<unsigned char>(s[i + 2]) == 0x8D)) {  // U+200C ZWNJ, U+200D ZWJ
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::optional<int> small_number(std::string_view s, std::size_t max_digits) {
  if (s.empty() || s.size() > max_digits) return std::nullopt;
  int v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

// ---- Columns --------------------------------------------------------------------------------

enum class Col { phone, language, district, weekday, window, channel, sms_ok, confirm_ok };
constexpr std::size_t kColumns = 8;

struct ColumnSpec {
  Col col;
  const char* name;
  bool required;
};

constexpr std::array<ColumnSpec, kColumns> kColumnSpecs{{
    {Col::phone, "phone", true},
    {Col::language, "language", true},
    {Col::district, "district", false},
    {Col::weekday, "weekday", true},
    {Col::window, "window", true},
    {Col::channel, "channel", false},
    {Col::sms_ok, "sms_ok", false},
    {Col::confirm_ok, "confirm_ok", false},
}};

std::size_t index_of(Col c) {
  return static_cast<std::size_t>(c);
}

// A header name as a column key: folded, and "SMS OK" / "sms-ok" written as "sms_ok".
std::string header_key(std::string_view raw) {
  std::string k = fold(raw);
  std::replace(k.begin(), k.end(), ' ', '_');
  std::replace(k.begin(), k.end(), '-', '_');
  return k;
}

// A first line that holds a phone number is a data row, not a header: refuse it without
// echoing any of it (it would put her number into the error).
bool looks_like_data(const Record& rec) {
  for (const Field& f : rec.fields) {
    const std::string digits_folded = fold(f.value);
    const auto digits = std::count_if(digits_folded.begin(), digits_folded.end(),
                                      [](char c) { return c >= '0' && c <= '9'; });
    if (digits >= 6) return true;
  }
  return false;
}

// ---- Values ---------------------------------------------------------------------------------

std::optional<std::string> parse_phone(std::string_view raw) {
  const std::string n = common::normalise_msisdn(fold(raw));
  if (n.size() < 9 || n.size() > 16 || n.front() != '+') return std::nullopt;
  return n;
}

bool contains(const std::vector<std::string>& keys, std::string_view k) {
  return std::find(keys.begin(), keys.end(), k) != keys.end();
}

// The configured key matching `folded` (compared case-insensitively), if any.
std::optional<std::string> match_key(const std::vector<std::string>& keys,
                                     std::string_view folded) {
  for (const std::string& k : keys) {
    if (fold(k) == folded) return k;
  }
  return std::nullopt;
}

std::optional<std::string> parse_language(std::string_view folded,
                                          const std::vector<std::string>& allowed) {
  if (folded.empty()) return std::nullopt;
  if (!allowed.empty()) {
    if (auto k = match_key(allowed, folded)) return k;
  }
  static const std::map<std::string, std::string, std::less<>> kAliases{
      {"urdu", "ur"},     {"اردو", "ur"},    {"roman urdu", "roman"},
      {"roman", "roman"}, {"english", "en"}, {"انگریزی", "en"},
  };
  std::string key(folded);
  if (const auto it = kAliases.find(folded); it != kAliases.end()) key = it->second;
  if (allowed.empty()) return key;
  if (contains(allowed, key)) return key;
  return match_key(allowed, key);
}

std::optional<int> parse_weekday(std::string_view folded) {
  if (auto n = small_number(folded, 1); n && *n >= 1 && *n <= 7) return n;
  static const std::map<std::string, int, std::less<>> kNames{
      {"mon", 1},      {"monday", 1},    {"tue", 2},    {"tues", 2},   {"tuesday", 2},
      {"wed", 3},      {"wednesday", 3}, {"thu", 4},    {"thur", 4},   {"thurs", 4},
      {"thursday", 4}, {"fri", 5},       {"friday", 5}, {"sat", 6},    {"saturday", 6},
      {"sun", 7},      {"sunday", 7},    {"پیر", 1},    {"سوموار", 1}, {"منگل", 2},
      {"بدھ", 3},      {"جمعرات", 4},    {"جمعہ", 5},   {"ہفتہ", 6},   {"اتوار", 7},
  };
  if (const auto it = kNames.find(folded); it != kNames.end()) return it->second;
  return std::nullopt;
}

struct Window {
  int start;
  int end;
};

// "HH-HH" (also "H-H", "HH:00-HH:00", an en dash, spaces around the dash). nullopt when the
// form is wrong; the range is checked by the caller.
std::optional<Window> parse_window(std::string_view folded) {
  std::size_t dash = folded.find('-');
  std::size_t dash_len = 1;
  if (dash == std::string_view::npos) {
    dash = folded.find("\xE2\x80\x93");  // U+2013 EN DASH
    dash_len = 3;
  }
  if (dash == std::string_view::npos) return std::nullopt;
  const auto hour = [](std::string_view part) -> std::optional<int> {
    part = trim(part);
    if (part.ends_with(":00")) part.remove_suffix(3);
    return small_number(part, 2);
  };
  const auto start = hour(folded.substr(0, dash));
  const auto end = hour(folded.substr(dash + dash_len));
  if (!start || !end) return std::nullopt;
  return Window{*start, *end};
}

std::optional<bool> parse_yes_no(std::string_view folded) {
  static const std::map<std::string, bool, std::less<>> kWords{
      {"yes", true}, {"y", true},  {"1", true},  {"true", true},   {"ہاں", true},
      {"no", false}, {"n", false}, {"0", false}, {"false", false}, {"نہیں", false},
  };
  if (const auto it = kWords.find(folded); it != kWords.end()) return it->second;
  return std::nullopt;
}

void add(std::string& reasons, const std::string& reason) {
  if (!reasons.empty()) reasons += "; ";
  reasons += reason;
}

std::string joined(const std::vector<std::string>& keys) {
  std::string out;
  for (const std::string& k : keys) {
    if (!out.empty()) out += ", ";
    out += k;
  }
  return out;
}

}  // namespace

EnrolmentParse parse_enrolment_csv(std::string_view csv, const EnrolmentRules& rules) {
  EnrolmentParse result;
  if (csv.starts_with("\xEF\xBB\xBF")) csv.remove_prefix(3);

  std::vector<Record> records = split_csv(csv);
  const auto blank = [](const Record& r) {
    return std::all_of(r.fields.begin(), r.fields.end(), [](const Field& f) {
      return !f.malformed && !f.unterminated && trim(f.value).empty();
    });
  };
  records.erase(std::remove_if(records.begin(), records.end(), blank), records.end());
  if (records.empty()) {
    result.fatal = "empty file: no header line";
    return result;
  }

  // ---- Header.
  const Record& header = records.front();
  if (looks_like_data(header)) {
    result.fatal =
        "the first line must be a header naming the columns (phone, language, weekday, window, "
        "...), but it looks like a data row";
    return result;
  }
  std::array<std::optional<std::size_t>, kColumns> position{};  // field index of each column
  std::vector<std::string> names;                               // column name of each field
  for (std::size_t i = 0; i < header.fields.size(); ++i) {
    const Field& f = header.fields[i];
    if (f.malformed || f.unterminated) {
      result.fatal = "header: malformed quoting in column " + std::to_string(i + 1);
      return result;
    }
    const std::string key = header_key(f.value);
    if (key.empty()) {
      result.fatal = "header: column " + std::to_string(i + 1) + " has no name";
      return result;
    }
    const auto spec = std::find_if(kColumnSpecs.begin(), kColumnSpecs.end(),
                                   [&](const ColumnSpec& s) { return key == s.name; });
    if (spec == kColumnSpecs.end()) {
      result.fatal = "unknown column '" + std::string(trim(f.value)) + "'";
      return result;
    }
    if (position[index_of(spec->col)]) {
      result.fatal = "duplicate column '" + key + "'";
      return result;
    }
    position[index_of(spec->col)] = i;
    names.push_back(key);
  }
  std::vector<std::string> missing;
  for (const ColumnSpec& s : kColumnSpecs) {
    if (s.required && !position[index_of(s.col)])
      missing.push_back("'" + std::string(s.name) + "'");
  }
  if (!missing.empty()) {
    result.fatal = std::string(missing.size() == 1 ? "missing required column "
                                                   : "missing required columns ") +
                   joined(missing);
    return result;
  }

  // ---- Rows.
  std::map<std::string, std::size_t, std::less<>> first_line_of;  // phone -> line
  for (auto rec = records.begin() + 1; rec != records.end(); ++rec) {
    std::string reasons;
    const std::size_t width = names.size();
    bool extra = false;
    for (std::size_t i = width; i < rec->fields.size(); ++i) {
      if (!trim(rec->fields[i].value).empty() || rec->fields[i].malformed ||
          rec->fields[i].unterminated) {
        extra = true;
      }
    }
    if (rec->fields.size() < width || extra) {
      add(reasons, "row has " + std::to_string(rec->fields.size()) + " fields, the header has " +
                       std::to_string(width));
    }
    for (std::size_t i = 0; i < std::min(width, rec->fields.size()); ++i) {
      if (rec->fields[i].unterminated) {
        add(reasons, names[i] + ": quoted field never closed");
      } else if (rec->fields[i].malformed) {
        add(reasons, names[i] + ": malformed quoting");
      }
    }
    if (!reasons.empty()) {
      result.rejected.push_back({rec->line, reasons});
      continue;
    }

    const auto value = [&](Col c) -> std::string {
      const auto p = position[index_of(c)];
      return p ? fold(rec->fields[*p].value) : std::string();
    };

    EnrolmentRow row;
    row.line = rec->line;

    const std::string raw_phone = value(Col::phone);
    if (raw_phone.empty()) {
      add(reasons, "phone: missing");
    } else if (auto phone = parse_phone(rec->fields[*position[index_of(Col::phone)]].value)) {
      const auto [it, inserted] = first_line_of.emplace(*phone, rec->line);
      if (!inserted) add(reasons, "phone: duplicate of line " + std::to_string(it->second));
      row.phone = std::move(*phone);
    } else {
      add(reasons, "phone: not a valid number");
    }

    const std::string language = value(Col::language);
    if (language.empty()) {
      add(reasons, "language: missing");
    } else if (auto lang = parse_language(language, rules.languages)) {
      row.language = std::move(*lang);
    } else {
      add(reasons, "language: not one of " + joined(rules.languages));
    }

    const std::string district = value(Col::district);
    if (!district.empty()) {
      if (rules.districts.empty()) {
        row.district = district;
      } else if (auto d = match_key(rules.districts, district)) {
        row.district = std::move(*d);
      } else {
        add(reasons, "district: not a configured district");
      }
    }

    const std::string weekday = value(Col::weekday);
    if (weekday.empty()) {
      add(reasons, "weekday: missing");
    } else if (auto wd = parse_weekday(weekday)) {
      row.weekday = *wd;
    } else {
      add(reasons, "weekday: expected 1-7 (1 = Monday) or a day name");
    }

    const std::string window = value(Col::window);
    if (window.empty()) {
      add(reasons, "window: missing");
    } else if (auto w = parse_window(window); !w) {
      add(reasons, "window: expected local hours HH-HH, e.g. 10-14");
    } else if (!(w->start >= 0 && w->start < w->end && w->end <= 24)) {
      add(reasons, "window: hours must satisfy 0 <= start < end <= 24");
    } else {
      row.window_start_hour = w->start;
      row.window_end_hour = w->end;
    }

    bool channel_ok = true;
    const std::string channel = value(Col::channel);
    if (channel.empty()) {
      row.channel = kDefaultChannel;
    } else if (channel == "sms" || channel == "ussd") {
      row.channel = channel;
    } else {
      channel_ok = false;
      add(reasons, "channel: expected sms or ussd");
    }

    // Absent or empty means no; false when the value is not a yes/no word.
    const auto yes_no = [&](Col c, const char* name, bool& target) {
      const std::string v = value(c);
      target = false;
      if (v.empty()) return true;
      if (const auto yes = parse_yes_no(v)) {
        target = *yes;
        return true;
      }
      add(reasons, std::string(name) + ": expected yes or no");
      return false;
    };
    const bool sms_ok_ok = yes_no(Col::sms_ok, "sms_ok", row.sms_ok);
    yes_no(Col::confirm_ok, "confirm_ok", row.confirm_ok);

    if (channel_ok && sms_ok_ok && row.channel == "sms" && !row.sms_ok) {
      add(reasons, "channel sms needs sms_ok=yes");
    }

    if (reasons.empty()) {
      result.accepted.push_back(std::move(row));
    } else {
      result.rejected.push_back({rec->line, std::move(reasons)});
    }
  }
  return result;
}

}  // namespace rabta::gateway
