// Caseworker reports (#15), pure: weekly figures per team from the cases, small cells
// suppressed as in `rabta stats` (SAFETY D6), and the CSV download.
#include "gateway/responders/reports.hpp"

#include <gtest/gtest.h>

using namespace rabta;
using namespace rabta::gateway;

namespace {

constexpr std::int64_t kMinute = 60'000;
// Monday 2026-11-30 00:00 in Karachi (UTC+5) = Sunday 2026-11-29 19:00 UTC: ISO week 2026-W49.
constexpr std::int64_t kMonday = 1795978800000;

store::CaseRecord acked(std::int64_t id, const std::string& team, std::int64_t created,
                        std::int64_t wait_minutes, std::int64_t sla_minutes = 15) {
  store::CaseRecord c;
  c.id = id;
  c.reference = "R" + std::to_string(id);
  c.team = team;
  c.severity = "high";
  c.created_at = created;
  c.acknowledged_at = created + wait_minutes * kMinute;
  c.ack_due_at = created + sla_minutes * kMinute;
  c.status = store::case_status::acknowledged;
  return c;
}

Roster roster() {
  Roster r;
  r.ack_sla["high"] = std::chrono::minutes(15);
  r.outcomes = {"resolved", "referred"};
  return r;
}

ReportOptions options(std::int64_t now) {
  ReportOptions o;
  o.zone = *flows::parse_zone("Asia/Karachi");
  o.now = now;
  return o;
}

}  // namespace

TEST(Reports, MedianP90AndShareWithinTheSlaPerWeekAndTeam) {
  std::vector<store::CaseRecord> cases;
  // Ten cases of team punjab in week 49, waiting 1..10 minutes, then 20 and 30: 12 in all.
  for (int i = 1; i <= 10; ++i) cases.push_back(acked(i, "punjab", kMonday + i * kMinute, i));
  cases.push_back(acked(11, "punjab", kMonday + kMinute, 20));
  cases.push_back(acked(12, "punjab", kMonday + kMinute, 30));
  for (int i = 0; i < 6; ++i) {
    cases[static_cast<std::size_t>(i)].status = store::case_status::closed;
    cases[static_cast<std::size_t>(i)].outcome = "resolved";
  }
  const Report r = build_report(cases, roster(), options(kMonday + 3 * 86'400'000), kMonday);
  ASSERT_EQ(r.weeks.size(), 1u);
  const WeekRow& w = r.weeks[0];
  EXPECT_EQ(w.week, "2026-W49");
  EXPECT_EQ(w.team, "punjab");
  EXPECT_EQ(w.reported, 12);
  EXPECT_EQ(w.acknowledged, 12);
  // Sorted waits: 1..10, 20, 30 minutes. Nearest rank: median = 6th = 6 min, p90 = 11th = 20.
  EXPECT_EQ(w.ack_median_ms, 6 * kMinute);
  EXPECT_EQ(w.ack_p90_ms, 20 * kMinute);
  // 10 on time and 2 late: the share would give the 2 late cases away.
  EXPECT_FALSE(w.within_sla);
  EXPECT_EQ(w.outcomes.at("resolved"), 6);
  EXPECT_EQ(w.outcomes.at("referred"), std::nullopt) << "0 is a small cell too";
  // Six still open, reported on Monday and counted on Thursday: 1 to 7 days old.
  ASSERT_EQ(r.open_by_age.size(), 4u);
  EXPECT_EQ(r.open_by_age[1].age, "1_7d");
  EXPECT_EQ(r.open_by_age[1].open, 6);
  EXPECT_EQ(r.open_by_age[0].open, std::nullopt);
}

TEST(Reports, FiguresFromFewerThanTheMinimumCellAreSuppressed) {
  std::vector<store::CaseRecord> cases;
  for (int i = 1; i <= 4; ++i) cases.push_back(acked(i, "kp", kMonday + i * kMinute, i));
  const Report r = build_report(cases, roster(), options(kMonday + kMinute * 60), kMonday);
  ASSERT_EQ(r.weeks.size(), 1u);
  EXPECT_EQ(r.weeks[0].reported, std::nullopt);
  EXPECT_EQ(r.weeks[0].ack_median_ms, std::nullopt) << "a median of four tells their times";
  EXPECT_EQ(r.weeks[0].ack_p90_ms, std::nullopt);
  EXPECT_FALSE(r.weeks[0].within_sla);
  const std::string csv = report_csv(r);
  EXPECT_EQ(csv.find("section,week,team,measure,value\n"), 0u);
  EXPECT_NE(csv.find("week,2026-W49,kp,reported,<5\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("week,2026-W49,kp,ack_median_minutes,<5\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("open,,kp,open_under_1d,<5\n"), std::string::npos) << csv;
  // No digit of a suppressed figure anywhere: only the codes, the week and "<5".
  EXPECT_EQ(csv.find(",4\n"), std::string::npos) << csv;
}

TEST(Reports, CasesBeforeTheRangeCountOnlyWhileOpen) {
  std::vector<store::CaseRecord> cases;
  for (int i = 1; i <= 5; ++i) {
    store::CaseRecord c = acked(i, "punjab", kMonday - 40LL * 86'400'000, 1);
    c.status = store::case_status::claimed;
    cases.push_back(c);
  }
  const Report r = build_report(cases, roster(), options(kMonday), kMonday);
  EXPECT_TRUE(r.weeks.empty());
  ASSERT_EQ(r.open_by_age.size(), 4u);
  EXPECT_EQ(r.open_by_age[3].age, "over_30d");
  EXPECT_EQ(r.open_by_age[3].open, 5);
}

// Review of the suppression: every figure that would give away a count under the minimum, or a
// single case's own wait, is suppressed too.
TEST(Reports, DerivedFiguresDoNotGiveSmallCountsAway) {
  std::vector<store::CaseRecord> cases;
  // 20 acknowledged: 15 within the SLA, 5 late; one more reported and never acknowledged.
  for (int i = 1; i <= 20; ++i)
    cases.push_back(acked(i, "punjab", kMonday + i * kMinute, i <= 15 ? 5 : 30));
  store::CaseRecord waiting = acked(21, "punjab", kMonday + kMinute, 0);
  waiting.acknowledged_at = 0;
  waiting.status = store::case_status::open;
  cases.push_back(waiting);
  Report r = build_report(cases, roster(), options(kMonday + 86'400'000), kMonday);
  ASSERT_EQ(r.weeks.size(), 1u);
  EXPECT_EQ(r.weeks[0].reported, 21);
  EXPECT_EQ(r.weeks[0].acknowledged, std::nullopt) << "21 - 20 = 1 never acknowledged";
  EXPECT_EQ(r.weeks[0].within_sla, std::nullopt) << "without the count, no share either";
  cases.pop_back();
  r = build_report(cases, roster(), options(kMonday + 86'400'000), kMonday);
  EXPECT_EQ(r.weeks[0].acknowledged, 20);
  ASSERT_TRUE(r.weeks[0].within_sla);
  EXPECT_DOUBLE_EQ(*r.weeks[0].within_sla, 0.75) << "15 on time and 5 late: both may be shown";
  // Five to nine cases: a median, but no 90th percentile (it would be the slowest case's wait).
  cases.resize(7);
  r = build_report(cases, roster(), options(kMonday + 86'400'000), kMonday);
  EXPECT_TRUE(r.weeks[0].ack_median_ms);
  EXPECT_EQ(r.weeks[0].ack_p90_ms, std::nullopt);
}

TEST(Reports, ACaseCountsForTheTeamItWasRoutedToAndNamesAreSafeInCsv) {
  Roster ro = roster();
  Team punjab;
  punjab.name = "punjab";
  Team national;
  national.name = "national";
  ro.teams = {punjab, national};
  ro.fallback_team = "national";
  Route route;
  route.team = "punjab";
  ro.routes = {route};
  std::vector<store::CaseRecord> cases;
  // Taken over by the always-on team: still punjab's case in punjab's figures.
  for (int i = 1; i <= 5; ++i) cases.push_back(acked(i, "national", kMonday + i * kMinute, 3));
  Report r = build_report(cases, ro, options(kMonday + 86'400'000), kMonday);
  ASSERT_EQ(r.weeks.size(), 1u);
  EXPECT_EQ(r.weeks[0].team, "punjab");
  // A team named like a formula, or with a comma, stays one harmless CSV field.
  r.weeks[0].team = "=HYPERLINK(\"x\"),a";
  const std::string csv = report_csv(r);
  EXPECT_NE(csv.find("week,2026-W49,\"'=HYPERLINK(\"\"x\"\"),a\",reported,5\n"), std::string::npos)
      << csv;
}
