#include "flows/engine.hpp"

#include <gtest/gtest.h>

#include "tests/flows/scenario.hpp"

using namespace rabta::flows;

namespace {

const char* settings_text = R"(
[languages]
order = ["en", "ur"]
default = "ur"
names = { en = "English", ur = "اردو" }
[engine]
entry = "f:root"
language_screen = "f:lang"
max_invalid = 3
[messages]
invalid = { en = "Invalid", ur = "غلط" }
too_many_invalid = { en = "Try later", ur = "بعد میں" }
quick_exit = { en = "Goodbye", ur = "خدا حافظ" }
resume = { en = "Continue?", ur = "جاری؟" }
resume_yes = { en = "Yes", ur = "جی ہاں" }
resume_restart = { en = "Again", ur = "دوبارہ" }
more = { en = "More", ur = "مزید" }
)";

const char* flow_text = R"([flow]
start = "root"
exit_case = { category = "interrupted", severity = "high" }

[nodes.lang]
kind = "language"
text = { en = "Language", ur = "زبان" }
next = "root"

[nodes.root]
kind = "menu"
text = { en = "Hello", ur = "سلام" }
save = "pick"
effects = [ { save = { key = "entered", value = "root" } } ]

[[nodes.root.options]]
label = { en = "Danger", ur = "خطرہ" }
value = "danger"
next = "age"
effects = [ { save = { key = "severity", value = "critical" } } ]

[[nodes.root.options]]
label = { en = "Ok", ur = "ٹھیک" }
value = "ok"
next = "age"

[nodes.age]
kind = "input"
text = { en = "Age?", ur = "عمر؟" }
format = "digits"
min_length = 1
max_length = 3
save = "age"
next = "note"

[nodes.note]
kind = "input"
text = { en = "Note?", ur = "نوٹ؟" }
format = "text"
max_length = 10
save = "note"
next = "bye"

[nodes.bye]
kind = "end"
text = { en = "Ref {ref}", ur = "حوالہ {ref}" }
effects = [ { open_case = { category = "$pick|other", severity = "$severity|normal" } }, { open_case = { category = "again", severity = "low" } } ]
)";

std::shared_ptr<const FlowSet> flows() {
  FlowSources src;
  src.settings = {"settings.toml", settings_text};
  src.flows.push_back({"f.toml", flow_text});
  LoadResult r = load_flow_set(src);
  for (const auto& e : r.errors) ADD_FAILURE() << e.to_string();
  return r.flows;
}

struct EngineTest : ::testing::Test {
  Engine engine{flows()};
  SeededIds ids{42};
};

}  // namespace

TEST_F(EngineTest, NewCallerSeesTheLanguageScreenInTheDefaultLanguage) {
  const StepResult r = engine.start("", ids);
  EXPECT_EQ(r.state.node, "lang");
  EXPECT_EQ(r.screen, "زبان\n1. English\n2. اردو");
  EXPECT_FALSE(r.end);
  const StepResult r2 = engine.step(r.state, "1", ids);
  EXPECT_EQ(r2.state.language, "en");
  EXPECT_EQ(r2.screen, "Hello\n1. Danger\n2. Ok");
  ASSERT_GE(r2.effects.size(), 1u);
  EXPECT_EQ(r2.effects[0].kind, EffectKind::set_language);
  EXPECT_EQ(r2.effects[0].value, "en");
}

TEST_F(EngineTest, KnownLanguageStartsAtTheEntryAndRunsItsEffects) {
  const StepResult r = engine.start("en", ids);
  EXPECT_EQ(r.state.node, "root");
  ASSERT_EQ(r.effects.size(), 1u);
  EXPECT_EQ(r.effects[0].key, "entered");
}

TEST_F(EngineTest, UnknownLanguageCodeIsTreatedAsNew) {
  EXPECT_EQ(engine.start("fr", ids).state.node, "lang");
}

TEST_F(EngineTest, InvalidChoiceRepromptsThenEndsPolitelyAfterTheLimit) {
  StepResult r = engine.start("en", ids);
  r = engine.step(r.state, "7", ids);
  EXPECT_EQ(r.outcome, Outcome::invalid);
  EXPECT_EQ(r.screen, "Invalid\nHello\n1. Danger\n2. Ok");
  EXPECT_FALSE(r.end);
  EXPECT_TRUE(r.effects.empty());
  r = engine.step(r.state, "", ids);
  EXPECT_EQ(r.outcome, Outcome::invalid);
  r = engine.step(r.state, "abc", ids);
  EXPECT_EQ(r.outcome, Outcome::too_many_invalid);
  EXPECT_TRUE(r.end);
  EXPECT_EQ(r.screen, "Try later");
}

TEST_F(EngineTest, AValidAnswerResetsTheInvalidCount) {
  StepResult r = engine.start("en", ids);
  r = engine.step(r.state, "9", ids);
  r = engine.step(r.state, "9", ids);
  r = engine.step(r.state, "1", ids);
  EXPECT_EQ(r.state.node, "age");
  EXPECT_EQ(r.state.invalid, 0u);
  r = engine.step(r.state, "x", ids);
  EXPECT_FALSE(r.end);
}

TEST_F(EngineTest, UrduDigitsAndSpacesAreAccepted) {
  StepResult r = engine.start("ur", ids);
  r = engine.step(r.state, " \xDB\xB2 ", ids);  // ۲
  EXPECT_EQ(r.state.node, "age");
  EXPECT_EQ(r.state.vars.at("pick"), "ok");
  r = engine.step(r.state, "\xDB\xB3\xDB\xB5", ids);  // ۳۵
  EXPECT_EQ(r.state.vars.at("age"), "35");
}

TEST_F(EngineTest, DigitInputChecksDigitsAndLength) {
  StepResult r = engine.start("en", ids);
  r = engine.step(r.state, "1", ids);
  EXPECT_EQ(engine.step(r.state, "12a", ids).outcome, Outcome::invalid);
  EXPECT_EQ(engine.step(r.state, "1234", ids).outcome, Outcome::invalid);
  EXPECT_EQ(engine.step(r.state, "123", ids).state.node, "note");
}

TEST_F(EngineTest, FreeTextKeepsHerCaseAndAStarInside) {
  StepResult r = engine.start("en", ids);
  r = engine.step(r.state, "1", ids);
  r = engine.step(r.state, "30", ids);
  r = engine.step(r.state, " Ali*Home ", ids);
  EXPECT_EQ(r.state.vars.at("note"), "Ali*Home");
  EXPECT_EQ(
      engine
          .step(engine.step(engine.step(engine.start("en", ids).state, "1", ids).state, "30", ids)
                    .state,
                "this is too long", ids)
          .outcome,
      Outcome::invalid);
}

TEST_F(EngineTest, EndOpensOneCaseWithAnswersAndShowsItsReference) {
  StepResult r = engine.start("en", ids);
  r = engine.step(r.state, "1", ids);
  r = engine.step(r.state, "30", ids);
  r = engine.step(r.state, "note", ids);
  EXPECT_TRUE(r.end);
  EXPECT_EQ(r.outcome, Outcome::ended);
  int cases = 0;
  for (const auto& e : r.effects)
    if (e.kind == EffectKind::open_case) {
      ++cases;
      EXPECT_EQ(e.category, "danger");
      EXPECT_EQ(e.severity, "critical");
      EXPECT_EQ(e.reference.size(), 6u);
      EXPECT_EQ(r.screen, "Ref " + e.reference);
    }
  EXPECT_EQ(cases, 1) << "a second open_case in the same session adds nothing";
}

TEST_F(EngineTest, SeverityDefaultAppliesWhenTheAnswerIsMissing) {
  StepResult r = engine.start("en", ids);
  r = engine.step(r.state, "2", ids);
  r = engine.step(r.state, "30", ids);
  r = engine.step(r.state, "x", ids);
  for (const auto& e : r.effects)
    if (e.kind == EffectKind::open_case) {
      EXPECT_EQ(e.category, "ok");
      EXPECT_EQ(e.severity, "normal");
    }
}

TEST_F(EngineTest, QuickExitEndsAtOnceAndStillRaisesTheInterruptedReport) {
  StepResult r = engine.start("en", ids);
  r = engine.step(r.state, "1", ids);
  const StepResult exit = engine.step(r.state, "00", ids);
  EXPECT_TRUE(exit.end);
  EXPECT_EQ(exit.outcome, Outcome::quick_exit);
  EXPECT_EQ(exit.screen, "Goodbye");
  ASSERT_EQ(exit.effects.size(), 2u);
  EXPECT_EQ(exit.effects[0].kind, EffectKind::open_case);
  EXPECT_EQ(exit.effects[0].category, "interrupted");
  EXPECT_EQ(exit.effects[0].severity, "high");
  EXPECT_EQ(exit.effects[1].kind, EffectKind::quick_exit);
  // Urdu digits work for the exit too.
  EXPECT_EQ(engine.step(r.state, "\xDB\xB0\xDB\xB0", ids).outcome, Outcome::quick_exit);
}

TEST_F(EngineTest, ResumeContinuesAtTheSameScreenWithoutRunningItsEffectsAgain) {
  StepResult r = engine.start("en", ids);
  r = engine.step(r.state, "1", ids);
  const StepResult offer = engine.offer_resume(r.state);
  EXPECT_EQ(offer.screen, "Continue?\n1. Yes\n2. Again");
  EXPECT_TRUE(offer.state.resume_pending);
  EXPECT_EQ(engine.screen(offer.state), offer.screen);
  const StepResult yes = engine.step(offer.state, "1", ids);
  EXPECT_EQ(yes.screen, "Age?");
  EXPECT_TRUE(yes.effects.empty());
  EXPECT_EQ(yes.state.vars.at("pick"), "danger");
  const StepResult again = engine.step(offer.state, "2", ids);
  EXPECT_EQ(again.state.node, "root");
  EXPECT_TRUE(again.state.vars.count("pick") == 0) << "starting again forgets the old answers";
  EXPECT_EQ(again.state.language, "en");
  EXPECT_EQ(engine.step(offer.state, "5", ids).screen, "Invalid\nContinue?\n1. Yes\n2. Again");
}

TEST_F(EngineTest, StateSurvivesJson) {
  StepResult r = engine.start("ur", ids);
  r = engine.step(r.state, "1", ids);
  const auto back = SessionState::from_json(r.state.to_json());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, r.state);
  EXPECT_FALSE(SessionState::from_json("{\"flow\":1}").has_value());
  EXPECT_FALSE(SessionState::from_json("not json").has_value());
}

TEST_F(EngineTest, StepOnAnEndedSessionIsABug) {
  StepResult r = engine.start("en", ids);
  r = engine.step(r.state, "00", ids);
  EXPECT_THROW(engine.step(r.state, "1", ids), std::logic_error);
}

TEST(SeededIds, AreDeterministicAndUseOnlyUnambiguousCharacters) {
  SeededIds a(7), b(7), c(8);
  const std::string ra = a.case_reference(6);
  EXPECT_EQ(ra, b.case_reference(6));
  EXPECT_NE(ra, c.case_reference(6));
  for (int i = 0; i < 200; ++i)
    for (char ch : a.case_reference(8))
      EXPECT_NE(reference_alphabet.find(ch), std::string_view::npos);
}

// SAFETY S3: from every node of every shipped flow, the quick-exit input ends the session at once
// on the neutral text; inside a flow with exit_case, the interrupted report is still raised.
TEST(ShippedFlows, QuickExitWorksFromEveryNode) {
  const auto set = rabta::scenario::load_flows_named("shipped");
  Engine engine(set);
  SeededIds ids(1);
  int checked = 0;
  for (const auto& lang : set->settings.languages) {
    for (const auto& [fid, flow] : set->flows) {
      for (const auto& [nid, node] : flow.nodes) {
        SessionState s;
        s.flow = fid;
        s.node = nid;
        s.language = lang;
        const StepResult r = engine.step(s, "00", ids);
        EXPECT_TRUE(r.end) << node.qualified();
        EXPECT_EQ(r.outcome, Outcome::quick_exit) << node.qualified();
        EXPECT_EQ(r.screen, set->message("quick_exit").in(lang, "")) << node.qualified();
        bool opened = false;
        for (const auto& e : r.effects) opened |= e.kind == EffectKind::open_case;
        EXPECT_EQ(opened, flow.exit_case.has_value() || node.exit_case.has_value())
            << node.qualified();
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 60);
}

TEST_F(EngineTest, StartAtANamedNodeRunsItsEffects) {
  const StepResult r = engine.start_at("f:age", "en", ids);
  EXPECT_EQ(r.state.node, "age");
  EXPECT_EQ(r.screen, "Age?");
  EXPECT_THROW(engine.start_at("f:nope", "en", ids), std::invalid_argument);
  EXPECT_EQ(engine.start_at("f:root", "", ids).screen, "سلام\n1. خطرہ\n2. ٹھیک")
      << "no language: the default";
}
