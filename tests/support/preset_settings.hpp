// An SMS adapter fixture's settings (tests/fixtures/sms/<kind>.json) as an operator's channel
// gives them to the adapter: the fixture's "settings" on top of its "preset"'s
// (config/presets/sms/<preset>.toml), sub-tables flattened ("send.url") and lists joined by ", ",
// as rabta.toml's reader does.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace rabta::test {

inline void flatten_preset(const toml::table& t, const std::string& prefix,
                           std::map<std::string, std::string>& out) {
  for (const auto& [k, v] : t) {
    const std::string key = prefix + std::string(k.str());
    if (const auto* sub = v.as_table()) {
      flatten_preset(*sub, key + ".", out);
    } else if (const auto* list = v.as_array()) {
      std::string joined;
      for (const auto& item : *list)
        joined += (joined.empty() ? "" : ", ") + item.value_or(std::string());
      out[key] = joined;
    } else if (auto str = v.value_exact<std::string>()) {
      out[key] = *str;
    } else if (auto b = v.value_exact<bool>()) {
      out[key] = *b ? "true" : "false";
    } else if (auto i = v.value_exact<std::int64_t>()) {
      out[key] = std::to_string(*i);
    }
  }
}

inline std::map<std::string, std::string> fixture_settings(const nlohmann::json& fixture) {
  std::map<std::string, std::string> s;
  if (fixture.contains("preset")) {
    const auto file = std::filesystem::path(RABTA_SOURCE_DIR) / "config" / "presets" / "sms" /
                      (fixture.at("preset").get<std::string>() + ".toml");
    flatten_preset(toml::parse_file(file.string()), "", s);
    s.erase("kind");
  }
  for (const auto& [k, v] : fixture.at("settings").items()) s[k] = v.get<std::string>();
  return s;
}

}  // namespace rabta::test
