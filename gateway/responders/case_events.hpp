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

// Events that happen once per case ("opened", "escalated") keep one row however often they are
// queued; the others ("acknowledged", "assigned", "referred", "closed", "reopened") get a row per
// occurrence, counted from the rows the case already caused for that sink.
bool queue_case_event(store::Tx& tx, const adapters::webhook::WebhookSink& sink,
                      const store::CaseRecord& c, const std::string& event,
                      const common::FieldCipher& cipher, std::int64_t now);

// The sinks that follow the case: the case-management system (when enabled) and the partners it
// was referred to (a "case.refer" audit row "partner=<name>"). Returns the rows queued.
int publish_case_event(store::Tx& tx, const Roster& roster, const store::CaseRecord& c,
                       const std::string& event, const common::FieldCipher& cipher,
                       std::int64_t now);

// Whether the case was referred to this partner.
bool referred_to(store::Tx& tx, const store::CaseRecord& c, const std::string& partner);

}  // namespace rabta::gateway
