// The flow-file parser and validator: an arbitrary flow file (or settings file), beside the
// shipped other files, is loaded. It must never throw or crash: every problem is a Diagnostic.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "flows/flow.hpp"

namespace {

std::string read(const std::string& name) {
  std::ifstream in(std::string(RABTA_SOURCE_DIR) + "/config/" + name);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string settings = read("messages.toml");
  static const std::string lists = read("lists.toml");
  static const std::string directory = read("directory.toml");
  static const std::string main_flow = read("flows/main.toml");
  static const std::string checkin = read("flows/checkin.toml");
  const std::string text(reinterpret_cast<const char*>(data), size);
  const bool as_settings = size > 0 && data[0] == '#';  // a leading comment: fuzz the settings
  rabta::flows::FlowSources src;
  src.settings = {"messages.toml", as_settings ? text : settings};
  src.lists = rabta::flows::SourceText{"lists.toml", lists};
  src.directory = rabta::flows::SourceText{"directory.toml", directory};
  src.flows = {{"main.toml", main_flow}, {"checkin.toml", checkin}};
  if (!as_settings) src.flows.push_back({"incident.toml", text});
  try {
    const auto r = rabta::flows::load_flow_set(src);
    if (!r.flows && r.errors.empty()) std::abort();  // refused without a reason
  } catch (...) {
    std::abort();  // documented never to throw on bad input
  }
  return 0;
}
