#include "gateway/cli/simulator.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "adapters/common/form.hpp"
#include "tests/support/gateway_fixture.hpp"
#include "tests/support/loopback_server.hpp"
#include "tests/support/temp_dir.hpp"

namespace rabta::gateway {
namespace {

using common::FormField;

struct Reply {
  int status = 200;
  std::string body;
};
using Handler = std::function<Reply(const std::string& text)>;

// The two-hop menu the brief describes.
Reply pick_menu(const std::string& text) {
  if (text.empty()) return {200, "CON Pick\n1. A\n2. B"};
  if (text == "1") return {200, "END Chose A"};
  return {200, "END Other"};
}

// A USSD gateway in Africa's Talking's format on the tests' loopback server (tests/support): the
// handler sees the `text` field of each hop and gives the screen.
class FakeGateway {
 public:
  explicit FakeGateway(Handler handler)
      : server_(
            test::LoopbackServer::answering([handler = std::move(handler)](const HttpRequest& r) {
              std::string text;
              const auto parsed = common::parse_form(r.body);
              if (const auto* fields = std::get_if<std::vector<FormField>>(&parsed))
                if (const std::string* t = common::find_field(*fields, "text")) text = *t;
              const Reply reply = handler(text);
              return HttpResponse::text(reply.status, reply.body);
            })) {}

  std::string url() const { return server_.url("/ussd"); }
  std::vector<HttpRequest> requests() const { return server_.requests(); }
  std::uint64_t connections() const { return server_.connections(); }

 private:
  test::LoopbackServer server_;
};

std::vector<FormField> decode(const std::string& body) {
  auto parsed = common::parse_form(body);
  EXPECT_TRUE(std::holds_alternative<std::vector<FormField>>(parsed)) << body;
  if (auto* fields = std::get_if<std::vector<FormField>>(&parsed)) return *fields;
  return {};
}

SimulatorOptions options_for(const FakeGateway& gw) {
  SimulatorOptions o;
  o.url = gw.url();
  o.phone = "+254700000001";
  o.code = "*384*1#";
  o.timeout_ms = 5000;
  return o;
}

struct Outcome {
  int rc = -1;
  std::string out;
  std::string err;
};

Outcome simulate(const SimulatorOptions& o, const std::string& script) {
  std::istringstream in(script);
  std::ostringstream out;
  std::ostringstream err;
  Outcome r;
  r.rc = run_simulator(o, in, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(Simulator, TwoHopMenuEndsWithExitZero) {
  FakeGateway gw(pick_menu);
  const Outcome r = simulate(options_for(gw), "1\n");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "Pick\n1. A\n2. B\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "> 1\n")) << r.out;  // scripted input is echoed
  EXPECT_TRUE(contains(r.out, "Chose A\n")) << r.out;
  EXPECT_FALSE(contains(r.out, "CON ")) << r.out;  // protocol prefixes are not shown
  EXPECT_FALSE(contains(r.out, "END ")) << r.out;
  EXPECT_TRUE(r.err.empty()) << r.err;

  const auto requests = gw.requests();
  ASSERT_EQ(requests.size(), 2U);
  const auto first = decode(requests[0].body);
  const auto second = decode(requests[1].body);
  ASSERT_EQ(first.size(), 5U);
  ASSERT_EQ(second.size(), 5U);

  const std::vector<std::string> names = {"sessionId", "serviceCode", "phoneNumber", "networkCode",
                                          "text"};
  for (std::size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(first[i].name, names[i]);
    EXPECT_EQ(second[i].name, names[i]);
  }
  EXPECT_EQ(first[0].value, second[0].value);  // one session across hops
  EXPECT_EQ(first[0].value.rfind("SIM", 0), 0U) << first[0].value;
  EXPECT_GT(first[0].value.size(), 3U);
  for (const auto& hop : {first, second}) {
    EXPECT_EQ(hop[1].value, "*384*1#");
    EXPECT_EQ(hop[2].value, "+254700000001");
    EXPECT_EQ(hop[3].value, "99999");
  }
  EXPECT_EQ(first[4].value, "");
  EXPECT_EQ(second[4].value, "1");

  for (const auto& req : requests) {
    EXPECT_EQ(req.method, "POST");
    EXPECT_EQ(req.target, "/ussd");
    EXPECT_EQ(req.header("content-type"), "application/x-www-form-urlencoded");
  }
  EXPECT_EQ(gw.connections(), 1U);  // one curl handle, connection kept alive
}

TEST(Simulator, OtherChoiceAndGivenSessionId) {
  FakeGateway gw(pick_menu);
  SimulatorOptions o = options_for(gw);
  o.session_id = "ATUid_fixed";
  o.network_code = "41001";
  const Outcome r = simulate(o, "2\n");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "Other\n")) << r.out;
  const auto requests = gw.requests();
  ASSERT_EQ(requests.size(), 2U);
  for (const auto& req : requests) {
    const auto fields = decode(req.body);
    ASSERT_NE(common::find_field(fields, "sessionId"), nullptr);
    EXPECT_EQ(*common::find_field(fields, "sessionId"), "ATUid_fixed");
    EXPECT_EQ(*common::find_field(fields, "networkCode"), "41001");
  }
}

TEST(Simulator, TextAccumulatesInputsJoinedByStar) {
  FakeGateway gw([](const std::string& text) -> Reply {
    if (text.empty()) return {200, "CON Menu\n1. Send money"};
    if (text == "1") return {200, "CON Recipient number:"};
    if (text == "1*2") return {200, "CON Amount:"};
    if (text == "1*2*500 rs") return {200, "END Sent 500"};
    return {200, "END Unexpected"};
  });
  const Outcome r = simulate(options_for(gw), "1\r\n2\n500 rs\n");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "Sent 500")) << r.out;
  const auto requests = gw.requests();
  ASSERT_EQ(requests.size(), 4U);
  const std::vector<std::string> texts = {"", "1", "1*2", "1*2*500 rs"};
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const auto fields = decode(requests[i].body);
    ASSERT_NE(common::find_field(fields, "text"), nullptr);
    EXPECT_EQ(*common::find_field(fields, "text"), texts[i]);
  }
  // Spaces go on the wire as %20, '*' percent-encoded, per form_encode.
  EXPECT_TRUE(contains(requests[3].body, "text=1%2A2%2A500%20rs")) << requests[3].body;
}

TEST(Simulator, ServerErrorExitsTwo) {
  FakeGateway gw([](const std::string&) -> Reply { return {500, "Internal Server Error\nstack"}; });
  const Outcome r = simulate(options_for(gw), "1\n");
  EXPECT_EQ(r.rc, 2);
  EXPECT_TRUE(contains(r.err, "500")) << r.err;
  EXPECT_TRUE(contains(r.err, "Internal Server Error")) << r.err;
  EXPECT_FALSE(contains(r.err, "stack")) << r.err;  // first line only
  EXPECT_EQ(gw.requests().size(), 1U);
}

TEST(Simulator, MissingPrefixExitsTwo) {
  FakeGateway gw([](const std::string&) -> Reply { return {200, "Welcome\n1. A"}; });
  const Outcome r = simulate(options_for(gw), "1\n");
  EXPECT_EQ(r.rc, 2);
  EXPECT_TRUE(contains(r.err, "200")) << r.err;
  EXPECT_TRUE(contains(r.err, "Welcome")) << r.err;
}

TEST(Simulator, EofBeforeEndExitsOne) {
  FakeGateway gw(pick_menu);
  const Outcome r = simulate(options_for(gw), "");
  EXPECT_EQ(r.rc, 1);
  EXPECT_TRUE(contains(r.out, "Pick")) << r.out;
  EXPECT_EQ(gw.requests().size(), 1U);
}

TEST(Simulator, SlashEndHangsUpWithoutSending) {
  FakeGateway gw(pick_menu);
  const Outcome r = simulate(options_for(gw), " /end \n1\n");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(gw.requests().size(), 1U);
}

TEST(Simulator, ConnectionRefusedExitsTwo) {
  // Take an ephemeral port and release it, so nothing listens there.
  std::string url;
  {
    FakeGateway gw(pick_menu);
    url = gw.url();
  }
  SimulatorOptions o;
  o.url = url;
  o.phone = "+254700000001";
  o.code = "*384#";
  o.timeout_ms = 2000;
  const Outcome r = simulate(o, "1\n");
  EXPECT_EQ(r.rc, 2);
  EXPECT_FALSE(r.err.empty());
  EXPECT_FALSE(contains(r.err, "254700000001")) << r.err;  // no phone numbers in errors
}

}  // namespace
}  // namespace rabta::gateway

// ---- `rabta simulate --config --channel`: any [ussd.NAME] gateway of kind "http" (#16) ------

namespace rabta::gateway {
namespace {

namespace fs = std::filesystem;

// A rabta.toml beside the shipped config's folder layout with one [ussd.NAME] table of a preset.
std::string preset_config(const test::TempDir& dir, const std::string& preset,
                          const std::string& extra) {
  fs::create_directories(dir.path() / "flows");
  std::ofstream(dir.file("flows/main.toml")) << "";
  const fs::path file =
      fs::path(RABTA_SOURCE_DIR) / "config" / "presets" / "ussd" / (preset + ".toml");
  std::ofstream(dir.file("rabta.toml"))
      << "[ussd." << preset << "]\nkind = \"http\"\npreset = \"" << file.string()
      << "\"\nauth.key = \"simulated-key-0123456789\"\n"
      << extra;
  return dir.file("rabta.toml");
}

std::uint16_t free_port() {
  HttpServerOptions o;
  o.port = 0;
  HttpServer probe(o, [](HttpRequest&&, Responder) {});
  probe.listen();
  return probe.port();
}

Outcome simulate_channel_with(const std::string& config, const std::string& channel,
                              const PresetSimulatorOptions& o, const std::string& script) {
  std::istringstream in(script);
  std::ostringstream out, err;
  Outcome r;
  r.rc = simulate_channel(config, channel, o, in, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

std::unique_ptr<test::Gateway> gateway_with(const std::string& config) {
  return std::make_unique<test::Gateway>(8 * 1024, test::default_channels(), "http://127.0.0.1",
                                         [&](Config& c) {
                                           for (auto& u : load_config(config).ussd)
                                             c.ussd.push_back(std::move(u));
                                         });
}

TEST(PresetSimulator, SpeaksHubtelToTheRealGatewayThroughAWholeCheckIn) {
  test::TempDir dir;
  const std::string config = preset_config(dir, "hubtel", "");
  auto g = gateway_with(config);
  PresetSimulatorOptions o;
  o.base_url = g->base;
  o.phone = "923001234567";
  o.code = "*713*882#";
  o.timeout_ms = 5000;
  const Outcome r = simulate_channel_with(config, "hubtel", o, "3\n1\n1\n");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "Health and well-being\n1. Weekly check-in\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "Thank you. Goodbye.\n[session ended]\n")) << r.out;
  EXPECT_FALSE(contains(r.out, "\"Type\"")) << "the gateway's JSON is not shown: " << r.out;
  EXPECT_EQ(g->count("answers", "key = 'wellbeing'"), 1);
}

TEST(PresetSimulator, PlaysTheSendApiOfAnAsynchronousGateway) {
  const std::uint16_t port = free_port();
  test::TempDir dir;
  const std::string config = preset_config(
      dir, "bdapps",
      "send.url = \"http://127.0.0.1:" + std::to_string(port) +
          "/ussd/send\"\nsend.account = \"APP_1\"\nsend.secret = \"simulated-password\"\n");
  auto g = gateway_with(config);
  ASSERT_NE(g->ussd_replies(), nullptr);
  g->ussd_replies()->start();  // rabta sends the screens as serve would
  PresetSimulatorOptions o;
  o.base_url = g->base;
  o.phone = "tel:923001234567";
  o.code = "*213*786#";
  o.send_listen = "127.0.0.1:" + std::to_string(port);
  o.timeout_ms = 5000;
  const Outcome r = simulate_channel_with(config, "bdapps", o, "3\n1\n/end\n");
  g->ussd_replies()->stop();
  EXPECT_EQ(r.rc, 1) << r.err;  // she hung up
  EXPECT_TRUE(contains(r.out, "زبان / Zubaan / Language\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "How are you this week?")) << r.out;
  EXPECT_TRUE(contains(r.out, "[hung up]")) << r.out;
  EXPECT_EQ(g->count("outbox", "kind = 'ussd:bdapps' AND status = 'sent'"), 3);
}

TEST(PresetSimulator, RefusesATableThatIsNotOfKindHttp) {
  test::TempDir dir;
  fs::create_directories(dir.path() / "flows");
  std::ofstream(dir.file("flows/main.toml")) << "";
  std::ofstream(dir.file("rabta.toml")) << "[ussd.at]\nkind = \"africastalking\"\n"
                                           "path = \"/ussd/at\"\nsecret = \"0123456789abcdef0\"\n";
  PresetSimulatorOptions o;
  o.base_url = "http://127.0.0.1:9";
  const Outcome r = simulate_channel_with(dir.file("rabta.toml"), "at", o, "");
  EXPECT_EQ(r.rc, 2);
  EXPECT_TRUE(contains(r.err, "is not of kind \"http\"")) << r.err;
  const Outcome none = simulate_channel_with(dir.file("rabta.toml"), "nope", o, "");
  EXPECT_EQ(none.rc, 2);
  EXPECT_TRUE(contains(none.err, "has no [ussd.nope]")) << none.err;
}

}  // namespace
}  // namespace rabta::gateway
