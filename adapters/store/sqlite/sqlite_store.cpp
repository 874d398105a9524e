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
#include "adapters/store/sqlite/migrations.hpp"
#include "adapters/store/sqlite/tx.hpp"
#include "adapters/store/store.hpp"

namespace rabta::store {
namespace sqlite {
namespace {

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
  void submit_bounded(Job job, Done done) override;
  void enqueue(Job job, Done done, bool bounded);
  JobResult run(Job job) override;
  void read(const std::function<void(Tx&)>& query) override;
  JobResult checkpoint_wal() override;
  void close() override;
  StoreStats stats() const override;
  int schema_version() const override { return schema_version_; }

 private:
  struct Pending {
    Job job;
    Done done;
    bool checkpoint = false;  // a wal_checkpoint(TRUNCATE) after the batch commits
  };
  JobResult checkpoint_now();

  void open_write_connection(const StoreOptions& options);
  void writer_loop();
  void checkpointer_loop();
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
  const std::size_t max_queue_;  // 0 = no bound
  const std::shared_ptr<const common::FieldCipher> cipher_;
  int schema_version_ = 0;

  std::optional<Connection> write_;  // the writer thread's alone once it runs
  std::mutex read_mu_;
  std::optional<Connection> read_;  // guarded by read_mu_; empty after close()

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Pending> queue_;  // guarded by queue_mu_
  bool accepting_ = true;      // guarded by queue_mu_

  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> unchanged_{0};
  std::atomic<std::uint64_t> shed_{0};  // batches that changed nothing: no commit at all
  std::atomic<std::uint64_t> jobs_{0};
  std::atomic<std::uint64_t> failed_jobs_{0};
  std::atomic<std::uint64_t> largest_batch_{0};
  std::array<std::atomic<std::uint64_t>, StoreStats::kBatchBounds.size()> batch_buckets_{};
  std::atomic<std::uint64_t> batches_{0};

  std::mutex close_mu_;
  bool closed_ = false;  // guarded by close_mu_
  std::thread writer_;
  std::thread::id writer_id_;
  std::optional<Connection> checkpointer_conn_;  // the checkpointer thread's alone
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_stop_ = false;  // guarded by checkpoint_mu_
  std::thread checkpointer_;
  const std::string audit_key_;
};

SqliteStore::SqliteStore(const StoreOptions& options)
    : path_(options.path),
      max_batch_(std::max<std::size_t>(1, options.max_batch)),
      max_queue_(options.max_queue),
      cipher_(options.cipher),
      audit_key_(options.audit_key) {
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
  writer_ = std::thread([this] { writer_loop(); });
  writer_id_ = writer_.get_id();
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

void SqliteStore::submit(Job job, Done done) {
  enqueue(std::move(job), std::move(done), false);
}

void SqliteStore::submit_bounded(Job job, Done done) {
  enqueue(std::move(job), std::move(done), true);
}

void SqliteStore::enqueue(Job job, Done done, bool bounded) {
  bool full = false;
  {
    std::lock_guard lock(queue_mu_);
    full = bounded && max_queue_ != 0 && queue_.size() >= max_queue_;
    if (accepting_ && !full) {
      queue_.push_back(Pending{std::move(job), std::move(done)});
      // Notify under the lock: once unlocked, the job may run and its Done may let another
      // thread destroy the store before a late notify touched the condition variable.
      queue_cv_.notify_one();
      return;
    }
  }
  if (full) {
    // Overload: refused before it ran, so nothing of it is stored; answered at once.
    shed_.fetch_add(1, std::memory_order_relaxed);
    JobResult busy{false, "store: busy: [database] max_queue writes are waiting"};
    busy.busy = true;
    return call_done(done, busy);
  }
  // Counted as failed: the caller's change is lost just as if the writer had failed it.
  jobs_.fetch_add(1, std::memory_order_relaxed);
  failed_jobs_.fetch_add(1, std::memory_order_relaxed);
  call_done(done, JobResult{false, "store closed"});
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
  if (std::this_thread::get_id() == writer_id_) {
    return JobResult{false, "store: checkpoint_wal() called on the writer thread"};
  }
  auto promise = std::make_shared<std::promise<JobResult>>();
  auto result = promise->get_future();
  {
    std::lock_guard lock(queue_mu_);
    if (!accepting_) return JobResult{false, "store closed"};
    queue_.push_back(
        Pending{[](Tx&) {}, [promise](const JobResult& r) { promise->set_value(r); }, true});
    queue_cv_.notify_one();
  }
  return result.get();
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
    SqliteTx tx(*read_, cipher_.get(), audit_key_);
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
  spdlog::info("store: closed {} ({} commits, {} unchanged batches, {} jobs, {} failed)", path_,
               commits_.load(), unchanged_.load(), jobs_.load(), failed_jobs_.load());
}

StoreStats SqliteStore::stats() const {
  StoreStats s;
  s.commits = commits_.load(std::memory_order_relaxed);
  s.unchanged = unchanged_.load(std::memory_order_relaxed);
  s.shed = shed_.load(std::memory_order_relaxed);
  s.jobs = jobs_.load(std::memory_order_relaxed);
  s.failed_jobs = failed_jobs_.load(std::memory_order_relaxed);
  s.largest_batch = largest_batch_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < s.batch_buckets.size(); ++i)
    s.batch_buckets[i] = batch_buckets_[i].load(std::memory_order_relaxed);
  s.batches = batches_.load(std::memory_order_relaxed);
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
    for (std::size_t i = 0; i < batch.size(); ++i)
      if (batch[i].checkpoint && results[i].ok) results[i] = checkpoint_now();
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
  std::int64_t changes_at_begin = 0;
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
        changes_at_begin = write_->total_changes();
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
    if (write_->total_changes() == changes_at_begin) {
      // Nothing to make durable (a pass that found nothing due): end the transaction without a
      // commit, so an idle server writes no WAL frame and calls no fsync.
      write_->db().tryExec("ROLLBACK");
      if (write_->in_transaction())
        fail(first_in_tx, batch.size(), "store: could not end an unchanged transaction");
      else
        unchanged_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
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
    SqliteTx tx(*write_, cipher_.get(), audit_key_);
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
  for (std::size_t i = 0; i < StoreStats::kBatchBounds.size(); ++i)
    if (n <= StoreStats::kBatchBounds[i]) {
      batch_buckets_[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  batches_.fetch_add(1, std::memory_order_relaxed);
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
}  // namespace sqlite

namespace detail {

std::string due_checkins_sql() {
  return sqlite::sql_text(sqlite::Sql::due_checkins);
}

std::string cases_due_for_alert_sql() {
  return sqlite::sql_text(sqlite::Sql::cases_due_for_alert);
}

std::string cases_to_route_sql() {
  return sqlite::sql_text(sqlite::Sql::cases_to_route);
}

std::string list_cases_sql(const CaseFilter& filter) {
  return sqlite::list_cases_text(filter);
}

}  // namespace detail

std::unique_ptr<Store> open_sqlite_store(const StoreOptions& options) {
  return std::make_unique<sqlite::SqliteStore>(options);
}

}  // namespace rabta::store
