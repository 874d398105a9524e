// A PostgreSQL connection (libpq) as the store's sql::Connection, and its statements: each one
// prepared once per connection (PQprepare), run with its parameters as text (bytea ones as
// bytes), read in text format. Internal to adapters/store/postgres/.
#pragma once

#include <libpq-fe.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/store/postgres/dialect.hpp"
#include "adapters/store/sql/database.hpp"

namespace rabta::store::postgres {

// The store's error for a failed result or call: SQLSTATE and PostgreSQL's primary message, never
// its DETAIL (which quotes the values of a row) and never a data exception's text (which quotes
// the value it could not read).
sql::Error error_of(PGconn* conn, const PGresult* result, std::string_view doing);

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

// A statement prepared on the server: its name there, its parameters' types and names.
struct Prepared {
  std::string name;
  std::vector<Oid> types;            // of $1.., as the server inferred them
  std::map<std::string, int> names;  // ":now" -> 1-based number
  std::vector<int> slots;            // SQLite's ?N -> $ number, 0 = not used (dialect.hpp)
  bool commit = false;               // "COMMIT": its answer must be COMMIT, not ROLLBACK
};

class Connection;

class PgStatement final : public sql::Statement {
 public:
  PgStatement(Connection& conn, std::shared_ptr<const Prepared> prepared);
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
  void set(int index, std::string_view value, bool null);
  void run();
  const char* cell(int index) const;

  Connection& conn_;
  std::shared_ptr<const Prepared> prepared_;
  std::vector<std::string> values_;
  std::vector<char> null_;
  Result result_;
  int row_ = -1;  // the current row; -1 before the first executeStep
  bool ran_ = false;
};

class Connection final : public sql::Connection {
 public:
  // Connects (libpq's URL or keyword form). Throws sql::Error naming the server, not
  // the password.
  explicit Connection(const std::string& url);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() override;

  sql::Dialect dialect() const override { return sql::Dialect::postgres; }
  sql::Statement& statement(sql::Sql id) override;
  std::unique_ptr<sql::Statement> prepare(const std::string& text) override;
  bool in_transaction() const override;
  bool transaction_aborted() const override {
    return PQtransactionStatus(conn_) == PQTRANS_INERROR;
  }
  std::int64_t total_changes() const override { return changes_; }
  void lock_for_transaction(std::int64_t lock_id) override;
  bool try_lock_for_transaction(std::int64_t lock_id) override;

  // Runs SQL with no parameters (DDL, several statements); throws sql::Error.
  void exec_script(const std::string& sql);
  // False once the server is gone (the connection cannot be used again).
  bool alive() const { return PQstatus(conn_) == CONNECTION_OK; }
  PGconn* raw() { return conn_; }
  void add_changes(std::int64_t n) { changes_ += n; }

 private:
  std::shared_ptr<const Prepared> prepared(const std::string& sqlite_text);
  std::shared_ptr<const Prepared> prepare_on_server(Translated translated);

  PGconn* conn_ = nullptr;
  std::int64_t changes_ = 0;
  int next_name_ = 0;
  std::array<std::unique_ptr<PgStatement>, sql::kSqlCount> statements_;
  // Statements built per call, by their text: prepared once, however often they run.
  std::map<std::string, std::shared_ptr<const Prepared>> by_text_;
};

}  // namespace rabta::store::postgres
