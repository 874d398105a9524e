// Flow files are refused with file, line and reason.
#include <gtest/gtest.h>

#include "flows/flow.hpp"

using namespace rabta::flows;

namespace {

const char* settings_text = R"(
[languages]
order = ["en", "ur"]
default = "en"
names = { en = "English", ur = "اردو" }
[engine]
entry = "f:root"
language_screen = "f:lang"
[messages]
invalid = { en = "Invalid", ur = "غلط" }
too_many_invalid = { en = "Bye", ur = "خدا حافظ" }
quick_exit = { en = "Bye", ur = "خدا حافظ" }
resume = { en = "Continue?", ur = "جاری؟" }
resume_yes = { en = "Yes", ur = "جی ہاں" }
resume_restart = { en = "Again", ur = "دوبارہ" }
more = { en = "More", ur = "مزید" }
)";

const char* good_flow = R"([flow]
start = "root"

[nodes.lang]
kind = "language"
text = { en = "Language", ur = "زبان" }
next = "root"

[nodes.root]
kind = "menu"
text = { en = "Hello", ur = "سلام" }

[[nodes.root.options]]
label = { en = "Done", ur = "ختم" }
next = "bye"

[nodes.bye]
kind = "end"
text = { en = "Bye", ur = "خدا حافظ" }
)";

LoadResult load(const std::string& flow_text) {
  FlowSources src;
  src.settings = {"settings.toml", settings_text};
  src.flows.push_back({"flows/f.toml", flow_text});
  return load_flow_set(src);
}

std::string all(const LoadResult& r) {
  std::string s;
  for (const auto& e : r.errors) s += e.to_string() + "\n";
  return s;
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return s.replace(at, from.size(), to);
}

}  // namespace

TEST(FlowLoad, AcceptsAValidFlow) {
  const LoadResult r = load(good_flow);
  EXPECT_TRUE(r.errors.empty()) << all(r);
  ASSERT_NE(r.flows, nullptr);
  EXPECT_EQ(r.flows->flows.at("f").nodes.size(), 3u);
}

TEST(FlowLoad, DanglingTransitionNamesFileLineAndNode) {
  const LoadResult r = load(replace(good_flow, "next = \"bye\"", "next = \"byee\""));
  ASSERT_EQ(r.errors.size(), 1u) << all(r);
  EXPECT_EQ(r.errors[0].pos.file, "flows/f.toml");
  EXPECT_EQ(r.errors[0].pos.line, 15u);  // the option's next = line
  EXPECT_NE(r.errors[0].reason.find("unknown node 'byee'"), std::string::npos) << all(r);
  EXPECT_EQ(r.flows, nullptr);
}

TEST(FlowLoad, UnknownNodeKindIsRefused) {
  const LoadResult r = load(replace(good_flow, "kind = \"end\"", "kind = \"ending\""));
  ASSERT_EQ(r.errors.size(), 1u) << all(r);
  EXPECT_NE(r.errors[0].reason.find("unknown kind 'ending'"), std::string::npos);
  EXPECT_EQ(r.errors[0].pos.line, 17u);
}

TEST(FlowLoad, MissingTranslationIsRefused) {
  const LoadResult r = load(
      replace(good_flow, "text = { en = \"Bye\", ur = \"خدا حافظ\" }", "text = { en = \"Bye\" }"));
  ASSERT_EQ(r.errors.size(), 1u) << all(r);
  EXPECT_NE(r.errors[0].reason.find("missing translation 'ur'"), std::string::npos) << all(r);
  EXPECT_EQ(r.errors[0].pos.line, 19u);
}

TEST(FlowLoad, ScreenOverTheUssdLimitIsRefusedPerLanguage) {
  std::string long_urdu;
  for (int i = 0; i < 75; ++i) long_urdu += "م";  // 75 + "\n1. ختم" > 80 UCS-2 characters
  const LoadResult r = load(replace(good_flow, "ur = \"سلام\"", "ur = \"" + long_urdu + "\""));
  ASSERT_FALSE(r.errors.empty());
  EXPECT_NE(all(r).find("in 'ur' is 82 UCS-2 characters, over the USSD limit of 80"),
            std::string::npos)
      << all(r);
  EXPECT_EQ(all(r).find("in 'en'"), std::string::npos) << all(r);
}

TEST(FlowLoad, OneCurlyQuoteInRomanUrduIsExplained) {
  std::string text(170, 'a');
  const LoadResult r =
      load(replace(good_flow, "en = \"Hello\"", "en = \"" + text + "\xE2\x80\x99\""));
  EXPECT_NE(all(r).find("UCS-2 because of '\xE2\x80\x99'"), std::string::npos) << all(r);
}

TEST(FlowLoad, BadTomlIsReportedWithItsLine) {
  const LoadResult r = load("[flow]\nstart = \"root\"\n[nodes.root\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].pos.line, 3u);
  EXPECT_NE(r.errors[0].reason.find("not valid TOML"), std::string::npos);
}

TEST(FlowLoad, MisspelledKeyIsRefused) {
  const LoadResult r = load(replace(good_flow, "next = \"root\"", "nxt = \"root\""));
  EXPECT_NE(all(r).find("unknown key 'nxt'"), std::string::npos) << all(r);
}

TEST(FlowLoad, InputNeedsALengthAndFormat) {
  std::string f = good_flow;
  f += "\n[nodes.ask]\nkind = \"input\"\ntext = { en = \"Age?\", ur = \"عمر؟\" }\nsave = "
       "\"age\"\nnext = \"bye\"\n";
  const LoadResult r = load(f);
  EXPECT_NE(all(r).find("'format' must be \"digits\" or \"text\""), std::string::npos) << all(r);
  EXPECT_NE(all(r).find("needs 'max_length'"), std::string::npos) << all(r);
}

TEST(FlowLoad, SeverityMustBeKnown) {
  std::string f = replace(good_flow, "text = { en = \"Bye\", ur = \"خدا حافظ\" }",
                          "text = { en = \"Bye\", ur = \"خدا حافظ\" }\neffects = [ { open_case = { "
                          "category = \"x\", severity = \"urgent\" } } ]");
  const LoadResult r = load(f);
  EXPECT_NE(all(r).find("severity 'urgent' is not one of"), std::string::npos) << all(r);
}

TEST(FlowLoad, UnreachableNodeIsAWarningNotAnError) {
  std::string f = good_flow;
  f += "\n[nodes.lonely]\nkind = \"end\"\ntext = { en = \"x\", ur = \"x\" }\n";
  const LoadResult r = load(f);
  EXPECT_TRUE(r.errors.empty()) << all(r);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].reason.find("'lonely' is never reached"), std::string::npos);
}
