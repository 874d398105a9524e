// A parsed FlowSet checked as a whole: references between nodes and flows, translations in every
// language, reachability, USSD screen limits (internal to flows/; run by load_flow_set).
#pragma once

#include <vector>

#include "flows/flow.hpp"

namespace rabta::flows {

void validate_flow_set(const FlowSet& set, std::vector<Diagnostic>& errors,
                       std::vector<Diagnostic>& warnings);

}  // namespace rabta::flows
