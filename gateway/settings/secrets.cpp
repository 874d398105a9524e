#include "gateway/settings/secrets.hpp"

#include <cstdlib>
#include <fstream>

namespace rabta::gateway {

std::optional<std::string> secret_file_line(const std::string& file) {
  if (file.empty()) return std::nullopt;
  std::ifstream in(file);
  if (!in) return std::nullopt;
  std::string line;
  if (!std::getline(in, line)) return std::string();
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
    line.pop_back();
  return line;
}

std::string read_secret(const std::string& env_name, const std::string& file) {
  if (!env_name.empty())
    if (const char* v = std::getenv(env_name.c_str()); v != nullptr && *v != '\0') return v;
  return secret_file_line(file).value_or("");
}

}  // namespace rabta::gateway
