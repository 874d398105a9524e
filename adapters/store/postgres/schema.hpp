// PostgreSQL's schema and its migrations. Internal to adapters/store/postgres/.
#pragma once

#include <string>

#include "adapters/store/postgres/connection.hpp"

namespace rabta::store::postgres {

// Brings the database to the latest schema version, once, however many instances start at once
// (an advisory lock serialises them; the first migrates, the others find it done). A database
// newer than this binary is refused. Returns the version. Throws std::runtime_error naming
// `where` (the server and database, never a password).
int migrate(Connection& conn, const std::string& where);

}  // namespace rabta::store::postgres
