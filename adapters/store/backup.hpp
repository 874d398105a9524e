// Whole-database copies, as the backup and restore commands need them (gateway/ops/backup.cpp).
// Implemented by the SQLite store (adapters/store/sqlite/backup.cpp) with its online backup API.
#pragma once

#include <string>

namespace rabta::store {

struct BackupCopy {
  int pages = 0;
  int schema_version = 0;
};

// Copies the database at `source` into `target` (an existing, empty file the caller created with
// the mode it wants) from one read transaction, a consistent snapshot taken while the server
// writes, then runs quick_check on the copy. Throws std::runtime_error naming the finding.
BackupCopy backup_database(const std::string& source, const std::string& target);

struct DatabaseCheck {
  std::string verdict;  // "ok", the first quick_check finding, or why the file does not open
  int schema_version = 0;
  bool is_rabta = false;  // it has rabta's tables (meta, sessions, cases)
};
// Never throws for a bad file: what is wrong is in `verdict`.
DatabaseCheck check_database(const std::string& path);

// Copies `source` into `target` (as backup_database, without the check).
void copy_database(const std::string& source, const std::string& target);

}  // namespace rabta::store
