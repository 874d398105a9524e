#include "adapters/store/sql/group_commit.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "adapters/store/sql/tx.hpp"

namespace rabta::store::sql {

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

GroupCommitStore::GroupCommitStore(const StoreOptions& options, std::string name)
    : max_batch_(std::max<std::size_t>(1, options.max_batch)),
      max_queue_(options.max_queue),
      cipher_(options.cipher),
      audit_key_(options.audit_key),
      name_(std::move(name)) {}

void GroupCommitStore::start_writer() {
  writer_ = std::thread([this] { writer_loop(); });
  writer_id_ = writer_.get_id();
}

bool GroupCommitStore::stop_writer() {
  {
    std::lock_guard lock(queue_mu_);
    accepting_ = false;
    queue_cv_.notify_all();
  }
  // From a Done (on the writer) we cannot join ourselves: the writer drains and exits on its
  // own, and the destructor or a later close() from another thread finishes the rest.
  if (on_writer_thread()) return false;
  std::lock_guard lock(join_mu_);
  if (writer_.joinable()) writer_.join();
  return true;
}

void GroupCommitStore::submit(Job job, Done done) {
  enqueue(std::move(job), std::move(done), false);
}

void GroupCommitStore::submit_bounded(Job job, Done done) {
  enqueue(std::move(job), std::move(done), true);
}

void GroupCommitStore::enqueue(Job job, Done done, bool bounded) {
  bool full = false;
  {
    std::lock_guard lock(queue_mu_);
    full = bounded && max_queue_ != 0 && queue_.size() >= max_queue_;
    if (accepting_ && !full) {
      queue_.push_back(Pending{std::move(job), std::move(done), {}});
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

JobResult GroupCommitStore::run_between_batches(std::function<JobResult()> step) {
  if (on_writer_thread()) return JobResult{false, "store: called on the writer thread"};
  auto promise = std::make_shared<std::promise<JobResult>>();
  auto result = promise->get_future();
  {
    std::lock_guard lock(queue_mu_);
    if (!accepting_) return JobResult{false, "store closed"};
    queue_.push_back(Pending{[](Tx&) {}, [promise](const JobResult& r) { promise->set_value(r); },
                             std::move(step)});
    queue_cv_.notify_one();
  }
  return result.get();
}

JobResult GroupCommitStore::run(Job job) {
  // The writer would wait for itself.
  if (on_writer_thread()) return JobResult{false, "store: run() called on the writer thread"};
  // The Done owns the promise: it stays valid until set_value has fully returned.
  auto promise = std::make_shared<std::promise<JobResult>>();
  auto result = promise->get_future();
  submit(std::move(job), [promise](const JobResult& r) { promise->set_value(r); });
  return result.get();
}

StoreStats GroupCommitStore::stats() const {
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

void GroupCommitStore::writer_loop() {
  std::vector<Pending> batch;
  std::vector<JobResult> results;
  batch.reserve(max_batch_);
  for (;;) {
    {
      std::unique_lock lock(queue_mu_);
      queue_cv_.wait(lock, [this] { return !queue_.empty() || !accepting_; });
      if (queue_.empty()) break;  // closed and drained
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
      if (batch[i].between && results[i].ok) results[i] = batch[i].between();
    // Stats first: a Done that wakes a waiter must find them up to date.
    record_batch(results);
    for (std::size_t i = 0; i < batch.size(); ++i) call_done(batch[i].done, results[i]);
    batch.clear();
  }
  spdlog::info("store: closed {} ({} commits, {} unchanged batches, {} jobs, {} failed)", name_,
               commits_.load(), unchanged_.load(), jobs_.load(), failed_jobs_.load());
}

void GroupCommitStore::read_on(Connection& conn, const std::function<void(Tx&)>& query) const {
  try {
    exec(conn, Sql::begin_read);
  } catch (const Error& e) {
    throw_with_context("read (begin)", e);
  }
  try {
    SqlTx tx(conn, cipher(), audit_key_, /*writer=*/false);
    query(tx);
  } catch (...) {
    if (conn.in_transaction()) abandon(conn);
    throw;
  }
  try {
    exec(conn, Sql::commit);
  } catch (const Error& e) {
    if (conn.in_transaction()) abandon(conn);
    throw_with_context("read (end)", e);
  }
}

void GroupCommitStore::exec(Connection& conn, Sql id) {
  Stmt st(conn, id);
  st->exec();
}

void GroupCommitStore::abandon(Connection& conn) noexcept {
  try {
    exec(conn, Sql::rollback);
  } catch (const std::exception& e) {
    spdlog::warn("store: rollback failed: {}", short_reason(e.what()));
  }
}

void GroupCommitStore::run_batch(std::vector<Pending>& batch, std::vector<JobResult>& results) {
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
  Connection* conn = nullptr;
  try {
    conn = &writer_connection();
  } catch (const std::exception& e) {
    fail(0, batch.size(), short_reason(e.what()));
    return;
  }
  try {
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (!open) {
        try {
          exec(*conn, Sql::begin_immediate);
        } catch (const Error& e) {
          fail(i, batch.size(), std::string("store: begin failed: ") + e.what());
          return;
        }
        open = true;
        first_in_tx = i;
        changes_at_begin = conn->total_changes();
      }
      results[i] = run_job(*conn, batch[i].job);
      if (!conn->in_transaction()) {
        // The database rolled the whole transaction back (I/O error, disk full, a lost
        // connection), taking the earlier jobs of this batch with it. The rest of the batch
        // gets a fresh transaction.
        spdlog::error("store: transaction rolled back by the database: {}", results[i].error);
        fail(first_in_tx, i + 1, "store: transaction rolled back: " + results[i].error);
        open = false;
      }
    }
    if (!open) return;
    if (conn->transaction_aborted()) {
      // Whatever the jobs say, nothing of this transaction will commit: say so.
      spdlog::error("store: the transaction was aborted by the database; {} jobs rolled back",
                    batch.size() - first_in_tx);
      abandon(*conn);
      fail(first_in_tx, batch.size(), "store: transaction aborted by the database");
      return;
    }
    if (conn->total_changes() == changes_at_begin) {
      // Nothing to make durable (a pass that found nothing due): end the transaction without a
      // commit, so an idle server writes nothing and calls no fsync.
      abandon(*conn);
      if (conn->in_transaction())
        fail(first_in_tx, batch.size(), "store: could not end an unchanged transaction");
      else
        unchanged_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    try {
      exec(*conn, Sql::commit);
      commits_.fetch_add(1, std::memory_order_relaxed);
    } catch (const Error& e) {
      const std::string reason = std::string("store: commit failed: ") + e.what();
      spdlog::error("{} ({} jobs rolled back)", reason, batch.size() - first_in_tx);
      if (conn->in_transaction()) abandon(*conn);
      // Jobs that failed on their own keep their reason; the others lost their changes here.
      for (std::size_t k = first_in_tx; k < batch.size(); ++k) {
        if (results[k].ok) results[k] = JobResult{false, reason};
      }
    }
  } catch (const std::exception& e) {
    // Only allocation failures get here; nothing of this batch may be reported as durable.
    if (conn->in_transaction()) abandon(*conn);
    for (auto& r : results) r = JobResult{false, std::string("store: batch failed: ") + e.what()};
  }
}

JobResult GroupCommitStore::run_job(Connection& conn, Job& job) {
  try {
    exec(conn, Sql::savepoint);
  } catch (const Error& e) {
    // Without its savepoint the job cannot be undone alone, and PostgreSQL has aborted the
    // transaction anyway: the batch ends here (run_batch fails the jobs before this one).
    abandon(conn);
    return JobResult{false, std::string("store: savepoint failed: ") + e.what()};
  }
  try {
    SqlTx tx(conn, cipher(), audit_key_);
    job(tx);
    exec(conn, Sql::release);
    return JobResult{true, {}};
  } catch (const std::exception& e) {
    undo_job(conn);
    return JobResult{false, short_reason(e.what())};
  } catch (...) {
    undo_job(conn);
    return JobResult{false, "job threw a non-standard exception"};
  }
}

void GroupCommitStore::undo_job(Connection& conn) noexcept {
  if (!conn.in_transaction()) return;  // the database already rolled everything back
  try {
    exec(conn, Sql::rollback_to);
    exec(conn, Sql::release);
  } catch (const std::exception& e) {
    // The failed job's changes can no longer be told apart from the batch's: drop the whole
    // transaction rather than commit them. run_batch sees it and fails the earlier jobs too.
    spdlog::error("store: could not roll back a failed job, dropping its batch: {}", e.what());
    abandon(conn);
  }
}

void GroupCommitStore::record_batch(const std::vector<JobResult>& results) {
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

}  // namespace rabta::store::sql
