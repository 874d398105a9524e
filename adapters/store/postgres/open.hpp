// A bare connection to a PostgreSQL store's database, for the few tools that copy rows below the
// Store interface (`rabta migrate-store`). Internal to adapters/store/.
#pragma once

#include <memory>
#include <string>

#include "adapters/store/sql/database.hpp"

namespace rabta::store::postgres {

// Throws sql::Error naming the server, never a password.
std::unique_ptr<sql::Connection> open_connection(const std::string& url);

}  // namespace rabta::store::postgres
