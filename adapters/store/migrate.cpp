// `rabta migrate-store` (#14): a SQLite store's rows into a new PostgreSQL database.
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "adapters/store/postgres/open.hpp"
#include "adapters/store/sql/copy.hpp"
#include "adapters/store/sqlite/open.hpp"
#include "adapters/store/store.hpp"

namespace rabta::store {
namespace {

void exec(sql::Connection& conn, const std::string& text) {
  conn.prepare(text)->exec();
}

}  // namespace

CopyReport copy_sqlite_to_postgres(
    const StoreOptions& source, const StoreOptions& target,
    const std::function<void(const std::string&, std::int64_t)>& progress) {
  // Both at the latest schema: the source migrated as any start would, the target created.
  open_sqlite_store(source)->close();
  open_postgres_store(target)->close();

  const auto from = sqlite::open_read_connection(source.path);
  const auto to = postgres::open_connection(target.url);
  const std::string where = describe_database(target.url);
  CopyReport report;
  try {
    exec(*from, "BEGIN");  // one snapshot of the source
    exec(*to, "BEGIN");
    for (const auto& [table, rows] : sql::count_rows(*to)) {
      if (rows > 0) {
        throw std::runtime_error("database " + where + " already holds rows (" + table +
                                 "): rabta copies only into an empty database");
      }
    }
    const auto columns = [&](const std::string& table) {
      std::vector<std::string> out;
      auto st = to->prepare(
          "SELECT column_name FROM information_schema.columns WHERE table_schema = "
          "current_schema() AND table_name = ?1 ORDER BY ordinal_position");
      st->bind(1, table);
      while (st->executeStep()) out.push_back(st->getColumn(0).getString());
      if (out.empty()) throw std::runtime_error("database " + where + " has no table " + table);
      return out;
    };
    report.copied = sql::copy_rows(*from, *to, columns, progress);
    // New ids continue after the copied ones.
    for (const auto& table : sql::kTables) {
      if (table == "meta") continue;  // keyed by name, no id
      exec(*to, "SELECT setval(pg_get_serial_sequence('" + table +
                    "', 'id'), COALESCE((SELECT "
                    "MAX(id) FROM " +
                    table +
                    "), 0) + 1, false)"
                    " WHERE pg_get_serial_sequence('" +
                    table + "', 'id') IS NOT NULL");
    }
    exec(*to, "COMMIT");
    exec(*from, "COMMIT");
  } catch (const sql::Error& e) {
    throw std::runtime_error(std::string("copy to ") + where +
                             " failed, nothing written: " + e.what());
  }
  // Counted again, each side in its own new snapshot.
  report.source = sql::count_rows(*from);
  report.target = sql::count_rows(*to);
  return report;
}

}  // namespace rabta::store
