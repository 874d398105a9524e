// Her local calendar time, for the weekly check-in scheduler: local weekday and hour for her
// contact window, and the ISO week that keys a check-in ("2026-W48").
//
// Zones are IANA time zones from the system's zoneinfo (Debian's tzdata), read through Howard
// Hinnant's date/tz library (Debian libhowardhinnant-date-dev, the library C++20's <chrono> time
// zones come from), so any zone works, with its daylight saving time and its history; or a fixed
// offset "UTC+05:00". Thread-safe: no TZ environment, no localtime_r. The one I/O is the first
// lookup of a name, which loads the zoneinfo once (parse_zone); conversions are pure after that.
// Across a daylight saving change, a local hour that does not exist (the clocks jumped over it)
// starts at the jump, and a local hour that happens twice counts its first time.
//
// Times are Unix epoch milliseconds (UTC). Supported local dates are years 1 to 9999.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace date {
class time_zone;
}

namespace rabta::flows {

struct Zone {
  std::string name;                       // canonical, e.g. "Asia/Karachi" or "UTC+05:00"
  const date::time_zone* tz = nullptr;    // the IANA zone; null for a fixed offset
  std::int32_t fixed_offset_seconds = 0;  // local = UTC + offset, when tz is null

  friend bool operator==(const Zone& a, const Zone& b) {
    return a.name == b.name && a.tz == b.tz && a.fixed_offset_seconds == b.fixed_offset_seconds;
  }
};

struct LocalTime {
  int year = 1970;
  int month = 1;    // 1..12
  int day = 1;      // 1..31
  int weekday = 4;  // ISO: 1 = Monday .. 7 = Sunday
  int hour = 0;     // 0..23
  int minute = 0;   // 0..59

  friend bool operator==(const LocalTime&, const LocalTime&) = default;
};

// An IANA zone name ("Asia/Karachi", "Europe/London"; also an alias such as "Asia/Calcutta", which
// gives its zone), matched case-insensitively; "UTC"; or a fixed offset "UTC+HH:MM" or
// "+HH:MM" / "-HH:MM" between -12:00 and +14:00. nullopt for anything else, and for every name
// when the system has no zoneinfo.
std::optional<Zone> parse_zone(std::string_view text);

// The accepted forms, for error messages.
std::string accepted_zone_forms();

// parse_zone, or std::invalid_argument "unknown time zone '<text>'; accepted: <forms>".
Zone require_zone(std::string_view text);

// Her local date and time at utc_ms. Throws std::out_of_range outside years 1..9999.
LocalTime to_local(std::int64_t utc_ms, const Zone& zone);

// The ISO 8601 week of the local date, "YYYY-Www": weeks start on Monday and week 1 is the one
// holding the year's first Thursday, so 2021-01-03 is "2020-W53" and 2026-12-31 is "2026-W53".
// Uses year, month and day only. Throws std::invalid_argument for an invalid date.
std::string iso_week(const LocalTime& local);

// The UTC instant of local hour:00 on the given local date. hour may be 24 (the end of the
// day, i.e. 00:00 of the next). Throws std::invalid_argument for an invalid date or hour.
std::int64_t local_to_utc_ms(int year, int month, int day, int hour, const Zone& zone);

// The first instant at or after utc_ms at which her local clock shows window_start_hour:00:
// today's if it has not passed yet (an instant exactly on it counts as not passed), else
// tomorrow's (which is 23 or 25 hours later across a daylight saving change). Throws
// std::invalid_argument unless 0 <= window_start_hour <= 23.
std::int64_t next_window_start(std::int64_t utc_ms, int window_start_hour, const Zone& zone);

}  // namespace rabta::flows
