// Rows to records and records to bound parameters, one function per table. Internal to
// adapters/store/.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/store/sql/sealed.hpp"

namespace rabta::store::sql {

// Reads a row of kContactColumns.
ContactRecord contact_from(const Statement& st);

// Reads a row of kOutboxColumns.
OutboxRecord outbox_from(const Statement& st);

// Reads a row of kInboundColumns.
InboundRecord inbound_from(const Statement& st, const FieldCipher* cipher);

// Reads a row of kCheckinColumns.
CheckinRecord checkin_from(const Statement& st, const FieldCipher* cipher);

// Steps through every row, reading each with `from`.
template <typename From>
auto all_rows(Statement& st, From from) {
  std::vector<decltype(from(st))> rows;
  while (st.executeStep()) rows.push_back(from(st));
  return rows;
}

// Binds the check-in columns in the order of insert_checkin/update_checkin (?1..?9).
// The answer is sealed (SECURITY #11) for row c.id; an insert (no id yet) binds it empty.
void bind_checkin(Statement& st, const CheckinRecord& c, const FieldCipher* cipher);

SessionRecord session_from(const Statement& st, const FieldCipher* cipher);

CaseRecord case_from(const Statement& st);

// Reads a row of kResponderColumns.
ResponderRecord responder_from(const Statement& st);

// Reads a row of kNoteColumns.
NoteRecord note_from(const Statement& st);

// Reads a row of kAuditColumns.
AuditRecord audit_from(const Statement& st);

// Binds the session columns in the order of insert_session/update_session (?1..?13) and the row
// id (?14), under which the sealed columns are sealed (insert_session allocates it first).
void bind_session(Statement& st, const SessionRecord& s, const FieldCipher* cipher,
                  std::int64_t id);

}  // namespace rabta::store::sql
