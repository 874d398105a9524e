// The store's statements (written for SQLite, adapters/store/sql/statements.cpp) as PostgreSQL
// runs them. Pure text work, no I/O. Internal to adapters/store/postgres/.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/store/sql/statements.hpp"

namespace rabta::store::postgres {

struct Translated {
  std::string text;                  // with $1, $2, ...
  std::map<std::string, int> names;  // ":now" -> its number, for statements with named parameters
  // slots[N] = the $ number of SQLite's ?N, 0 when the text does not use ?N (SQLite lets a
  // statement skip numbers, PostgreSQL cannot type a parameter it never sees: they are packed).
  std::vector<int> slots;
  int parameters = 0;  // how many $ numbers
};

// ?N becomes $M (the numbers used, packed in order: see slots); each :name a number of its own
// (the same name, the same number); SQLite's query-planner hint "INDEXED BY name" is dropped.
// Quoted strings ('...', "...") and comments are copied as they are.
Translated translate(std::string_view sqlite_text);

// A statement of the store as PostgreSQL runs it: its PostgreSQL text (sql_text), translated.
Translated statement(sql::Sql id);

}  // namespace rabta::store::postgres
