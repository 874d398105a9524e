// Reads an operator's TOML file through the one TOML reader (flows/toml_reader.hpp): every
// problem, the file's absence included, is a "file:line: reason" diagnostic.
#pragma once

#include <toml++/toml.h>

#include <optional>
#include <string>
#include <vector>

#include "flows/flow.hpp"
#include "flows/toml_reader.hpp"

namespace rabta::gateway {

// The whole file, or nullopt when it cannot be read.
std::optional<std::string> read_text_file(const std::string& path);

// The parsed file, or nullopt with the reason (unreadable, or not TOML at a line) in `errors`.
std::optional<toml::table> parse_toml_file(const std::string& path,
                                           std::vector<flows::Diagnostic>& errors);

}  // namespace rabta::gateway
