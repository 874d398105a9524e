// Flow files as text → FlowSet, every problem as "file:line: reason" (internal to flows/; the
// entry point is load_flow_set in flow.hpp).
#pragma once

#include <vector>

#include "flows/flow.hpp"

namespace rabta::flows {

// Reads the settings, lists, directory and every flow of `sources` into `set`.
void parse_flow_sources(const FlowSources& sources, FlowSet& set, std::vector<Diagnostic>& errors);

}  // namespace rabta::flows
