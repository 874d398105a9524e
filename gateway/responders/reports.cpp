#include "gateway/responders/reports.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <tuple>

namespace rabta::gateway {

namespace {

constexpr std::int64_t kDay = 24LL * 3600 * 1000;

// The nearest-rank percentile of sorted values (p in (0, 1]).
std::int64_t percentile(const std::vector<std::int64_t>& sorted, double p) {
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

Cell cell(std::int64_t n, int min_cell) {
  if (n < min_cell) return std::nullopt;
  return n;
}

std::string age_bucket(std::int64_t age) {
  if (age < kDay) return "under_1d";
  if (age < 7 * kDay) return "1_7d";
  if (age < 30 * kDay) return "7_30d";
  return "over_30d";
}

// A team's name as a CSV field: quoted when it holds a comma, a quote or a line break, and
// never read as a spreadsheet formula.
std::string csv_field(const std::string& s) {
  std::string v = s;
  if (!v.empty() && (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@') && v != "-")
    v = "'" + v;
  if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
  std::string q = "\"";
  for (const char c : v) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

struct WeekFacts {
  std::int64_t reported = 0;
  std::vector<std::int64_t> ack_ms;
  std::int64_t within = 0;
  std::map<std::string, std::int64_t> outcomes;
};

}  // namespace

Report build_report(const std::vector<store::CaseRecord>& cases, const Roster& roster,
                    const ReportOptions& o, std::int64_t from) {
  std::map<std::pair<std::string, std::string>, WeekFacts> weeks;
  std::map<std::pair<std::string, std::string>, std::int64_t> open;
  for (const auto& c : cases) {
    // The team the case was routed to, even after the always-on team took it over: its figures
    // are that team's (escalation.cpp routed_team).
    std::string team = c.team.empty() ? "-" : c.team;
    if (!roster.fallback_team.empty() && c.team == roster.fallback_team)
      if (const Team* routed = route_case(roster, c.district, c.category, c.severity))
        team = routed->name;
    if (c.status != store::case_status::closed) ++open[{team, age_bucket(o.now - c.created_at)}];
    if (c.created_at < from) continue;
    WeekFacts& w = weeks[{flows::iso_week(flows::to_local(c.created_at, o.zone)), team}];
    ++w.reported;
    if (c.acknowledged_at > 0) {
      const std::int64_t waited = std::max<std::int64_t>(0, c.acknowledged_at - c.created_at);
      w.ack_ms.push_back(waited);
      const std::int64_t due =
          c.ack_due_at > 0 ? c.ack_due_at : c.created_at + ack_sla(roster, c.severity).count();
      if (c.acknowledged_at <= due) ++w.within;
    }
    if (c.status == store::case_status::closed && !c.outcome.empty()) ++w.outcomes[c.outcome];
  }
  Report r;
  r.min_cell = o.min_cell;
  for (auto& [key, w] : weeks) {
    WeekRow row;
    row.week = key.first;
    row.team = key.second;
    row.reported = cell(w.reported, o.min_cell);
    const auto acked = static_cast<std::int64_t>(w.ack_ms.size());
    const auto small = [&](std::int64_t n) { return n > 0 && n < o.min_cell; };
    // Reported minus acknowledged is a cell too: a small difference hides the acknowledged count.
    row.acknowledged = small(w.reported - acked) ? std::nullopt : cell(acked, o.min_cell);
    if (acked >= o.min_cell) {
      std::sort(w.ack_ms.begin(), w.ack_ms.end());
      row.ack_median_ms = percentile(w.ack_ms, 0.5);
      // Under 10 cases the 90th percentile is the slowest case's own wait.
      if (acked >= 10) row.ack_p90_ms = percentile(w.ack_ms, 0.9);
      // The share times the acknowledged count gives the cases on time and late: both must be
      // cells that may be shown (none at all is not a small cell here: it points to nobody).
      if (!small(w.within) && !small(acked - w.within) && row.acknowledged)
        row.within_sla = static_cast<double>(w.within) / static_cast<double>(acked);
    }
    for (const auto& outcome : roster.outcomes) {
      const auto it = w.outcomes.find(outcome);
      row.outcomes[outcome] = cell(it == w.outcomes.end() ? 0 : it->second, o.min_cell);
    }
    r.weeks.push_back(std::move(row));
  }
  static const char* kAges[] = {"under_1d", "1_7d", "7_30d", "over_30d"};
  std::vector<std::string> teams;
  for (const auto& [key, n] : open)
    if (std::find(teams.begin(), teams.end(), key.first) == teams.end()) teams.push_back(key.first);
  for (const auto& team : teams)
    for (const char* age : kAges) {
      const auto it = open.find({team, age});
      r.open_by_age.push_back({team, age, cell(it == open.end() ? 0 : it->second, o.min_cell)});
    }
  return r;
}

std::string report_csv(const Report& r) {
  std::ostringstream out;
  const std::string suppressed = "<" + std::to_string(r.min_cell);
  const auto value = [&](const Cell& c) { return c ? std::to_string(*c) : suppressed; };
  // Minutes as the console shows them: rounded.
  const auto minutes = [&](const Cell& ms) {
    return ms ? std::to_string((*ms + 30'000) / 60'000) : suppressed;
  };
  out << "section,week,team,measure,value\n";
  for (const auto& w : r.weeks) {
    const std::string at = "week," + w.week + "," + csv_field(w.team) + ",";
    out << at << "reported," << value(w.reported) << "\n";
    out << at << "acknowledged," << value(w.acknowledged) << "\n";
    out << at << "ack_median_minutes," << minutes(w.ack_median_ms) << "\n";
    out << at << "ack_p90_minutes," << minutes(w.ack_p90_ms) << "\n";
    char share[16] = "";
    if (w.within_sla) std::snprintf(share, sizeof share, "%.2f", *w.within_sla);
    out << at << "within_sla_share," << (w.within_sla ? std::string(share) : suppressed) << "\n";
    for (const auto& [outcome, n] : w.outcomes)
      out << at << "outcome_" << outcome << "," << value(n) << "\n";
  }
  for (const auto& a : r.open_by_age)
    out << "open,," << csv_field(a.team) << ",open_" << a.age << "," << value(a.open) << "\n";
  return out.str();
}

}  // namespace rabta::gateway
