// A SQLite connection with its prepared statements, a statement borrowed for one use, error
// context, and the sealed columns (SAFETY D2). Internal to adapters/store/sqlite/.
#pragma once

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <sqlite3.h>

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

#include "adapters/common/cipher.hpp"
#include "adapters/store/sqlite/statements.hpp"

namespace rabta::store::sqlite {

// A database handle and its prepared statements. Used by one thread at a time.
class Connection {
 public:
  Connection(const std::string& path, int flags, std::chrono::milliseconds busy_timeout)
      // NOMUTEX: each connection is confined to one thread at a time (the writer, or callers
      // serialised by the read mutex), so SQLite's own per-call locking would be pure overhead.
      : db_((configure_library(),
             std::make_unique<SQLite::Database>(path, flags | SQLite::OPEN_NOMUTEX,
                                                static_cast<int>(busy_timeout.count())))) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() {
    // Statements first: sqlite3_close refuses a handle that still has live statements.
    for (auto& s : statements_) s.reset();
    db_.reset();
  }

  // Once per process, before SQLite initialises: no memory statistics (#13: they take a global
  // mutex on every allocation of every connection; rabta never reads them).
  static void configure_library();

  SQLite::Database& db() { return *db_; }
  bool in_transaction() const { return sqlite3_get_autocommit(db_->getHandle()) == 0; }
  // Rows inserted, updated or deleted on this connection since it opened (triggers included).
  std::int64_t total_changes() const { return sqlite3_total_changes64(db_->getHandle()); }

  SQLite::Statement& statement(Sql id) {
    auto& slot = statements_[static_cast<std::size_t>(id)];
    if (!slot) slot = std::make_unique<SQLite::Statement>(*db_, sql_text(id));
    return *slot;
  }

 private:
  std::unique_ptr<SQLite::Database> db_;
  std::array<std::unique_ptr<SQLite::Statement>, kSqlCount> statements_;
};

// Borrows a cached statement for one use. Resetting on scope exit ends any read it started (an
// unreset SELECT would pin its snapshot and block WAL checkpoints); clearing the bindings drops
// the pointers bindNoCopy left into the caller's strings.
class Stmt {
 public:
  Stmt(Connection& conn, Sql id) : st_(conn.statement(id)) {}
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() {
    st_.tryReset();
    try {
      st_.clearBindings();
    } catch (...) {
      // sqlite3_clear_bindings cannot fail; the wrapper's signature just allows it.
    }
  }
  SQLite::Statement* operator->() { return &st_; }
  SQLite::Statement& operator*() { return st_; }
  const SQLite::Statement& get() const { return st_; }

 private:
  SQLite::Statement& st_;
};

[[noreturn]] void throw_with_context(const char* operation, const SQLite::Exception& e);

// Runs f, turning SQLite's exceptions into runtime_error naming the operation.
template <typename F>
decltype(auto) guarded(const char* operation, F&& f) {
  try {
    return f();
  } catch (const SQLite::Exception& e) {
    throw_with_context(operation, e);
  }
}

// --- Sealed columns (SAFETY D2)
// Her inputs, the screens she was shown, her answers and the replies to her SMS are stored
// encrypted with the field key (XChaCha20-Poly1305, associated data "table.column:row-id"), as a
// BLOB. A TEXT value in such a column is from before encryption (or a store opened without a
// key): it is read as it is, and `rabta keys rotate` / the server's re-encryption pass seal it.
using common::FieldCipher;

bool sealing(const FieldCipher* cipher, std::string_view plain);

// Binds `plain` sealed for table.column of row `id` (a BLOB), or as TEXT without a key / when
// empty (nothing to hide; keeps '' comparable).
void bind_sealed(SQLite::Statement& st, int index, const FieldCipher* cipher,
                 std::string_view plain, const char* table, const char* column, std::int64_t id);

std::string read_sealed(const SQLite::Column& col, const FieldCipher* cipher, const char* table,
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
void bind_session_id(SQLite::Statement& st, int index, std::int64_t session_id);

// Binds bytes as a BLOB (ciphertext is not text). No copy: `bytes` must outlive the step.
void bind_blob(SQLite::Statement& st, int index, const std::string& bytes);

std::string blob_from(const SQLite::Column& column);

}  // namespace rabta::store::sqlite
