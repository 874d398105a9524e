// SQLite implementation of the store: one writer thread with group commit, one read connection.

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "adapters/store/migrations.hpp"
#include "adapters/store/store.hpp"

namespace rabta::store {
namespace {

// Every statement the store runs, prepared once per connection on first use.
enum class Sql : std::size_t {
  begin,
  begin_immediate,
  commit,
  rollback,
  savepoint,
  release,
  rollback_to,
  find_contact,
  insert_contact,
  set_contact_language,
  set_contact_quiet_until,
  find_session,
  find_resumable_session,
  insert_session,
  update_session,
  expire_idle_sessions,
  insert_case,
  find_case,
  insert_answer,
  insert_consent,
  insert_outbox,
  heartbeat,
  count,
};

constexpr std::size_t kSqlCount = static_cast<std::size_t>(Sql::count);

const char* sql_text(Sql id) {
  switch (id) {
    case Sql::begin:
      return "BEGIN";
    case Sql::begin_immediate:
      return "BEGIN IMMEDIATE";
    case Sql::commit:
      return "COMMIT";
    case Sql::rollback:
      return "ROLLBACK";
    case Sql::savepoint:
      return "SAVEPOINT j";
    case Sql::release:
      return "RELEASE j";
    case Sql::rollback_to:
      return "ROLLBACK TO j";
    case Sql::find_contact:
      return "SELECT id, pseudonym, language, quiet_until, created_at, updated_at FROM contacts "
             "WHERE pseudonym = ?1";
    case Sql::insert_contact:
      return "INSERT INTO contacts (pseudonym, created_at, updated_at) VALUES (?1, ?2, ?2)";
    case Sql::set_contact_language:
      return "UPDATE contacts SET language = ?1, updated_at = ?2 WHERE id = ?3";
    case Sql::set_contact_quiet_until:
      return "UPDATE contacts SET quiet_until = ?1, updated_at = ?2 WHERE id = ?3";
    case Sql::find_session:
      return "SELECT id, provider, provider_session_id, contact_id, channel, state, "
             "last_input_path, last_reply, hop_count, status, end_reason, started_at, updated_at, "
             "ended_at FROM sessions WHERE provider = ?1 AND provider_session_id = ?2";
    case Sql::find_resumable_session:
      return "SELECT id, provider, provider_session_id, contact_id, channel, state, "
             "last_input_path, last_reply, hop_count, status, end_reason, started_at, updated_at, "
             "ended_at FROM sessions WHERE contact_id = ?1 AND channel = ?2 "
             "AND status IN ('active', 'incomplete') AND updated_at >= ?3 "
             "ORDER BY updated_at DESC, id DESC LIMIT 1";
    case Sql::insert_session:
      return "INSERT INTO sessions (provider, provider_session_id, contact_id, channel, state, "
             "last_input_path, last_reply, hop_count, status, end_reason, started_at, updated_at, "
             "ended_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
    case Sql::update_session:
      return "UPDATE sessions SET provider = ?1, provider_session_id = ?2, contact_id = ?3, "
             "channel = ?4, state = ?5, last_input_path = ?6, last_reply = ?7, hop_count = ?8, "
             "status = ?9, end_reason = ?10, started_at = ?11, updated_at = ?12, ended_at = ?13 "
             "WHERE id = ?14";
    case Sql::expire_idle_sessions:
      return "UPDATE sessions SET status = 'incomplete', end_reason = 'idle', ended_at = ?1 "
             "WHERE status = 'active' AND updated_at < ?2";
    case Sql::heartbeat:
      return "INSERT INTO meta (key, value) VALUES ('heartbeat', ?1) "
             "ON CONFLICT(key) DO UPDATE SET value = excluded.value";
    case Sql::insert_case:
      return "INSERT INTO cases (reference, contact_id, session_id, flow, category, severity, "
             "status, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
    case Sql::find_case:
      return "SELECT id, reference, contact_id, session_id, flow, category, severity, status, "
             "created_at FROM cases WHERE reference = ?1";
    case Sql::insert_answer:
      return "INSERT INTO answers (session_id, contact_id, key, value, created_at) "
             "VALUES (?1, ?2, ?3, ?4, ?5)";
    case Sql::insert_consent:
      return "INSERT INTO consents (contact_id, session_id, purpose, granted, created_at) "
             "VALUES (?1, ?2, ?3, ?4, ?5)";
    case Sql::insert_outbox:
      return "INSERT INTO outbox (kind, dedupe_key, payload, cause, status, attempts, created_at, "
             "not_before, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
             "ON CONFLICT (dedupe_key) DO NOTHING";
    case Sql::count:
      break;
  }
  throw std::logic_error("store: unknown statement id");
}

// A database handle and its prepared statements. Used by one thread at a time.
class Connection {
 public:
  Connection(const std::string& path, int flags, std::chrono::milliseconds busy_timeout)
      // NOMUTEX: each connection is confined to one thread at a time (the writer, or callers
      // serialised by the read mutex), so SQLite's own per-call locking would be pure overhead.
      : db_(std::make_unique<SQLite::Database>(path, flags | SQLite::OPEN_NOMUTEX,
                                               static_cast<int>(busy_timeout.count()))) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() {
    // Statements first: sqlite3_close refuses a handle that still has live statements.
    for (auto& s : statements_) s.reset();
    db_.reset();
  }

  SQLite::Database& db() { return *db_; }
  bool in_transaction() const { return sqlite3_get_autocommit(db_->getHandle()) == 0; }

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

[[noreturn]] void throw_with_context(const char* operation, const SQLite::Exception& e) {
  // SQLite's messages name tables and columns, never bound values.
  throw std::runtime_error(std::string("store: ") + operation + " failed: " + e.what());
}

// Runs f, turning SQLite's exceptions into runtime_error naming the operation.
template <typename F>
decltype(auto) guarded(const char* operation, F&& f) {
  try {
    return f();
  } catch (const SQLite::Exception& e) {
    throw_with_context(operation, e);
  }
}

// Records carry 0 for "no session"; the column holds NULL then, so the foreign key allows it.
void bind_session_id(SQLite::Statement& st, int index, std::int64_t session_id) {
  if (session_id == 0) {
    st.bind(index);
  } else {
    st.bind(index, session_id);
  }
}

ContactRecord contact_from(const SQLite::Statement& st) {
  ContactRecord c;
  c.id = st.getColumn(0).getInt64();
  c.pseudonym = st.getColumn(1).getString();
  c.language = st.getColumn(2).getString();
  c.quiet_until = st.getColumn(3).getInt64();
  c.created_at = st.getColumn(4).getInt64();
  c.updated_at = st.getColumn(5).getInt64();
  return c;
}

SessionRecord session_from(const SQLite::Statement& st) {
  SessionRecord s;
  s.id = st.getColumn(0).getInt64();
  s.provider = st.getColumn(1).getString();
  s.provider_session_id = st.getColumn(2).getString();
  s.contact_id = st.getColumn(3).getInt64();
  s.channel = st.getColumn(4).getString();
  s.state = st.getColumn(5).getString();
  s.last_input_path = st.getColumn(6).getString();
  s.last_reply = st.getColumn(7).getString();
  s.hop_count = st.getColumn(8).getInt();
  s.status = st.getColumn(9).getString();
  s.end_reason = st.getColumn(10).getString();
  s.started_at = st.getColumn(11).getInt64();
  s.updated_at = st.getColumn(12).getInt64();
  s.ended_at = st.getColumn(13).getInt64();
  return s;
}

CaseRecord case_from(const SQLite::Statement& st) {
  CaseRecord c;
  c.id = st.getColumn(0).getInt64();
  c.reference = st.getColumn(1).getString();
  c.contact_id = st.getColumn(2).getInt64();
  c.session_id = st.getColumn(3).getInt64();  // NULL reads as 0
  c.flow = st.getColumn(4).getString();
  c.category = st.getColumn(5).getString();
  c.severity = st.getColumn(6).getString();
  c.status = st.getColumn(7).getString();
  c.created_at = st.getColumn(8).getInt64();
  return c;
}

// Binds the session columns in the order of insert_session/update_session (?1..?13).
void bind_session(SQLite::Statement& st, const SessionRecord& s) {
  st.bindNoCopy(1, s.provider);
  st.bindNoCopy(2, s.provider_session_id);
  st.bind(3, s.contact_id);
  st.bindNoCopy(4, s.channel);
  st.bindNoCopy(5, s.state);
  st.bindNoCopy(6, s.last_input_path);
  st.bindNoCopy(7, s.last_reply);
  st.bind(8, s.hop_count);
  st.bindNoCopy(9, s.status);
  st.bindNoCopy(10, s.end_reason);
  st.bind(11, s.started_at);
  st.bind(12, s.updated_at);
  st.bind(13, s.ended_at);
}

class SqliteTx final : public Tx {
 public:
  explicit SqliteTx(Connection& conn) : conn_(conn) {}

  std::optional<ContactRecord> find_contact(std::string_view pseudonym) override {
    return guarded("find_contact", [&]() -> std::optional<ContactRecord> {
      const std::string key(pseudonym);
      Stmt st = use(Sql::find_contact);
      st->bindNoCopy(1, key);
      if (!st->executeStep()) return std::nullopt;
      return contact_from(st.get());
    });
  }

  ContactRecord upsert_contact(std::string_view pseudonym, Millis now) override {
    if (auto found = find_contact(pseudonym)) return *std::move(found);
    return guarded("upsert_contact", [&] {
      ContactRecord c;
      c.pseudonym = std::string(pseudonym);
      c.created_at = now;
      c.updated_at = now;
      Stmt st = use(Sql::insert_contact);
      st->bindNoCopy(1, c.pseudonym);
      st->bind(2, now);
      st->exec();
      c.id = conn_.db().getLastInsertRowid();
      return c;
    });
  }

  void set_contact_language(std::int64_t contact_id, std::string_view language,
                            Millis now) override {
    guarded("set_contact_language", [&] {
      const std::string value(language);
      Stmt st = use(Sql::set_contact_language);
      st->bindNoCopy(1, value);
      st->bind(2, now);
      st->bind(3, contact_id);
      if (st->exec() == 0) throw std::runtime_error("store: set_contact_language: no such contact");
    });
  }

  void set_contact_quiet_until(std::int64_t contact_id, Millis until, Millis now) override {
    guarded("set_contact_quiet_until", [&] {
      Stmt st = use(Sql::set_contact_quiet_until);
      st->bind(1, until);
      st->bind(2, now);
      st->bind(3, contact_id);
      if (st->exec() == 0) {
        throw std::runtime_error("store: set_contact_quiet_until: no such contact");
      }
    });
  }

  std::optional<SessionRecord> find_session(std::string_view provider,
                                            std::string_view provider_session_id) override {
    return guarded("find_session", [&]() -> std::optional<SessionRecord> {
      const std::string p(provider);
      const std::string id(provider_session_id);
      Stmt st = use(Sql::find_session);
      st->bindNoCopy(1, p);
      st->bindNoCopy(2, id);
      if (!st->executeStep()) return std::nullopt;
      return session_from(st.get());
    });
  }

  std::optional<SessionRecord> find_resumable_session(std::int64_t contact_id,
                                                      std::string_view channel,
                                                      Millis since) override {
    return guarded("find_resumable_session", [&]() -> std::optional<SessionRecord> {
      const std::string ch(channel);
      Stmt st = use(Sql::find_resumable_session);
      st->bind(1, contact_id);
      st->bindNoCopy(2, ch);
      st->bind(3, since);
      if (!st->executeStep()) return std::nullopt;
      return session_from(st.get());
    });
  }

  std::int64_t insert_session(const SessionRecord& session) override {
    return guarded("insert_session", [&] {
      Stmt st = use(Sql::insert_session);
      bind_session(*st, session);
      st->exec();
      return conn_.db().getLastInsertRowid();
    });
  }

  void update_session(const SessionRecord& session) override {
    guarded("update_session", [&] {
      Stmt st = use(Sql::update_session);
      bind_session(*st, session);
      st->bind(14, session.id);
      if (st->exec() == 0) throw std::runtime_error("store: update_session: no such session");
    });
  }

  void heartbeat(Millis now) override {
    guarded("heartbeat", [&] {
      Stmt st = use(Sql::heartbeat);
      st->bind(1, std::to_string(now));
      st->exec();
    });
  }

  int expire_idle_sessions(Millis idle_before, Millis now) override {
    return guarded("expire_idle_sessions", [&] {
      Stmt st = use(Sql::expire_idle_sessions);
      st->bind(1, now);
      st->bind(2, idle_before);
      return st->exec();
    });
  }

  std::int64_t insert_case(const CaseRecord& c) override {
    try {
      Stmt st = use(Sql::insert_case);
      st->bindNoCopy(1, c.reference);
      st->bind(2, c.contact_id);
      bind_session_id(*st, 3, c.session_id);
      st->bindNoCopy(4, c.flow);
      st->bindNoCopy(5, c.category);
      st->bindNoCopy(6, c.severity);
      st->bindNoCopy(7, c.status);
      st->bind(8, c.created_at);
      st->exec();
      return conn_.db().getLastInsertRowid();
    } catch (const SQLite::Exception& e) {
      // reference is the only UNIQUE column of cases besides the rowid, which is never bound.
      if (e.getExtendedErrorCode() == SQLITE_CONSTRAINT_UNIQUE) {
        throw DuplicateReference("store: insert_case: case reference exists already");
      }
      throw_with_context("insert_case", e);
    }
  }

  std::optional<CaseRecord> find_case(std::string_view reference) override {
    return guarded("find_case", [&]() -> std::optional<CaseRecord> {
      const std::string ref(reference);
      Stmt st = use(Sql::find_case);
      st->bindNoCopy(1, ref);
      if (!st->executeStep()) return std::nullopt;
      return case_from(st.get());
    });
  }

  void insert_answer(const AnswerRecord& a) override {
    guarded("insert_answer", [&] {
      Stmt st = use(Sql::insert_answer);
      bind_session_id(*st, 1, a.session_id);
      st->bind(2, a.contact_id);
      st->bindNoCopy(3, a.key);
      st->bindNoCopy(4, a.value);
      st->bind(5, a.created_at);
      st->exec();
    });
  }

  void insert_consent(const ConsentRecord& c) override {
    guarded("insert_consent", [&] {
      Stmt st = use(Sql::insert_consent);
      st->bind(1, c.contact_id);
      bind_session_id(*st, 2, c.session_id);
      st->bindNoCopy(3, c.purpose);
      st->bind(4, c.granted ? 1 : 0);
      st->bind(5, c.created_at);
      st->exec();
    });
  }

  bool insert_outbox(const OutboxRecord& o) override {
    return guarded("insert_outbox", [&] {
      Stmt st = use(Sql::insert_outbox);
      st->bindNoCopy(1, o.kind);
      st->bindNoCopy(2, o.dedupe_key);
      st->bindNoCopy(3, o.payload);
      st->bindNoCopy(4, o.cause);
      st->bindNoCopy(5, o.status);
      st->bind(6, o.attempts);
      st->bind(7, o.created_at);
      st->bind(8, o.not_before);
      st->bind(9, o.expires_at);
      return st->exec() > 0;  // 0 changes: DO NOTHING took the conflict
    });
  }

 private:
  // Every Tx runs inside a transaction. If SQLite rolled it back (I/O error, disk full) and the
  // job carried on, its next statements would autocommit on their own, outside the batch.
  Stmt use(Sql id) {
    if (!conn_.in_transaction()) {
      throw std::runtime_error("store: the transaction was rolled back by an earlier error");
    }
    return Stmt(conn_, id);
  }

  Connection& conn_;
};

// Keeps job errors fit for one log line.
std::string short_reason(const char* what) {
  constexpr std::size_t kMax = 300;
  std::string s = (what != nullptr && *what != '\0') ? what : "job failed";
  if (s.size() > kMax) {
    std::size_t cut = kMax;
    // Do not split a UTF-8 sequence.
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0U) == 0x80U) --cut;
    s.resize(cut);
    s += "...";
  }
  return s;
}

// The first line of a quick_check report that says something: SQLite heads the report with
// "*** in database main ***", which names no problem.
std::string first_finding(const std::string& report) {
  std::size_t begin = 0;
  while (begin < report.size()) {
    std::size_t end = report.find('\n', begin);
    if (end == std::string::npos) end = report.size();
    const std::string_view line(report.data() + begin, end - begin);
    if (!line.empty() && !line.starts_with("*** ")) return std::string(line);
    begin = end + 1;
  }
  return report;
}

void call_done(const Done& done, const JobResult& result) {
  if (!done) return;
  try {
    done(result);
  } catch (const std::exception& e) {
    spdlog::error("store: a done callback threw: {}", short_reason(e.what()));
  } catch (...) {
    spdlog::error("store: a done callback threw a non-standard exception");
  }
}

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(const StoreOptions& options);
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;
  ~SqliteStore() override { close(); }

  void submit(Job job, Done done) override;
  JobResult run(Job job) override;
  void read(const std::function<void(Tx&)>& query) override;
  void close() override;
  StoreStats stats() const override;
  int schema_version() const override { return schema_version_; }

 private:
  struct Pending {
    Job job;
    Done done;
  };

  void open_write_connection(const StoreOptions& options);
  void writer_loop();
  void run_batch(std::vector<Pending>& batch, std::vector<JobResult>& results);
  JobResult run_job(Job& job);
  void undo_job() noexcept;
  void exec_write(Sql id) {
    Stmt st(*write_, id);
    st->exec();
  }
  void record_batch(const std::vector<JobResult>& results);

  const std::string path_;
  const std::size_t max_batch_;
  int schema_version_ = 0;

  std::optional<Connection> write_;  // the writer thread's alone once it runs
  std::mutex read_mu_;
  std::optional<Connection> read_;  // guarded by read_mu_; empty after close()

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Pending> queue_;  // guarded by queue_mu_
  bool accepting_ = true;      // guarded by queue_mu_

  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> jobs_{0};
  std::atomic<std::uint64_t> failed_jobs_{0};
  std::atomic<std::uint64_t> largest_batch_{0};

  std::mutex close_mu_;
  bool closed_ = false;  // guarded by close_mu_
  std::thread writer_;
  std::thread::id writer_id_;
};

SqliteStore::SqliteStore(const StoreOptions& options)
    : path_(options.path), max_batch_(std::max<std::size_t>(1, options.max_batch)) {
  open_write_connection(options);
  schema_version_ = detail::migrate(write_->db(), path_);
  try {
    read_.emplace(path_, SQLite::OPEN_READONLY, options.busy_timeout);
  } catch (const SQLite::Exception& e) {
    throw std::runtime_error("database " + path_ + " could not be opened for reading: " + e.what());
  }
  spdlog::info("store: opened {} (schema version {}, synchronous={})", path_, schema_version_,
               options.synchronous_full ? "FULL" : "NORMAL");
  // Last: nothing after this may throw, or the joinable thread would terminate the process.
  writer_ = std::thread([this] { writer_loop(); });
  writer_id_ = writer_.get_id();
}

void SqliteStore::open_write_connection(const StoreOptions& options) {
  namespace fs = std::filesystem;
  if (path_.empty()) throw std::runtime_error("database path is empty");
  const fs::path file(path_);
  const fs::path dir = file.has_parent_path() ? file.parent_path() : fs::path(".");
  std::error_code ec;
  // Creating directories is the operator's call (ownership, permissions, mount): refuse instead.
  if (!fs::is_directory(dir, ec)) {
    throw std::runtime_error("database " + path_ + ": directory " + dir.string() +
                             " does not exist");
  }
  const bool existed = fs::exists(file, ec) && fs::file_size(file, ec) > 0;

  try {
    write_.emplace(path_, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE, options.busy_timeout);
  } catch (const SQLite::Exception& e) {
    throw std::runtime_error("database " + path_ + " could not be opened: " + e.what());
  }
  SQLite::Database& db = write_->db();

  // Checked before any PRAGMA that writes (journal_mode): a damaged file is left as found.
  if (existed) {
    std::string verdict;
    try {
      SQLite::Statement check(db, "PRAGMA quick_check");
      verdict = check.executeStep() ? check.getColumn(0).getString() : "no result";
    } catch (const SQLite::Exception& e) {
      verdict = e.what();  // e.g. "file is not a database"
    }
    if (verdict != "ok") {
      throw std::runtime_error("database " + path_ +
                               " failed quick_check: " + first_finding(verdict));
    }
  }

  try {
    const int version = detail::read_user_version(db);
    if (version > latest_schema_version()) {
      throw std::runtime_error("database " + path_ + " has schema version " +
                               std::to_string(version) + ", newer than this rabta (" +
                               std::to_string(latest_schema_version()) + ")");
    }
    const std::string mode = db.execAndGet("PRAGMA journal_mode=WAL").getString();
    if (mode != "wal") {
      throw std::runtime_error("database " + path_ + ": could not enable WAL (journal_mode is " +
                               mode + ")");
    }
    db.exec(options.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    db.exec("PRAGMA foreign_keys=ON");
  } catch (const SQLite::Exception& e) {
    throw std::runtime_error("database " + path_ + " could not be opened: " + e.what());
  }
}

void SqliteStore::submit(Job job, Done done) {
  {
    std::lock_guard lock(queue_mu_);
    if (accepting_) {
      queue_.push_back(Pending{std::move(job), std::move(done)});
      // Notify under the lock: once unlocked, the job may run and its Done may let another
      // thread destroy the store before a late notify touched the condition variable.
      queue_cv_.notify_one();
      return;
    }
  }
  // Counted as failed: the caller's change is lost just as if the writer had failed it.
  jobs_.fetch_add(1, std::memory_order_relaxed);
  failed_jobs_.fetch_add(1, std::memory_order_relaxed);
  call_done(done, JobResult{false, "store closed"});
}

JobResult SqliteStore::run(Job job) {
  // The writer would wait for itself.
  if (std::this_thread::get_id() == writer_id_) {
    return JobResult{false, "store: run() called on the writer thread"};
  }
  // The Done owns the promise: it stays valid until set_value has fully returned.
  auto promise = std::make_shared<std::promise<JobResult>>();
  auto result = promise->get_future();
  submit(std::move(job), [promise](const JobResult& r) { promise->set_value(r); });
  return result.get();
}

void SqliteStore::read(const std::function<void(Tx&)>& query) {
  std::lock_guard lock(read_mu_);
  if (!read_) throw std::runtime_error("store closed");
  // One transaction, so every query in the callback sees the same snapshot.
  try {
    Stmt st(*read_, Sql::begin);
    st->exec();
  } catch (const SQLite::Exception& e) {
    throw_with_context("read (begin)", e);
  }
  try {
    SqliteTx tx(*read_);
    query(tx);
  } catch (...) {
    if (read_->in_transaction()) read_->db().tryExec("ROLLBACK");
    throw;
  }
  try {
    Stmt st(*read_, Sql::commit);
    st->exec();
  } catch (const SQLite::Exception& e) {
    if (read_->in_transaction()) read_->db().tryExec("ROLLBACK");
    throw_with_context("read (end)", e);
  }
}

void SqliteStore::close() {
  {
    std::lock_guard lock(queue_mu_);
    accepting_ = false;
    queue_cv_.notify_all();
  }
  // From a Done (on the writer) we cannot join ourselves: the writer drains and exits on its
  // own, and the destructor or a later close() from another thread finishes the rest.
  if (std::this_thread::get_id() == writer_id_) return;

  std::lock_guard close_lock(close_mu_);
  if (closed_) return;
  closed_ = true;
  if (writer_.joinable()) writer_.join();
  {
    std::lock_guard read_lock(read_mu_);
    read_.reset();
  }
  if (write_) {
    try {
      // Fold the WAL into the main file so the database is one self-contained file at rest.
      SQLite::Statement checkpoint(write_->db(), "PRAGMA wal_checkpoint(TRUNCATE)");
      if (checkpoint.executeStep() && checkpoint.getColumn(0).getInt() != 0) {
        spdlog::warn("store: WAL checkpoint on close of {} was blocked by another connection",
                     path_);
      }
    } catch (const SQLite::Exception& e) {
      spdlog::warn("store: WAL checkpoint on close of {} failed: {}", path_, e.what());
    }
    write_.reset();
  }
  spdlog::info("store: closed {} ({} commits, {} jobs, {} failed)", path_, commits_.load(),
               jobs_.load(), failed_jobs_.load());
}

StoreStats SqliteStore::stats() const {
  StoreStats s;
  s.commits = commits_.load(std::memory_order_relaxed);
  s.jobs = jobs_.load(std::memory_order_relaxed);
  s.failed_jobs = failed_jobs_.load(std::memory_order_relaxed);
  s.largest_batch = largest_batch_.load(std::memory_order_relaxed);
  return s;
}

void SqliteStore::writer_loop() {
  std::vector<Pending> batch;
  std::vector<JobResult> results;
  batch.reserve(max_batch_);
  for (;;) {
    {
      std::unique_lock lock(queue_mu_);
      queue_cv_.wait(lock, [this] { return !queue_.empty() || !accepting_; });
      if (queue_.empty()) return;  // closed and drained
      // Everything that queued while the previous batch committed forms this batch.
      const std::size_t n = std::min(queue_.size(), max_batch_);
      for (std::size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    results.assign(batch.size(), JobResult{});
    run_batch(batch, results);
    // Stats first: a Done that wakes a waiter must find them up to date.
    record_batch(results);
    for (std::size_t i = 0; i < batch.size(); ++i) call_done(batch[i].done, results[i]);
    batch.clear();
  }
}

void SqliteStore::run_batch(std::vector<Pending>& batch, std::vector<JobResult>& results) {
  // Jobs [first_in_tx, i) have their changes in the open transaction.
  std::size_t first_in_tx = 0;
  bool open = false;
  // Marks jobs [from, to) failed; a job that failed on its own keeps its own reason.
  const auto fail = [&results](std::size_t from, std::size_t to, const std::string& reason) {
    for (std::size_t k = from; k < to; ++k) {
      if (results[k].ok || results[k].error.empty()) results[k] = JobResult{false, reason};
    }
  };
  try {
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (!open) {
        try {
          exec_write(Sql::begin_immediate);
        } catch (const SQLite::Exception& e) {
          fail(i, batch.size(), std::string("store: begin failed: ") + e.what());
          return;
        }
        open = true;
        first_in_tx = i;
      }
      results[i] = run_job(batch[i].job);
      if (!write_->in_transaction()) {
        // SQLite rolled the whole transaction back (I/O error, disk full, ...), taking the
        // earlier jobs of this batch with it. The rest of the batch gets a fresh transaction.
        spdlog::error("store: transaction rolled back by SQLite: {}", results[i].error);
        fail(first_in_tx, i + 1, "store: transaction rolled back: " + results[i].error);
        open = false;
      }
    }
    if (!open) return;
    try {
      exec_write(Sql::commit);
      commits_.fetch_add(1, std::memory_order_relaxed);
    } catch (const SQLite::Exception& e) {
      const std::string reason = std::string("store: commit failed: ") + e.what();
      spdlog::error("{} ({} jobs rolled back)", reason, batch.size() - first_in_tx);
      if (write_->in_transaction()) write_->db().tryExec("ROLLBACK");
      // Jobs that failed on their own keep their reason; the others lost their changes here.
      for (std::size_t k = first_in_tx; k < batch.size(); ++k) {
        if (results[k].ok) results[k] = JobResult{false, reason};
      }
    }
  } catch (const std::exception& e) {
    // Only allocation failures get here; nothing of this batch may be reported as durable.
    if (write_->in_transaction()) write_->db().tryExec("ROLLBACK");
    for (auto& r : results) r = JobResult{false, std::string("store: batch failed: ") + e.what()};
  }
}

JobResult SqliteStore::run_job(Job& job) {
  try {
    exec_write(Sql::savepoint);
  } catch (const SQLite::Exception& e) {
    return JobResult{false, std::string("store: savepoint failed: ") + e.what()};
  }
  try {
    SqliteTx tx(*write_);
    job(tx);
    exec_write(Sql::release);
    return JobResult{true, {}};
  } catch (const std::exception& e) {
    undo_job();
    return JobResult{false, short_reason(e.what())};
  } catch (...) {
    undo_job();
    return JobResult{false, "job threw a non-standard exception"};
  }
}

void SqliteStore::undo_job() noexcept {
  if (!write_->in_transaction()) return;  // SQLite already rolled everything back
  try {
    exec_write(Sql::rollback_to);
    exec_write(Sql::release);
  } catch (const std::exception& e) {
    // The failed job's changes can no longer be told apart from the batch's: drop the whole
    // transaction rather than commit them. run_batch sees it and fails the earlier jobs too.
    spdlog::error("store: could not roll back a failed job, dropping its batch: {}", e.what());
    write_->db().tryExec("ROLLBACK");
  }
}

void SqliteStore::record_batch(const std::vector<JobResult>& results) {
  const auto failed = static_cast<std::uint64_t>(
      std::count_if(results.begin(), results.end(), [](const JobResult& r) { return !r.ok; }));
  const auto n = static_cast<std::uint64_t>(results.size());
  jobs_.fetch_add(n, std::memory_order_relaxed);
  failed_jobs_.fetch_add(failed, std::memory_order_relaxed);
  // Only the writer raises it, so load-then-store cannot lose an update.
  if (n > largest_batch_.load(std::memory_order_relaxed)) {
    largest_batch_.store(n, std::memory_order_relaxed);
  }
  if (failed > 0) {
    const auto first =
        std::find_if(results.begin(), results.end(), [](const JobResult& r) { return !r.ok; });
    spdlog::warn("store: {} of {} jobs in a batch failed; first reason: {}", failed, n,
                 first->error);
  }
}

}  // namespace

std::unique_ptr<Store> open_sqlite_store(const StoreOptions& options) {
  return std::make_unique<SqliteStore>(options);
}

}  // namespace rabta::store
