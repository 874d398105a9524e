// Sealed columns (SAFETY D2) and the binding helpers every statement shares. Internal to
// adapters/store/.
//
// Her inputs, the screens she was shown, her answers and the replies to her SMS are stored
// encrypted with the field key (XChaCha20-Poly1305, associated data "table.column:row-id"), as a
// BLOB (bytea). A TEXT value in such a column is from before encryption (or a store opened
// without a key): it is read as it is, and `rabta keys rotate` / the server's re-encryption pass
// seal it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "adapters/common/cipher.hpp"
#include "adapters/store/sql/database.hpp"

namespace rabta::store::sql {

using common::FieldCipher;

bool sealing(const FieldCipher* cipher, std::string_view plain);

// Binds `plain` sealed for table.column of row `id` (a BLOB), or as TEXT without a key / when
// empty (nothing to hide; keeps '' comparable).
void bind_sealed(Statement& st, int index, const FieldCipher* cipher, std::string_view plain,
                 const char* table, const char* column, std::int64_t id);

std::string read_sealed(const Column& col, const FieldCipher* cipher, const char* table,
                        const char* column, std::int64_t id);

// Every encrypted column, in the order a re-encryption pass visits them (ResealCursor::column);
// the outbox's numbers (inside its JSON payload) come after these.
struct SealedColumn {
  const char* table;
  const char* column;
  const char* ad_row;  // the column holding the row id of the associated data
  bool may_be_clear;   // a non-empty TEXT value is a value in clear, to be sealed
};

constexpr std::array<SealedColumn, 9> kSealedColumns{{
    {"sessions", "state", "id", true},
    {"sessions", "last_input_path", "id", true},
    {"sessions", "last_reply", "id", true},
    {"answers", "value", "id", true},
    {"inbound", "reply", "id", true},
    {"contacts", "phone_enc", "id", false},
    {"responders", "phone_enc", "id", false},
    {"notes", "text_enc", "case_id", false},  // notes are bound to their case
    {"checkins", "answer", "id", true},       // SECURITY #11
}};

// Records carry 0 for "no session"; the column holds NULL then, so the foreign key allows it.
void bind_session_id(Statement& st, int index, std::int64_t session_id);

// Binds bytes as a BLOB (ciphertext is not text).
void bind_blob(Statement& st, int index, const std::string& bytes);

std::string blob_from(const Column& column);

}  // namespace rabta::store::sql
