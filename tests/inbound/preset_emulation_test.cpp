// Every shipped USSD preset (config/presets/ussd/*.toml) against the real gateway, driven by the
// gateway emulator built from the same table (adapters/generic/emulator.hpp): a whole weekly
// check-in, a whole report, a hop delivered twice, a wrong key and a dropped session. A preset
// added to the folder is run here without a line of C++. For an asynchronous preset the screens
// come from its send API, a loopback server here.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "adapters/generic/emulator.hpp"
#include "tests/support/gateway_fixture.hpp"
#include "tests/support/loopback_server.hpp"

using namespace rabta;
using adapters::generic::EmulatedRequest;
using adapters::generic::EmulatedScreen;
using adapters::generic::EmulatedSession;
using adapters::generic::GatewayEmulator;

namespace {

namespace fs = std::filesystem;

const fs::path kPresets = fs::path(RABTA_SOURCE_DIR) / "config" / "presets" / "ussd";
constexpr const char* kKey = "emulated-key-0123456789abcdef";

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(kPresets))
    if (e.path().extension() == ".toml") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::pair<std::string, std::string>> header_pairs(const std::string& block) {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream in(block);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    out.emplace_back(line.substr(0, colon), value);
  }
  return out;
}

class PresetEmulation : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string preset = GetParam();
    std::ifstream in(kPresets / (preset + ".toml"));
    std::stringstream text;
    text << in.rdbuf();
    const bool async = text.str().find("[send]") != std::string::npos;
    g = std::make_unique<test::Gateway>(
        8 * 1024, test::default_channels(), "http://127.0.0.1", [&](gateway::Config& c) {
          test::TempDir dir;
          fs::create_directories(dir.path() / "flows");
          std::ofstream(dir.file("flows/main.toml")) << "";
          std::ofstream t(dir.file("rabta.toml"));
          // Its own path, so that the africastalking preset does not meet the built-in one.
          t << "[ussd.emulated]\nkind = \"http\"\npreset = "
            << nlohmann::json((kPresets / (preset + ".toml")).string())
            << "\npath = \"/ussd/emulated\"\nauth.key = \"" << kKey << "\"\n";
          if (async)
            t << "send.url = " << nlohmann::json(send_api.url("/send"))
              << "\nsend.account = \"APP_1\"\nsend.secret = \"send-secret-0123456789\"\n";
          t.close();
          // Built as serve builds it (its settings only: the shipped config's other channels
          // have secrets this clean test folder does not hold).
          for (auto& u : gateway::load_config(dir.file("rabta.toml")).ussd) {
            adapter = adapters::ussd::make_adapter(u.kind, u.name, u.settings);
            c.ussd.push_back(std::move(u));
          }
        });
    ASSERT_NE(adapter, nullptr);
    http_ussd = dynamic_cast<const adapters::generic::HttpUssd*>(adapter.get());
    ASSERT_NE(http_ussd, nullptr);
    emulator = std::make_unique<GatewayEmulator>(*http_ussd);
    ASSERT_EQ(emulator->asynchronous(), async);
  }

  test::HttpResult send(const EmulatedRequest& r) {
    std::vector<std::string> headers;
    for (const auto& [n, v] : r.headers) headers.push_back(n + ": " + v);
    return g->http.request(r.method, g->base + r.path_and_query, headers, r.body);
  }

  // The screen she sees after `r`: from the reply, or from the send API after the dispatcher ran.
  EmulatedScreen screen_after(const EmulatedRequest& r, const EmulatedSession& s) {
    const auto res = send(r);
    EXPECT_EQ(res.status, 200) << res.body;
    if (!emulator->asynchronous()) {
      auto screen =
          emulator->read_reply(static_cast<int>(res.status), header_pairs(res.headers), res.body);
      EXPECT_TRUE(screen) << "a reply the gateway would not understand: " << res.body;
      return screen.value_or(EmulatedScreen{});
    }
    EXPECT_TRUE(emulator->is_ack(static_cast<int>(res.status), res.body, s)) << res.body;
    const auto before = send_api.count();
    g->ussd_replies()->run_once();
    if (send_api.count() == before) return EmulatedScreen{true, "(nothing sent)", ""};
    auto screen = emulator->read_send(send_api.requests().back().body);
    EXPECT_TRUE(screen) << send_api.requests().back().body;
    if (screen) {
      EXPECT_EQ(screen->session_id, s.session_id);
    }
    return screen.value_or(EmulatedScreen{});
  }

  EmulatedSession session(const std::string& id) {
    return {id + "-" + GetParam(), "+923001234567", "*786#", "", 0, {}};
  }
  std::string hop_count(const std::string& id) {
    return g->text("SELECT hop_count FROM sessions WHERE provider_session_id = '" + id + "'");
  }

  test::LoopbackServer send_api{test::LoopbackServer::answering([](const gateway::HttpRequest&) {
    gateway::HttpResponse r = gateway::HttpResponse::text(
        200, R"({"statusCode":"S1000","statusDetail":"Success","Status":"OK"})");
    r.content_type = "application/json";
    return r;
  })};
  std::unique_ptr<test::Gateway> g;
  std::shared_ptr<const adapters::ussd::UssdAdapter> adapter;
  const adapters::generic::HttpUssd* http_ussd = nullptr;
  std::unique_ptr<GatewayEmulator> emulator;
};

const std::string kLanguage = "زبان / Zubaan / Language\n1. اردو\n2. Roman Urdu\n3. English";
const std::string kRoot =
    "Health and well-being\n1. Weekly check-in\n2. Tell us something\n3. Useful numbers\n"
    "4. Language";

TEST_P(PresetEmulation, AWholeCheckInAndAWholeReport) {
  auto a = session("checkin");
  auto s = screen_after(emulator->dial(a), a);
  EXPECT_FALSE(s.end);
  EXPECT_EQ(s.text, kLanguage);
  EXPECT_EQ(screen_after(emulator->press(a, "3"), a).text, kRoot);
  s = screen_after(emulator->press(a, "1"), a);
  EXPECT_EQ(s.text.rfind("How are you this week?", 0), 0u) << s.text;
  s = screen_after(emulator->press(a, "1"), a);
  EXPECT_TRUE(s.end);
  EXPECT_EQ(s.text, "Thank you. Goodbye.");
  EXPECT_EQ(g->count("answers", "key = 'wellbeing'"), 1);

  auto b = session("report");
  EXPECT_EQ(screen_after(emulator->dial(b), b).text, kRoot) << "English, as she chose";
  for (const char* key : {"2", "1", "1", "1", "1", "1", "9", "1"})
    EXPECT_FALSE(screen_after(emulator->press(b, key), b).end) << key;
  s = screen_after(emulator->press(b, "1"), b);
  EXPECT_TRUE(s.end);
  EXPECT_EQ(s.text.rfind("Received. Reference: ", 0), 0u) << s.text;
  EXPECT_EQ(g->count("cases"), 1);
  EXPECT_EQ(g->text("SELECT reference FROM cases"), s.text.substr(s.text.size() - 6));
}

TEST_P(PresetEmulation, AHopDeliveredTwiceIsAnsweredOnceAndAppliedOnce) {
  // The gateway sends a hop again when rabta's answer did not reach it.
  const auto delivered_again = [&](const EmulatedSession& a, const EmulatedScreen& first) {
    const auto before = send_api.count();
    const auto again = send(a.last);
    EXPECT_EQ(again.status, 200) << again.body;
    if (emulator->asynchronous()) {
      g->ussd_replies()->run_once();
      EXPECT_EQ(send_api.count(), before) << "its screen is not sent a second time";
    } else {
      const auto screen = emulator->read_reply(200, header_pairs(again.headers), again.body);
      ASSERT_TRUE(screen);
      EXPECT_EQ(screen->text, first.text) << "the same screen again";
    }
  };
  auto a = session("twice");
  const auto language = screen_after(emulator->dial(a), a);
  delivered_again(a, language);
  EXPECT_EQ(hop_count(a.session_id), "1");
  const auto root = screen_after(emulator->press(a, "3"), a);
  EXPECT_EQ(root.text, kRoot);
  // A later hop delivered twice can be told from the same key pressed again only by a gateway
  // that sends the whole path or a hop counter (docs/AGGREGATORS.md, "Retries").
  if (!emulator->tells_retries()) return;
  delivered_again(a, root);
  EXPECT_EQ(hop_count(a.session_id), "2");
}

TEST_P(PresetEmulation, AWrongKeyIsRefusedAndStoresNothing) {
  auto a = session("forged");
  const auto r = send(emulator->with_wrong_credentials(a, true));
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(g->count("sessions"), 0);
  EXPECT_EQ(g->count("contacts"), 0);
  EXPECT_EQ(g->count("outbox"), 0);
}

TEST_P(PresetEmulation, ADroppedSessionRaisesWhatSheHadReported) {
  auto a = session("dropped");
  screen_after(emulator->dial(a), a);
  for (const char* key : {"3", "2", "1"}) screen_after(emulator->press(a, key), a);
  if (const auto bye = emulator->hang_up(a)) {
    EXPECT_EQ(send(*bye).status, 200);
  } else {
    // The gateway sends no notice: rabta's idle timeout ends the session (SAFETY W4).
    g->clock.advance(std::chrono::minutes(4));
    ASSERT_TRUE(
        g->store
            ->run([&](store::Tx& tx) { g->ussd().expire_idle(tx, g->clock.now_ms() - 180'000); })
            .ok);
  }
  EXPECT_EQ(g->text("SELECT status FROM sessions"), "incomplete");
  EXPECT_EQ(g->text("SELECT category FROM cases"), "interrupted_report");
}

INSTANTIATE_TEST_SUITE_P(Shipped, PresetEmulation, ::testing::ValuesIn(preset_names()),
                         [](const auto& p) { return p.param; });

}  // namespace
