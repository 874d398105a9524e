// Internal to the store: SQL text of statements whose query plan matters, so that tests can check
// it with EXPLAIN QUERY PLAN against a real database.
#pragma once

#include <string>

namespace rabta::store::detail {

// The statement behind Tx::due_checkins. Parameters: ?1 week, ?2 weekday, ?3 hour, ?4 and ?6 the
// id range (?4, ?6], ?5 limit.
std::string due_checkins_sql();

}  // namespace rabta::store::detail
