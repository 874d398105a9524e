// The one way rabta reads a secret the operator configures as `<name>_env` / `<name>_file`
// (aggregator keys and passwords, the Africa's Talking callback secret, the webhook secret):
// the environment variable when it is set and not empty, else the first line of the file.
#pragma once

#include <optional>
#include <string>

namespace rabta::gateway {

// The first line of `file` without its trailing CR, spaces and tabs ("" for an empty file);
// nullopt when the file cannot be read.
std::optional<std::string> secret_file_line(const std::string& file);

// The value of the environment variable `env_name` when set and not empty, else
// secret_file_line(file); "" when neither has one (or both names are empty).
std::string read_secret(const std::string& env_name, const std::string& file);

}  // namespace rabta::gateway
