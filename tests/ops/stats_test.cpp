// Aggregate statistics (SAFETY D6): on a fixture with known counts the export is exactly the
// expected CSV; no cell under the threshold; only the whitelisted columns; no reference, number,
// pseudonym or text can reach it, even when stored values are odd.
#include "gateway/ops/stats.hpp"

#include <gtest/gtest.h>

#include <sstream>

namespace rabta {
namespace {

using store::StatFact;

constexpr std::int64_t kMon2026W47 = 1'795'315'200'000;  // 2026-11-16 00:00 UTC (Monday)
constexpr std::int64_t kHour = 3'600'000;

gateway::StatsOptions options() {
  gateway::StatsOptions o;
  o.zone = flows::require_zone("Asia/Karachi");
  o.districts = {"lahore", "multan"};
  o.min_cell = 5;
  return o;
}

std::vector<StatFact> fixture() {
  std::vector<StatFact> f;
  auto cases = [&](int n, std::int64_t at, const char* district, const char* category) {
    for (int i = 0; i < n; ++i) f.push_back({"case", at, "", district, category});
  };
  auto checkins = [&](int n, const char* week, const char* district, const char* status) {
    for (int i = 0; i < n; ++i) f.push_back({"checkin", 0, week, district, status});
  };
  cases(7, kMon2026W47 + 10 * kHour, "lahore", "physical_violence");
  cases(2, kMon2026W47 + 10 * kHour, "lahore", "threats");
  cases(5, kMon2026W47 + 7 * 24 * kHour, "multan", "threats");  // next week
  // Sunday 22:00 UTC is already Monday in Karachi (+05:00): week 48, not 47.
  cases(6, kMon2026W47 + 6 * 24 * kHour + 22 * kHour, "lahore", "harassment");
  checkins(12, "2026-W47", "lahore", "answered");
  checkins(3, "2026-W47", "lahore", "missed");
  return f;
}

TEST(Stats, ExactCountsWithSmallCellsSuppressed) {
  EXPECT_EQ(gateway::stats_csv(fixture(), options()),
            "measure,week,district,category,count\n"
            "case,2026-W47,lahore,physical_violence,7\n"
            "case,2026-W47,lahore,threats,<5\n"
            "case,2026-W48,lahore,harassment,6\n"
            "case,2026-W48,multan,threats,5\n"
            "checkin,2026-W47,lahore,answered,12\n"
            "checkin,2026-W47,lahore,missed,<5\n");
}

TEST(Stats, NoCellUnderTheThresholdAndOnlyTheWhitelistedColumns) {
  auto o = options();
  for (const int min_cell : {2, 5, 8}) {
    o.min_cell = min_cell;
    std::istringstream lines(gateway::stats_csv(fixture(), o));
    std::string line;
    std::getline(lines, line);
    EXPECT_EQ(line, "measure,week,district,category,count");
    int rows = 0;
    while (std::getline(lines, line)) {
      ++rows;
      const auto comma = line.rfind(',');
      const std::string count = line.substr(comma + 1);
      if (count[0] == '<') {
        EXPECT_EQ(count, "<" + std::to_string(min_cell));
      } else {
        EXPECT_GE(std::stoi(count), min_cell) << line;
      }
      EXPECT_EQ(std::count(line.begin(), line.end(), ','), 4) << line;
    }
    EXPECT_EQ(rows, 6);
  }
}

TEST(Stats, OddStoredValuesNeverReachTheExport) {
  std::vector<StatFact> f;
  for (int i = 0; i < 6; ++i) {
    // A district or category that is not a key (free text, a number, a reference) is never
    // printed as stored.
    f.push_back({"case", kMon2026W47, "", "my house near +923001234567", "physical_violence"});
    f.push_back({"case", kMon2026W47, "", "lahore", "He hit me, ref K7P3QX"});
    f.push_back({"checkin", 0, "week of 0300 123", "lahore", "answered"});
    f.push_back({"secret", kMon2026W47, "", "lahore", "x"});
  }
  const std::string csv = gateway::stats_csv(f, options());
  EXPECT_EQ(csv,
            "measure,week,district,category,count\n"
            "case,2026-W47,lahore,other,6\n"
            "case,2026-W47,unknown,physical_violence,6\n"
            "checkin,unknown,lahore,answered,6\n");
  for (const char* leak : {"923001234567", "K7P3QX", "hit", "0300", "secret", "house"})
    EXPECT_EQ(csv.find(leak), std::string::npos) << leak;
}

}  // namespace
}  // namespace rabta
