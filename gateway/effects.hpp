// What a flow step's effects become in the database, for every channel: answers, consents, her
// language, the quick-exit quiet period, cases with their outbox row, and the weekly check-in
// marked answered.
#pragma once

#include <chrono>
#include <functional>
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

// Opens a case with its outbox row (shared with missed check-ins, which have no session).
void open_case(store::Tx& tx, const std::string& reference, std::int64_t contact_id,
               std::int64_t session_id, const std::string& flow, const std::string& category,
               const std::string& severity, const std::string& channel, std::int64_t now);

// The session status a step leaves: active, finished or quick_exit.
const char* session_status_for(const flows::StepResult& r);

// Runs `step` again (with fresh references) while a reference it opened is already taken. Call
// before writing anything for the step.
flows::StepResult with_unique_reference(store::Tx& tx,
                                        const std::function<flows::StepResult()>& step);

}  // namespace rabta::gateway
