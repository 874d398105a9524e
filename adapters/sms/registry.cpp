// The SMS adapters rabta knows, by the `kind` a channel names in rabta.toml.
#include <stdexcept>

#include "adapters/africastalking/sms.hpp"
#include "adapters/generic/sms.hpp"
#include "adapters/kannel/sms.hpp"
#include "adapters/sms/sms_adapter.hpp"
#include "adapters/twilio/sms.hpp"

namespace rabta::adapters::sms {

namespace {

template <class Channel>
std::unique_ptr<SmsAdapter> make(const Settings& settings) {
  return std::make_unique<Channel>(settings);
}

struct Registered {
  const char* kind;
  std::unique_ptr<SmsAdapter> (*make)(const Settings&);
};

// One line per adapter.
constexpr Registered kAdapters[] = {
    {"africastalking", &make<africastalking::SmsChannel>},
    {"twilio", &make<twilio::SmsChannel>},
    {"kannel", &make<kannel::SmsChannel>},
    {"http", &make<generic::HttpSms>},  // any gateway described in configuration
};

}  // namespace

std::unique_ptr<SmsAdapter> make_adapter(const std::string& kind, const Settings& settings) {
  for (const auto& a : kAdapters)
    if (kind == a.kind) return a.make(settings);
  throw std::invalid_argument("unknown SMS adapter kind '" + kind + "'");
}

std::vector<std::string> adapter_kinds() {
  std::vector<std::string> kinds;
  for (const auto& a : kAdapters) kinds.emplace_back(a.kind);
  return kinds;
}

}  // namespace rabta::adapters::sms
