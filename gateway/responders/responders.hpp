// Responders and routing as config (config/responders.toml): teams of caseworkers with on-duty
// hours and a supervisor, routing rules from (district, category, severity) to a team, an
// acknowledgement SLA per severity and the escalation ladder. Pure: the file is read by the
// caller; time comes in as her local time.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/common/crypto.hpp"
#include "adapters/webhook/sink.hpp"
#include "flows/flow.hpp"
#include "flows/local_time.hpp"

namespace rabta::gateway {

struct Member {
  std::string name;   // unique across the roster
  std::string phone;  // E.164 (normalised); SMS alerts go here, her ACK comes from here
  std::string role;   // "caseworker" or "supervisor"
  bool can_export = false;
  flows::SourcePos pos;
};

struct Team {
  std::string name;
  std::vector<Member> members;  // ladder order; supervisors are not on the duty ladder
  std::string supervisor;       // the name of a member with role "supervisor" (last rung)
  int on_duty_start_hour = 0;   // local hours [start, end) on the listed weekdays
  int on_duty_end_hour = 24;
  std::vector<int> on_duty_weekdays = {1, 2, 3, 4, 5, 6, 7};  // 1 = Monday
  flows::SourcePos pos;
};

struct Route {
  std::string district = "*";  // a districts-list key or "*"
  std::string category = "*";  // a case category or "*"
  std::string severity = "*";  // low, normal, high, critical or "*"
  std::string team;
  flows::SourcePos pos;
};

struct Roster {
  std::vector<Team> teams;
  std::vector<Route> routes;  // first match wins; validation requires a final catch-all
  std::map<std::string, std::chrono::milliseconds> ack_sla;  // severity -> time to acknowledge
  std::string alert_channel;             // the [channels.X] that sends SMS alerts
  std::uint32_t alert_channel_line = 0;  // where it is written in responders.toml
  std::string alert_template = "rabta case {ref}, severity {severity}. Reply ACK {ref}";
  adapters::webhook::WebhookSink webhook;
  // Referral partners ([[partners]]): a police women's desk, an NGO, legal aid, a shelter. A case
  // is referred to one only with her consent for the partner's purpose in that case; the partner
  // then receives the case's events as signed webhooks (adapters/webhook/sink.hpp).
  std::vector<adapters::webhook::WebhookSink> partners;
  // The service code that opens the responders' USSD menu ("" = the service's codes, for a
  // registered responder's number; gateway/inbound/responder_ussd.hpp).
  std::string responder_ussd_code;
  // SAFETY W6: the always-on team (every day, 0-24) that takes over when a team is off duty or
  // its ladder is exhausted; "" = none.
  std::string fallback_team;
  std::vector<std::string> outcomes = {"referred", "resolved", "no_contact", "unsafe_to_contact",
                                       "duplicate"};
  // Outcomes a caseworker's closing needs a supervisor's approval for (a subset of outcomes).
  std::vector<std::string> outcomes_needing_approval;
};

// Reads and validates config/responders.toml: every problem as "file:line: reason" in `errors`.
// `flows` gives the districts list and the categories the flows can open.
Roster load_roster(const std::string& path, const flows::FlowSet& flows,
                   std::vector<flows::Diagnostic>& errors);

// The team for a case (first matching route), or null.
const Team* route_case(const Roster& roster, const std::string& district,
                       const std::string& category, const std::string& severity);

// Rung 1.. of the escalation ladder at local time `now`: the on-duty members in order (rung 1 =
// the first member on duty, rung 2 = the next, ...), then the team's supervisor; nullopt when
// the ladder is exhausted. Off duty, the first rung is the supervisor.
std::optional<Member> ladder_rung(const Team& team, int rung, const flows::LocalTime& now);

// SAFETY W6: the whole escalation ladder of a case routed to `team` at local time `now`. On duty:
// the team's caseworkers, its supervisor, then the fallback team's on-duty caseworkers and its
// supervisor. Off duty: the fallback team's caseworkers, the team's own supervisor, then the
// fallback team's supervisor. With no fallback team: ladder_rung's ladder. Past the end the last
// rung is alerted again.
struct Rung {
  Member member;
  std::string team;  // the team the member belongs to
};
std::vector<Rung> escalation_ladder(const Roster& roster, const Team& team,
                                    const flows::LocalTime& now);

// Most urgent first: critical 0, high 1, normal 2, low 3; anything else 4.
int severity_rank(std::string_view severity);

// How long a case of this severity may wait for an acknowledgement before the ladder climbs.
std::chrono::milliseconds ack_sla(const Roster& roster, const std::string& severity);

// The SMS alert: only the reference, severity and how to acknowledge (SAFETY C3).
std::string alert_text(const Roster& roster, const std::string& reference,
                       const std::string& severity);

// A responder's SMS command, from her normalised text: "ack K7P3QX", "ok k7p3qx", Urdu/Roman
// equivalents ("theek", "ji", "جی", "ٹھیک"), "claim REF"; either may end in her PIN
// ("ACK K7P3QX 4821"). Closing a case is for the console and the API only (SECURITY: whoever
// holds the aggregator's credentials can send SMS from her number).
struct ResponderCommand {
  enum class Kind { ack, claim } kind = Kind::ack;
  std::string reference;  // upper-cased
  std::string pin;        // "" when none was given
};
std::optional<ResponderCommand> parse_responder_sms(const std::string& normalised);

// A PIN is 4 to 8 digits. Stored as a keyed hash (the pseudonym key, kept outside the database),
// so a copy of the database alone cannot try the 10^4..10^8 PINs.
bool valid_pin(std::string_view pin);
std::string responder_pin_hash(const common::Pseudonymizer& key, std::int64_t responder_id,
                               std::string_view pin);

}  // namespace rabta::gateway
