// The responder roster (config/responders.toml): validation with file:line diagnostics, routing,
// the escalation ladder, acknowledgement SLAs, alert texts (SAFETY C3) and responders' SMS
// commands.
#include "gateway/responders/responders.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "flows/text.hpp"
#include "gateway/settings/config.hpp"

namespace rabta::gateway {
namespace {

namespace fs = std::filesystem;

const flows::FlowSet& shipped_flows() {
  static const std::shared_ptr<const flows::FlowSet> set = [] {
    const flows::LoadResult r = load_flows(load_config(RABTA_SOURCE_DIR "/config/rabta.toml"));
    for (const auto& e : r.errors) ADD_FAILURE() << e.to_string();
    return r.flows;
  }();
  return *set;
}

std::string all(const std::vector<flows::Diagnostic>& errors) {
  std::string out;
  for (const auto& e : errors) out += e.to_string() + "\n";
  return out;
}

// A folder of its own for each test, removed afterwards.
class RosterFile : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("rabta-responders-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) const {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }

  Roster load(const std::string& text) {
    errors.clear();
    path = write("responders.toml", text);
    return load_roster(path, shipped_flows(), errors);
  }

  // The 1-based line of the first occurrence of `needle` in `text`.
  static std::uint32_t line_of(const std::string& text, const std::string& needle) {
    const auto at = text.find(needle);
    EXPECT_NE(at, std::string::npos) << needle;
    std::uint32_t line = 1;
    for (std::size_t i = 0; i < at && i < text.size(); ++i) line += text[i] == '\n' ? 1U : 0U;
    return line;
  }

  // True when an error at `line` (0 = the whole file) contains `reason`.
  bool has_error(std::uint32_t line, const std::string& reason) const {
    for (const auto& e : errors)
      if (e.pos.file == path && e.pos.line == line && e.reason.find(reason) != std::string::npos)
        return true;
    return false;
  }

  // Loads `text` and expects exactly one error, on the line holding `needle`, saying `reason`.
  void expect_one_error(const std::string& text, const std::string& needle,
                        const std::string& reason) {
    load(text);
    EXPECT_EQ(errors.size(), 1U) << all(errors);
    EXPECT_TRUE(has_error(line_of(text, needle), reason))
        << "expected line " << line_of(text, needle) << ": " << reason << "\ngot:\n"
        << all(errors);
  }

  fs::path dir_;
  std::string path;
  std::vector<flows::Diagnostic> errors;
};

const std::string kSla =
    "[sla]\n"
    "critical = \"10m\"\n"
    "high = \"15m\"\n"
    "normal = \"24h\"\n"
    "low = \"72h\"\n";

const std::string kTeam =
    "[[teams]]\n"
    "name = \"t\"\n"
    "supervisor = \"Sup\"\n"
    "members = [\n"
    "  { name = \"Cw\", phone = \"+923000000101\", role = \"caseworker\" },\n"
    "  { name = \"Sup\", phone = \"+923000000109\", role = \"supervisor\" },\n"
    "]\n";

const std::string kCatchAll =
    "[[routes]]\n"
    "team = \"t\"\n";

const std::string kValid = "alert_channel = \"kannel\"\n" + kSla + kTeam + kCatchAll;

flows::LocalTime at(int weekday, int hour) {
  flows::LocalTime t;
  t.weekday = weekday;
  t.hour = hour;
  return t;
}

std::string name_of(const std::optional<Member>& m) {
  return m ? m->name : "(none)";
}

// --- The shipped file ---------------------------------------------------------------------------

TEST_F(RosterFile, ShippedRosterLoadsAgainstTheShippedFlows) {
  std::vector<flows::Diagnostic> errs;
  const Roster r = load_roster(RABTA_SOURCE_DIR "/config/responders.toml", shipped_flows(), errs);
  EXPECT_TRUE(errs.empty()) << all(errs);
  EXPECT_EQ(r.alert_channel, "kannel");
  ASSERT_EQ(r.teams.size(), 3U);
  EXPECT_EQ(r.teams[0].name, "punjab_ngo");
  EXPECT_EQ(r.teams[1].name, "kp_desk");
  EXPECT_EQ(r.teams[2].name, "national");
  EXPECT_EQ(r.teams[0].supervisor, "Sadia Supervisor");
  EXPECT_EQ(r.teams[0].on_duty_start_hour, 9);
  EXPECT_EQ(r.teams[0].on_duty_end_hour, 18);
  EXPECT_EQ(r.teams[0].on_duty_weekdays, (std::vector<int>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(r.teams[0].members[0].phone, "+923000000101");
  EXPECT_FALSE(r.teams[0].members[0].can_export);
  EXPECT_TRUE(r.teams[0].members.back().can_export);
  EXPECT_EQ(r.ack_sla.at("critical"), std::chrono::minutes(10));
  EXPECT_EQ(r.ack_sla.at("low"), std::chrono::hours(72));
  EXPECT_FALSE(r.webhook.enabled);
  EXPECT_EQ(r.outcomes.size(), 5U);
  EXPECT_EQ(r.outcomes_needing_approval, std::vector<std::string>{"unsafe_to_contact"});
  ASSERT_FALSE(r.routes.empty());
  EXPECT_EQ(r.routes.back().district, "*");
  EXPECT_EQ(r.routes.back().team, "national");
}

TEST_F(RosterFile, MinimalRosterLoads) {
  const Roster r = load(kValid);
  EXPECT_TRUE(errors.empty()) << all(errors);
  ASSERT_EQ(r.teams.size(), 1U);
  EXPECT_EQ(r.teams[0].members[0].pos.line, line_of(kValid, "name = \"Cw\""));
  EXPECT_EQ(r.routes[0].pos.line, line_of(kValid, "[[routes]]"));
  // Defaults: always on duty, the default template and outcomes.
  EXPECT_EQ(r.teams[0].on_duty_start_hour, 0);
  EXPECT_EQ(r.teams[0].on_duty_end_hour, 24);
  EXPECT_EQ(r.teams[0].on_duty_weekdays.size(), 7U);
  EXPECT_EQ(r.alert_template, "rabta case {ref}, severity {severity}. Reply ACK {ref}");
}

TEST_F(RosterFile, EveryCategoryTheFlowsOpenCanBeRouted) {
  // Literal open_case categories, exit_case, the incident menu's values behind
  // "$category|other", and the scheduler's missed_checkin.
  std::string text = kSla + kTeam;
  for (const char* c : {"physical_violence", "threats", "harassment", "forced_marriage", "other",
                        "interrupted_report", "checkin_help_now", "checkin_talk", "missed_checkin"})
    text += "[[routes]]\ncategory = \"" + std::string(c) + "\"\nteam = \"t\"\n";
  load(text + kCatchAll);
  EXPECT_TRUE(errors.empty()) << all(errors);
}

// --- Validation: one error each, on its line ----------------------------------------------------

TEST_F(RosterFile, NotValidToml) {
  const std::string text = kValid + "oops = \n";
  load(text);
  ASSERT_EQ(errors.size(), 1U) << all(errors);
  EXPECT_TRUE(has_error(line_of(text, "oops"), "not valid TOML")) << all(errors);
}

TEST_F(RosterFile, MissingFile) {
  errors.clear();
  path = (dir_ / "absent.toml").string();
  load_roster(path, shipped_flows(), errors);
  EXPECT_TRUE(has_error(0, "cannot read the file")) << all(errors);
}

TEST_F(RosterFile, UnknownKeysAtEveryLevel) {
  expect_one_error("colour = \"red\"\n" + kValid, "colour", "unknown key 'colour'");
  expect_one_error(kValid + "[webhook]\nenabled = false\nsecret = \"x\"\n",
                   "secret =", "unknown key 'secret'");
  {
    std::string sla = kSla + "urgent = \"5m\"\n";
    expect_one_error(sla + kTeam + kCatchAll, "urgent", "unknown key 'urgent'");
  }
  {
    std::string team = kTeam;
    team.insert(team.find("supervisor ="), "region = \"north\"\n");
    expect_one_error(kSla + team + kCatchAll, "region", "unknown key 'region'");
  }
  {
    std::string team = kTeam;
    team.insert(team.find("supervisor ="), "on_duty = { days = [\"mon\"], hour = \"9-17\" }\n");
    expect_one_error(kSla + team + kCatchAll, "on_duty", "unknown key 'hour'");
  }
  {
    std::string team = kTeam;
    team.replace(team.find("role = \"caseworker\""), 19, "role = \"caseworker\", email = \"x\"");
    expect_one_error(kSla + team + kCatchAll, "email", "unknown key 'email'");
  }
  expect_one_error(kSla + kTeam + "[[routes]]\nteam = \"t\"\nregion = \"x\"\n", "region",
                   "unknown key 'region'");
}

TEST_F(RosterFile, TeamWithoutMembers) {
  const std::string text = kSla +
                           "[[teams]]\nname = \"empty\"\nsupervisor = \"Nobody\"\nmembers = []\n" +
                           "[[routes]]\nteam = \"empty\"\n";
  load(text);
  EXPECT_TRUE(has_error(line_of(text, "[[teams]]"), "team 'empty' has no members")) << all(errors);
  load(kSla + "[[teams]]\nname = \"empty\"\n[[routes]]\nteam = \"empty\"\n");
  EXPECT_TRUE(has_error(6, "team 'empty' has no members")) << all(errors);
  EXPECT_TRUE(has_error(6, "team 'empty' has no supervisor")) << all(errors);
  EXPECT_EQ(errors.size(), 2U) << all(errors);
}

TEST_F(RosterFile, TeamWithoutSupervisor) {
  std::string team = kTeam;
  team.erase(team.find("supervisor = \"Sup\"\n"), 19);
  const std::string text = kSla + team + kCatchAll;
  expect_one_error(text, "[[teams]]", "team 't' has no supervisor");
}

TEST_F(RosterFile, SupervisorMustBeAMemberWithRoleSupervisor) {
  std::string team = kTeam;
  team.replace(team.find("supervisor = \"Sup\""), 18, "supervisor = \"Stranger\"");
  expect_one_error(kSla + team + kCatchAll, "supervisor = ",
                   "supervisor 'Stranger' must be one of its members, with role \"supervisor\"");
  team = kTeam;
  team.replace(team.find("supervisor = \"Sup\""), 18, "supervisor = \"Cw\"");
  expect_one_error(kSla + team + kCatchAll, "supervisor = ",
                   "supervisor 'Cw' must be one of its members, with role \"supervisor\"");
}

TEST_F(RosterFile, DuplicateMemberNamesAcrossTheRoster) {
  const std::string second =
      "[[teams]]\n"
      "name = \"u\"\n"
      "supervisor = \"Sup2\"\n"
      "members = [\n"
      "  { name = \"Cw\", phone = \"+923000000201\", role = \"caseworker\" },\n"
      "  { name = \"Sup2\", phone = \"+923000000209\", role = \"supervisor\" },\n"
      "]\n";
  const std::string text = kSla + kTeam + second + kCatchAll;
  expect_one_error(text, "+923000000201", "member 'Cw': the name is already used in team 't'");
}

TEST_F(RosterFile, DuplicatePhoneNumbersEvenSpelledDifferently) {
  std::string team = kTeam;
  team.replace(team.find("\"+923000000109\""), 15, "\"0300 0000101\"");
  const std::string text = kSla + team + kCatchAll;
  expect_one_error(text, "0300 0000101", "member 'Sup': phone is the same number as member 'Cw'");
}

TEST_F(RosterFile, InvalidPhoneNumbersAreReportedWithoutTheNumber) {
  for (const std::string bad :
       {"12345", "+92300abc0101", "+1234567", "+1234567890123456", "9230000001", ""}) {
    std::string team = kTeam;
    team.replace(team.find("\"+923000000101\""), 15, "\"" + bad + "\"");
    const std::string text = kSla + team + kCatchAll;
    expect_one_error(text, "name = \"Cw\"", "member 'Cw': phone is not a valid number");
    for (const auto& e : errors) {
      if (!bad.empty()) {
        EXPECT_EQ(e.to_string().find(bad), std::string::npos) << e.to_string();
      }
      EXPECT_EQ(e.to_string().find("0101"), std::string::npos) << e.to_string();
    }
  }
  std::string team = kTeam;
  team.replace(team.find(", phone = \"+923000000101\""), 25, "");
  expect_one_error(kSla + team + kCatchAll, "name = \"Cw\"", "member 'Cw': missing 'phone'");
  // A local Pakistani number is normalised, and so is one without '+' (SAFETY W1).
  team = kTeam;
  team.replace(team.find("\"+923000000101\""), 15, "\"923000000101\"");
  EXPECT_EQ(load(kSla + team + kCatchAll).teams.at(0).members.at(0).phone, "+923000000101");
  team = kTeam;
  team.replace(team.find("\"+923000000101\""), 15, "\"0300-0000101\"");
  const Roster r = load(kSla + team + kCatchAll);
  EXPECT_TRUE(errors.empty()) << all(errors);
  EXPECT_EQ(r.teams.at(0).members.at(0).phone, "+923000000101");
}

TEST_F(RosterFile, RolesAreCaseworkerOrSupervisor) {
  std::string team = kTeam;
  team.replace(team.find("role = \"caseworker\""), 19, "role = \"admin\"");
  expect_one_error(kSla + team + kCatchAll, "admin",
                   "member 'Cw': role must be \"caseworker\" or \"supervisor\"");
}

TEST_F(RosterFile, RoutesToUnknownTeamsDistrictsCategoriesSeverities) {
  expect_one_error(
      kSla + kTeam + "[[routes]]\ndistrict = \"multan\"\nteam = \"nobody\"\n" + kCatchAll, "nobody",
      "unknown team 'nobody'");
  expect_one_error(kSla + kTeam + "[[routes]]\ndistrict = \"atlantis\"\nteam = \"t\"\n" + kCatchAll,
                   "atlantis", "unknown district");
  expect_one_error(kSla + kTeam + "[[routes]]\ncategory = \"burglary\"\nteam = \"t\"\n" + kCatchAll,
                   "burglary", "unknown category");
  expect_one_error(kSla + kTeam + "[[routes]]\nseverity = \"urgent\"\nteam = \"t\"\n" + kCatchAll,
                   "urgent", "unknown severity");
  expect_one_error(kSla + kTeam + "[[routes]]\ndistrict = \"lahore\"\n" + kCatchAll,
                   "[[routes]]\ndistrict", "missing 'team'");
}

TEST_F(RosterFile, TheLastRouteMustCatchEverything) {
  const std::string text = kSla + kTeam + "[[routes]]\ndistrict = \"multan\"\nteam = \"t\"\n";
  expect_one_error(text, "[[routes]]", "the last route must catch everything");
  // Spelled out with "*" it counts.
  load(kSla + kTeam +
       "[[routes]]\ndistrict = \"*\"\ncategory = \"*\"\nseverity = \"*\"\nteam = \"t\"\n");
  EXPECT_TRUE(errors.empty()) << all(errors);
  // A route after the catch-all is never used.
  const std::string shadowed =
      kSla + kTeam + kCatchAll + "[[routes]]\nseverity = \"critical\"\nteam = \"t\"\n";
  load(shadowed);
  EXPECT_TRUE(has_error(line_of(shadowed, "[[routes]]\nseverity"), "never used")) << all(errors);
  load(kSla + kTeam);
  EXPECT_TRUE(has_error(0, "no [[routes]]")) << all(errors);
}

TEST_F(RosterFile, SlaForEverySeverity) {
  {
    std::string sla = kSla;
    sla.erase(sla.find("low = \"72h\"\n"), 12);
    expect_one_error(sla + kTeam + kCatchAll, "[sla]", "[sla]: missing 'low'");
  }
  for (const std::string bad :
       {"\"10 minutes\"", "\"0m\"", "\"15x\"", "\"m\"", "15", "\"-5m\"", "\"999999999d\""}) {
    std::string sla = kSla;
    sla.replace(sla.find("\"15m\""), 5, bad);
    expect_one_error(sla + kTeam + kCatchAll, "high =",
                     "[sla] high: not a duration like \"30s\", \"15m\", \"24h\" or \"2d\"");
  }
  load(kTeam + kCatchAll);
  EXPECT_TRUE(has_error(0, "missing [sla]")) << all(errors);
}

TEST_F(RosterFile, OnDutyDaysAndHours) {
  for (const std::string bad :
       {"days = [\"mon\", \"funday\"]", "days = []", "days = [\"mon\", \"mon\"]", "days = \"mon\"",
        "days = [\"Monday\"]"}) {
    std::string team = kTeam;
    team.insert(team.find("supervisor ="), "on_duty = { " + bad + ", hours = \"9-17\" }\n");
    expect_one_error(kSla + team + kCatchAll, "on_duty", "team 't': on_duty days must be");
  }
  for (const std::string bad :
       {"\"18-9\"", "\"9-25\"", "\"nine-five\"", "\"9\"", "\"9-9\"", "\"24-24\"", "917"}) {
    std::string team = kTeam;
    team.insert(team.find("supervisor ="), "on_duty = { days = [\"mon\"], hours = " + bad + " }\n");
    expect_one_error(kSla + team + kCatchAll, "on_duty", "team 't': on_duty hours must be");
  }
  std::string team = kTeam;
  team.insert(team.find("supervisor ="), "on_duty = \"always\"\n");
  expect_one_error(kSla + team + kCatchAll, "on_duty", "on_duty must be a table");
}

TEST_F(RosterFile, WebhookNeedsUrlAndSecret) {
  ::setenv("RABTA_TEST_WEBHOOK_SECRET", "env-secret-value", 1);
  expect_one_error(
      kValid + "[webhook]\nenabled = true\nsecret_env = \"RABTA_TEST_WEBHOOK_SECRET\"\n",
      "[webhook]", "enabled without a 'url'");
  expect_one_error(kValid + "[webhook]\nenabled = true\nurl = \"http://cms.example.org/x\"\n" +
                       "secret_env = \"RABTA_TEST_WEBHOOK_SECRET\"\n",
                   "url =", "'url': the webhook url must be https");
  // A host that only begins like loopback is not loopback (serve refused it, check did not).
  expect_one_error(kValid +
                       "[webhook]\nenabled = true\nurl = \"http://127.0.0.1.evil.example/x\"\n" +
                       "secret_env = \"RABTA_TEST_WEBHOOK_SECRET\"\n",
                   "url =", "'url': the webhook url must be https");
  ::unsetenv("RABTA_TEST_WEBHOOK_SECRET");
  // Neither the variable nor the file holds a secret: the error names neither value.
  const std::string no_secret =
      kValid +
      "[webhook]\nenabled = true\nurl = \"https://cms.example.org/x\"\n"
      "secret_env = \"RABTA_TEST_WEBHOOK_SECRET\"\nsecret_file = \"keys/absent.secret\"\n";
  expect_one_error(no_secret, "[webhook]", "enabled without a secret");

  // The file, relative to responders.toml's folder: its first line.
  fs::create_directories(dir_ / "keys");
  write("keys/absent.secret", "file-secret-value \r\nsecond line\n");
  Roster r = load(no_secret);
  EXPECT_TRUE(errors.empty()) << all(errors);
  EXPECT_TRUE(r.webhook.enabled);
  EXPECT_EQ(r.webhook.url, "https://cms.example.org/x");
  EXPECT_EQ(r.webhook.secret, "file-secret-value");
  // The environment wins when set.
  ::setenv("RABTA_TEST_WEBHOOK_SECRET", "env-secret-value", 1);
  r = load(no_secret);
  EXPECT_TRUE(errors.empty()) << all(errors);
  EXPECT_EQ(r.webhook.secret, "env-secret-value");
  ::unsetenv("RABTA_TEST_WEBHOOK_SECRET");
  // Disabled: nothing is required.
  load(kValid + "[webhook]\nenabled = false\n");
  EXPECT_TRUE(errors.empty()) << all(errors);
}

TEST_F(RosterFile, AlertTemplateCarriesOnlyReferenceAndSeverity) {
  expect_one_error("alert_template = \"New case, severity {severity}\"\n" + kValid,
                   "alert_template", "must contain {ref}");
  expect_one_error("alert_template = \"Case {ref} ({category})\"\n" + kValid, "alert_template",
                   "placeholder {category} is not allowed");
  expect_one_error("alert_template = \"Case {ref} in {district}\"\n" + kValid, "alert_template",
                   "placeholder {district} is not allowed");
  expect_one_error("alert_template = \"Case {ref} {severity\"\n" + kValid, "alert_template",
                   "'{' without a matching '}'");
  const Roster r = load("alert_template = \"{severity}: {ref}\"\n" + kValid);
  EXPECT_TRUE(errors.empty()) << all(errors);
  EXPECT_EQ(alert_text(r, "K7P3QX", "high"), "high: K7P3QX");
}

TEST_F(RosterFile, Outcomes) {
  expect_one_error("outcomes = [\"resolved\", \"Not Reached\"]\n" + kValid, "outcomes",
                   "outcomes must be a non-empty list");
  expect_one_error("outcomes = []\n" + kValid, "outcomes", "outcomes must be a non-empty list");
  const Roster r = load("outcomes = [\"resolved\", \"referred\"]\n" + kValid);
  EXPECT_TRUE(errors.empty()) << all(errors);
  EXPECT_EQ(r.outcomes, (std::vector<std::string>{"resolved", "referred"}));
  EXPECT_TRUE(r.outcomes_needing_approval.empty());
  // #15: the outcomes a closing needs approval for come from the list, at their line.
  expect_one_error("outcomes = [\"resolved\"]\noutcomes_needing_approval = [\"unsafe\"]\n" + kValid,
                   "outcomes_needing_approval",
                   "outcomes_needing_approval: every entry must be one of outcomes");
  expect_one_error("outcomes_needing_approval = \"resolved\"\n" + kValid,
                   "outcomes_needing_approval", "must be a list of outcomes");
  const Roster a = load(
      "outcomes = [\"resolved\", \"referred\"]\n"
      "outcomes_needing_approval = [\"referred\"]\n" +
      kValid);
  EXPECT_TRUE(errors.empty()) << all(errors);
  EXPECT_EQ(a.outcomes_needing_approval, std::vector<std::string>{"referred"});
}

TEST_F(RosterFile, SeveralProblemsAreAllReported) {
  const std::string text =
      "[sla]\ncritical = \"soon\"\n"
      "[[teams]]\nname = \"t\"\nsupervisor = \"Sup\"\nmembers = [\n"
      "  { name = \"Cw\", phone = \"x\", role = \"boss\" },\n"
      "]\n"
      "[[routes]]\ndistrict = \"multan\"\nteam = \"q\"\n";
  load(text);
  EXPECT_TRUE(has_error(line_of(text, "soon"), "[sla] critical")) << all(errors);
  EXPECT_TRUE(has_error(line_of(text, "[sla]"), "missing 'high'")) << all(errors);
  EXPECT_TRUE(has_error(line_of(text, "phone"), "phone is not a valid number")) << all(errors);
  EXPECT_TRUE(has_error(line_of(text, "boss"), "role must be")) << all(errors);
  EXPECT_TRUE(has_error(line_of(text, "supervisor ="), "supervisor 'Sup' must be")) << all(errors);
  EXPECT_TRUE(has_error(line_of(text, "\"q\""), "unknown team 'q'")) << all(errors);
  EXPECT_TRUE(has_error(line_of(text, "[[routes]]"), "the last route must catch everything"))
      << all(errors);
}

// --- Routing, ladder, SLA, alerts ---------------------------------------------------------------

class ShippedRoster : public ::testing::Test {
 protected:
  static const Roster& roster() {
    static const Roster r = [] {
      std::vector<flows::Diagnostic> errs;
      Roster loaded =
          load_roster(RABTA_SOURCE_DIR "/config/responders.toml", shipped_flows(), errs);
      for (const auto& e : errs) ADD_FAILURE() << e.to_string();
      return loaded;
    }();
    return r;
  }
  static std::string team_for(const std::string& district, const std::string& category,
                              const std::string& severity) {
    const Team* t = route_case(roster(), district, category, severity);
    return t ? t->name : "(none)";
  }
  static const Team& team(const std::string& name) {
    for (const auto& t : roster().teams)
      if (t.name == name) return t;
    throw std::out_of_range(name);
  }
};

TEST_F(ShippedRoster, FirstMatchingRouteWins) {
  EXPECT_EQ(team_for("multan", "threats", "high"), "punjab_ngo");
  EXPECT_EQ(team_for("lahore", "missed_checkin", "normal"), "punjab_ngo");
  EXPECT_EQ(team_for("peshawar", "harassment", "low"), "kp_desk");
  EXPECT_EQ(team_for("swat", "interrupted_report", "high"), "kp_desk");
  // Critical cases go to the desk that is on duty day and night, whatever the district.
  EXPECT_EQ(team_for("multan", "physical_violence", "critical"), "national");
  EXPECT_EQ(team_for("swat", "checkin_help_now", "critical"), "national");
  // The catch-all: other districts, "other", and a case with no district.
  EXPECT_EQ(team_for("karachi", "threats", "high"), "national");
  EXPECT_EQ(team_for("other", "other", "normal"), "national");
  EXPECT_EQ(team_for("", "missed_checkin", "normal"), "national");
}

TEST(Routing, OrderDecidesAndNoRoutesMeansNoTeam) {
  Roster r;
  r.teams = {Team{"a", {}, "", 0, 24, {1}, {}}, Team{"b", {}, "", 0, 24, {1}, {}}};
  Route threats;
  threats.category = "threats";
  threats.team = "a";
  Route multan;
  multan.district = "multan";
  multan.team = "b";
  Route rest;
  rest.team = "b";
  EXPECT_EQ(route_case(r, "multan", "threats", "low"), nullptr);
  r.routes = {threats, multan, rest};
  EXPECT_EQ(route_case(r, "multan", "threats", "low")->name, "a");
  EXPECT_EQ(route_case(r, "multan", "harassment", "low")->name, "b");
  r.routes = {multan, threats, rest};
  EXPECT_EQ(route_case(r, "multan", "threats", "low")->name, "b");
  EXPECT_EQ(route_case(r, "lahore", "threats", "low")->name, "a");
}

TEST_F(ShippedRoster, LadderOnDuty) {
  const Team& t = team("punjab_ngo");
  const flows::LocalTime monday_10 = at(1, 10);
  EXPECT_EQ(name_of(ladder_rung(t, 1, monday_10)), "Amna Caseworker");
  EXPECT_EQ(name_of(ladder_rung(t, 2, monday_10)), "Bushra Caseworker");
  EXPECT_EQ(name_of(ladder_rung(t, 3, monday_10)), "Sadia Supervisor");
  EXPECT_EQ(name_of(ladder_rung(t, 4, monday_10)), "(none)");
  EXPECT_EQ(name_of(ladder_rung(t, 0, monday_10)), "(none)");
  EXPECT_EQ(name_of(ladder_rung(t, -1, monday_10)), "(none)");
  EXPECT_EQ(ladder_rung(t, 1, monday_10)->phone, "+923000000101");
  // The first and last on-duty hours; Saturday is a working day.
  EXPECT_EQ(name_of(ladder_rung(t, 1, at(1, 9))), "Amna Caseworker");
  EXPECT_EQ(name_of(ladder_rung(t, 1, at(6, 17))), "Amna Caseworker");
  // The national desk never sleeps.
  EXPECT_EQ(name_of(ladder_rung(team("national"), 1, at(7, 3))), "Hina Caseworker");
  EXPECT_EQ(name_of(ladder_rung(team("national"), 3, at(7, 3))), "Nadia Supervisor");
}

TEST_F(ShippedRoster, LadderOffDutyStartsWithTheSupervisor) {
  const Team& t = team("punjab_ngo");
  for (const flows::LocalTime& off : {at(1, 8), at(1, 18), at(1, 23), at(7, 10)}) {
    EXPECT_EQ(name_of(ladder_rung(t, 1, off)), "Sadia Supervisor");
    EXPECT_EQ(name_of(ladder_rung(t, 2, off)), "(none)");
  }
  EXPECT_EQ(name_of(ladder_rung(team("kp_desk"), 1, at(6, 10))), "Gul Supervisor");
}

TEST(Ladder, OtherSupervisorsAreNotOnTheDutyLadder) {
  Team t;
  t.name = "x";
  t.supervisor = "Boss";
  t.members = {Member{"Deputy", "+923000000901", "supervisor", false, {}},
               Member{"Worker", "+923000000902", "caseworker", false, {}},
               Member{"Boss", "+923000000903", "supervisor", true, {}}};
  EXPECT_EQ(name_of(ladder_rung(t, 1, at(3, 12))), "Worker");
  EXPECT_EQ(name_of(ladder_rung(t, 2, at(3, 12))), "Boss");
  EXPECT_EQ(name_of(ladder_rung(t, 3, at(3, 12))), "(none)");
}

TEST_F(RosterFile, SlaDurations) {
  std::string sla = kSla;
  sla.replace(sla.find("\"10m\""), 5, "\"30s\"");
  sla.replace(sla.find("\"72h\""), 5, "\"2d\"");
  const Roster r = load(sla + kTeam + kCatchAll);
  EXPECT_TRUE(errors.empty()) << all(errors);
  EXPECT_EQ(ack_sla(r, "critical"), std::chrono::seconds(30));
  EXPECT_EQ(ack_sla(r, "high"), std::chrono::minutes(15));
  EXPECT_EQ(ack_sla(r, "normal"), std::chrono::hours(24));
  EXPECT_EQ(ack_sla(r, "low"), std::chrono::hours(48));
  // An unknown severity fails towards urgency.
  EXPECT_EQ(ack_sla(r, "unheard-of"), std::chrono::seconds(30));
  EXPECT_EQ(ack_sla(Roster{}, "high"), std::chrono::milliseconds(0));
}

TEST_F(ShippedRoster, AlertTextCarriesOnlyReferenceAndSeverity) {
  const std::string text = alert_text(roster(), "K7P3QX", "critical");
  EXPECT_EQ(text, "rabta case K7P3QX, severity critical. Reply ACK K7P3QX");
  for (const char* word : {"physical_violence", "threats", "harassment", "forced_marriage",
                           "interrupted", "checkin", "missed", "violence", "multan", "{"})
    EXPECT_EQ(text.find(word), std::string::npos) << word;
  EXPECT_EQ(flows::sms_segments(flows::measure(alert_text(roster(), "K7P3QXACDEFG", "critical"))),
            1U);
}

// --- Responders' SMS commands --------------------------------------------------------------------

struct SmsCase {
  std::string raw;
  std::optional<ResponderCommand::Kind> kind;  // nullopt: not a command
  std::string reference;
  std::string pin;
};

TEST(ResponderSms, Table) {
  using K = ResponderCommand::Kind;
  const std::vector<SmsCase> cases = {
      {"ACK K7P3QX", K::ack, "K7P3QX", ""},
      {"ack k7p3qx", K::ack, "K7P3QX", ""},
      {"  Ack   K7P3QX  ", K::ack, "K7P3QX", ""},
      {"ack: k7p3qx", K::ack, "K7P3QX", ""},
      {"ack:k7p3qx", K::ack, "K7P3QX", ""},
      {"K7P3QX ack", K::ack, "K7P3QX", ""},
      {"ok K7P3QX", K::ack, "K7P3QX", ""},
      {"Okay K7P3QX", K::ack, "K7P3QX", ""},
      {"theek K7P3QX", K::ack, "K7P3QX", ""},
      {"theek hai K7P3QX", K::ack, "K7P3QX", ""},
      {"Ji K7P3QX", K::ack, "K7P3QX", ""},
      {"haan K7P3QX", K::ack, "K7P3QX", ""},
      {"ji haan K7P3QX", K::ack, "K7P3QX", ""},
      {"جی K7P3QX", K::ack, "K7P3QX", ""},
      {"ٹھیک K7P3QX", K::ack, "K7P3QX", ""},
      {"K7P3QX ٹھیک ہے", K::ack, "K7P3QX", ""},
      {"\u062c\u064a K7P3QX", K::ack, "K7P3QX", ""},  // Arabic yeh for the Urdu one
      {"جی K7P\u06f3QX", K::ack, "K7P3QX", ""},       // an Urdu digit
      {"ack ACDEF", K::ack, "ACDEF", ""},
      {"ack ACDEFGHJKMNP", K::ack, "ACDEFGHJKMNP", ""},
      {"ack K7P3QX.", K::ack, "K7P3QX", ""},
      {"claim K7P3QX", K::claim, "K7P3QX", ""},
      {"le liya K7P3QX", K::claim, "K7P3QX", ""},
      {"K7P3QX le liya", K::claim, "K7P3QX", ""},
      {"لے لیا K7P3QX", K::claim, "K7P3QX", ""},
      // With her PIN (SECURITY #11), in any of those forms; Urdu digits too.
      {"ACK K7P3QX 4821", K::ack, "K7P3QX", "4821"},
      {"K7P3QX ack 4821", K::ack, "K7P3QX", "4821"},
      {"theek hai K7P3QX 00482100", K::ack, "K7P3QX", "00482100"},
      {"جی K7P3QX ۴۸۲۱", K::ack, "K7P3QX", "4821"},
      {"claim K7P3QX 4821", K::claim, "K7P3QX", "4821"},
      // Closing is for the console and the API only (SECURITY #11).
      {"close K7P3QX resolved", std::nullopt, "", ""},
      {"CLOSE k7p3qx Unsafe_To_Contact", std::nullopt, "", ""},
      {"band K7P3QX referred", std::nullopt, "", ""},
      {"بند K7P3QX duplicate", std::nullopt, "", ""},
      {"ack K7P3QX 482", std::nullopt, "", ""},  // a PIN is 4 to 8 digits
      {"ack K7P3QX 123456789", std::nullopt, "", ""},
      {"ack K7P3QX 4821 4821", std::nullopt, "", ""},
      // Not commands.
      {"", std::nullopt, "", ""},
      {"ack", std::nullopt, "", ""},
      {"ack 12", std::nullopt, "", ""},
      {"hello K7P3QX", std::nullopt, "", ""},
      {"K7P3QX", std::nullopt, "", ""},
      {"ack K7P3", std::nullopt, "", ""},           // too short
      {"ack ACDEFGHJKMNPQ", std::nullopt, "", ""},  // too long
      {"ack KOP3QX", std::nullopt, "", ""},         // O
      {"ack K0P3QX", std::nullopt, "", ""},         // 0
      {"ack KIP3QX", std::nullopt, "", ""},         // I
      {"ack K1P3QX", std::nullopt, "", ""},         // 1
      {"ack K7P2QX", std::nullopt, "", ""},         // 2 (looks like Z)
      {"ack K7P3QX thanks", std::nullopt, "", ""},
      {"ack K7P3QX K7P3QA", std::nullopt, "", ""},
      {"ackK7P3QX", std::nullopt, "", ""},
      {"claim", std::nullopt, "", ""},
      {"close K7P3QX", std::nullopt, "", ""},
      {"close K7P3QX no contact", std::nullopt, "", ""},
      {"close resolved K7P3QX", std::nullopt, "", ""},
      {"band", std::nullopt, "", ""},
      {"ji haan", std::nullopt, "", ""},
  };
  for (const auto& c : cases) {
    const auto got = parse_responder_sms(flows::normalise_input(c.raw));
    if (!c.kind) {
      EXPECT_FALSE(got.has_value()) << "'" << c.raw << "' -> " << (got ? got->reference : "");
      continue;
    }
    ASSERT_TRUE(got.has_value()) << "'" << c.raw << "'";
    EXPECT_EQ(got->kind, *c.kind) << c.raw;
    EXPECT_EQ(got->reference, c.reference) << c.raw;
    EXPECT_EQ(got->pin, c.pin) << c.raw;
  }
}

}  // namespace
}  // namespace rabta::gateway

TEST(Severity, RankIsMostUrgentFirst) {
  EXPECT_EQ(rabta::gateway::severity_rank("critical"), 0);
  EXPECT_EQ(rabta::gateway::severity_rank("high"), 1);
  EXPECT_EQ(rabta::gateway::severity_rank("normal"), 2);
  EXPECT_EQ(rabta::gateway::severity_rank("low"), 3);
  EXPECT_EQ(rabta::gateway::severity_rank("urgent"), 4);
}
