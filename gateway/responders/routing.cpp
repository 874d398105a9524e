// Routing, the escalation ladder, acknowledgement SLAs and the alert text (responders.hpp).
#include <algorithm>
#include <string>
#include <vector>

#include "gateway/responders/responders.hpp"

namespace rabta::gateway {

const Team* route_case(const Roster& roster, const std::string& district,
                       const std::string& category, const std::string& severity) {
  auto match = [](const std::string& rule, const std::string& value) {
    return rule == "*" || rule == value;
  };
  for (const auto& r : roster.routes) {
    if (!match(r.district, district) || !match(r.category, category) ||
        !match(r.severity, severity))
      continue;
    for (const auto& t : roster.teams)
      if (t.name == r.team) return &t;
    return nullptr;
  }
  return nullptr;
}

std::optional<Member> ladder_rung(const Team& team, int rung, const flows::LocalTime& now) {
  if (rung < 1) return std::nullopt;
  const bool on_duty = std::find(team.on_duty_weekdays.begin(), team.on_duty_weekdays.end(),
                                 now.weekday) != team.on_duty_weekdays.end() &&
                       now.hour >= team.on_duty_start_hour && now.hour < team.on_duty_end_hour;
  std::vector<const Member*> ladder;
  if (on_duty)
    for (const auto& m : team.members)
      if (m.role != "supervisor") ladder.push_back(&m);
  for (const auto& m : team.members)
    if (m.name == team.supervisor) {
      ladder.push_back(&m);
      break;
    }
  if (static_cast<std::size_t>(rung) > ladder.size()) return std::nullopt;
  return *ladder[static_cast<std::size_t>(rung - 1)];
}

namespace {

bool team_on_duty(const Team& team, const flows::LocalTime& now) {
  return std::find(team.on_duty_weekdays.begin(), team.on_duty_weekdays.end(), now.weekday) !=
             team.on_duty_weekdays.end() &&
         now.hour >= team.on_duty_start_hour && now.hour < team.on_duty_end_hour;
}

void add_team_ladder(std::vector<Rung>& out, const Team& team, bool on_duty) {
  if (on_duty)
    for (const auto& m : team.members)
      if (m.role != "supervisor") out.push_back({m, team.name});
  for (const auto& m : team.members)
    if (m.name == team.supervisor) {
      out.push_back({m, team.name});
      break;
    }
}

}  // namespace

std::vector<Rung> escalation_ladder(const Roster& roster, const Team& team,
                                    const flows::LocalTime& now) {
  std::vector<Rung> out;
  const Team* fallback = nullptr;
  for (const auto& t : roster.teams)
    if (!roster.fallback_team.empty() && t.name == roster.fallback_team && t.name != team.name)
      fallback = &t;
  const bool on_duty = team_on_duty(team, now);
  if (on_duty || !fallback) {
    add_team_ladder(out, team, on_duty);
    if (fallback) add_team_ladder(out, *fallback, team_on_duty(*fallback, now));
  } else {
    // Off duty: the always-on team's caseworkers, the own team's supervisor, and the always-on
    // supervisor last, who is the one alerted again past the end.
    std::vector<Rung> fb;
    add_team_ladder(fb, *fallback, team_on_duty(*fallback, now));
    const bool fb_has_supervisor = !fb.empty() && fb.back().member.role == "supervisor";
    out.insert(out.end(), fb.begin(), fb_has_supervisor ? fb.end() - 1 : fb.end());
    add_team_ladder(out, team, false);
    if (fb_has_supervisor) out.push_back(fb.back());
  }
  return out;
}

std::chrono::milliseconds ack_sla(const Roster& roster, const std::string& severity) {
  if (const auto it = roster.ack_sla.find(severity); it != roster.ack_sla.end()) return it->second;
  // An unknown severity fails towards urgency: the shortest configured time (0 with none).
  std::chrono::milliseconds shortest{0};
  bool first = true;
  for (const auto& [sev, d] : roster.ack_sla) {
    if (first || d < shortest) shortest = d;
    first = false;
  }
  return shortest;
}

std::string alert_text(const Roster& roster, const std::string& reference,
                       const std::string& severity) {
  std::string out;
  const std::string& t = roster.alert_template;
  for (std::size_t i = 0; i < t.size();) {
    if (t.compare(i, 5, "{ref}") == 0) {
      out += reference;
      i += 5;
    } else if (t.compare(i, 10, "{severity}") == 0) {
      out += severity;
      i += 10;
    } else {
      out.push_back(t[i++]);
    }
  }
  return out;
}

}  // namespace rabta::gateway
