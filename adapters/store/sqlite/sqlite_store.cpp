// SQLite implementation of the store: one writer thread with group commit, one read connection.
// Over 500 lines on purpose: the writer loop, the batch, the checkpointer and close() share the
// queue and the connection's state; the transactions themselves are in tx_*.cpp.

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <future>
#include <limits>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "adapters/common/cipher.hpp"
#include "adapters/common/crypto.hpp"
#include "adapters/store/audit_chain.hpp"
#include "adapters/store/queries.hpp"
#include "adapters/store/sql/group_commit.hpp"
#include "adapters/store/sql/tx.hpp"
#include "adapters/store/sqlite/connection.hpp"
#include "adapters/store/sqlite/migrations.hpp"
#include "adapters/store/store.hpp"

namespace rabta::store {
namespace sqlite {
namespace {

using sql::call_done;

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

class SqliteStore final : public sql::GroupCommitStore {
 public:
  explicit SqliteStore(const StoreOptions& options);
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;
  ~SqliteStore() override { close(); }

  void read(const std::function<void(Tx&)>& query) override;
  JobResult checkpoint_wal() override;
  void close() override;
  int schema_version() const override { return schema_version_; }

 private:
  sql::Connection& writer_connection() override { return *write_; }
  JobResult checkpoint_now();
  void open_write_connection(const StoreOptions& options);
  void checkpointer_loop();

  const std::string path_;
  int schema_version_ = 0;

  std::optional<Connection> write_;  // the writer thread's alone once it runs
  std::mutex read_mu_;
  std::optional<Connection> read_;  // guarded by read_mu_; empty after close()

  std::mutex close_mu_;
  bool closed_ = false;                          // guarded by close_mu_
  std::optional<Connection> checkpointer_conn_;  // the checkpointer thread's alone
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_stop_ = false;  // guarded by checkpoint_mu_
  std::thread checkpointer_;
};

SqliteStore::SqliteStore(const StoreOptions& options)
    : GroupCommitStore(options, options.path), path_(options.path) {
  open_write_connection(options);
  schema_version_ = detail::migrate(write_->db(), path_);
  try {
    read_.emplace(path_, SQLite::OPEN_READONLY, options.busy_timeout);
  } catch (const SQLite::Exception& e) {
    throw std::runtime_error("database " + path_ + " could not be opened for reading: " + e.what());
  }
  spdlog::info("store: opened {} (schema version {}, synchronous={})", path_, schema_version_,
               options.synchronous_full ? "FULL" : "NORMAL");
  try {
    checkpointer_conn_.emplace(path_, SQLite::OPEN_READWRITE, options.busy_timeout);
  } catch (const SQLite::Exception& e) {
    throw std::runtime_error("database " + path_ +
                             " could not be opened for checkpoints: " + e.what());
  }
  // Last: nothing after this may throw, or the joinable threads would terminate the process.
  start_writer();
  checkpointer_ = std::thread([this] { checkpointer_loop(); });
}

// Copies committed WAL frames into the database file in the background (PASSIVE: it never
// blocks the writer or readers, and takes what it can). Commits then only append to the WAL,
// whose space SQLite reuses from the start once everything in it is checkpointed. Durability
// is untouched: a commit is on disk once its WAL frames are synced.
void SqliteStore::checkpointer_loop() {
  std::unique_lock lock(checkpoint_mu_);
  while (!checkpoint_stop_) {
    checkpoint_cv_.wait_for(lock, std::chrono::milliseconds(200));
    if (checkpoint_stop_) break;
    try {
      checkpointer_conn_->db().exec("PRAGMA wal_checkpoint(PASSIVE)");
    } catch (const SQLite::Exception& e) {
      spdlog::warn("store: background checkpoint of {} failed: {}", path_, e.what());
    }
  }
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
    db.exec(options.secure_delete ? "PRAGMA secure_delete=ON" : "PRAGMA secure_delete=OFF");
    // Checkpoints run beside the writer (checkpointer_loop), so that commits never wait for
    // one; this only bounds the WAL should that thread fall far behind.
    db.exec("PRAGMA wal_autocheckpoint=50000");
    db.exec("PRAGMA temp_store=MEMORY");
    // #13: the writer's page cache, 16 MiB instead of SQLite's 2 MiB: a hop's index pages (her
    // pseudonym, the case reference) stay cached instead of being read back from the OS.
    db.exec("PRAGMA cache_size=-16384");
  } catch (const SQLite::Exception& e) {
    throw std::runtime_error("database " + path_ + " could not be opened: " + e.what());
  }
}

JobResult SqliteStore::checkpoint_now() {
  // The store's own reader must not hold a snapshot meanwhile (a TRUNCATE waits for readers),
  // and the background checkpointer must not be in the middle of one.
  std::lock_guard read_lock(read_mu_);
  std::lock_guard checkpoint_lock(checkpoint_mu_);
  try {
    SQLite::Statement st(write_->db(), "PRAGMA wal_checkpoint(TRUNCATE)");
    if (!st.executeStep()) return JobResult{false, "store: wal_checkpoint returned nothing"};
    if (st.getColumn(0).getInt() != 0) {
      return JobResult{false, "store: wal_checkpoint was blocked by another connection's read"};
    }
    return JobResult{true, {}};
  } catch (const SQLite::Exception& e) {
    return JobResult{false, std::string("store: wal_checkpoint failed: ") + e.what()};
  }
}

JobResult SqliteStore::checkpoint_wal() {
  return run_between_batches([this] { return checkpoint_now(); });
}

void SqliteStore::read(const std::function<void(Tx&)>& query) {
  std::lock_guard lock(read_mu_);
  if (!read_) throw std::runtime_error("store closed");
  read_on(*read_, query);
}

void SqliteStore::close() {
  if (!stop_writer()) return;
  std::lock_guard close_lock(close_mu_);
  if (closed_) return;
  closed_ = true;
  {
    std::lock_guard lock(checkpoint_mu_);
    checkpoint_stop_ = true;
  }
  checkpoint_cv_.notify_all();
  if (checkpointer_.joinable()) checkpointer_.join();
  checkpointer_conn_.reset();
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
}

}  // namespace
}  // namespace sqlite

namespace detail {

std::string due_checkins_sql() {
  return sql::sql_text(sql::Sql::due_checkins);
}

std::string cases_due_for_alert_sql() {
  return sql::sql_text(sql::Sql::cases_due_for_alert);
}

std::string cases_to_route_sql() {
  return sql::sql_text(sql::Sql::cases_to_route);
}

std::string list_cases_sql(const CaseFilter& filter) {
  return sql::list_cases_text(filter);
}

}  // namespace detail

std::unique_ptr<Store> open_sqlite_store(const StoreOptions& options) {
  return std::make_unique<sqlite::SqliteStore>(options);
}

}  // namespace rabta::store
