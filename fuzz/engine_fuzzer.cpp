// The engine with arbitrary input on the shipped flows: the first byte picks the language, the
// rest is her inputs separated by newlines. It must never throw; every screen is non-empty and
// fits one USSD screen (the load-time check promises it, re-prompts included); a session state
// survives its JSON round trip.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "flows/engine.hpp"
#include "flows/text.hpp"
#include "gateway/settings/config.hpp"

namespace {

void check_screen(const rabta::flows::StepResult& r) {
  if (r.screen.empty()) std::abort();
  const auto len = rabta::flows::measure(r.screen);
  const std::size_t limit = len.encoding == rabta::flows::Encoding::gsm7 ? 182 : 80;
  if (len.units > limit) std::abort();
  const auto back = rabta::flows::SessionState::from_json(r.state.to_json());
  if (!back || !(*back == r.state)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto flows = rabta::gateway::load_flows(
      rabta::gateway::load_config(std::string(RABTA_SOURCE_DIR) + "/config/rabta.toml"));
  static const rabta::flows::Engine engine(flows.flows);
  if (!flows.flows) std::abort();
  rabta::flows::SeededIds ids(size);
  const auto& languages = flows.flows->settings.languages;
  std::string lang;
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  if (!rest.empty()) {
    const auto pick = static_cast<unsigned char>(rest[0]) % (languages.size() + 1);
    lang = pick == 0 ? "" : languages[pick - 1];
    rest.remove_prefix(1);
  }
  auto r = engine.start(lang, ids);
  check_screen(r);
  int hops = 0;
  while (!r.end && !rest.empty() && ++hops < 64) {
    const auto nl = rest.find('\n');
    const std::string_view input = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    r = engine.step(r.state, input, ids);
    check_screen(r);
  }
  return 0;
}
