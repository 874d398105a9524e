#include "flows/state.hpp"

#include <nlohmann/json.hpp>

namespace rabta::flows {

std::string SessionState::to_json() const {
  nlohmann::json j = {
      {"flow", flow},       {"node", node}, {"lang", language},      {"vars", vars},
      {"invalid", invalid}, {"page", page}, {"ref", case_reference}, {"resume", resume_pending},
      {"ended", ended}};
  if (!restart_at.empty()) j["restart"] = restart_at;
  return j.dump();
}

std::optional<SessionState> SessionState::from_json(std::string_view json) {
  const nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  try {
    SessionState s;
    s.flow = j.at("flow").get<std::string>();
    s.node = j.at("node").get<std::string>();
    s.language = j.at("lang").get<std::string>();
    s.vars = j.at("vars").get<std::map<std::string, std::string>>();
    s.invalid = j.at("invalid").get<std::uint32_t>();
    s.page = j.at("page").get<std::uint32_t>();
    s.case_reference = j.at("ref").get<std::string>();
    s.resume_pending = j.at("resume").get<bool>();
    s.ended = j.at("ended").get<bool>();
    s.restart_at = j.value("restart", std::string());
    return s;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

}  // namespace rabta::flows
