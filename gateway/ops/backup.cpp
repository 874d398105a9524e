#include "gateway/ops/backup.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <stdexcept>

#include "adapters/common/clock.hpp"
#include "adapters/store/backup.hpp"
#include "adapters/store/store.hpp"
#include "gateway/settings/config.hpp"

namespace rabta::gateway {

namespace fs = std::filesystem;

namespace {

// Creates `path` empty with mode 0600 (refusing an existing file) so that SQLite then writes
// into a private file.
void create_private(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error(path + ": cannot be created (does it exist already?)");
  ::close(fd);
}

void sync_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

void sync_dir(const fs::path& dir) {
  sync_file(dir.empty() ? "." : dir.string());
}

std::string lock_path(const std::string& database) {
  return database + ".lock";
}

}  // namespace

std::unique_ptr<DatabaseLock> DatabaseLock::try_acquire(const std::string& database) {
  const int fd = ::open(lock_path(database).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error(lock_path(database) + ": cannot be opened");
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return nullptr;
  }
  return std::unique_ptr<DatabaseLock>(new DatabaseLock(fd));
}

DatabaseLock::~DatabaseLock() {
  ::close(fd_);
}

int backup_command(const std::string& config_path, const std::string& target, std::ostream& out,
                   std::ostream& err) {
  const std::string partial = target + ".partial";
  try {
    spdlog::set_level(spdlog::level::warn);
    const Config config = load_config(config_path);
    if (!config.database_url.empty()) {
      // PostgreSQL has its own: a base backup and WAL archiving, or the standby (docs/SCALING.md).
      err << "rabta: backup copies a SQLite file; " << database_name(config)
          << " is PostgreSQL: use pg_basebackup or pg_dump (docs/SCALING.md)\n";
      return 2;
    }
    if (fs::exists(target)) {
      err << "rabta: " << target << " exists already: a backup never overwrites a file\n";
      return 1;
    }
    if (!fs::exists(config.database)) {
      err << "rabta: no database at " << config.database << "\n";
      return 2;
    }
    fs::remove(partial);
    create_private(partial);
    const store::BackupCopy copy = store::backup_database(config.database, partial);
    sync_file(partial);
    fs::rename(partial, target);
    sync_dir(fs::path(target).parent_path());
    out << "backup " << target << ": " << copy.pages << " pages, schema version "
        << copy.schema_version
        << ", quick_check ok (mode 0600; the key files are not in it: back them up apart)\n";
    return 0;
  } catch (const std::exception& e) {
    std::error_code ec;
    fs::remove(partial, ec);
    err << "rabta: backup failed: " << e.what() << "\n";
    return 2;
  }
}

int restore_command(const std::string& config_path, const std::string& source, std::ostream& out,
                    std::ostream& err) {
  try {
    spdlog::set_level(spdlog::level::warn);
    const Config config = load_config(config_path);
    if (!config.database_url.empty()) {
      // PostgreSQL has its own: a base backup and WAL archiving, or the standby (docs/SCALING.md).
      err << "rabta: restore copies a SQLite file; " << database_name(config)
          << " is PostgreSQL: use pg_basebackup or pg_dump (docs/SCALING.md)\n";
      return 2;
    }
    if (!fs::exists(source)) {
      err << "rabta: " << source << " does not exist\n";
      return 1;
    }
    {
      const store::DatabaseCheck check = store::check_database(source);
      const std::string& verdict = check.verdict;
      const int version = check.schema_version;
      const bool rabta_db = check.is_rabta;
      if (verdict != "ok") {
        err << "rabta: refusing to restore " << source << ": it failed quick_check (" << verdict
            << ")\n";
        return 1;
      }
      if (!rabta_db || version < 1) {
        err << "rabta: refusing to restore " << source << ": it is not a rabta database\n";
        return 1;
      }
      if (version > store::latest_schema_version()) {
        err << "rabta: refusing to restore " << source << ": schema version " << version
            << " is newer than this rabta (" << store::latest_schema_version() << ")\n";
        return 1;
      }
    }
    const auto lock = DatabaseLock::try_acquire(config.database);
    if (!lock) {
      err << "rabta: refusing to restore: rabta serve is running on " << config.database
          << " (stop it first)\n";
      return 1;
    }
    const std::string tmp = config.database + ".restoring";
    fs::remove(tmp);
    create_private(tmp);
    store::copy_database(source, tmp);
    sync_file(tmp);
    std::string kept;
    if (fs::exists(config.database)) {
      // Kept as it is, WAL and all, without opening it: a restore is often wanted precisely
      // because the current database is damaged. SQLite finds the WAL by the kept name.
      const auto stamp = common::SystemClock().now_ms() / 1000;
      kept = config.database + ".before-restore-" + std::to_string(stamp);
      fs::rename(config.database, kept);
      if (fs::exists(config.database + "-wal")) fs::rename(config.database + "-wal", kept + "-wal");
    }
    fs::remove(config.database + "-wal");
    fs::remove(config.database + "-shm");
    fs::rename(tmp, config.database);
    sync_dir(fs::path(config.database).parent_path());
    out << "restored " << source << " to " << config.database;
    if (!kept.empty()) out << " (the previous database is kept as " << kept << ")";
    out << "\n";
    return 0;
  } catch (const std::exception& e) {
    err << "rabta: restore failed: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace rabta::gateway
