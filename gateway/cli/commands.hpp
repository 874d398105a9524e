// The `rabta` subcommands, callable from main() and from tests.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

namespace rabta::gateway {

struct ServeOptions {
  std::string config_path;
  std::optional<std::string> listen;    // "HOST:PORT", overrides [server]
  std::optional<std::string> database;  // overrides [database] path
};

// Serves until SIGINT/SIGTERM. Returns the process exit code (2 = refused to start).
int serve(const ServeOptions& options);

// First-time set-up, idempotent: creates the pseudonym key and the aggregator secret files when
// missing (mode 0600) and creates or migrates the database.
int init(const std::string& config_path, std::ostream& out, std::ostream& err);

// Validates the config and every flow; prints problems as "file:line: reason". 0 = all good.
int check(const std::string& config_path, std::ostream& out, std::ostream& err);

}  // namespace rabta::gateway
