// Golden scenarios for every shipped path in every language, node-kind fixtures, and the checks
// that keep them complete: every node and every option is exercised in every language, and every
// registered node kind has its fixture.
#include "tests/flows/scenario.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "flows/node_kind.hpp"

namespace fs = std::filesystem;
using namespace rabta;

namespace {

std::vector<std::string> scenario_files(const std::string& sub) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(fs::path(RABTA_SOURCE_DIR) / "tests/fixtures" / sub))
    if (e.path().extension() == ".scenario") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string n = fs::path(info.param).stem().string();
  for (char& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
}

void check_golden(const std::string& path, scenario::Coverage* coverage) {
  const scenario::ScenarioRun run = scenario::run_scenario(path, coverage);
  ASSERT_TRUE(run.error.empty()) << path << ": " << run.error;
  if (scenario::update_golden()) {
    std::ofstream(path, std::ios::binary) << run.actual;
    return;
  }
  EXPECT_EQ(run.expected, run.actual)
      << path << " differs; if the change is intended, run the tests with "
      << "RABTA_UPDATE_GOLDEN=1 and review the diff";
}

}  // namespace

class ShippedScenario : public ::testing::TestWithParam<std::string> {};

TEST_P(ShippedScenario, MatchesGolden) {
  check_golden(GetParam(), nullptr);
}

INSTANTIATE_TEST_SUITE_P(Shipped, ShippedScenario, ::testing::ValuesIn(scenario_files("scenarios")),
                         test_name);

TEST(ShippedCoverage, EveryNodeAndOptionIsExercisedInEveryLanguage) {
  scenario::Coverage coverage;
  for (const auto& f : scenario_files("scenarios")) scenario::run_scenario(f, &coverage);
  const auto set = scenario::load_flows_named("shipped");
  for (const auto& lang : set->settings.languages) {
    for (const auto& [fid, flow] : set->flows) {
      for (const auto& [nid, node] : flow.nodes) {
        EXPECT_TRUE(coverage.nodes[lang].count(node.qualified()))
            << "no scenario in '" << lang << "' reaches " << node.qualified();
        for (std::size_t k = 1; k <= node.options.size(); ++k)
          EXPECT_TRUE(coverage.options[lang].count(node.qualified() + "#" + std::to_string(k)))
              << "no scenario in '" << lang << "' chooses option " << k << " of "
              << node.qualified();
        if (node.kind == "language") {
          // Picking a language is shown from whatever language came before; every language must be
          // picked somewhere.
          for (std::size_t k = 1; k <= set->settings.languages.size(); ++k) {
            bool picked = false;
            for (const auto& [from, options] : coverage.options)
              picked |= options.count(node.qualified() + "#" + std::to_string(k)) > 0;
            EXPECT_TRUE(picked) << "no scenario picks language " << k << " at " << node.qualified();
          }
        }
      }
    }
  }
}

class NodeKindFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(NodeKindFixture, MatchesGolden) {
  check_golden(GetParam(), nullptr);
}

INSTANTIATE_TEST_SUITE_P(Nodes, NodeKindFixture, ::testing::ValuesIn(scenario_files("nodes")),
                         test_name);

TEST(NodeKindRegistry, EveryKindHasAFixtureThatUsesIt) {
  for (const flows::NodeKind* kind : flows::node_kinds()) {
    const std::string name(kind->name());
    const fs::path scenario =
        fs::path(RABTA_SOURCE_DIR) / "tests/fixtures/nodes" / (name + ".scenario");
    ASSERT_TRUE(fs::exists(scenario)) << "node kind '" << name << "' has no fixture " << scenario;
    scenario::Coverage coverage;
    const auto run = scenario::run_scenario(scenario.string(), &coverage);
    ASSERT_TRUE(run.error.empty()) << run.error;
    const auto set = scenario::load_flows_named("nodes/" + name);
    bool used = false;
    for (const auto& [lang, nodes] : coverage.nodes)
      for (const auto& q : nodes)
        if (const flows::Node* n = set->find(q); n && n->kind == name) used = true;
    EXPECT_TRUE(used) << "fixture " << scenario << " never shows a '" << name << "' node";
  }
}
