// What a flow step's effects become in the database, for every channel: answers, consents, her
// language, the quick-exit quiet period, cases with their outbox row, and the weekly check-in
// marked answered.
#pragma once

#include <chrono>
#include <functional>
#include <set>
#include <string>

#include "adapters/common/cipher.hpp"
#include "adapters/store/store.hpp"
#include "flows/engine.hpp"

namespace rabta::gateway {

struct EffectContext {
  std::int64_t now = 0;
  std::chrono::milliseconds quiet_period{86'400'000};
  std::string checkin_answer_key;  // saving this answer answers her open weekly check-in
  // Her number (E.164) and the cipher: kept, encrypted, only once she consents to a callback
  // (a caseworker needs it to call her; SAFETY D1). Null cipher = never kept.
  std::string phone;
  const common::FieldCipher* cipher = nullptr;
};

void record_effects(store::Tx& tx, const flows::StepResult& r, const store::SessionRecord& session,
                    const EffectContext& ctx);

// Opens a case with its outbox row (shared with missed check-ins, which have no session) and ties
// the session's answers and consents so far to it. Returns the case id.
std::int64_t open_case(store::Tx& tx, const std::string& reference, std::int64_t contact_id,
                       std::int64_t session_id, const std::string& flow,
                       const std::string& category, const std::string& severity,
                       const std::string& channel, std::int64_t now);

// SAFETY W4: the session ended without finishing (the aggregator's end notification, her
// hanging up, no answer for the idle time). Hanging up is an exit: the case a quick exit would
// raise is raised with what she answered (consents she did not give are not given), her quiet
// period starts when a case is involved, and the session becomes "incomplete" with
// `end_reason`. A session no longer active only gets its end_reason. Returns true when a case
// was raised.
bool abandon_session(store::Tx& tx, const flows::Engine& engine, flows::IdSource& ids,
                     store::SessionRecord& session, const EffectContext& ctx,
                     const std::string& end_reason);

// The session status a step leaves: active, finished or quick_exit.
const char* session_status_for(const flows::StepResult& r);

// The one source of case references inside a transaction: draws from `ids` until the reference
// is neither a case in the database nor one it handed out already in this transaction (a case
// drawn by a step is written after the step; a duress case in the same hop must not take it).
// A second draw is rare: 25^length references. Every step, check-in and duress case takes its
// reference from here. Throws std::runtime_error after 8 references in a row are taken.
class UniqueReferences final : public flows::IdSource {
 public:
  UniqueReferences(flows::IdSource& ids, store::Tx& tx) : ids_(ids), tx_(tx) {}
  std::string case_reference(std::size_t length) override;

 private:
  flows::IdSource& ids_;
  store::Tx& tx_;
  std::set<std::string> handed_out_;
};

}  // namespace rabta::gateway
