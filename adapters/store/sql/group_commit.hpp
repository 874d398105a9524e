// The store's single writer with group commit, once for every SQL backend: the queue, the
// batches (each job in its own SAVEPOINT, one COMMIT for all of them, every Done after the
// COMMIT), the overload bound and the counters. A backend (SQLite, PostgreSQL) gives the writer
// its connection and adds reads, checkpoints and closing. Internal to adapters/store/.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "adapters/common/cipher.hpp"
#include "adapters/store/sql/database.hpp"
#include "adapters/store/store.hpp"

namespace rabta::store::sql {

// Keeps job errors fit for one log line.
std::string short_reason(const char* what);

// Calls a Done, logging (never throwing) what it throws.
void call_done(const Done& done, const JobResult& result);

class GroupCommitStore : public Store {
 public:
  void submit(Job job, Done done) final;
  void submit_bounded(Job job, Done done) final;
  JobResult run(Job job) final;
  StoreStats stats() const final;

 protected:
  GroupCommitStore(const StoreOptions& options, std::string name);
  ~GroupCommitStore() override = default;

  // The writer's connection for the next batch, on the writer thread. May reconnect; throws a
  // std::exception when the database cannot be reached (the batch then fails with its reason).
  virtual Connection& writer_connection() = 0;

  // Starts the writer thread: the last step of a backend's constructor.
  void start_writer();
  // Stops taking jobs, lets the writer finish the queue and joins it. False when called from the
  // writer thread (a Done), which cannot join itself: the caller then leaves the rest to a later
  // close() or the destructor.
  bool stop_writer();
  // Runs `step` on the writer thread between batches, after everything queued before it has
  // committed, and waits for its result (SQLite's WAL checkpoint). Not on the writer thread.
  JobResult run_between_batches(std::function<JobResult()> step);
  bool on_writer_thread() const { return std::this_thread::get_id() == writer_id_; }
  // Store::read on a reader connection: the callback's queries in one read-only snapshot
  // (Sql::begin_read), ended whatever the callback does. The caller serialises uses of `conn`.
  void read_on(Connection& conn, const std::function<void(Tx&)>& query) const;

  const common::FieldCipher* cipher() const { return cipher_.get(); }
  const std::string& audit_key() const { return audit_key_; }
  const std::string& name() const { return name_; }  // for logs: a path, or a server and database

 private:
  struct Pending {
    Job job;
    Done done;
    std::function<JobResult()> between;  // set: not a job, a step between batches
  };
  void enqueue(Job job, Done done, bool bounded);
  void writer_loop();
  void run_batch(std::vector<Pending>& batch, std::vector<JobResult>& results);
  JobResult run_job(Connection& conn, Job& job);
  void undo_job(Connection& conn) noexcept;
  static void exec(Connection& conn, Sql id);
  static void abandon(Connection& conn) noexcept;  // ROLLBACK, errors ignored
  void record_batch(const std::vector<JobResult>& results);

  const std::size_t max_batch_;
  const std::size_t max_queue_;  // 0 = no bound
  const std::shared_ptr<const common::FieldCipher> cipher_;
  const std::string audit_key_;
  const std::string name_;

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Pending> queue_;  // guarded by queue_mu_
  bool accepting_ = true;      // guarded by queue_mu_

  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> unchanged_{0};  // batches that changed nothing: no commit at all
  std::atomic<std::uint64_t> shed_{0};
  std::atomic<std::uint64_t> jobs_{0};
  std::atomic<std::uint64_t> failed_jobs_{0};
  std::atomic<std::uint64_t> largest_batch_{0};
  std::array<std::atomic<std::uint64_t>, StoreStats::kBatchBounds.size()> batch_buckets_{};
  std::atomic<std::uint64_t> batches_{0};

  std::mutex join_mu_;
  std::thread writer_;
  std::thread::id writer_id_;
};

}  // namespace rabta::store::sql
