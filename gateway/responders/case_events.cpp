#include "gateway/responders/case_events.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "gateway/outbound/consent.hpp"

namespace rabta::gateway {

bool queue_case_event(store::Tx& tx, const adapters::webhook::WebhookSink& sink,
                      const store::CaseRecord& c, const std::string& event,
                      const common::FieldCipher& cipher, std::int64_t now, std::int64_t step) {
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
  // A partner gets nothing at all without her consent for its purpose in this case.
  if (sink.requires_consent && !facts.referral_consent.value_or(false)) return false;
  const bool once = event == "opened" || event == "escalated";
  const bool queued = tx.insert_outbox(adapters::webhook::make_webhook_outbox(
      sink, c, event, facts, now, once ? 0 : std::max<std::int64_t>(step, 0)));
  if (!queued && !once)
    spdlog::warn("case {}: the {} event for {} was queued already (step {})", c.reference, event,
                 sink.name, step);
  return queued;
}

std::string referral_detail(const adapters::webhook::WebhookSink& partner) {
  return "partner=" + partner.name + ",purpose=" + partner.consent_purpose;
}

bool referred_to(store::Tx& tx, const store::CaseRecord& c,
                 const adapters::webhook::WebhookSink& partner) {
  return tx.audit_has(c.reference, "case.refer", referral_detail(partner), c.created_at);
}

int publish_case_event(store::Tx& tx, const Roster& roster, const store::CaseRecord& c,
                       const std::string& event, const common::FieldCipher& cipher,
                       std::int64_t now, std::int64_t step) {
  int queued = 0;
  if (roster.webhook.enabled && queue_case_event(tx, roster.webhook, c, event, cipher, now, step))
    ++queued;
  for (const auto& partner : roster.partners) {
    if (!referred_to(tx, c, partner)) continue;
    // A partner hears nothing more once she no longer agrees to that kind of referral.
    if (!consent_for_case(tx, c.id, partner.consent_purpose).value_or(false)) continue;
    if (queue_case_event(tx, partner, c, event, cipher, now, step)) ++queued;
  }
  return queued;
}

}  // namespace rabta::gateway
