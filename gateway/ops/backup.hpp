// Backups while serving, and restore (docs/OPERATIONS.md).
//
// `rabta backup PATH` copies the database with SQLite's online backup API from one read
// transaction: a consistent snapshot of everything committed when it started, taken while rabta
// serves (WAL: readers never block the writer). The copy is written aside with mode 0600, checked
// with quick_check, synced and only then renamed to PATH; an existing PATH is never overwritten.
//
// `rabta restore PATH` refuses a file that fails quick_check, is not a rabta database or has a
// newer schema, and refuses while `rabta serve` holds the database (the server's lock file,
// <database>.lock). It keeps the current database as <database>.before-restore-<time>.
#pragma once

#include <iosfwd>
#include <memory>
#include <string>

namespace rabta::gateway {

int backup_command(const std::string& config_path, const std::string& target, std::ostream& out,
                   std::ostream& err);
int restore_command(const std::string& config_path, const std::string& source, std::ostream& out,
                    std::ostream& err);

// The lock `rabta serve` holds for its database's lifetime (flock on <database>.lock), so that
// no second server and no restore runs on it meanwhile. Empty when another process holds it.
class DatabaseLock {
 public:
  static std::unique_ptr<DatabaseLock> try_acquire(const std::string& database);
  ~DatabaseLock();
  DatabaseLock(const DatabaseLock&) = delete;
  DatabaseLock& operator=(const DatabaseLock&) = delete;

 private:
  explicit DatabaseLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace rabta::gateway
