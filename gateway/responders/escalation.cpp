#include "gateway/responders/escalation.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "gateway/outbound/consent.hpp"
#include "gateway/outbound/outbound_sms.hpp"
#include "gateway/outbound/webhook_dispatcher.hpp"
#include "gateway/responders/case_events.hpp"

namespace rabta::gateway {

Escalation::Escalation(store::Store& store, std::shared_ptr<const Roster> roster,
                       const common::FieldCipher& cipher, const common::Clock& clock,
                       EscalationOptions options)
    : store_(store),
      roster_(std::move(roster)),
      cipher_(cipher),
      clock_(clock),
      options_(std::move(options)) {}

namespace {

const Team* team_named(const Roster& roster, const std::string& name) {
  for (const auto& t : roster.teams)
    if (t.name == name) return &t;
  return nullptr;
}

// The team a case was routed to: routing is a pure function of the case (district, category,
// severity), so the ladder is always the routed team's even after a fallback team took it.
const Team* routed_team(const Roster& roster, const store::CaseRecord& c) {
  if (const Team* t = route_case(roster, c.district, c.category, c.severity)) return t;
  return team_named(roster, c.team);
}

}  // namespace

Escalation::Result Escalation::run_once() {
  Result result;
  const std::int64_t now = clock_.now_ms();
  const Roster& roster = *roster_;

  auto webhook = [&](store::Tx& tx, const store::CaseRecord& c, const std::string& event) {
    result.webhooks += publish_case_event(tx, roster, c, event, cipher_, now);
  };

  // 1. New cases: route them to a team; the first alert goes out in step 2 of this same pass.
  const auto routed = store_.run([&](store::Tx& tx) {
    for (const auto& row : tx.claim_outbox(now, now + 60'000, options_.batch, "case_alert")) {
      const auto payload = nlohmann::json::parse(row.payload, nullptr, false);
      const std::string reference =
          payload.is_object() ? payload.value("reference", std::string()) : "";
      auto c = tx.find_case(reference);
      if (!c) {
        tx.outbox_dead(row.id, "no such case", now);
        continue;
      }
      if (c->district.empty()) c->district = tx.case_answer(c->id, "district");
      if (c->district.empty())
        if (auto contact = tx.find_contact_by_id(c->contact_id)) c->district = contact->district;
      const Team* team = route_case(roster, c->district, c->category, c->severity);
      if (!team) {
        ++result.unrouted;
        spdlog::error("case {}: no route matches (severity {}); check config/responders.toml",
                      c->reference, c->severity);
        tx.outbox_retry(row.id, now + 300'000, "no route", now);
        continue;
      }
      c->team = team->name;
      c->next_alert_at = now;  // alert the first rung now
      // The deadline runs from her report, not from routing (#15: it tells the truth).
      c->ack_due_at = c->created_at + ack_sla(roster, c->severity).count();
      tx.update_case(*c);
      tx.append_audit(now, "system", "case.route", c->reference, "team " + team->name);
      webhook(tx, *c, "opened");
      tx.outbox_sent(row.id, "", now);
      ++result.routed;
    }
  });
  if (!routed.ok) spdlog::error("routing cases failed: {}", routed.error);

  const flows::LocalTime local = flows::to_local(now, options_.zone);

  // 2. SAFETY W6: an alert that cannot be delivered does not wait for the SLA: the next rung is
  // alerted now (the failing alert keeps retrying while the case is open). Past the end of the
  // ladder the SLA paces the repeats, so a dead aggregator does not flood the outbox.
  const auto failing = store_.run([&](store::Tx& tx) {
    // Instances sharing a database (#14): one climbs the ladder at a time.
    if (!tx.try_lock("escalation")) return;
    for (auto c : tx.cases_with_failing_alert(options_.batch)) {
      ++result.failing;
      if (c.next_alert_at <= now) continue;  // due anyway
      const Team* team = routed_team(roster, c);
      if (!team ||
          static_cast<std::size_t>(c.rung) >= escalation_ladder(roster, *team, local).size())
        continue;
      c.next_alert_at = now;
      tx.update_case(c);
      tx.append_audit(now, "system", "case.alert_failed", c.reference,
                      "rung " + std::to_string(c.rung) + ", next rung now");
      spdlog::warn("case {}: the alert to rung {} is failing: alerting the next rung now",
                   c.reference, c.rung);
    }
  });
  if (!failing.ok) spdlog::error("checking failing alerts failed: {}", failing.error);

  // 3. The ladder: whoever is due is alerted, and the next rung is timed by the SLA.
  const auto alerted = store_.run([&](store::Tx& tx) {
    if (!tx.try_lock("escalation")) return;
    for (auto c : tx.cases_due_for_alert(now, options_.batch)) {
      const Team* team = routed_team(roster, c);
      if (!team) {
        spdlog::error("case {}: team '{}' is no longer in the roster", c.reference, c.team);
        c.next_alert_at = now + ack_sla(roster, c.severity).count();
        tx.update_case(c);
        continue;
      }
      const int rung = c.rung + 1;
      // A case routed before schema 10 gets its deadline here.
      if (c.ack_due_at == 0) c.ack_due_at = c.created_at + ack_sla(roster, c.severity).count();
      const std::vector<Rung> ladder = escalation_ladder(roster, *team, local);
      if (ladder.empty()) continue;
      // Past the last rung the last one is alerted again: a case is never left to go silent.
      const Rung& who = ladder[std::min(ladder.size(), static_cast<std::size_t>(rung)) - 1];
      if (who.team != c.team && who.member.role != "supervisor") {
        // The fallback team takes the case: its people can see and acknowledge it (supervisors
        // see every case anyway; whoever was alerted before may still acknowledge it).
        tx.append_audit(now, "system", "case.fallback", c.reference,
                        "team " + c.team + " to " + who.team);
        c.team = who.team;
      }
      SmsPayload p;
      p.to = who.member.phone;
      p.text = alert_text(roster, c.reference, c.severity);
      p.solicited = true;  // a responder, not a woman: her window rules do not apply
      p.purpose = "alert";
      const std::string key = "alert:" + c.reference + ":" + std::to_string(rung);
      // No expiry: the dispatcher retries it while the case is open and unacknowledged, and
      // cancels it once someone acknowledged (SAFETY W6).
      if (tx.insert_outbox(make_sms_outbox(options_.channel, key, "case:" + c.reference, 0, p, now,
                                           now, 0, cipher_)))
        ++result.alerts;
      // A repeat to the last rung replaces its predecessor if that one is still waiting (an
      // aggregator outage would otherwise deliver a burst of identical alerts at its end).
      // Only when that one went to the same person: the ladder's shape changes with duty hours.
      if (static_cast<std::size_t>(rung) > ladder.size() &&
          tx.audit_has(c.reference, "case.alert",
                       "rung " + std::to_string(rung - 1) + " to " + who.member.name, c.created_at))
        tx.outbox_cancel_key("alert:" + c.reference + ":" + std::to_string(rung - 1),
                             "superseded by rung " + std::to_string(rung));
      c.rung = rung;
      c.next_alert_at = now + ack_sla(roster, c.severity).count();
      tx.update_case(c);
      tx.append_audit(now, "system", "case.alert", c.reference,
                      "rung " + std::to_string(rung) + " to " + who.member.name);
      if (rung > 1) webhook(tx, c, "escalated");
    }
  });
  if (!alerted.ok) spdlog::error("alerting responders failed: {}", alerted.error);
  if (result.routed || result.alerts)
    spdlog::info("responder queue: {} routed, {} alerts, {} webhook events", result.routed,
                 result.alerts, result.webhooks);
  return result;
}

}  // namespace rabta::gateway
