// The contract every USSD adapter meets, driven by its table in tests/fixtures/ussd/<name>.json
// (format: tests/fixtures/ussd/README.md). Each adapter is built the way an operator gets it: a
// [ussd.fx] table in a rabta.toml, read by load_config and built by build_ussd, with its preset
// from config/presets/ussd/. Every shipped preset must have a table, and Africa's Talking's
// preset must behave byte for byte as the built-in adapter on the built-in's table.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "adapters/ussd/ussd_adapter.hpp"
#include "gateway/cli/validate.hpp"
#include "gateway/settings/config.hpp"
#include "tests/support/fixture_request.hpp"
#include "tests/support/temp_dir.hpp"

namespace rabta {
namespace {

namespace fs = std::filesystem;
using adapters::ussd::Hop;
using adapters::ussd::Inbound;
using adapters::ussd::InboundHttp;
using adapters::ussd::Rejection;
using adapters::ussd::SessionEnd;
using nlohmann::json;

const fs::path kFixtures = fs::path(RABTA_SOURCE_DIR) / "tests" / "fixtures" / "ussd";
const fs::path kPresets = fs::path(RABTA_SOURCE_DIR) / "config" / "presets" / "ussd";

// As the gateway hands a request over (tests/support/fixture_request.hpp).
InboundHttp request_of(const json& r) {
  return test::fixture_request(r);
}

// A TOML string literal.
std::string quoted(const std::string& s) {
  return json(s).dump();
}

// rabta.toml with one [ussd.fx] table, loaded and built as `rabta check` and `serve` do. The
// errors, or the adapter.
struct Built {
  std::shared_ptr<const adapters::ussd::UssdAdapter> adapter;
  std::vector<std::string> errors;
};

Built build(const test::TempDir& dir, const std::string& table_body) {
  const std::string path = dir.file("rabta.toml");
  fs::create_directories(dir.path() / "flows");
  std::ofstream(dir.file("flows/main.toml")) << "";
  std::ofstream(path) << "[ussd.fx]\n" << table_body;
  Built b;
  try {
    const auto config = gateway::load_config(path);
    std::vector<flows::Diagnostic> errors;
    auto channels = gateway::build_ussd(config, errors);
    for (const auto& e : errors) b.errors.push_back(e.to_string());
    if (errors.empty() && channels.size() == 1) b.adapter = channels.front().adapter;
  } catch (const std::exception& e) {
    b.errors.push_back(e.what());
  }
  return b;
}

// The table of a fixture's adapter ("ussd" and "settings", or those of "also").
std::string table_of(const json& spec, const json& settings) {
  std::ostringstream t;
  t << "kind = " << quoted(spec.at("kind").get<std::string>()) << "\n";
  if (spec.contains("preset"))
    t << "preset = "
      << quoted((kPresets / (spec.at("preset").get<std::string>() + ".toml")).string()) << "\n";
  for (const auto& [k, v] : settings.items())
    t << k << " = " << quoted(v.get<std::string>()) << "\n";
  return t.str();
}

// One decoded request as text, so that two adapters can be compared byte for byte.
std::string describe(const std::variant<Inbound, Rejection>& r) {
  if (const auto* rej = std::get_if<Rejection>(&r))
    return "reject " + std::to_string(rej->status) + " " + rej->reason;
  const auto& in = std::get<Inbound>(r);
  if (const auto* h = std::get_if<Hop>(&in))
    return "hop " + json({h->session_id, h->service_code, h->phone, h->text, h->text_is_path,
                          h->sequence, h->begins})
                        .dump();
  const auto& e = std::get<SessionEnd>(in);
  return "end " + json({e.session_id, e.status, e.phone}).dump();
}

std::string describe(const adapters::ussd::HttpReply& r) {
  return json({r.status, r.content_type, r.body, r.headers}).dump();
}

adapters::ussd::ReplyTo to_of(const json& j) {
  return {j.at("session_id").get<std::string>(), j.at("service_code").get<std::string>()};
}

std::vector<std::string> fixture_names() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(kFixtures))
    if (e.path().extension() == ".json") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

class UssdContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::ifstream in(kFixtures / (GetParam() + ".json"));
    fixture = json::parse(in);
    auto b = build(dir, table_of(fixture.at("ussd"), fixture.at("settings")));
    ASSERT_TRUE(b.errors.empty()) << b.errors.front();
    adapter = b.adapter;
    ASSERT_NE(adapter, nullptr);
  }
  test::TempDir dir;
  json fixture;
  std::shared_ptr<const adapters::ussd::UssdAdapter> adapter;
};

TEST_P(UssdContract, DecodesEveryRequestOfItsTableAsDocumented) {
  for (const auto& c : fixture.at("inbound")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const auto got = adapter->decode(request_of(c.at("request")));
    const json& expect = c.at("expect");
    if (expect.contains("status")) {
      ASSERT_TRUE(std::holds_alternative<Rejection>(got)) << describe(got);
      const auto& r = std::get<Rejection>(got);
      EXPECT_EQ(r.status, expect.at("status").get<int>()) << r.reason;
      EXPECT_NE(r.reason.find(expect.at("reason").get<std::string>()), std::string::npos)
          << r.reason;
      // A refusal names the field, never what was in it, her number or a secret.
      for (const auto& s : fixture.at("sensitive"))
        EXPECT_EQ(r.reason.find(s.get<std::string>()), std::string::npos) << r.reason;
      continue;
    }
    ASSERT_TRUE(std::holds_alternative<Inbound>(got)) << describe(got);
    const auto& in = std::get<Inbound>(got);
    if (expect.contains("hop")) {
      ASSERT_TRUE(std::holds_alternative<Hop>(in)) << describe(got);
      const auto& h = std::get<Hop>(in);
      const json& e = expect.at("hop");
      EXPECT_EQ(h.session_id, e.at("session_id").get<std::string>());
      EXPECT_EQ(h.service_code, e.at("service_code").get<std::string>());
      EXPECT_EQ(h.phone, e.at("phone").get<std::string>());
      EXPECT_EQ(h.text, e.at("text").get<std::string>());
      EXPECT_EQ(h.text_is_path, e.at("text_is_path").get<bool>());
      EXPECT_EQ(h.sequence, e.at("sequence").get<std::int64_t>());
    } else {
      ASSERT_TRUE(std::holds_alternative<SessionEnd>(in)) << describe(got);
      const auto& s = std::get<SessionEnd>(in);
      const json& e = expect.at("end");
      EXPECT_EQ(s.session_id, e.at("session_id").get<std::string>());
      EXPECT_EQ(s.status, e.at("status").get<std::string>());
      EXPECT_EQ(s.phone, e.at("phone").get<std::string>());
    }
  }
}

TEST_P(UssdContract, RoutesOnlyItsOwnPaths) {
  EXPECT_EQ(adapter->provider(), "fx");
  for (const auto& [path, label] : fixture.at("routes").items())
    EXPECT_EQ(adapter->route(path), label.get<std::string>()) << path;
}

TEST_P(UssdContract, WritesRepliesByteForByte) {
  for (const auto& c : fixture.at("reply")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const auto r = adapter->encode_reply(to_of(c.at("to")), c.at("end").get<bool>(),
                                         c.at("text").get<std::string>());
    const json& e = c.at("expect");
    EXPECT_EQ(r.status, e.at("status").get<int>());
    EXPECT_EQ(r.content_type, e.at("content_type").get<std::string>());
    EXPECT_EQ(r.body, e.at("body").get<std::string>());
    std::map<std::string, std::string> headers(r.headers.begin(), r.headers.end());
    EXPECT_EQ(headers, e.at("headers").get<decltype(headers)>());
  }
  const json& busy = fixture.at("busy");
  const auto r = adapter->busy_reply(to_of(busy.at("to")));
  EXPECT_EQ(r.body.find("S1000"), std::string::npos) << "a busy reply never acknowledges";
  EXPECT_EQ(r.status, busy.at("expect").at("status").get<int>());
  EXPECT_EQ(r.content_type, busy.at("expect").at("content_type").get<std::string>());
  EXPECT_EQ(r.body, busy.at("expect").at("body").get<std::string>());
}

// Africa's Talking's preset restates the built-in adapter: on the built-in's table (its "also"),
// the same hops, ends, refusals, routes and reply bytes.
TEST(UssdPresets, AfricasTalkingsPresetBehavesExactlyAsTheBuiltInAdapter) {
  std::ifstream in(kFixtures / "africastalking.json");
  const json fixture = json::parse(in);
  test::TempDir dir;
  auto built_in = build(dir, table_of(fixture.at("ussd"), fixture.at("settings")));
  ASSERT_TRUE(built_in.errors.empty()) << built_in.errors.front();
  const auto& adapter = built_in.adapter;
  test::TempDir other_dir;
  const json& also = fixture.at("also");
  auto b = build(other_dir, table_of(also, also.at("settings")));
  ASSERT_TRUE(b.errors.empty()) << b.errors.front();
  const auto& other = *b.adapter;
  for (const auto& c : fixture.at("inbound")) {
    const auto req = request_of(c.at("request"));
    EXPECT_EQ(describe(other.decode(req)), describe(adapter->decode(req)))
        << c.at("name").get<std::string>();
  }
  for (const auto& [path, label] : fixture.at("routes").items())
    EXPECT_EQ(other.route(path), adapter->route(path)) << path;
  for (const auto& c : fixture.at("reply"))
    EXPECT_EQ(describe(other.encode_reply(to_of(c.at("to")), c.at("end").get<bool>(),
                                          c.at("text").get<std::string>())),
              describe(adapter->encode_reply(to_of(c.at("to")), c.at("end").get<bool>(),
                                             c.at("text").get<std::string>())))
        << c.at("name").get<std::string>();
  const auto to = to_of(fixture.at("busy").at("to"));
  EXPECT_EQ(describe(other.busy_reply(to)), describe(adapter->busy_reply(to)));
}

// A synchronous gateway answers in the HTTP response; an asynchronous one (its table has "ack"
// and "send") acknowledges the hop and takes the screen by a call built byte for byte as its
// documentation shows, whose answers are read as its table says.
TEST_P(UssdContract, AnswersInBandOrByASendCallAsItsTableSays) {
  const bool async = fixture.contains("send");
  ASSERT_EQ(adapter->replies_in_band(), !async);
  if (!async) {
    EXPECT_FALSE(fixture.contains("ack"));
    EXPECT_FALSE(fixture.at("reply").empty());
    return;
  }
  EXPECT_GT(adapter->send_deadline().count(), 0);
  const json& ack = fixture.at("ack");
  EXPECT_EQ(describe(adapter->ack_reply(to_of(ack.at("to")))),
            json({ack.at("expect").at("status"), ack.at("expect").at("content_type"),
                  ack.at("expect").at("body"), json::array()})
                .dump());
  for (const auto& c : fixture.at("send")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const json& r = c.at("reply");
    const adapters::ussd::AsyncReply reply{
        r.at("session_id").get<std::string>(), r.at("to").get<std::string>(),
        r.at("text").get<std::string>(), r.at("end").get<bool>()};
    const auto call = adapter->build_send(reply);
    const json& e = c.at("expect");
    EXPECT_EQ(call.method, e.at("method").get<std::string>());
    EXPECT_EQ(call.url, e.at("url").get<std::string>());
    EXPECT_EQ(call.body, e.at("body").get<std::string>());
    for (const auto& [name, value] : e.at("headers").items()) {
      const auto h = std::find_if(call.headers.begin(), call.headers.end(),
                                  [&](const auto& kv) { return kv.first == name; });
      ASSERT_NE(h, call.headers.end()) << name;
      EXPECT_EQ(h->second, value.get<std::string>()) << name;
    }
    // Her number is in the one field the gateway requires, and nowhere else in the call.
    const std::string digits = reply.to.substr(1);
    EXPECT_EQ(call.url.find(digits), std::string::npos);
    for (const auto& [name, value] : call.headers) EXPECT_EQ(value.find(digits), std::string::npos);
    EXPECT_EQ(call.body.find(digits), call.body.rfind(digits)) << "her number twice";
  }
  for (const auto& c : fixture.at("send_result")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const auto r = adapter->parse_send(c.at("status").get<long>(), c.at("body").get<std::string>());
    const json& e = c.at("expect");
    const std::string outcome = r.outcome == adapters::sms::SendOutcome::sent    ? "sent"
                                : r.outcome == adapters::sms::SendOutcome::retry ? "retry"
                                                                                 : "permanent";
    EXPECT_EQ(outcome, e.at("outcome").get<std::string>());
    EXPECT_NE(r.error.find(e.at("error").get<std::string>()), std::string::npos) << r.error;
    for (const auto& sensitive : fixture.at("sensitive"))
      EXPECT_EQ(r.error.find(sensitive.get<std::string>()), std::string::npos) << r.error;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, UssdContract, ::testing::ValuesIn(fixture_names()),
                         [](const auto& p) { return p.param; });

TEST(UssdPresets, EveryShippedPresetHasAFixtureTable) {
  const auto fixtures = fixture_names();
  for (const auto& e : fs::directory_iterator(kPresets)) {
    const std::string name = e.path().stem().string();
    EXPECT_TRUE(std::find(fixtures.begin(), fixtures.end(), name) != fixtures.end())
        << "config/presets/ussd/" << name << ".toml has no tests/fixtures/ussd/" << name << ".json";
  }
}

// ---- What `rabta check` says of a table it cannot use: the file and line, and why. ----------

std::string preset_line(const std::string& preset) {
  return "preset = " + quoted((kPresets / (preset + ".toml")).string()) + "\n";
}

std::string one_error(const Built& b) {
  EXPECT_EQ(b.errors.size(), 1u);
  return b.errors.empty() ? std::string() : b.errors.front();
}

TEST(UssdConfig, HerNumberCannotBePlacedInAReply) {
  test::TempDir dir;
  const auto b = build(dir, "kind = \"http\"\n" + preset_line("hollatags") +
                                "auth.key = \"0123456789abcdef0\"\n"
                                "[ussd.fx.reply]\n"
                                "end = 'END {{text}} {{phone}}'\n");
  const std::string e = one_error(b);
  EXPECT_NE(e.find("rabta.toml:6:"), std::string::npos) << e;
  EXPECT_NE(e.find("reply.end: her number may not appear in a reply"), std::string::npos) << e;
}

TEST(UssdConfig, AnUnknownVariableOrSettingIsRefusedWhereItIsWritten) {
  test::TempDir dir;
  auto b = build(dir, "kind = \"http\"\n" + preset_line("hubtel") +
                          "auth.key = \"0123456789abcdef0\"\n"
                          "reply.continue = 'CON {{text}} {{balance}}'\n");
  std::string e = one_error(b);
  EXPECT_NE(e.find("rabta.toml:5:"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown variable '{{balance}}'"), std::string::npos) << e;

  b = build(dir, "kind = \"http\"\n" + preset_line("hubtel") +
                     "auth.key = \"0123456789abcdef0\"\n"
                     "request.sessionid = \"json:/SessionId\"\n");
  e = one_error(b);
  EXPECT_NE(e.find("rabta.toml:5:"), std::string::npos) << e;
  EXPECT_NE(e.find("request.sessionid: is not a setting of kind \"http\""), std::string::npos) << e;

  b = build(dir, "kind = \"http\"\n" + preset_line("hubtel") +
                     "auth.key = \"0123456789abcdef0\"\n"
                     "request.phone = \"body:/Mobile\"\n");
  e = one_error(b);
  EXPECT_NE(e.find("rabta.toml:5:"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown source 'body'"), std::string::npos) << e;
}

TEST(UssdConfig, AnErrorInAPresetNamesThePresetFileAndLine) {
  test::TempDir dir;
  std::ofstream(dir.file("mygw.toml")) << "kind = \"http\"\n"
                                          "[request]\n"
                                          "method = \"PUT\"\n";
  const auto b = build(dir, "preset = \"mygw.toml\"\npath = \"/ussd/mygw\"\n");
  const std::string e = one_error(b);
  EXPECT_NE(e.find("mygw.toml:3:"), std::string::npos) << e;
  EXPECT_NE(e.find("request.method: must be \"POST\" or \"GET\""), std::string::npos) << e;
  EXPECT_NE(e.find("(from the preset)"), std::string::npos) << e;
}

TEST(UssdConfig, AMissingSecretSaysWhichFileInitCreates) {
  test::TempDir dir;
  const auto b = build(
      dir, "kind = \"http\"\n" + preset_line("hubtel") + "auth.key_file = \"hubtel.secret\"\n");
  const std::string e = one_error(b);
  EXPECT_NE(e.find("rabta.toml:4:"), std::string::npos) << e;
  EXPECT_NE(e.find("auth.key: is missing or shorter than 16 characters"), std::string::npos) << e;
  EXPECT_NE(e.find("hubtel.secret is missing; `rabta init` creates it"), std::string::npos) << e;
}

TEST(UssdConfig, NoAuthenticationNeedsAnAllowList) {
  test::TempDir dir;
  const auto b =
      build(dir, "kind = \"http\"\n" + preset_line("hollatags") + "auth.mode = \"none\"\n");
  ASSERT_FALSE(b.errors.empty());
  EXPECT_NE(b.errors.front().find("rabta.toml:4:"), std::string::npos) << b.errors.front();
  EXPECT_NE(b.errors.front().find("needs allow_from"), std::string::npos) << b.errors.front();
  const auto ok = build(dir, "kind = \"http\"\n" + preset_line("hollatags") +
                                 "auth.mode = \"none\"\nallow_from = [\"192.0.2.0/24\"]\n");
  EXPECT_TRUE(ok.errors.empty()) << ok.errors.front();
}

TEST(UssdConfig, TwoChannelsCannotShareAPath) {
  test::TempDir dir;
  fs::create_directories(dir.path() / "flows");
  std::ofstream(dir.file("flows/main.toml")) << "";
  const std::string path = dir.file("rabta.toml");
  std::ofstream(path) << "[ussd.a]\nkind = \"africastalking\"\npath = \"/ussd/x\"\n"
                         "secret = \"0123456789abcdef0\"\n"
                         "[ussd.b]\nkind = \"http\"\n"
                      << preset_line("hubtel")
                      << "path = \"/ussd/x/events\"\nauth.key = \"0123456789abcdef0\"\n";
  try {
    gateway::load_config(path);
    FAIL() << "accepted";
  } catch (const gateway::ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("rabta.toml:8:"), std::string::npos) << what;
    EXPECT_NE(what.find("path '/ussd/x/events' is already used by [ussd.a]"), std::string::npos)
        << what;
  }
}

TEST(UssdConfig, LatestInputNeedsAWayToTellHopsApart) {
  test::TempDir dir;
  const auto b = build(dir, "kind = \"http\"\n" + preset_line("hollatags") +
                                "auth.key = \"0123456789abcdef0\"\n"
                                "request.operation = \"\"\nrequest.begin = \"\"\n"
                                "request.continue = \"\"\nrequest.end = \"\"\n");
  ASSERT_FALSE(b.errors.empty());
  EXPECT_NE(b.errors.front().find("needs request.operation or request.sequence"), std::string::npos)
      << b.errors.front();
}

}  // namespace
}  // namespace rabta

namespace rabta {
namespace {

TEST(UssdConfig, AnAsynchronousGatewaysBusyAnswerCannotReadAsAnAcknowledgement) {
  test::TempDir dir;
  const auto b = build(dir, "kind = \"http\"\n" + preset_line("bdapps") +
                                "auth.key = \"0123456789abcdef0\"\nsend.account = \"A\"\n"
                                "send.secret = \"s\"\nreply.busy_status = 200\n");
  const std::string e = one_error(b);
  EXPECT_NE(e.find("reply.busy_status: must be a whole number from 400 to 599"), std::string::npos)
      << e;
}

TEST(SmsConfig, NoAuthenticationNeedsAnAllowList) {
  test::TempDir dir;
  fs::create_directories(dir.path() / "flows");
  std::ofstream(dir.file("flows/main.toml")) << "";
  std::ofstream(dir.file("rabta.toml"))
      << "[channels.gw]\nkind = \"http\"\npreset = "
      << quoted((fs::path(RABTA_SOURCE_DIR) / "config/presets/sms/vonage.toml").string())
      << "\npath = \"/sms/gw\"\nauth.mode = \"none\"\n";
  try {
    gateway::load_config(dir.file("rabta.toml"));
    FAIL() << "accepted";
  } catch (const gateway::ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("rabta.toml:5:"), std::string::npos) << what;
    EXPECT_NE(what.find("needs allow_from"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace rabta

namespace rabta {
namespace {

TEST(UssdConfig, ASettingGivenInRabtaTomlReplacesThePresetsWayOfGivingIt) {
  // The preset reads the send secret from a file; rabta.toml gives it plainly: rabta.toml wins.
  test::TempDir dir;
  std::stringstream text;
  text << std::ifstream(kPresets / "bdapps.toml").rdbuf();
  std::string preset = text.str();
  const auto at = preset.find("[send]\n");
  ASSERT_NE(at, std::string::npos);
  preset.insert(at + 7, "secret_file = \"missing.secret\"\n");
  std::ofstream(dir.file("gw.toml")) << preset;
  const auto b = build(dir,
                       "preset = \"gw.toml\"\nauth.key = \"0123456789abcdef0\"\n"
                       "send.account = \"A\"\nsend.secret = \"from-rabta-toml\"\n");
  ASSERT_TRUE(b.errors.empty()) << b.errors.front();
  const auto call = b.adapter->build_send({"s", "+923001234567", "x", false});
  EXPECT_NE(call.body.find("\"password\":\"from-rabta-toml\""), std::string::npos) << call.body;
}

}  // namespace
}  // namespace rabta
