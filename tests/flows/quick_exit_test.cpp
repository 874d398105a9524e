// SAFETY S3, exhaustively: from every node of every shipped flow, in every language, the
// quick-exit input (ASCII and Urdu digits) ends the session at once on the neutral quick-exit
// text; inside a flow with an exit case (the incident report) the case is still raised, and
// nowhere else.
#include <gtest/gtest.h>

#include "flows/engine.hpp"
#include "tests/flows/scenario.hpp"

namespace rabta::flows {
namespace {

TEST(QuickExit, FromEveryNodeOfEveryShippedFlowInEveryLanguage) {
  const auto set = scenario::load_flows_named("shipped");
  const Engine engine(set);
  int checked = 0;
  for (const auto& [flow_id, flow] : set->flows) {
    for (const auto& [node_id, node] : flow.nodes) {
      for (const auto& lang : set->settings.languages) {
        for (const std::string& input : {set->settings.quick_exit, std::string("\u06F0\u06F0")}) {
          SCOPED_TRACE(flow_id + ":" + node_id + " [" + lang + "] input " + input);
          SeededIds ids(7);
          const StepResult at = engine.start_at(flow_id + ":" + node_id, lang, ids);
          if (at.end) {
            EXPECT_EQ(node.kind, "end") << "only an end node ends before any input";
            continue;
          }
          const StepResult out = engine.step(at.state, input, ids);
          EXPECT_TRUE(out.end);
          EXPECT_EQ(out.outcome, Outcome::quick_exit);
          EXPECT_EQ(out.screen,
                    set->message("quick_exit").in(lang, set->settings.default_language));
          bool quick_exit = false;
          int cases = 0;
          for (const auto& e : out.effects) {
            quick_exit |= e.kind == EffectKind::quick_exit;
            if (e.kind == EffectKind::open_case) {
              ++cases;
              EXPECT_EQ(e.category, node.exit_case   ? node.exit_case->category
                                    : flow.exit_case ? flow.exit_case->category
                                                     : "");
            }
          }
          EXPECT_TRUE(quick_exit);
          EXPECT_EQ(cases, flow.exit_case || node.exit_case ? 1 : 0)
              << "a report she started is still raised, and only then";
          ++checked;
        }
      }
    }
  }
  // Every node that waits for input was checked, in every language, with both spellings.
  std::size_t waiting = 0;
  for (const auto& [flow_id, flow] : set->flows)
    for (const auto& [node_id, node] : flow.nodes) waiting += node.kind == "end" ? 0 : 1;
  EXPECT_GE(waiting, 16u);
  EXPECT_EQ(static_cast<std::size_t>(checked), waiting * set->settings.languages.size() * 2);
}

}  // namespace
}  // namespace rabta::flows
