#include "adapters/store/backup.hpp"

#include <SQLiteCpp/Backup.h>
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>

#include <stdexcept>

namespace rabta::store {

namespace {

// "ok", or the first finding; throws for a file SQLite cannot open at all.
std::string quick_check(SQLite::Database& db) {
  SQLite::Statement st(db, "PRAGMA quick_check");
  return st.executeStep() ? st.getColumn(0).getString() : "no result";
}

}  // namespace

BackupCopy backup_database(const std::string& source, const std::string& target) {
  BackupCopy result;
  SQLite::Database from(source, SQLite::OPEN_READONLY, 5000);
  SQLite::Database copy(target, SQLite::OPEN_READWRITE);
  SQLite::Backup backup(copy, from);
  backup.executeStep(-1);  // every page in one step: one consistent snapshot
  result.pages = backup.getTotalPageCount();
  const std::string verdict = quick_check(copy);
  if (verdict != "ok") throw std::runtime_error("the copy failed quick_check: " + verdict);
  result.schema_version = copy.execAndGet("PRAGMA user_version").getInt();
  return result;
}

DatabaseCheck check_database(const std::string& path) {
  DatabaseCheck check;
  try {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    check.verdict = quick_check(db);
    check.schema_version = db.execAndGet("PRAGMA user_version").getInt();
    check.is_rabta =
        db.tableExists("meta") && db.tableExists("sessions") && db.tableExists("cases");
  } catch (const SQLite::Exception& e) {
    check.verdict = e.what();
  }
  return check;
}

void copy_database(const std::string& source, const std::string& target) {
  SQLite::Database from(source, SQLite::OPEN_READONLY);
  SQLite::Database into(target, SQLite::OPEN_READWRITE);
  SQLite::Backup copy(into, from);
  copy.executeStep(-1);
}

}  // namespace rabta::store
