#include "adapters/store/sqlite/connection.hpp"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <sqlite3.h>

#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>

#include "adapters/store/sqlite/open.hpp"

namespace rabta::store::sqlite {

void rethrow(const SQLite::Exception& e) {
  // SQLite's messages name tables and columns, never bound values.
  throw sql::Error(e.getExtendedErrorCode() == SQLITE_CONSTRAINT_UNIQUE ? sql::Error::Kind::unique
                                                                        : sql::Error::Kind::other,
                   e.what());
}

namespace {

template <typename F>
decltype(auto) converted(F&& f) {
  try {
    return f();
  } catch (const SQLite::Exception& e) {
    rethrow(e);
  }
}

int size_of(std::string_view bytes) {
  if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw std::length_error("store: a value is too large");
  }
  return static_cast<int>(bytes.size());
}

}  // namespace

SqliteStatement::SqliteStatement(SQLite::Database& db, const std::string& text)
    : st_(converted([&] { return SQLite::Statement(db, text); })) {}

void SqliteStatement::bind(int index, std::int64_t value) {
  converted([&] { st_.bind(index, value); });
}

void SqliteStatement::bind(int index, std::string_view text) {
  // (SQLiteCpp's (const void*, int) overload would bind a BLOB.)
  converted([&] { st_.bind(index, std::string(text)); });
}

void SqliteStatement::bindNoCopy(int index, const std::string& text) {
  converted([&] { st_.bindNoCopy(index, text); });
}

void SqliteStatement::bind_blob(int index, std::string_view bytes) {
  converted([&] { st_.bind(index, static_cast<const void*>(bytes.data()), size_of(bytes)); });
}

void SqliteStatement::bind(int index) {
  converted([&] { st_.bind(index); });
}

int SqliteStatement::parameter_index(std::string_view name) const {
  const std::string n(name);
  const int i = st_.getIndex(n.c_str());
  if (i == 0) throw sql::Error(sql::Error::Kind::other, "no parameter " + n);
  return i;
}

bool SqliteStatement::executeStep() {
  return converted([&] { return st_.executeStep(); });
}

int SqliteStatement::exec() {
  return converted([&] { return st_.exec(); });
}

void SqliteStatement::reset() noexcept {
  st_.tryReset();
  try {
    st_.clearBindings();
  } catch (...) {
    // sqlite3_clear_bindings cannot fail; the wrapper's signature just allows it.
  }
}

sql::Type SqliteStatement::column_type(int index) const {
  switch (st_.getColumn(index).getType()) {
    case SQLITE_NULL:
      return sql::Type::null;
    case SQLITE_INTEGER:
    case SQLITE_FLOAT:
      return sql::Type::integer;
    case SQLITE_BLOB:
      return sql::Type::blob;
    default:
      return sql::Type::text;
  }
}

std::int64_t SqliteStatement::column_int64(int index) const {
  return st_.getColumn(index).getInt64();
}

std::string SqliteStatement::column_text(int index) const {
  return st_.getColumn(index).getString();
}

std::string SqliteStatement::column_blob(int index) const {
  // sqlite3_column_blob first, then _bytes (the order SQLite asks for); a zero-length BLOB reads
  // as a null pointer.
  const SQLite::Column column = st_.getColumn(index);
  const void* data = column.getBlob();
  const int size = column.getBytes();
  if (data == nullptr || size <= 0) return {};
  return std::string(static_cast<const char*>(data), static_cast<std::size_t>(size));
}

void Connection::configure_library() {
  static std::once_flag once;
  // SQLITE_MISUSE if SQLite was already initialised in this process (a test that opened a
  // database before): it then keeps its statistics, which changes speed, not behaviour.
  std::call_once(once, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
}

sql::Statement& Connection::statement(sql::Sql id) {
  auto& slot = statements_[static_cast<std::size_t>(id)];
  if (!slot) slot = std::make_unique<SqliteStatement>(*db_, sql::sql_text(id));
  return *slot;
}

std::unique_ptr<sql::Statement> Connection::prepare(const std::string& text) {
  return std::make_unique<SqliteStatement>(*db_, text);
}

std::unique_ptr<sql::Connection> open_read_connection(const std::string& path) {
  try {
    return std::make_unique<Connection>(path, SQLite::OPEN_READONLY, std::chrono::seconds(5));
  } catch (const SQLite::Exception& e) {
    throw std::runtime_error("database " + path + " could not be opened: " + e.what());
  }
}

}  // namespace rabta::store::sqlite
