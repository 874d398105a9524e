// The roster (config/responders.toml) written into the responders table, at start and before
// every operator command on responders.
#pragma once

#include "adapters/common/cipher.hpp"
#include "adapters/common/crypto.hpp"
#include "adapters/store/store.hpp"
#include "gateway/responders/responders.hpp"

namespace rabta::gateway {

// Writes the roster into the responders table: every member upserted by name (team, role,
// can_export, phone pseudonym, phone encrypted with associated data "responders.phone_enc:<id>"),
// everyone else marked inactive (their tokens stop working). Tokens already issued are kept.
void sync_roster(store::Tx& tx, const Roster& roster, const common::Pseudonymizer& pseudonymizer,
                 const common::FieldCipher& cipher, std::int64_t now);

}  // namespace rabta::gateway
