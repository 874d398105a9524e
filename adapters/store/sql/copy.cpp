#include "adapters/store/sql/copy.hpp"

#include <memory>
#include <string>
#include <vector>

namespace rabta::store::sql {

const std::vector<std::string> kTables{"contacts", "sessions",   "cases", "answers",
                                       "consents", "outbox",     "meta",  "inbound",
                                       "checkins", "responders", "notes", "audit"};

TableCounts count_rows(Connection& conn) {
  TableCounts out;
  for (const auto& t : kTables) {
    auto st = conn.prepare("SELECT COUNT(*) FROM " + t);
    out.emplace_back(t, st->executeStep() ? st->getColumn(0).getInt64() : 0);
  }
  return out;
}

TableCounts copy_rows(Connection& from, Connection& to,
                      const std::function<std::vector<std::string>(const std::string&)>& columns,
                      const std::function<void(const std::string&, std::int64_t)>& progress) {
  TableCounts out;
  for (const auto& table : kTables) {
    const std::vector<std::string> cols = columns(table);
    std::string list;
    std::string params;
    for (std::size_t i = 0; i < cols.size(); ++i) {
      list += (i ? ", " : "") + cols[i];
      params += (i ? ", ?" : "?") + std::to_string(i + 1);
    }
    const bool has_id = table != "meta";
    auto read = from.prepare("SELECT " + list + " FROM " + table + (has_id ? " ORDER BY id" : ""));
    auto write = to.prepare("INSERT INTO " + table + " (" + list + ") VALUES (" + params + ")");
    std::int64_t rows = 0;
    try {
      while (read->executeStep()) {
        for (std::size_t i = 0; i < cols.size(); ++i) {
          const int at = static_cast<int>(i);
          const Column c = read->getColumn(at);
          switch (c.getType()) {
            case Type::null:
              write->bind(at + 1);
              break;
            case Type::integer:
              write->bind(at + 1, c.getInt64());
              break;
            case Type::blob:
              write->bind_blob(at + 1, c.getBlob());
              break;
            case Type::text:
              write->bind(at + 1, c.getString());
              break;
          }
        }
        write->exec();
        write->reset();
        ++rows;
      }
    } catch (const Error& e) {
      throw Error(e.kind, "table " + table + ", row " + std::to_string(rows + 1) + ": " + e.what());
    }
    out.emplace_back(table, rows);
    if (progress) progress(table, rows);
  }
  return out;
}

}  // namespace rabta::store::sql
