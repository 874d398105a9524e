// The wiring `rabta serve` runs (gateway/cli/wiring.hpp), built the way serve builds it from a
// copy of the shipped config after `rabta init`, with a manual clock and seeded references: a
// USSD hop reaches the flow and is stored, the caseworker API and console are mounted, /metrics
// answers on loopback, and the idle-session sweep ends a session left half-way.
#include "gateway/cli/wiring.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <string>

#include "adapters/common/clock.hpp"
#include "adapters/common/form.hpp"
#include "adapters/store/store.hpp"
#include "flows/engine.hpp"
#include "gateway/cli/commands.hpp"
#include "gateway/cli/validate.hpp"
#include "gateway/settings/config.hpp"
#include "tests/support/temp_dir.hpp"

namespace rabta {
namespace {

namespace fs = std::filesystem;

class WiringTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* var : {"RABTA_PSEUDONYM_KEY", "RABTA_FIELD_KEY", "RABTA_AT_SECRET"})
      ::unsetenv(var);
    fs::copy(fs::path(RABTA_SOURCE_DIR) / "config", dir.path() / "config",
             fs::copy_options::recursive);
    cfg = (dir.path() / "config" / "rabta.toml").string();
    std::ostringstream out, err;
    ASSERT_EQ(gateway::init(cfg, out, err), 0) << err.str();
    config = gateway::load_config(cfg);
    config.public_url = "http://127.0.0.1:8080";
    plan = gateway::validate_config(config, config.public_url);
    ASSERT_TRUE(plan.ok()) << plan.errors.front().to_string();
    for (const auto& u : config.ussd)
      if (u.kind == "africastalking") secret = u.settings.at("secret");
    ASSERT_FALSE(secret.empty());
    store::StoreOptions so;
    so.path = config.database;
    so.cipher = plan.keys.cipher;
    so.audit_key = "wiring-test-audit-key";
    store = store::open_sqlite_store(so);
    wiring = std::make_unique<gateway::Wiring>(config, plan, *store, clock, ids, nullptr);
  }
  void TearDown() override {
    wiring.reset();
    if (store) store->close();
  }

  gateway::HttpResponse call(std::string method, std::string target, std::string body = "") {
    gateway::HttpRequest r;
    r.method = std::move(method);
    r.target = std::move(target);
    const auto q = r.target.find('?');
    r.path = r.target.substr(0, q);
    r.query = q == std::string::npos ? "" : r.target.substr(q + 1);
    r.body = std::move(body);
    if (!r.body.empty())
      r.headers.emplace_back("content-type", "application/x-www-form-urlencoded");
    r.peer = "127.0.0.1";
    std::promise<gateway::HttpResponse> done;
    auto reply = done.get_future();
    wiring->app().handle(std::move(r),
                         [&done](gateway::HttpResponse response) { done.set_value(response); });
    EXPECT_EQ(reply.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    return reply.get();
  }

  gateway::HttpResponse hop(const std::string& session, const std::string& text) {
    return call("POST", config.ussd.front().path + "?key=" + common::percent_encode(secret),
                common::form_encode({{"sessionId", session},
                                     {"serviceCode", "*384*123#"},
                                     {"phoneNumber", "+923001234567"},
                                     {"text", text}}));
  }

  std::optional<store::SessionRecord> session(const std::string& id) {
    std::optional<store::SessionRecord> s;
    store->read([&](store::Tx& tx) { s = tx.find_session("africastalking", id); });
    return s;
  }

  test::TempDir dir;
  std::string cfg;
  gateway::Config config;
  gateway::StartupPlan plan;
  std::string secret;
  common::ManualClock clock{1'790'000'000'000};
  flows::SeededIds ids{7};
  std::unique_ptr<store::Store> store;
  std::unique_ptr<gateway::Wiring> wiring;
};

TEST_F(WiringTest, AHopReachesTheShippedFlowAndIsStored) {
  const auto first = hop("wiring-1", "");
  EXPECT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.body.rfind("CON ", 0), 0U) << first.body;
  const auto s = session("wiring-1");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->status, store::session_status::active);
  EXPECT_EQ(s->hop_count, 1);
  // A wrong key is refused before anything is stored.
  const auto forged = call("POST", config.ussd.front().path + "?key=wrong",
                           common::form_encode({{"sessionId", "wiring-2"},
                                                {"serviceCode", "*384*123#"},
                                                {"phoneNumber", "+923001234567"},
                                                {"text", ""}}));
  EXPECT_EQ(forged.status, 403);
  EXPECT_FALSE(session("wiring-2"));
}

TEST_F(WiringTest, TheCaseworkerApiConsoleAndMetricsAreMounted) {
  EXPECT_EQ(call("GET", "/api/v1/me").status, 401);
  const auto console = call("GET", "/console/");
  EXPECT_EQ(console.status, 200);
  EXPECT_NE(console.body.find("<html"), std::string::npos);
  const auto metrics = call("GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("rabta_"), std::string::npos);
}

TEST_F(WiringTest, TheIdleSweepEndsASessionLeftHalfWay) {
  ASSERT_EQ(hop("wiring-3", "").status, 200);
  wiring->sweep_idle_sessions();
  ASSERT_TRUE(session("wiring-3"));
  EXPECT_EQ(session("wiring-3")->status, store::session_status::active);  // not idle yet
  clock.advance(config.session_idle + std::chrono::seconds(1));
  wiring->sweep_idle_sessions();
  EXPECT_NE(session("wiring-3")->status, store::session_status::active);
}

TEST_F(WiringTest, StartsAndStopsItsBackgroundWork) {
  wiring->start();
  wiring->start();  // idempotent
  ASSERT_EQ(hop("wiring-4", "").status, 200);
  wiring->stop();
  wiring->stop();
}

}  // namespace
}  // namespace rabta
