// Aggregate statistics (SAFETY D6): counts of cases by ISO week, district and category, and of
// weekly check-ins by week, district and status, with small cells suppressed. The only way
// numbers about the women leave rabta for donors and reports.
//
// What can appear: the fixed columns measure, week, district, category, count. A district is one
// of the configured districts' keys or "unknown"; a category is a flow's category key (letters,
// digits, '_') or "other": nothing typed by anyone can reach the export. A count under
// `min_cell` is printed as "<N" and no totals or margins are printed, so no suppressed cell can
// be recovered by subtraction from this export.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <set>
#include <string>
#include <vector>

#include "adapters/store/records.hpp"
#include "flows/local_time.hpp"

namespace rabta::gateway {

struct StatsOptions {
  flows::Zone zone;                 // weeks are in this zone's local time
  std::set<std::string> districts;  // the configured district keys
  int min_cell = 5;                 // smaller counts are suppressed
};

// The CSV text (header line first, rows sorted). Pure.
std::string stats_csv(const std::vector<store::StatFact>& facts, const StatsOptions& options);

// `rabta stats --config FILE [--min-cell N] [--weeks N]`: the last N weeks (default 12).
int stats_command(const std::string& config_path, int min_cell, int weeks, std::ostream& out,
                  std::ostream& err);

}  // namespace rabta::gateway
