// Reads a TOML file for a loader that reports problems as "file:line: reason" diagnostics.
#pragma once

#include <toml++/toml.h>

#include <optional>
#include <string>
#include <vector>

#include "flows/flow.hpp"

namespace rabta::gateway {

// The parsed file, or nullopt with the reason (unreadable, or not TOML at a line) in `errors`.
std::optional<toml::table> parse_toml_file(const std::string& path,
                                           std::vector<flows::Diagnostic>& errors);

}  // namespace rabta::gateway
