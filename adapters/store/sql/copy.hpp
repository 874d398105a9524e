// Copies every row of one store's database into another's, table by table, through the
// sql::Connection interface (#14: `rabta migrate-store`, SQLite to PostgreSQL). Internal to
// adapters/store/.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "adapters/store/sql/database.hpp"

namespace rabta::store::sql {

// The tables of the schema, parents before children (foreign keys hold at every INSERT).
extern const std::vector<std::string> kTables;

// Rows per table, in kTables order.
using TableCounts = std::vector<std::pair<std::string, std::int64_t>>;

TableCounts count_rows(Connection& conn);

// Copies every row of `from` into `to` (which must hold none), every column by name with its
// value as stored: ids, times, and sealed values as bytes (sealed under their row ids, so they
// stay valid). Both connections must be inside a transaction; `columns(table)` names a table's
// columns. Calls `progress(table, rows)` after each table. Throws sql::Error naming the table.
TableCounts copy_rows(Connection& from, Connection& to,
                      const std::function<std::vector<std::string>(const std::string&)>& columns,
                      const std::function<void(const std::string&, std::int64_t)>& progress);

}  // namespace rabta::store::sql
