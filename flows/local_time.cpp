#include "flows/local_time.hpp"

#include <date/tz.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <stdexcept>

namespace rabta::flows {
namespace {

namespace chr = std::chrono;

constexpr std::int64_t kMsPerDay = 86'400'000;
constexpr std::int64_t kMsPerHour = 3'600'000;
constexpr std::int64_t kMsPerMinute = 60'000;

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

// The IANA zone of that name or alias, matched case-insensitively; null when there is none or no
// zoneinfo at all.
const date::time_zone* find_zone(std::string_view name) {
  if (name.empty()) return nullptr;
  // get_info reads the zone's file now, so an unreadable one is refused here, at start, and
  // not in the middle of a scheduler pass.
  const auto loaded = [](const date::time_zone* z) -> const date::time_zone* {
    (void)z->get_info(date::sys_seconds{});
    return z;
  };
  try {
    return loaded(date::locate_zone(name));
  } catch (const std::exception&) {
    // Not this spelling (or an unreadable file): try every name without regard to case.
  }
  try {
    const date::tzdb& db = date::get_tzdb();
    // From the system's zoneinfo (USE_OS_TZDB), aliases such as Asia/Calcutta are zones too.
    for (const date::time_zone& z : db.zones)
      if (iequals(z.name(), name)) return loaded(&z);
  } catch (const std::exception&) {
    // No zoneinfo on this system.
  }
  return nullptr;
}

// Seconds to add to UTC for local time at utc_ms.
std::int64_t offset_at(std::int64_t utc_ms, const Zone& zone) {
  if (zone.tz == nullptr) return zone.fixed_offset_seconds;
  const date::sys_seconds at{chr::floor<chr::seconds>(chr::milliseconds{utc_ms})};
  return zone.tz->get_info(at).offset.count();
}

}  // namespace

std::optional<Zone> parse_zone(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  if (iequals(text, "UTC")) return Zone{"UTC", nullptr, 0};
  if (!text.empty() && text.front() != '+' && text.front() != '-' &&
      !(text.size() > 3 && iequals(text.substr(0, 3), "UTC"))) {
    if (const date::time_zone* tz = find_zone(text)) return Zone{tz->name(), tz, 0};
    return std::nullopt;
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
  return Zone{offset_name(offset), nullptr, offset};
}

std::string accepted_zone_forms() {
  return "an IANA time zone name from the system's zoneinfo (e.g. Asia/Karachi, Asia/Kolkata, "
         "Africa/Nairobi, Europe/London), UTC, or a fixed offset UTC+HH:MM, +HH:MM or -HH:MM "
         "between -12:00 and +14:00 (e.g. UTC+05:00)";
}

Zone require_zone(std::string_view text) {
  if (auto z = parse_zone(text)) return *z;
  throw std::invalid_argument("unknown time zone '" + std::string(text) +
                              "'; accepted: " + accepted_zone_forms());
}

LocalTime to_local(std::int64_t utc_ms, const Zone& zone) {
  constexpr std::int64_t kLimit = std::int64_t{1} << 62;  // far beyond year 9999, no overflow
  if (utc_ms <= -kLimit || utc_ms >= kLimit) throw std::out_of_range("time out of range");
  if (utc_ms < kMinLocalMs - kMsPerDay || utc_ms >= kEndLocalMs + kMsPerDay) {
    throw std::out_of_range("time out of range (years 1 to 9999)");
  }
  const std::int64_t local_ms = utc_ms + offset_at(utc_ms, zone) * 1000;
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
  char buf[24];
  std::snprintf(buf, sizeof buf, "%04d-W%02d", static_cast<int>(iso_year), static_cast<int>(week));
  return buf;
}

std::int64_t local_to_utc_ms(int year, int month, int day, int hour, const Zone& zone) {
  const chr::sys_days day_start{checked_date(year, month, day)};
  if (hour < 0 || hour > 24) throw std::invalid_argument("hour must be 0 to 24");
  const std::int64_t local_ms =
      std::int64_t{day_start.time_since_epoch().count()} * kMsPerDay + hour * kMsPerHour;
  if (zone.tz == nullptr) return local_ms - std::int64_t{zone.fixed_offset_seconds} * 1000;
  // A local time the clocks jumped over maps to the jump; one they passed twice, to its first.
  const date::local_seconds local{chr::seconds{local_ms / 1000}};
  const date::sys_seconds utc = zone.tz->to_sys(local, date::choose::earliest);
  return std::int64_t{utc.time_since_epoch().count()} * 1000;
}

std::int64_t next_window_start(std::int64_t utc_ms, int window_start_hour, const Zone& zone) {
  if (window_start_hour < 0 || window_start_hour > 23) {
    throw std::invalid_argument("window start hour must be 0 to 23");
  }
  const LocalTime now = to_local(utc_ms, zone);
  const std::int64_t today = local_to_utc_ms(now.year, now.month, now.day, window_start_hour, zone);
  if (today >= utc_ms) return today;
  // Tomorrow by the calendar, not 24 hours on: a daylight saving change makes the day 23 or 25.
  const chr::year_month_day tomorrow{chr::sys_days{checked_date(now.year, now.month, now.day)} +
                                     chr::days{1}};
  return local_to_utc_ms(
      static_cast<int>(tomorrow.year()), static_cast<int>(static_cast<unsigned>(tomorrow.month())),
      static_cast<int>(static_cast<unsigned>(tomorrow.day())), window_start_hour, zone);
}

}  // namespace rabta::flows
