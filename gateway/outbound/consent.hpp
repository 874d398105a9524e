// Her consent as every reader of a case applies it (SAFETY W2, D3).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "adapters/store/store.hpp"

namespace rabta::gateway {

// SAFETY W2: her consent for a case, as every reader applies it: what she said in that case (the
// most restrictive answer; never asked = nullopt, which counts as no). "Is it safe to call you?"
// is about her, now: a later refusal in any session also holds for earlier cases. A referral
// consent is about one report and stays that case's.
inline std::optional<bool> consent_for_case(store::Tx& tx, std::int64_t case_id,
                                            std::string_view purpose) {
  return tx.case_consent(case_id, purpose, purpose == "callback");
}

}  // namespace rabta::gateway
