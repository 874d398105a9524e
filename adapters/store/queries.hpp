// Internal to the store: SQL text of statements whose query plan matters, so that tests can check
// it with EXPLAIN QUERY PLAN against a real database.
#pragma once

#include <string>

#include "adapters/store/records.hpp"

namespace rabta::store::detail {

// The statement behind Tx::due_checkins. Parameters: ?1 week, ?2 weekday, ?3 hour, ?4 and ?6 the
// id range (?4, ?6], ?5 limit.
std::string due_checkins_sql();

// The statements behind Tx::cases_due_for_alert (?1 now, ?2 limit) and Tx::cases_to_route
// (?1 limit).
std::string cases_due_for_alert_sql();
std::string cases_to_route_sql();

// The statement Tx::list_cases prepares for this filter. Only the filter's shape is in the text;
// the values are named parameters: :t0, :t1, ... (teams), :status, :severity, :after, :limit.
std::string list_cases_sql(const CaseFilter& filter);

}  // namespace rabta::store::detail
