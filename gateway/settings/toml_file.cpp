#include "gateway/settings/toml_file.hpp"

#include <fstream>
#include <sstream>

namespace rabta::gateway {

std::optional<toml::table> parse_toml_file(const std::string& path,
                                           std::vector<flows::Diagnostic>& errors) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    flows::Diagnostic d;
    d.pos.file = path;
    d.reason = "cannot read the file";
    errors.push_back(std::move(d));
    return std::nullopt;
  }
  std::ostringstream s;
  s << in.rdbuf();
  try {
    return toml::parse(s.str(), path);
  } catch (const toml::parse_error& e) {
    flows::Diagnostic d;
    d.pos = {path, e.source().begin.line};
    d.reason = std::string("not valid TOML: ") + std::string(e.description());
    errors.push_back(std::move(d));
    return std::nullopt;
  }
}

}  // namespace rabta::gateway
