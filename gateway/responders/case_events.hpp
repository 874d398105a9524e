// A case's lifecycle as webhook events (adapters/webhook/sink.hpp): queued as outbox rows in the
// transaction of the step that caused them, to the case-management system when it is enabled and
// to every referral partner the case was referred to. What each row may carry is decided by her
// consent in this case for that sink's purpose (SAFETY D3, W2), and checked again when it is sent.
#pragma once

#include <cstdint>
#include <string>

#include "adapters/common/cipher.hpp"
#include "adapters/store/store.hpp"
#include "adapters/webhook/sink.hpp"
#include "gateway/responders/responders.hpp"

namespace rabta::gateway {

// Events that happen once per case ("opened", "escalated", step 0) keep one row however often
// they are queued; the others ("acknowledged", "assigned", "referred", "closed", "reopened") are
// queued with the id of the audit row of the step that caused them (`step`), one row each.
bool queue_case_event(store::Tx& tx, const adapters::webhook::WebhookSink& sink,
                      const store::CaseRecord& c, const std::string& event,
                      const common::FieldCipher& cipher, std::int64_t now, std::int64_t step);

// The sinks that follow the case: the case-management system (when enabled) and the partners it
// was referred to while she still agrees to that kind of referral. Returns the rows queued.
int publish_case_event(store::Tx& tx, const Roster& roster, const store::CaseRecord& c,
                       const std::string& event, const common::FieldCipher& cipher,
                       std::int64_t now, std::int64_t step = 0);

// The audit detail of a referral: "partner=<name>,purpose=<purpose>".
std::string referral_detail(const adapters::webhook::WebhookSink& partner);
// Whether this case (not an earlier one with its reference) was referred to this partner, for
// the purpose the partner has now.
bool referred_to(store::Tx& tx, const store::CaseRecord& c,
                 const adapters::webhook::WebhookSink& partner);

}  // namespace rabta::gateway
