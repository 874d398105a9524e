// Caseworker reports (#15): per ISO week (of her report, in the service's zone) and team, how
// many cases came, how long they waited for an acknowledgement (median and 90th percentile),
// the share acknowledged within the SLA and the outcomes; and the cases still open by age.
// Pure: the cases come in, the report goes out.
//
// Small cells are suppressed as in `rabta stats` (SAFETY D6): a count under `min_cell` is
// reported as suppressed, and so is every figure computed from fewer than `min_cell` cases (a
// median of two cases tells each case's time); the acknowledged count also when fewer than
// `min_cell` cases were not acknowledged (reported minus acknowledged is a cell); the 90th
// percentile under 10 cases (it would be the slowest case's own wait); the share within the SLA
// when the cases on time or late are a small cell (share times count gives them). A case counts
// for the team it was routed to, also after the always-on team took it over. Outcomes are counts
// of the week's closed cases: with the week's total they bound, but do not give, the cases still
// open; a report for outside the team is `rabta stats`.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "adapters/store/records.hpp"
#include "flows/local_time.hpp"
#include "gateway/responders/responders.hpp"

namespace rabta::gateway {

struct ReportOptions {
  flows::Zone zone;
  int min_cell = 5;
  std::int64_t now = 0;
};

// nullopt = suppressed (fewer than min_cell behind it).
using Cell = std::optional<std::int64_t>;

struct WeekRow {
  std::string week;  // "2026-W49"
  std::string team;
  Cell reported;
  Cell acknowledged;
  Cell ack_median_ms;
  Cell ack_p90_ms;
  std::optional<double> within_sla;      // share of the acknowledged ones, 0..1
  std::map<std::string, Cell> outcomes;  // closed cases of the week by outcome
};

struct AgeRow {
  std::string team;
  std::string age;  // "under_1d", "1_7d", "7_30d", "over_30d"
  Cell open;
};

struct Report {
  std::vector<WeekRow> weeks;       // by week, then team
  std::vector<AgeRow> open_by_age;  // by team, then age
  int min_cell = 5;
};

// `cases`: every case reported in the weeks asked for, plus every case still open.
Report build_report(const std::vector<store::CaseRecord>& cases, const Roster& roster,
                    const ReportOptions& options, std::int64_t from);

// section,week,team,measure,value (value "<N" when suppressed), rows in the report's order.
std::string report_csv(const Report& report);

}  // namespace rabta::gateway
