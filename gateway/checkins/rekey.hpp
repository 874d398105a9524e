// One canonical pseudonym per number (SAFETY W1), applied at start to what is already stored.
#pragma once

#include <cstdint>

#include "adapters/common/cipher.hpp"
#include "adapters/common/crypto.hpp"
#include "adapters/store/store.hpp"

namespace rabta::gateway {

// SAFETY W1, for a database written before numbers had one canonical form: every contact whose
// number rabta holds (encrypted) is re-keyed to the pseudonym of its E.164 form, and the contacts
// that other spellings of that number created ("923001234567" and "3001234567" without '+') are
// merged into it. An opt-out of any of them wins; sessions, cases, consents and messages move
// along. Idempotent; contacts whose number is not held (she never consented to be called or
// texted) cannot be re-keyed and are left as they are. Returns how many contacts changed.
// Runs once per database and number plan: a finished pass is recorded in meta, and a start
// that finds it reads no contact.
struct RekeyResult {
  int rekeyed = 0;  // contacts given the canonical pseudonym
  int merged = 0;   // duplicate contacts folded into another
};
RekeyResult rekey_contacts(store::Store& store, const common::Pseudonymizer& pseudonymizer,
                           const common::FieldCipher& cipher, std::int64_t now_ms);

}  // namespace rabta::gateway
