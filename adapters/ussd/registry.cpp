// The USSD adapters rabta knows, by the `kind` a [ussd.<name>] table names in rabta.toml.
#include <stdexcept>

#include "adapters/africastalking/ussd.hpp"
#include "adapters/generic/ussd.hpp"
#include "adapters/sms/support.hpp"
#include "adapters/ussd/ussd_adapter.hpp"

namespace rabta::adapters::ussd {

namespace {

// Africa's Talking built in: hops at `path`, session ends at `path`/events, the callback
// `secret` in the X-Rabta-Key header or ?key=.
std::unique_ptr<UssdAdapter> make_africastalking(const std::string& name,
                                                 const sms::Settings& settings) {
  for (const auto& [key, value] : settings)
    if (key != "path" && key != "secret")
      throw generic::SettingError(key,
                                  "is not a setting of kind \"africastalking\" (path, "
                                  "secret_env or secret_file)");
  const auto path = settings.find("path");
  if (path == settings.end() || path->second.empty() || path->second[0] != '/')
    throw generic::SettingError("path", "must start with '/'");
  const auto secret = settings.find("secret");
  if (secret == settings.end() || secret->second.size() < 16)
    throw generic::SettingError("secret",
                                "is missing or shorter than 16 characters (secret_env or "
                                "secret_file; `rabta init` creates the file)");
  return std::make_unique<africastalking::UssdChannel>(path->second, secret->second, name);
}

std::unique_ptr<UssdAdapter> make_http(const std::string& name, const sms::Settings& settings) {
  return std::make_unique<generic::HttpUssd>(name, settings);
}

struct Registered {
  const char* kind;
  std::unique_ptr<UssdAdapter> (*make)(const std::string&, const sms::Settings&);
};

// One line per adapter.
constexpr Registered kAdapters[] = {
    {"africastalking", &make_africastalking},
    {"http", &make_http},
};

}  // namespace

std::unique_ptr<UssdAdapter> make_adapter(const std::string& kind, const std::string& name,
                                          const sms::Settings& settings) {
  for (const auto& a : kAdapters)
    if (kind == a.kind) return a.make(name, settings);
  std::string kinds;
  for (const auto& a : kAdapters) kinds += std::string(kinds.empty() ? "" : ", ") + a.kind;
  throw generic::SettingError("kind", "unknown USSD adapter kind '" + kind + "' (" + kinds + ")");
}

std::vector<std::string> adapter_kinds() {
  std::vector<std::string> kinds;
  for (const auto& a : kAdapters) kinds.emplace_back(a.kind);
  return kinds;
}

}  // namespace rabta::adapters::ussd
