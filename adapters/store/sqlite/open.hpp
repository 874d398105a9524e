// A bare connection to a SQLite store's file, for the few tools that copy rows below the Store
// interface (`rabta migrate-store`). Internal to adapters/store/.
#pragma once

#include <memory>
#include <string>

#include "adapters/store/sql/database.hpp"

namespace rabta::store::sqlite {

// Read-only; throws std::runtime_error naming the file.
std::unique_ptr<sql::Connection> open_read_connection(const std::string& path);

}  // namespace rabta::store::sqlite
