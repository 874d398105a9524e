#include "adapters/store/postgres/connection.hpp"

#include <libpq-fe.h>

#include <charconv>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/store/postgres/dialect.hpp"
#include "adapters/store/postgres/open.hpp"

namespace rabta::store::postgres {
namespace {

// Type OIDs (pg_type.h, stable across versions).
constexpr Oid kBool = 16;
constexpr Oid kBytea = 17;
constexpr Oid kInt8 = 20;
constexpr Oid kInt2 = 21;
constexpr Oid kInt4 = 23;
constexpr Oid kNumeric = 1700;

std::string first_line(const char* message) {
  std::string s = message != nullptr ? message : "";
  const auto nl = s.find('\n');
  if (nl != std::string::npos) s.resize(nl);
  return s;
}

}  // namespace

sql::Error error_of(PGconn* conn, const PGresult* result, std::string_view doing) {
  std::string what(doing);
  if (result == nullptr || PQstatus(conn) != CONNECTION_OK) {
    // The server is gone (or never answered): libpq's own message names no value. (The store
    // sees a lost connection by Connection::alive and reconnects.)
    what += ": " + first_line(PQerrorMessage(conn));
    return sql::Error(sql::Error::Kind::other, what);
  }
  const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  const std::string sqlstate = state != nullptr ? state : "";
  const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  if (sqlstate.starts_with("22")) {
    what += ": a value was refused (data exception)";
  } else if (sqlstate == "23505") {
    what += ": UNIQUE constraint failed: " + first_line(primary);
  } else if (sqlstate == "23503") {
    what += ": FOREIGN KEY constraint failed: " + first_line(primary);
  } else {
    what += ": " + first_line(primary);
  }
  if (!sqlstate.empty()) what += " (SQLSTATE " + sqlstate + ")";
  const auto kind = sqlstate == "23505" ? sql::Error::Kind::unique : sql::Error::Kind::other;
  return sql::Error(kind, what);
}

PgStatement::PgStatement(Connection& conn, std::shared_ptr<const Prepared> prepared)
    : conn_(conn), prepared_(std::move(prepared)) {
  values_.resize(prepared_->types.size());
  null_.assign(prepared_->types.size(), 1);
}

void PgStatement::set(int index, std::string_view value, bool null) {
  // ?N of the SQLite text: its $ number, unless the text never uses it (SQLite ignores those).
  const auto& slots = prepared_->slots;
  if (index >= 1 && static_cast<std::size_t>(index) < slots.size() &&
      slots[static_cast<std::size_t>(index)] == 0) {
    return;
  }
  if (index >= 1 && static_cast<std::size_t>(index) < slots.size()) {
    index = slots[static_cast<std::size_t>(index)];
  }
  if (index < 1 || static_cast<std::size_t>(index) > values_.size()) {
    throw sql::Error(sql::Error::Kind::other,
                     "parameter " + std::to_string(index) + " out of range");
  }
  values_[static_cast<std::size_t>(index - 1)].assign(value);
  null_[static_cast<std::size_t>(index - 1)] = null ? 1 : 0;
}

void PgStatement::bind(int index, std::int64_t value) {
  set(index, std::to_string(value), false);
}
void PgStatement::bind(int index, std::string_view text) {
  // libpq sends text as a C string: a NUL would cut it short, silently.
  if (text.find('\0') != std::string_view::npos) {
    throw sql::Error(sql::Error::Kind::other, "a text value holds a NUL byte");
  }
  // A sealed column (bytea) takes ciphertext (bind_blob) or nothing: a value in clear there is a
  // store opened without the field key writing her words, refused (SAFETY D2).
  const auto& slots = prepared_->slots;
  const int n = index >= 1 && static_cast<std::size_t>(index) < slots.size()
                    ? slots[static_cast<std::size_t>(index)]
                    : index;
  if (!text.empty() && n >= 1 && static_cast<std::size_t>(n) <= prepared_->types.size() &&
      prepared_->types[static_cast<std::size_t>(n - 1)] == kBytea) {
    throw sql::Error(sql::Error::Kind::other,
                     "a sealed column would be written in clear: the store has no field key");
  }
  set(index, text, false);
}
void PgStatement::bindNoCopy(int index, const std::string& text) {
  bind(index, std::string_view(text));
}
void PgStatement::bind_blob(int index, std::string_view bytes) {
  set(index, bytes, false);
}
void PgStatement::bind(int index) {
  set(index, {}, true);
}

int PgStatement::parameter_index(std::string_view name) const {
  const auto it = prepared_->names.find(std::string(name));
  if (it == prepared_->names.end()) {
    throw sql::Error(sql::Error::Kind::other, "no parameter " + std::string(name));
  }
  return it->second;
}

void PgStatement::run() {
  const std::size_t n = values_.size();
  std::vector<const char*> values(n);
  std::vector<int> lengths(n);
  std::vector<int> formats(n);
  for (std::size_t i = 0; i < n; ++i) {
    values[i] = null_[i] != 0 ? nullptr : values_[i].data();
    lengths[i] = static_cast<int>(values_[i].size());
    // bytea goes as bytes (binary format), so a sealed value is never read as escaped text.
    formats[i] = prepared_->types[i] == kBytea ? 1 : 0;
  }
  result_.reset(PQexecPrepared(conn_.raw(), prepared_->name.c_str(), static_cast<int>(n),
                               values.data(), lengths.data(), formats.data(), 0));
  ran_ = true;
  row_ = -1;
  const ExecStatusType status = result_ ? PQresultStatus(result_.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    throw error_of(conn_.raw(), result_.get(), "statement");
  }
  const char* tuples = PQcmdTuples(result_.get());
  const char* command = PQcmdStatus(result_.get());
  if (prepared_->commit && command != nullptr && std::string_view(command) != "COMMIT") {
    // PostgreSQL answers COMMIT of an aborted transaction with ROLLBACK, as a success.
    throw sql::Error(sql::Error::Kind::other, "the transaction was rolled back, not committed");
  }
  if (tuples != nullptr && *tuples != '\0' && command != nullptr &&
      (std::string_view(command).starts_with("INSERT") ||
       std::string_view(command).starts_with("UPDATE") ||
       std::string_view(command).starts_with("DELETE"))) {
    conn_.add_changes(std::atoll(tuples));
  }
}

bool PgStatement::executeStep() {
  if (!ran_) run();
  ++row_;
  return row_ < PQntuples(result_.get());
}

int PgStatement::exec() {
  run();
  const char* tuples = PQcmdTuples(result_.get());
  return tuples != nullptr && *tuples != '\0' ? std::atoi(tuples) : 0;
}

void PgStatement::reset() noexcept {
  result_.reset();
  ran_ = false;
  row_ = -1;
  for (auto& v : values_) v.clear();
  null_.assign(null_.size(), 1);
}

const char* PgStatement::cell(int index) const {
  if (!result_ || row_ < 0 || row_ >= PQntuples(result_.get()) || index < 0 ||
      index >= PQnfields(result_.get())) {
    throw sql::Error(sql::Error::Kind::other, "no such row or column");
  }
  return PQgetvalue(result_.get(), row_, index);
}

sql::Type PgStatement::column_type(int index) const {
  const char* v = cell(index);
  if (PQgetisnull(result_.get(), row_, index) != 0) return sql::Type::null;
  switch (PQftype(result_.get(), index)) {
    case kBool:
    case kInt2:
    case kInt4:
    case kInt8:
    case kNumeric:
      return sql::Type::integer;
    case kBytea:
      // "\x" alone is an empty value: read as '' (nothing sealed).
      return std::string_view(v).size() > 2 ? sql::Type::blob : sql::Type::text;
    default:
      return sql::Type::text;
  }
}

std::int64_t PgStatement::column_int64(int index) const {
  const char* v = cell(index);
  if (PQgetisnull(result_.get(), row_, index) != 0) return 0;
  if (PQftype(result_.get(), index) == kBool) return *v == 't' ? 1 : 0;
  std::int64_t out = 0;
  const std::string_view s(v);
  std::from_chars(s.data(), s.data() + s.size(), out);  // numeric "12.0" reads as 12
  return out;
}

std::string PgStatement::column_text(int index) const {
  const char* v = cell(index);
  if (PQgetisnull(result_.get(), row_, index) != 0) return {};
  if (PQftype(result_.get(), index) == kBytea) return column_blob(index);
  return std::string(v, static_cast<std::size_t>(PQgetlength(result_.get(), row_, index)));
}

std::string PgStatement::column_blob(int index) const {
  const char* v = cell(index);
  if (PQgetisnull(result_.get(), row_, index) != 0) return {};
  if (PQftype(result_.get(), index) != kBytea) {
    return std::string(v, static_cast<std::size_t>(PQgetlength(result_.get(), row_, index)));
  }
  std::size_t size = 0;
  unsigned char* bytes = PQunescapeBytea(reinterpret_cast<const unsigned char*>(v), &size);
  if (bytes == nullptr) throw std::bad_alloc();
  std::string out(reinterpret_cast<const char*>(bytes), size);
  PQfreemem(bytes);
  return out;
}

Connection::Connection(const std::string& url) {
  // Defaults first, so that the URL's own settings win: a server that does not answer is given
  // up on in 5 s (then the request gets a 503 and the reconnection backs off), and a connection
  // whose peer vanished without a reset (a failed-over address) is found dead in about 30 s
  // instead of the kernel's 2 hours.
  const char* const keys[] = {
      "connect_timeout",  "keepalives",       "keepalives_idle", "keepalives_interval",
      "keepalives_count", "tcp_user_timeout", "dbname",          nullptr};
  const char* const values[] = {"5", "1", "10", "5", "3", "30000", url.c_str(), nullptr};
  conn_ = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn_ == nullptr) throw std::bad_alloc();
  if (PQstatus(conn_) != CONNECTION_OK) {
    sql::Error e(sql::Error::Kind::other,
                 "could not connect: " + first_line(PQerrorMessage(conn_)));
    PQfinish(conn_);
    conn_ = nullptr;
    throw e;
  }
  // Times are epoch milliseconds in bigint columns: no time zone or date style is read. Notices
  // (e.g. "there is no transaction in progress") are not printed on stderr.
  PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);
  // lock_timeout: no statement of a batch waits long for another instance's lock (a new
  // session's unique index entry that another instance's open batch is inserting too, the audit
  // chain's advisory lock): the job fails and its request gets a 503 ("busy, retry") instead of
  // every hop of the batch waiting behind it, or two batches waiting for each other until
  // PostgreSQL's deadlock_timeout (1 s) breaks the cycle. Batches commit in milliseconds.
  exec_script(
      "SET synchronous_commit = on; SET client_encoding = 'UTF8'; SET lock_timeout = '200ms'; "
      // A peer that died inside a transaction holds its locks no longer than this.
      "SET idle_in_transaction_session_timeout = '60s'");
}

Connection::~Connection() {
  statements_ = {};
  by_text_.clear();
  if (conn_ != nullptr) PQfinish(conn_);
}

bool Connection::in_transaction() const {
  const PGTransactionStatusType s = PQtransactionStatus(conn_);
  return s == PQTRANS_INTRANS || s == PQTRANS_INERROR || s == PQTRANS_ACTIVE;
}

void Connection::exec_script(const std::string& sql) {
  Result r(PQexec(conn_, sql.c_str()));
  if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
    if (r && PQresultStatus(r.get()) == PGRES_TUPLES_OK) return;
    throw error_of(conn_, r.get(), "script");
  }
}

std::shared_ptr<const Prepared> Connection::prepare_on_server(Translated translated) {
  auto p = std::make_shared<Prepared>();
  p->name = "r" + std::to_string(next_name_++);
  p->names = std::move(translated.names);
  p->slots = std::move(translated.slots);
  p->commit = translated.text == "COMMIT";
  const std::string& pg_text = translated.text;
  Result r(PQprepare(conn_, p->name.c_str(), pg_text.c_str(), 0, nullptr));
  if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
    throw error_of(conn_, r.get(), "prepare");
  }
  Result d(PQdescribePrepared(conn_, p->name.c_str()));
  if (!d || PQresultStatus(d.get()) != PGRES_COMMAND_OK) {
    throw error_of(conn_, d.get(), "describe");
  }
  for (int i = 0; i < PQnparams(d.get()); ++i) p->types.push_back(PQparamtype(d.get(), i));
  return p;
}

std::shared_ptr<const Prepared> Connection::prepared(const std::string& sqlite_text) {
  auto it = by_text_.find(sqlite_text);
  if (it != by_text_.end()) return it->second;
  // A bound on what a long-lived connection keeps: statements built per call come in a few
  // shapes (list filters, sealed columns), but a roster's size changes one of them.
  if (by_text_.size() >= 512) {
    for (auto i = by_text_.begin(); i != by_text_.end();) {
      if (i->second.use_count() > 1) {  // a statement in use keeps its server-side twin
        ++i;
        continue;
      }
      exec_script("DEALLOCATE " + i->second->name);
      i = by_text_.erase(i);
    }
  }
  auto p = prepare_on_server(translate(sqlite_text));
  by_text_.emplace(sqlite_text, p);
  return p;
}

sql::Statement& Connection::statement(sql::Sql id) {
  auto& slot = statements_[static_cast<std::size_t>(id)];
  if (!slot)
    slot = std::make_unique<PgStatement>(*this, prepare_on_server(postgres::statement(id)));
  return *slot;
}

std::unique_ptr<sql::Statement> Connection::prepare(const std::string& text) {
  return std::make_unique<PgStatement>(*this, prepared(text));
}

void Connection::lock_for_transaction(std::int64_t lock_id) {
  auto st = prepare("SELECT pg_advisory_xact_lock(?1)");
  st->bind(1, lock_id);
  st->executeStep();
}

bool Connection::try_lock_for_transaction(std::int64_t lock_id) {
  auto st = prepare("SELECT pg_try_advisory_xact_lock(?1)");
  st->bind(1, lock_id);
  return st->executeStep() && st->getColumn(0).getInt64() != 0;
}

std::unique_ptr<sql::Connection> open_connection(const std::string& url) {
  return std::make_unique<Connection>(url);
}

}  // namespace rabta::store::postgres
