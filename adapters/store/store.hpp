// The store: rabta's durable state behind an interface, with a single writer that commits
// waiting jobs together (group commit).
//
// Every change runs as a Job on the writer thread inside a transaction. The writer takes all
// jobs that are waiting, runs each inside its own SAVEPOINT (a job that throws is rolled back
// alone and reported failed), commits the batch once (WAL, synchronous=FULL), and only then calls
// each job's Done. So a Done(ok=true) means the job's changes are on disk: reply to the
// aggregator from Done, never earlier.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/store/records.hpp"

namespace rabta::store {

// Thrown by Tx::insert_case when the reference already exists (caller retries with a new one).
struct DuplicateReference : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Operations available to a job inside its transaction. Only valid during Job's call.
class Tx {
 public:
  virtual ~Tx() = default;

  virtual std::optional<ContactRecord> find_contact(std::string_view pseudonym) = 0;
  // Creates the contact if missing; returns it either way.
  virtual ContactRecord upsert_contact(std::string_view pseudonym, Millis now) = 0;
  virtual void set_contact_language(std::int64_t contact_id, std::string_view language,
                                    Millis now) = 0;
  virtual void set_contact_quiet_until(std::int64_t contact_id, Millis until, Millis now) = 0;

  virtual std::optional<SessionRecord> find_session(std::string_view provider,
                                                    std::string_view provider_session_id) = 0;
  // Her newest session with status active or incomplete, updated at or after `since`.
  virtual std::optional<SessionRecord> find_resumable_session(std::int64_t contact_id,
                                                              std::string_view channel,
                                                              Millis since) = 0;
  virtual std::int64_t insert_session(const SessionRecord& session) = 0;  // returns the new id
  virtual void update_session(const SessionRecord& session) = 0;          // by id
  // Marks active sessions not updated since `idle_before` as incomplete (end_reason "idle").
  virtual int expire_idle_sessions(Millis idle_before, Millis now) = 0;

  // Writes a heartbeat row: proves the database takes writes (GET /healthz).
  virtual void heartbeat(Millis now) = 0;

  // Throws DuplicateReference when the reference exists. Returns the new id.
  virtual std::int64_t insert_case(const CaseRecord& c) = 0;
  virtual std::optional<CaseRecord> find_case(std::string_view reference) = 0;
  virtual void insert_answer(const AnswerRecord& a) = 0;
  virtual void insert_consent(const ConsentRecord& c) = 0;
  // Returns false (and changes nothing) when dedupe_key exists already.
  virtual bool insert_outbox(const OutboxRecord& o) = 0;
};

struct JobResult {
  bool ok = false;
  std::string error;  // why it failed: no sensitive values, fit for a log line
};

using Job = std::function<void(Tx&)>;
// Called on the writer thread after the batch committed (or failed). Must not block.
using Done = std::function<void(const JobResult&)>;

struct StoreOptions {
  std::string path;              // SQLite file; created when missing
  bool synchronous_full = true;  // false = synchronous=NORMAL (benchmark comparison only)
  std::size_t max_batch = 512;   // jobs per commit at most
  std::chrono::milliseconds busy_timeout{5000};
};

struct StoreStats {
  std::uint64_t commits = 0;
  std::uint64_t jobs = 0;
  std::uint64_t failed_jobs = 0;
  std::uint64_t largest_batch = 0;
};

class Store {
 public:
  virtual ~Store() = default;
  // Queue a job for the writer. Thread-safe. After close() the job fails at once.
  virtual void submit(Job job, Done done) = 0;
  // Runs a job and waits for its commit (CLI commands, tests). Not for the event loop thread.
  virtual JobResult run(Job job) = 0;
  // Read-only query on a separate connection (never blocks the writer); for CLI/tests/healthz.
  virtual void read(const std::function<void(Tx&)>& query) = 0;
  // Finishes queued jobs, stops the writer, checkpoints the WAL and closes the database.
  virtual void close() = 0;
  virtual StoreStats stats() const = 0;
  virtual int schema_version() const = 0;
};

// Opens (creating and migrating as needed) the SQLite store. Refuses a file that fails
// PRAGMA quick_check, or whose schema is newer than this binary knows, with a reason naming
// the file. Throws std::runtime_error.
std::unique_ptr<Store> open_sqlite_store(const StoreOptions& options);

// The schema version this binary migrates to.
int latest_schema_version();

}  // namespace rabta::store
