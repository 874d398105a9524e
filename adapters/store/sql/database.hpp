// The SQL the store runs, said once for every backend (#14): a connection, its statements and
// their columns, as SQLite (adapters/store/sqlite/) and PostgreSQL (adapters/store/postgres/)
// each implement them. Statement texts are written in one dialect with numbered parameters
// (?1, ?2, or :name in the few built per call); a backend whose SQL differs translates them when
// it prepares (adapters/store/postgres/dialect.hpp). Internal to adapters/store/.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "adapters/store/sql/statements.hpp"

namespace rabta::store::sql {

// The type of a column's value in the current row.
enum class Type { null, integer, text, blob };

// A database error. Messages name tables, columns and constraints, never bound values.
struct Error : std::runtime_error {
  enum class Kind {
    other,
    unique,  // a UNIQUE constraint refused the row (a duplicate case reference is retried)
  };
  Error(Kind k, const std::string& what) : std::runtime_error(what), kind(k) {}
  Kind kind;
};

class Statement;

// One column of a statement's current row (0-based), read as the caller needs it.
class Column {
 public:
  Column(const Statement& st, int index) : st_(st), index_(index) {}
  std::int64_t getInt64() const;
  int getInt() const { return static_cast<int>(getInt64()); }
  std::string getString() const;  // NULL reads as ""
  std::string getBlob() const;    // the bytes of a BLOB (or of a text); NULL reads as ""
  Type getType() const;
  bool isNull() const { return getType() == Type::null; }

 private:
  const Statement& st_;
  int index_;
};

// A prepared statement. Parameters are numbered from 1; a name (":now") finds its number. Text
// bound with bindNoCopy must outlive the statement's next step.
class Statement {
 public:
  virtual ~Statement() = default;

  virtual void bind(int index, std::int64_t value) = 0;
  void bind(int index, int value) { bind(index, static_cast<std::int64_t>(value)); }
  virtual void bind(int index, std::string_view text) = 0;
  void bind(int index, const std::string& text) { bind(index, std::string_view(text)); }
  void bind(int index, const char* text) { bind(index, std::string_view(text)); }
  virtual void bindNoCopy(int index, const std::string& text) = 0;
  virtual void bind_blob(int index, std::string_view bytes) = 0;
  virtual void bind(int index) = 0;  // NULL
  virtual int parameter_index(std::string_view name) const = 0;
  template <typename T>
  void bind(std::string_view name, const T& value) {
    bind(parameter_index(name), value);
  }
  void bindNoCopy(std::string_view name, const std::string& text) {
    bindNoCopy(parameter_index(name), text);
  }

  // Runs the statement (the first time) and moves to its next row; false when there is none.
  virtual bool executeStep() = 0;
  // Runs a statement that returns no rows; returns the rows it changed.
  virtual int exec() = 0;
  // Ready to run again: ends any read, clears the bindings. Never throws.
  virtual void reset() noexcept = 0;

  Column getColumn(int index) const { return Column(*this, index); }
  virtual Type column_type(int index) const = 0;
  virtual std::int64_t column_int64(int index) const = 0;
  virtual std::string column_text(int index) const = 0;
  virtual std::string column_blob(int index) const = 0;
};

inline std::int64_t Column::getInt64() const {
  return st_.column_int64(index_);
}
inline std::string Column::getString() const {
  return st_.column_text(index_);
}
inline std::string Column::getBlob() const {
  return st_.column_blob(index_);
}
inline Type Column::getType() const {
  return st_.column_type(index_);
}

// A connection with its prepared statements. Used by one thread at a time.
class Connection {
 public:
  virtual ~Connection() = default;
  virtual Dialect dialect() const = 0;
  // The statement `id`, prepared once per connection on first use.
  virtual Statement& statement(Sql id) = 0;
  // A statement built for one call (texts in the dialect of sql_text).
  virtual std::unique_ptr<Statement> prepare(const std::string& text) = 0;
  virtual bool in_transaction() const = 0;
  // A statement failed and the database will roll the transaction back whatever comes next
  // (PostgreSQL's aborted transaction: a COMMIT then answers ROLLBACK). SQLite: never.
  virtual bool transaction_aborted() const { return false; }
  // Rows inserted, updated or deleted on this connection since it opened.
  virtual std::int64_t total_changes() const = 0;
  // Serialises, until the transaction ends, every transaction that takes the same lock on this
  // database, from any process (PostgreSQL's advisory locks). SQLite has one writer per file, so
  // its writer transaction holds every such lock already.
  virtual void lock_for_transaction(std::int64_t lock_id) = 0;
  // The same lock if free now: true when taken (SQLite: always), false when another holds it.
  virtual bool try_lock_for_transaction(std::int64_t lock_id) = 0;
};

// Locks of lock_for_transaction.
constexpr std::int64_t kAuditChainLock = 0x72616274'61000001;  // "rabta" + 1

// Borrows a cached statement for one use and resets it on scope exit (an unreset SELECT would
// pin its snapshot).
class Stmt {
 public:
  Stmt(Connection& conn, Sql id) : st_(conn.statement(id)) {}
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { st_.reset(); }
  Statement* operator->() { return &st_; }
  Statement& operator*() { return st_; }
  const Statement& get() const { return st_; }

 private:
  Statement& st_;
};

[[noreturn]] inline void throw_with_context(const char* operation, const Error& e) {
  throw std::runtime_error(std::string("store: ") + operation + " failed: " + e.what());
}

// Runs f, turning database errors into runtime_error naming the operation.
template <typename F>
decltype(auto) guarded(const char* operation, F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    throw_with_context(operation, e);
  }
}

}  // namespace rabta::store::sql
