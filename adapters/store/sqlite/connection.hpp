// A SQLite connection (SQLiteCpp) as the store's sql::Connection, and its statements. Internal
// to adapters/store/sqlite/.
#pragma once

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <sqlite3.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "adapters/store/sql/database.hpp"

namespace rabta::store::sqlite {

// SQLite's exception as the store's error: a UNIQUE violation is told apart (a duplicate case
// reference is retried with a new one).
[[noreturn]] void rethrow(const SQLite::Exception& e);

class SqliteStatement final : public sql::Statement {
 public:
  SqliteStatement(SQLite::Database& db, const std::string& text);
  void bind(int index, std::int64_t value) override;
  void bind(int index, std::string_view text) override;
  void bindNoCopy(int index, const std::string& text) override;
  void bind_blob(int index, std::string_view bytes) override;
  void bind(int index) override;
  using sql::Statement::bind;
  int parameter_index(std::string_view name) const override;
  bool executeStep() override;
  int exec() override;
  void reset() noexcept override;
  sql::Type column_type(int index) const override;
  std::int64_t column_int64(int index) const override;
  std::string column_text(int index) const override;
  std::string column_blob(int index) const override;

 private:
  SQLite::Statement st_;
};

// A database handle and its prepared statements. Used by one thread at a time.
class Connection final : public sql::Connection {
 public:
  Connection(const std::string& path, int flags, std::chrono::milliseconds busy_timeout)
      // NOMUTEX: each connection is confined to one thread at a time (the writer, or callers
      // serialised by the read mutex), so SQLite's own per-call locking would be pure overhead.
      : db_((configure_library(),
             std::make_unique<SQLite::Database>(path, flags | SQLite::OPEN_NOMUTEX,
                                                static_cast<int>(busy_timeout.count())))) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() override {
    // Statements first: sqlite3_close refuses a handle that still has live statements.
    for (auto& s : statements_) s.reset();
    db_.reset();
  }

  // Once per process, before SQLite initialises: no memory statistics (#13: they take a global
  // mutex on every allocation of every connection; rabta never reads them).
  static void configure_library();

  SQLite::Database& db() { return *db_; }

  sql::Dialect dialect() const override { return sql::Dialect::sqlite; }
  sql::Statement& statement(sql::Sql id) override;
  std::unique_ptr<sql::Statement> prepare(const std::string& text) override;
  bool in_transaction() const override { return sqlite3_get_autocommit(db_->getHandle()) == 0; }
  std::int64_t total_changes() const override { return sqlite3_total_changes64(db_->getHandle()); }
  // The writer's BEGIN IMMEDIATE holds the file's one write lock: nothing more to take.
  void lock_for_transaction(std::int64_t /*lock_id*/) override {}
  bool try_lock_for_transaction(std::int64_t /*lock_id*/) override { return true; }

 private:
  std::unique_ptr<SQLite::Database> db_;
  std::array<std::unique_ptr<SqliteStatement>, sql::kSqlCount> statements_;
};

}  // namespace rabta::store::sqlite
