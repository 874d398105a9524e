#include "gateway/escalation.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "gateway/outbound_sms.hpp"
#include "gateway/webhook.hpp"

namespace rabta::gateway {

Escalation::Escalation(store::Store& store, std::shared_ptr<const Roster> roster,
                       const common::FieldCipher& cipher, const Clock& clock,
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

const Member* supervisor_of(const Team& team) {
  for (const auto& m : team.members)
    if (m.name == team.supervisor) return &m;
  return nullptr;
}

}  // namespace

Escalation::Result Escalation::run_once() {
  Result result;
  const std::int64_t now = clock_.now_ms();
  const Roster& roster = *roster_;

  auto webhook = [&](store::Tx& tx, const store::CaseRecord& c, const std::string& event) {
    if (!roster.webhook.enabled) return;
    WebhookFacts facts;
    // What she said in this case, never in a later or unfinished session (SAFETY W2).
    facts.referral_consent = tx.case_consent(c.id, "referral_ngo");
    facts.callback_consent = tx.case_consent(c.id, "callback");
    facts.district = c.district;
    facts.call_time = tx.case_answer(c.id, "call_time");
    // Her number leaves rabta only with both consents (SAFETY D3; the payload checks again).
    if (facts.referral_consent.value_or(false) && facts.callback_consent.value_or(false)) {
      if (auto contact = tx.find_contact_by_id(c.contact_id);
          contact && !contact->phone_enc.empty())
        facts.phone = cipher_
                          .decrypt(contact->phone_enc, common::FieldCipher::associated_data(
                                                           "contacts", "phone_enc", contact->id))
                          .value_or("");
    }
    if (tx.insert_outbox(make_webhook_outbox(roster.webhook, c, event, facts, now)))
      ++result.webhooks;
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
      tx.update_case(*c);
      tx.append_audit(now, "system", "case.route", c->reference, "team " + team->name);
      webhook(tx, *c, "opened");
      tx.outbox_sent(row.id, "", now);
      ++result.routed;
    }
  });
  if (!routed.ok) spdlog::error("routing cases failed: {}", routed.error);

  // 2. The ladder: whoever is due is alerted, and the next rung is timed by the SLA.
  const LocalTime local = to_local(now, options_.zone);
  const auto alerted = store_.run([&](store::Tx& tx) {
    for (auto c : tx.cases_due_for_alert(now, options_.batch)) {
      const Team* team = team_named(roster, c.team);
      if (!team) {
        spdlog::error("case {}: team '{}' is no longer in the roster", c.reference, c.team);
        c.next_alert_at = now + ack_sla(roster, c.severity).count();
        tx.update_case(c);
        continue;
      }
      const int rung = c.rung + 1;
      std::optional<Member> who = ladder_rung(*team, rung, local);
      // Past the last rung the supervisor is alerted again: a case is never left to go silent.
      if (!who)
        if (const Member* s = supervisor_of(*team)) who = *s;
      if (!who) continue;
      SmsPayload p;
      p.to = who->phone;
      p.text = alert_text(roster, c.reference, c.severity);
      p.solicited = true;  // a responder, not a woman: her window rules do not apply
      p.purpose = "alert";
      const std::string key = "alert:" + c.reference + ":" + std::to_string(rung);
      if (tx.insert_outbox(make_sms_outbox(options_.channel, key, "case:" + c.reference, 0, p, now,
                                           now, ack_sla(roster, c.severity).count(), cipher_)))
        ++result.alerts;
      c.rung = rung;
      c.next_alert_at = now + ack_sla(roster, c.severity).count();
      tx.update_case(c);
      tx.append_audit(now, "system", "case.alert", c.reference, "rung " + std::to_string(rung));
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
