#include "flows/local_time.hpp"

#include <array>
#include <chrono>
#include <cstdio>
#include <stdexcept>

namespace rabta::gateway {
namespace {

namespace chr = std::chrono;

constexpr std::int64_t kMsPerDay = 86'400'000;
constexpr std::int64_t kMsPerHour = 3'600'000;
constexpr std::int64_t kMsPerMinute = 60'000;

struct NamedZone {
  const char* name;
  std::int32_t offset_seconds;
};

// Only zones without daylight saving time (see local_time.hpp before adding one).
constexpr std::array<NamedZone, 5> kZones{{
    {"Asia/Karachi", 5 * 3600},         // PKT; no DST since 2009
    {"Asia/Kolkata", 5 * 3600 + 1800},  // IST; no DST
    {"Asia/Dhaka", 6 * 3600},           // BST (Bangladesh); no DST since 2009
    {"Africa/Nairobi", 3 * 3600},       // EAT; no DST
    {"UTC", 0},
}};

constexpr std::int32_t kMinOffset = -12 * 3600;
constexpr std::int32_t kMaxOffset = 14 * 3600;

// Days since 1970-01-01 of a proleptic Gregorian date (std::chrono's civil-date algorithms).
constexpr std::int64_t days_from_civil(int y, unsigned m, unsigned d) {
  return chr::sys_days{chr::year{y} / chr::month{m} / chr::day{d}}.time_since_epoch().count();
}

constexpr std::int64_t kMinLocalMs = days_from_civil(1, 1, 1) * kMsPerDay;
constexpr std::int64_t kEndLocalMs = days_from_civil(10000, 1, 1) * kMsPerDay;  // exclusive

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::optional<int> two_digits(std::string_view s) {
  if (s.size() != 2 || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9') return std::nullopt;
  return (s[0] - '0') * 10 + (s[1] - '0');
}

std::string offset_name(std::int32_t offset_seconds) {
  const std::int32_t a = offset_seconds < 0 ? -offset_seconds : offset_seconds;
  char buf[16];
  std::snprintf(buf, sizeof buf, "UTC%c%02d:%02d", offset_seconds < 0 ? '-' : '+', a / 3600,
                a % 3600 / 60);
  return buf;
}

chr::year_month_day checked_date(int year, int month, int day) {
  if (year < 1 || year > 9999 || month < 1 || month > 12 || day < 1 || day > 31) {
    throw std::invalid_argument("invalid date");
  }
  const chr::year_month_day ymd{chr::year{year} / chr::month{static_cast<unsigned>(month)} /
                                chr::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) throw std::invalid_argument("invalid date");
  return ymd;
}

}  // namespace

std::optional<Zone> parse_zone(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  for (const NamedZone& z : kZones) {
    if (iequals(text, z.name)) return Zone{z.name, z.offset_seconds};
  }
  if (text.size() > 3 && iequals(text.substr(0, 3), "UTC")) text.remove_prefix(3);
  // "+HH:MM" or "-HH:MM"
  if (text.size() != 6 || (text[0] != '+' && text[0] != '-') || text[3] != ':') {
    return std::nullopt;
  }
  const auto hours = two_digits(text.substr(1, 2));
  const auto minutes = two_digits(text.substr(4, 2));
  if (!hours || !minutes || *minutes > 59) return std::nullopt;
  const std::int32_t magnitude = *hours * 3600 + *minutes * 60;
  const std::int32_t offset = text[0] == '-' ? -magnitude : magnitude;
  if (offset < kMinOffset || offset > kMaxOffset) return std::nullopt;
  return Zone{offset_name(offset), offset};
}

std::string accepted_zone_forms() {
  std::string out;
  for (const NamedZone& z : kZones) {
    out += z.name;
    out += ", ";
  }
  out += "or a fixed offset UTC+HH:MM, +HH:MM or -HH:MM between -12:00 and +14:00 (e.g. UTC+05:00)";
  return out;
}

Zone require_zone(std::string_view text) {
  if (auto z = parse_zone(text)) return *z;
  throw std::invalid_argument("unknown time zone '" + std::string(text) +
                              "'; accepted: " + accepted_zone_forms());
}

LocalTime to_local(std::int64_t utc_ms, const Zone& zone) {
  constexpr std::int64_t kLimit = std::int64_t{1} << 62;  // far beyond year 9999, no overflow
  if (utc_ms <= -kLimit || utc_ms >= kLimit) throw std::out_of_range("time out of range");
  const std::int64_t local_ms = utc_ms + std::int64_t{zone.utc_offset_seconds} * 1000;
  if (local_ms < kMinLocalMs || local_ms >= kEndLocalMs) {
    throw std::out_of_range("time out of range (years 1 to 9999)");
  }
  const auto days =
      chr::floor<chr::days>(chr::sys_time<chr::milliseconds>{chr::milliseconds{local_ms}});
  const chr::year_month_day ymd{days};
  const std::int64_t ms_of_day = local_ms - days.time_since_epoch().count() * kMsPerDay;

  LocalTime t;
  t.year = static_cast<int>(ymd.year());
  t.month = static_cast<int>(static_cast<unsigned>(ymd.month()));
  t.day = static_cast<int>(static_cast<unsigned>(ymd.day()));
  t.weekday = static_cast<int>(chr::weekday{days}.iso_encoding());
  t.hour = static_cast<int>(ms_of_day / kMsPerHour);
  t.minute = static_cast<int>(ms_of_day % kMsPerHour / kMsPerMinute);
  return t;
}

std::string iso_week(const LocalTime& local) {
  const chr::sys_days date{checked_date(local.year, local.month, local.day)};
  // The ISO week belongs to the year of its Thursday.
  const auto iso_weekday = static_cast<int>(chr::weekday{date}.iso_encoding());
  const chr::sys_days thursday = date + chr::days{4 - iso_weekday};
  const chr::year iso_year = chr::year_month_day{thursday}.year();
  const chr::sys_days jan1{iso_year / chr::January / 1};
  const auto week = (thursday - jan1).count() / 7 + 1;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-W%02d", static_cast<int>(iso_year), static_cast<int>(week));
  return buf;
}

std::int64_t local_to_utc_ms(int year, int month, int day, int hour, const Zone& zone) {
  const chr::sys_days date{checked_date(year, month, day)};
  if (hour < 0 || hour > 24) throw std::invalid_argument("hour must be 0 to 24");
  return std::int64_t{date.time_since_epoch().count()} * kMsPerDay + hour * kMsPerHour -
         std::int64_t{zone.utc_offset_seconds} * 1000;
}

std::int64_t next_window_start(std::int64_t utc_ms, int window_start_hour, const Zone& zone) {
  if (window_start_hour < 0 || window_start_hour > 23) {
    throw std::invalid_argument("window start hour must be 0 to 23");
  }
  const LocalTime now = to_local(utc_ms, zone);
  const std::int64_t today = local_to_utc_ms(now.year, now.month, now.day, window_start_hour, zone);
  // A fixed offset has no DST: the same local hour tomorrow is exactly one day later.
  return today >= utc_ms ? today : today + kMsPerDay;
}

}  // namespace rabta::gateway
