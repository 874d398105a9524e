// The PostgreSQL store (#14): the same Store as SQLite's, on a server that several rabta
// instances share. The writer is the shared group commit (sql/group_commit.hpp): each instance
// commits its waiting hops in one transaction (synchronous_commit = on: COMMIT returns once the
// WAL is flushed, and on a synchronous standby too when the server is set so) and replies after.
#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "adapters/store/postgres/connection.hpp"
#include "adapters/store/postgres/schema.hpp"
#include "adapters/store/sql/group_commit.hpp"
#include "adapters/store/sql/tx.hpp"
#include "adapters/store/store.hpp"

namespace rabta::store {
namespace postgres {
namespace {

class PostgresStore final : public sql::GroupCommitStore {
 public:
  explicit PostgresStore(const StoreOptions& options)
      : GroupCommitStore(options, describe_database(options.url)),
        url_(options.url),
        where_(describe_database(options.url)) {
    try {
      write_.emplace(url_);
      schema_version_ = migrate(*write_, where_);
      read_.emplace(url_);
    } catch (const sql::Error& e) {
      throw std::runtime_error("database " + where_ + " could not be opened: " + e.what());
    }
    spdlog::info("store: opened {} (schema version {}, synchronous_commit=on)", where_,
                 schema_version_);
    start_writer();
  }
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;
  ~PostgresStore() override { close(); }

  void read(const std::function<void(Tx&)>& query) override {
    std::lock_guard lock(read_mu_);
    if (closed_) throw std::runtime_error("store closed");
    if (!read_ || !read_->alive()) {
      read_.reset();
      try {
        read_.emplace(url_);
      } catch (const sql::Error& e) {
        throw std::runtime_error("store: read: " + std::string(e.what()));
      }
    }
    read_on(*read_, query);
  }

  // SQLite's WAL checkpoint (after a purge, SAFETY D4) has no PostgreSQL twin that rabta may
  // run: PostgreSQL checkpoints and recycles its WAL itself, and a CHECKPOINT needs a role rabta
  // should not have. What a DELETE leaves on PostgreSQL's disk: docs/SCALING.md.
  JobResult checkpoint_wal() override { return JobResult{true, {}}; }

  void close() override {
    if (!stop_writer()) return;
    std::lock_guard lock(read_mu_);
    if (closed_) return;
    closed_ = true;
    read_.reset();
    write_.reset();
  }

  int schema_version() const override { return schema_version_; }
  bool shared() const override { return true; }

 private:
  // A lost server (a failover, a restart) is reconnected to here, at most every
  // `retry_` (doubling up to 5 s); meanwhile each batch fails at once, so each request gets
  // a fast error (HTTP 503) instead of waiting, and nothing is acknowledged that did not commit.
  sql::Connection& writer_connection() override {
    if (write_ && write_->alive()) return *write_;
    const auto now = std::chrono::steady_clock::now();
    if (now < next_attempt_) {
      throw std::runtime_error("store: the database " + where_ + " is unreachable; retrying");
    }
    write_.reset();
    try {
      write_.emplace(url_);
      spdlog::warn("store: reconnected to {}", where_);
      retry_ = std::chrono::milliseconds(100);
      return *write_;
    } catch (const sql::Error& e) {
      next_attempt_ = now + retry_;
      retry_ = std::min<std::chrono::milliseconds>(retry_ * 2, std::chrono::seconds(5));
      throw std::runtime_error("store: the database " + where_ + " is unreachable: " + e.what());
    }
  }

  const std::string url_;
  const std::string where_;
  int schema_version_ = 0;
  std::optional<Connection> write_;  // the writer thread's alone once it runs
  std::chrono::steady_clock::time_point next_attempt_{};
  std::chrono::milliseconds retry_{100};
  std::mutex read_mu_;
  std::optional<Connection> read_;  // guarded by read_mu_
  bool closed_ = false;             // guarded by read_mu_
};

}  // namespace
}  // namespace postgres

std::string describe_database(const std::string& url) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (options == nullptr) {
    if (error != nullptr) PQfreemem(error);
    return "postgresql (an unreadable address)";
  }
  std::string host;
  std::string port;
  std::string db;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    const std::string k = o->keyword;
    if (k == "host") host = o->val;
    if (k == "port") port = o->val;
    if (k == "dbname") db = o->val;
  }
  PQconninfoFree(options);
  std::string out = "postgresql " + (host.empty() ? std::string("localhost") : host);
  if (!port.empty()) out += ":" + port;
  if (!db.empty()) out += "/" + db;
  return out;
}

std::unique_ptr<Store> open_postgres_store(const StoreOptions& options) {
  return std::make_unique<postgres::PostgresStore>(options);
}

}  // namespace rabta::store
