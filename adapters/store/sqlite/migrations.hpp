// Internal to the store: the schema as an ordered list of migrations, tracked with
// PRAGMA user_version.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace SQLite {
class Database;
}

namespace rabta::store::detail {

struct Migration {
  int version;           // user_version after this script; 1, 2, 3, ... without gaps
  std::string_view sql;  // one or more statements
};

// Every migration, oldest first.
std::span<const Migration> migrations();

int read_user_version(SQLite::Database& db);

// Applies each migration newer than the file's user_version, each in its own transaction.
// `path` only names the file in error messages. Returns the version reached.
int migrate(SQLite::Database& db, const std::string& path);

}  // namespace rabta::store::detail
