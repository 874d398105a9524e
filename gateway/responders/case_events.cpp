#include "gateway/responders/case_events.hpp"

#include "gateway/outbound/consent.hpp"

namespace rabta::gateway {

bool queue_case_event(store::Tx& tx, const adapters::webhook::WebhookSink& sink,
                      const store::CaseRecord& c, const std::string& event,
                      const common::FieldCipher& cipher, std::int64_t now) {
  adapters::webhook::WebhookFacts facts;
  // What she said in this case, never in a later or unfinished session (SAFETY W2), for what
  // this sink is for: a police desk needs her consent to the police.
  facts.referral_consent = consent_for_case(tx, c.id, sink.consent_purpose);
  facts.callback_consent = consent_for_case(tx, c.id, "callback");
  facts.district = c.district;
  facts.call_time = tx.case_answer(c.id, "call_time");
  // Her number leaves rabta only with both consents (SAFETY D3; the payload checks again).
  if (facts.referral_consent.value_or(false) && facts.callback_consent.value_or(false)) {
    if (auto contact = tx.find_contact_by_id(c.contact_id); contact && !contact->phone_enc.empty())
      facts.phone = cipher
                        .decrypt(contact->phone_enc, common::FieldCipher::associated_data(
                                                         "contacts", "phone_enc", contact->id))
                        .value_or("");
  }
  int occurrence = 1;
  if (event != "opened" && event != "escalated") {
    const std::string prefix =
        adapters::webhook::webhook_kind(sink.name) + ":" + event + ":" + c.reference;
    for (const auto& row : tx.list_case_outbox(c.reference, 1000))
      if (row.dedupe_key == prefix || row.dedupe_key.rfind(prefix + ":", 0) == 0) ++occurrence;
  }
  return tx.insert_outbox(
      adapters::webhook::make_webhook_outbox(sink, c, event, facts, now, occurrence));
}

bool referred_to(store::Tx& tx, const store::CaseRecord& c, const std::string& partner) {
  return tx.audit_has(c.reference, "case.refer", "partner=" + partner);
}

int publish_case_event(store::Tx& tx, const Roster& roster, const store::CaseRecord& c,
                       const std::string& event, const common::FieldCipher& cipher,
                       std::int64_t now) {
  int queued = 0;
  if (roster.webhook.enabled && queue_case_event(tx, roster.webhook, c, event, cipher, now))
    ++queued;
  for (const auto& partner : roster.partners)
    if (referred_to(tx, c, partner.name) && queue_case_event(tx, partner, c, event, cipher, now))
      ++queued;
  return queued;
}

}  // namespace rabta::gateway
