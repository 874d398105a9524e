#include "flows/flow.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>

#include "flows/node_kind.hpp"
#include "flows/parse.hpp"
#include "flows/text.hpp"
#include "flows/validate.hpp"

namespace rabta::flows {

const std::string& Translated::in(const std::string& language, const std::string& fallback) const {
  static const std::string empty;
  if (auto it = by_language.find(language); it != by_language.end()) return it->second;
  if (auto it = by_language.find(fallback); it != by_language.end()) return it->second;
  return by_language.empty() ? empty : by_language.begin()->second;
}

const Node* FlowSet::find(const std::string& from_flow, const std::string& ref) const {
  const auto colon = ref.find(':');
  const std::string flow_id = colon == std::string::npos ? from_flow : ref.substr(0, colon);
  const std::string node_id = colon == std::string::npos ? ref : ref.substr(colon + 1);
  const auto f = flows.find(flow_id);
  if (f == flows.end()) return nullptr;
  const auto n = f->second.nodes.find(node_id);
  return n == f->second.nodes.end() ? nullptr : &n->second;
}

const Node* FlowSet::find(const std::string& qualified) const {
  if (qualified.find(':') == std::string::npos) return nullptr;
  return find("", qualified);
}

const Translated& FlowSet::message(const std::string& key) const {
  static const Translated none;
  const auto it = settings.messages.find(key);
  return it == settings.messages.end() ? none : it->second;
}

std::string Diagnostic::to_string() const {
  std::ostringstream out;
  out << pos.file;
  if (pos.line) out << ":" << pos.line;
  out << ": " << reason;
  return out.str();
}

LoadResult load_flow_set(const FlowSources& sources) {
  LoadResult result;
  auto set = std::make_shared<FlowSet>();
  parse_flow_sources(sources, *set, result.errors);
  if (sources.flows.empty()) {
    Diagnostic none;
    none.pos.file = sources.settings.name;
    none.reason = "no flow files were given";
    result.errors.push_back(std::move(none));
  }
  if (result.errors.empty()) {
    validate_flow_set(*set, result.errors, result.warnings);
  }
  std::stable_sort(result.errors.begin(), result.errors.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     return std::tie(a.pos.file, a.pos.line) < std::tie(b.pos.file, b.pos.line);
                   });
  if (result.errors.empty()) result.flows = std::move(set);
  return result;
}

}  // namespace rabta::flows
