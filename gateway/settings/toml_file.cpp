#include "gateway/settings/toml_file.hpp"

#include <fstream>
#include <sstream>

namespace rabta::gateway {

std::optional<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::optional<toml::table> parse_toml_file(const std::string& path,
                                           std::vector<flows::Diagnostic>& errors) {
  flows::TomlReader reader(path, errors);
  const auto text = read_text_file(path);
  if (!text) {
    reader.error(flows::SourcePos{path, 0}, "cannot read the file");
    return std::nullopt;
  }
  return reader.parse(*text);
}

}  // namespace rabta::gateway
