#include "tests/flows/scenario.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "flows/node_kind.hpp"
#include "flows/text.hpp"
#include "gateway/settings/config.hpp"

namespace rabta::scenario {

namespace fs = std::filesystem;
using namespace rabta::flows;

namespace {

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string effect_line(const Effect& e) {
  switch (e.kind) {
    case EffectKind::save_answer:
      return "! save " + e.key + "=" + e.value;
    case EffectKind::open_case:
      return "! open_case " + e.category + "/" + e.severity + " ref=" + e.reference;
    case EffectKind::consent:
      return "! consent " + e.key + " " + e.value;
    case EffectKind::set_language:
      return "! language " + e.value;
    case EffectKind::quick_exit:
      return "! quick_exit";
  }
  return "! ?";
}

void screen_lines(std::ostringstream& out, const StepResult& r) {
  std::istringstream lines(r.screen);
  std::string line;
  bool first = true;
  out << (r.end ? "END " : "CON ");
  while (std::getline(lines, line)) {
    out << (first ? "" : "    ") << line << "\n";
    first = false;
  }
  if (first) out << "\n";
  if (r.outcome == Outcome::invalid || r.outcome == Outcome::too_many_invalid ||
      r.outcome == Outcome::quick_exit)
    out << "~ " << to_string(r.outcome) << "\n";
  for (const auto& e : r.effects) out << effect_line(e) << "\n";
}

}  // namespace

bool update_golden() {
  const char* v = std::getenv("RABTA_UPDATE_GOLDEN");
  return v && *v && std::string(v) != "0";
}

std::shared_ptr<const FlowSet> load_flows_named(const std::string& name) {
  static std::map<std::string, std::shared_ptr<const FlowSet>> cache;
  if (auto it = cache.find(name); it != cache.end()) return it->second;
  LoadResult r;
  if (name == "shipped") {
    r = gateway::load_flows(
        gateway::load_config(std::string(RABTA_SOURCE_DIR) + "/config/rabta.toml"));
  } else if (name.rfind("nodes/", 0) == 0) {
    const fs::path dir = fs::path(RABTA_SOURCE_DIR) / "tests/fixtures/nodes";
    FlowSources src;
    src.settings = {(dir / "data-settings.toml").string(), read(dir / "data-settings.toml")};
    src.lists = SourceText{(dir / "data-lists.toml").string(), read(dir / "data-lists.toml")};
    src.directory =
        SourceText{(dir / "data-directory.toml").string(), read(dir / "data-directory.toml")};
    const fs::path flow = dir / (name.substr(6) + ".toml");
    src.flows.push_back({flow.string(), read(flow)});
    r = load_flow_set(src);
  } else {
    throw std::runtime_error("unknown @flows '" + name + "'");
  }
  if (!r.flows) {
    std::string all;
    for (const auto& e : r.errors) all += e.to_string() + "\n";
    throw std::runtime_error("flows '" + name + "' do not load:\n" + all);
  }
  cache[name] = r.flows;
  return r.flows;
}

ScenarioRun run_scenario(const std::string& path, Coverage* coverage) {
  ScenarioRun run;
  run.expected = read(path);
  std::istringstream in(run.expected);
  std::ostringstream out;
  std::string line;
  std::string flows_name = "shipped";
  std::string language;
  std::uint64_t seed = 1;
  bool body = false;
  std::vector<std::string> inputs;
  while (std::getline(in, line)) {
    if (!body) {
      out << line << "\n";
      if (line == "---")
        body = true;
      else if (line.rfind("@flows ", 0) == 0)
        flows_name = line.substr(7);
      else if (line.rfind("@language ", 0) == 0)
        language = line.substr(10);
      else if (line.rfind("@seed ", 0) == 0)
        seed = std::stoull(line.substr(6));
      else if (!line.empty() && line[0] != '#' && line[0] != '@')
        run.error = "unexpected header line: " + line;
      continue;
    }
    if (line.rfind("> ", 0) == 0) inputs.push_back(line.substr(2));
  }
  if (!body) {
    run.error = "no '---' line";
    return run;
  }
  std::shared_ptr<const FlowSet> set;
  try {
    set = load_flows_named(flows_name);
  } catch (const std::exception& e) {
    run.error = e.what();
    return run;
  }
  Engine engine(set);
  SeededIds ids(seed);
  std::optional<SessionState> state;
  for (const auto& input : inputs) {
    out << "> " << input << "\n";
    StepResult r;
    if (input == "(dial)") {
      r = engine.start(language, ids);
    } else if (input == "(redial)") {
      if (!state) {
        run.error = "(redial) before (dial)";
        break;
      }
      r = engine.offer_resume(*state);
    } else {
      if (!state || state->ended) {
        run.error = "input '" + input + "' after the session ended";
        break;
      }
      const std::string lang =
          state->language.empty() ? set->settings.default_language : state->language;
      const Node* node = set->find(state->flow, state->node);
      r = engine.step(*state, input, ids);
      if (coverage && node && !state->resume_pending && r.outcome != Outcome::invalid &&
          r.outcome != Outcome::quick_exit && r.outcome != Outcome::too_many_invalid) {
        const std::uint32_t k = choice_number(normalise_input(input));
        if ((node->kind == "menu" && k >= 1 && k <= node->options.size()) ||
            node->kind == "language")
          coverage->options[lang].insert(node->qualified() + "#" + std::to_string(k));
      }
    }
    if (coverage && !r.state.resume_pending) {
      const std::string lang =
          r.state.language.empty() ? set->settings.default_language : r.state.language;
      coverage->nodes[lang].insert(r.state.flow + ":" + r.state.node);
    }
    screen_lines(out, r);
    state = r.state;
  }
  run.actual = out.str();
  if (state) run.language = state->language;
  return run;
}

}  // namespace rabta::scenario
