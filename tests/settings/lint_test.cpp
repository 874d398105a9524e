// The neutral-wording lint (SAFETY S2, S4): the shipped templates and first screens pass; a
// banned word in any language, in a template or on the first screen, fails `rabta check` with
// the file, the line and the word.
#include "gateway/settings/lint.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gateway/settings/config.hpp"
#include "gateway/settings/sms_texts.hpp"
#include "tests/support/temp_dir.hpp"

namespace rabta {
namespace {

namespace fs = std::filesystem;

// Lint of the config at `dir`/rabta.toml: every diagnostic as "file:line: reason".
std::vector<std::string> lint(const std::string& config_path) {
  const auto config = gateway::load_config(config_path);
  const auto flows = gateway::load_flows(config);
  EXPECT_TRUE(flows.flows) << (flows.errors.empty() ? "" : flows.errors.front().to_string());
  if (!flows.flows) return {"flows do not load"};
  std::vector<flows::Diagnostic> errors;
  const auto texts =
      gateway::load_sms_texts(config.sms.keywords, config.sms.templates, *flows.flows, errors);
  const auto banned = gateway::load_banned_words(config.sms.banned_words, errors);
  for (auto& d : gateway::lint_wording(texts, flows.flows, banned)) errors.push_back(d);
  std::vector<std::string> out;
  for (const auto& e : errors) out.push_back(e.to_string());
  return out;
}

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void replace_in(const fs::path& p, const std::string& from, const std::string& to) {
  std::string text = read(p);
  const auto at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from << " in " << p;
  text.replace(at, from.size(), to);
  std::ofstream(p) << text;
}

class LintTest : public ::testing::Test {
 protected:
  LintTest() {
    fs::copy(fs::path(RABTA_SOURCE_DIR) / "config", dir.path() / "config",
             fs::copy_options::recursive);
  }
  std::string config() const { return (dir.path() / "config/rabta.toml").string(); }
  fs::path file(const std::string& name) const { return dir.path() / "config" / name; }
  test::TempDir dir;
};

TEST(Lint, FindsWholeWordsInEveryScript) {
  gateway::BannedWords b;
  b.by_language = {{"en", {"help", "forced marriage"}}, {"ur", {"کیس", "مدد"}}};
  EXPECT_EQ(gateway::find_banned("Need HELP? Reply 1", b), "help");
  EXPECT_EQ(gateway::find_banned("a helpful tip", b), std::nullopt);
  EXPECT_EQ(gateway::find_banned("about Forced  Marriage.", b), "forced marriage");
  EXPECT_EQ(gateway::find_banned("forced to marry", b), std::nullopt);
  EXPECT_EQ(gateway::find_banned("اس ہفتے آپ کیسی ہیں؟", b), std::nullopt) << "کیسی is not کیس";
  EXPECT_EQ(gateway::find_banned("آپ کا کیس۔", b), "کیس");
  EXPECT_EQ(gateway::find_banned("مدد، ابھی", b), "مدد");
}

TEST_F(LintTest, TheShippedTemplatesAndFirstScreensAreNeutral) {
  EXPECT_EQ(lint(config()), std::vector<std::string>{});
}

TEST_F(LintTest, ABannedWordInATemplateFailsInEveryLanguage) {
  replace_in(file("templates.toml"), "Salam again! How is your week?",
             "Salam again! Your case is open.");
  replace_in(file("templates.toml"), "خوش آمدید۔", "خوش آمدید، پولیس۔");
  replace_in(file("templates.toml"), "Khush amdeed.", "Khush amdeed, madad ke liye.");
  const auto found = lint(config());
  ASSERT_EQ(found.size(), 3u) << ::testing::PrintToString(found);
  std::string all;
  for (const auto& f : found) all += f + "\n";
  EXPECT_NE(all.find("templates.toml:11: template 'checkin_reminder' [en] contains the banned "
                     "word 'case'"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("template 'opt_in' [ur] contains the banned word 'پولیس'"), std::string::npos)
      << all;
  EXPECT_NE(all.find("template 'opt_in' [roman] contains the banned word 'madad'"),
            std::string::npos)
      << all;
}

TEST_F(LintTest, ABannedWordOnTheFirstScreenFails) {
  replace_in(file("flows/main.toml"),
             R"(label = { en = "Useful numbers", ur = "مفید نمبر", roman = "Mufeed number" })",
             R"(label = { en = "Police numbers", ur = "مفید نمبر", roman = "Mufeed number" })");
  const auto found = lint(config());
  ASSERT_EQ(found.size(), 1u) << ::testing::PrintToString(found);
  EXPECT_NE(found[0].find("the first screen [en] contains the banned word 'police'"),
            std::string::npos)
      << found[0];
}

}  // namespace
}  // namespace rabta
