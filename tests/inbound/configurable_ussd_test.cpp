// USSD gateways described by configuration (kind = "http", #16) through the real gateway: the
// shipped presets Hubtel (JSON, only her newest input, a hop counter) and HollaTags (GET, only her
// newest input, no counter) beside Africa's Talking, each carrying a whole report and a whole
// check-in over HTTP on loopback into the real SQLite file, with a duplicate delivery, a wrong
// key and a dropped session. The session, resume, quick-exit and duress rules are the ones every
// USSD channel shares (gateway/inbound/ussd_service.cpp).
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "adapters/common/crypto.hpp"
#include "adapters/common/form.hpp"
#include "tests/support/gateway_fixture.hpp"
#include "tests/support/loopback_server.hpp"

using namespace rabta;
using nlohmann::json;

namespace {

namespace fs = std::filesystem;

constexpr const char* kKey = "preset-key-0123456789abcdef";
constexpr const char* kHer = "+923001234567";

// The [ussd.hubtel] and [ussd.hollatags] tables an operator writes, read by load_config.
std::vector<gateway::UssdChannelConfig> preset_channels(const std::string& duress = "") {
  test::TempDir dir;
  fs::create_directories(dir.path() / "flows");
  std::ofstream(dir.file("flows/main.toml")) << "";
  const fs::path presets = fs::path(RABTA_SOURCE_DIR) / "config" / "presets" / "ussd";
  std::ofstream(dir.file("rabta.toml"))
      << "[ussd.hubtel]\nkind = \"http\"\npreset = " << json((presets / "hubtel.toml").string())
      << "\nauth.key = \"" << kKey << "\"\n"
      << (duress.empty() ? "" : "duress_code_sha256 = \"" + duress + "\"\n")
      << "[ussd.hollatags]\nkind = \"http\"\npreset = "
      << json((presets / "hollatags.toml").string()) << "\nauth.key = \"" << kKey << "\"\n";
  return gateway::load_config(dir.file("rabta.toml")).ussd;
}

// The gateway with Africa's Talking (shipped) and the two presets.
std::unique_ptr<test::Gateway> gateway_with_presets(const std::string& duress = "") {
  return std::make_unique<test::Gateway>(8 * 1024, test::default_channels(), "http://127.0.0.1",
                                         [&](gateway::Config& c) {
                                           for (auto& u : preset_channels(duress))
                                             c.ussd.push_back(std::move(u));
                                         });
}

// A phone on Hubtel: every hop a JSON POST with Type, the newest input and the hop counter.
class HubtelPhone {
 public:
  HubtelPhone(test::Gateway& g, std::string session, std::string mobile = "923001234567")
      : g_(g), session_(std::move(session)), mobile_(std::move(mobile)) {}
  json dial(const std::string& code = "*713*882#") { return send("initiation", code, ++seq_); }
  json press(const std::string& key) { return send("response", key, ++seq_); }
  // The gateway delivers the last hop once more (its answer was lost on the way).
  json resend_last(const std::string& key) { return send("response", key, seq_); }
  void release() {
    const auto r = post("release", "", ++seq_);
    EXPECT_EQ(r.status, 200) << r.body;
  }
  test::HttpResult post(const std::string& type, const std::string& message, int seq,
                        const std::string& key = kKey, const std::string& code = "713*882") {
    const json body = {{"Type", type},          {"Message", message},
                       {"ServiceCode", code},   {"Operator", "mtn"},
                       {"ClientState", ""},     {"Mobile", mobile_},
                       {"SessionId", session_}, {"Sequence", std::to_string(seq)}};
    return g_.http.post(g_.base + "/ussd/hubtel?key=" + key, body.dump(), "application/json");
  }

 private:
  json send(const std::string& type, const std::string& message, int seq) {
    const auto r = post(type, message, seq);
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.content_type, "application/json; charset=utf-8");
    auto reply = json::parse(r.body, nullptr, false);
    EXPECT_FALSE(reply.is_discarded()) << r.body;
    EXPECT_EQ(reply.value("SessionId", ""), session_);
    return reply;
  }
  test::Gateway& g_;
  std::string session_, mobile_;
  int seq_ = 0;
};

// A phone on HollaTags: every hop a GET with session_operation and the newest input.
class HollaPhone {
 public:
  HollaPhone(test::Gateway& g, std::string session) : g_(g), session_(std::move(session)) {}
  json dial() { return send("begin", "*7006#"); }
  json press(const std::string& key) { return send("continue", key); }
  test::HttpResult get(const std::string& op, const std::string& msg,
                       const std::string& key = kKey) {
    return g_.http.get(g_.base + "/ussd/hollatags?" +
                       common::form_encode({{"session_msisdn", "923001234567"},
                                            {"session_operation", op},
                                            {"session_msg", msg},
                                            {"session_id", session_},
                                            {"session_from", "*7006#"},
                                            {"session_type", "1"},
                                            {"session_mno", "JAZZ"},
                                            {"key", key}}));
  }

 private:
  json send(const std::string& op, const std::string& msg) {
    const auto r = get(op, msg);
    EXPECT_EQ(r.status, 200) << r.body;
    auto reply = json::parse(r.body, nullptr, false);
    EXPECT_FALSE(reply.is_discarded()) << r.body;
    EXPECT_EQ(reply.value("session_id", ""), session_);
    return reply;
  }
  test::Gateway& g_;
  std::string session_;
};

// A new number is first asked her language.
const std::string kLanguageScreen = "زبان / Zubaan / Language\n1. اردو\n2. Roman Urdu\n3. English";
const std::string kRootScreen =
    "Health and well-being\n1. Weekly check-in\n2. Tell us something\n3. Useful numbers\n"
    "4. Language";

}  // namespace

TEST(ConfigurableUssd, AHubtelCallerReportsFromDialToReference) {
  auto g = gateway_with_presets();
  HubtelPhone her(*g, "8d440a43a98b4614b9df22b79c8190b8");
  auto r = her.dial();
  EXPECT_EQ(r["Type"], "response");
  EXPECT_EQ(r["Message"], kLanguageScreen);
  r = her.press("3");
  EXPECT_EQ(r["Message"], kRootScreen);
  for (const char* key : {"2", "1", "1", "1", "1", "1", "9", "1"}) {
    r = her.press(key);
    EXPECT_EQ(r["Type"], "response") << key << ": " << r.dump();
  }
  EXPECT_EQ(r["Message"], "May we share this with...?\n1. NGO\n2. Police\n3. Neither");
  r = her.press("1");
  EXPECT_EQ(r["Type"], "release");
  const std::string message = r["Message"];
  EXPECT_EQ(message.rfind("Received. Reference: ", 0), 0u) << message;
  EXPECT_EQ(g->count("cases"), 1);
  EXPECT_EQ(g->text("SELECT reference FROM cases"), message.substr(message.size() - 6));
  EXPECT_EQ(g->text("SELECT provider || '/' || status FROM sessions"), "hubtel/finished");
  // Her number from Hubtel's form (923..., no '+') is the same contact as from any other form.
  EXPECT_EQ(g->count("contacts"), 1);
  EXPECT_EQ(g->text("SELECT pseudonym FROM contacts"), g->pseudonymizer.pseudonym(kHer));
}

TEST(ConfigurableUssd, AHubtelRetryIsAnsweredAgainAndAppliedOnce) {
  auto g = gateway_with_presets();
  HubtelPhone her(*g, "retry-1");
  her.dial();
  her.press("3");
  const auto first = her.press("2");
  EXPECT_EQ(first["Message"].get<std::string>().rfind("What happened?", 0), 0u) << first.dump();
  // The gateway sends hop 2 again: the same screen, and "2" is not taken as an answer to
  // "What happened?" (which would be "Threats").
  const auto again = her.resend_last("2");
  EXPECT_EQ(again, first);
  EXPECT_EQ(g->text("SELECT hop_count FROM sessions"), "3");
  // The same key pressed again as a new hop is an answer.
  const auto next = her.press("2");
  EXPECT_EQ(next["Message"].get<std::string>().rfind("When?", 0), 0u) << next.dump();
  EXPECT_EQ(g->text("SELECT hop_count FROM sessions"), "4");
}

TEST(ConfigurableUssd, AWrongKeyStoresNothing) {
  auto g = gateway_with_presets();
  HubtelPhone her(*g, "forged");
  const auto r = her.post("initiation", "*713*882#", 1, "not-the-key-at-all-0000");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body, "missing or wrong key\n");
  HollaPhone other(*g, "forged-2");
  EXPECT_EQ(other.get("begin", "*7006#", "").status, 403);
  EXPECT_EQ(g->count("sessions"), 0);
  EXPECT_EQ(g->count("contacts"), 0);
}

TEST(ConfigurableUssd, HangingUpMidReportOnHubtelRaisesWhatSheHadSaid) {
  // SAFETY W4 on every USSD channel: she is gone before the last screen; what she had reported
  // is raised, as when she hangs up on Africa's Talking.
  auto g = gateway_with_presets();
  HubtelPhone her(*g, "dropped-1");
  her.dial();
  for (const char* key : {"3", "2", "1", "1"}) her.press(key);
  her.release();
  EXPECT_EQ(g->text("SELECT status FROM sessions"), "incomplete");
  EXPECT_EQ(g->count("cases"), 1);
  EXPECT_EQ(g->text("SELECT category || '/' || severity FROM cases"), "interrupted_report/high");
  // Dialling again starts at the first screen, nothing of the dropped session shows.
  HubtelPhone again(*g, "dropped-2");
  EXPECT_EQ(again.dial()["Message"], kRootScreen) << "she chose English before";
}

TEST(ConfigurableUssd, AHollaTagsCallerAnswersTheWeeklyCheckIn) {
  auto g = gateway_with_presets();
  HollaPhone her(*g, "5456657676");
  auto r = her.dial();
  EXPECT_EQ(r["session_operation"], "continue");
  EXPECT_EQ(r["session_type"], 1);
  EXPECT_EQ(r["session_msg"], kLanguageScreen);
  r = her.press("3");
  EXPECT_EQ(r["session_msg"], kRootScreen);
  r = her.press("1");
  EXPECT_EQ(r["session_msg"].get<std::string>().rfind("How are you this week?", 0), 0u) << r.dump();
  r = her.press("1");
  EXPECT_EQ(r["session_operation"], "end");
  EXPECT_EQ(r["session_type"], 4);
  EXPECT_EQ(r["session_msg"], "Thank you. Goodbye.");
  EXPECT_EQ(g->text("SELECT provider || '/' || status FROM sessions"), "hollatags/finished");
  EXPECT_EQ(g->count("answers"), 1);
}

TEST(ConfigurableUssd, HollaTagsEndsTheSessionItNamesOnly) {
  auto g = gateway_with_presets();
  HollaPhone her(*g, "77");
  her.dial();
  her.press("3");
  her.press("2");
  EXPECT_EQ(her.get("end", "").status, 200);
  EXPECT_EQ(g->text("SELECT status FROM sessions"), "incomplete");
}

TEST(ConfigurableUssd, TheDuressCodeWorksOnAConfiguredChannel) {
  // SAFETY S4 per channel: the duress code dialled on Hubtel shows the ordinary first screen and
  // raises a critical case in the same commit; the ordinary code raises nothing.
  auto g = gateway_with_presets(common::sha256_hex("713*882*9"));
  HubtelPhone her(*g, "plain-1");
  EXPECT_EQ(her.dial()["Message"], kLanguageScreen);
  EXPECT_EQ(g->count("cases"), 0);
  HubtelPhone again(*g, "duress-1");
  const auto r = again.post("initiation", "*713*882*9#", 1, kKey, "713*882*9");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["Message"], kLanguageScreen) << "the ordinary first screen";
  EXPECT_EQ(g->count("cases"), 1);
  EXPECT_EQ(g->text("SELECT category || '/' || severity FROM cases"), "duress/critical");
}

// ---- An asynchronous gateway (bdapps preset): each hop is acknowledged, each screen goes by a
// separate call to the gateway's send API, queued in the hop's transaction. -------------------

namespace {

constexpr const char* kBdappsPassword = "18b834673a1eed3913ce72fec6d91df4";

// The gateway with a [ussd.bdapps] table whose send API is `send_url`.
std::unique_ptr<test::Gateway> gateway_with_bdapps(const std::string& send_url) {
  return std::make_unique<test::Gateway>(
      8 * 1024, test::default_channels(), "http://127.0.0.1", [&](gateway::Config& c) {
        test::TempDir dir;
        fs::create_directories(dir.path() / "flows");
        std::ofstream(dir.file("flows/main.toml")) << "";
        const fs::path preset =
            fs::path(RABTA_SOURCE_DIR) / "config" / "presets" / "ussd" / "bdapps.toml";
        std::ofstream(dir.file("rabta.toml"))
            << "[ussd.bdapps]\nkind = \"http\"\npreset = " << json(preset.string())
            << "\nauth.key = \"" << kKey << "\"\nsend.url = " << json(send_url)
            << "\nsend.account = \"APP_003117\"\nsend.secret = \"" << kBdappsPassword << "\"\n";
        for (auto& u : gateway::load_config(dir.file("rabta.toml")).ussd)
          c.ussd.push_back(std::move(u));
      });
}

// A phone on bdapps: mo-init / mo-cont POSTs, answered with an acknowledgement only.
class BdappsPhone {
 public:
  BdappsPhone(test::Gateway& g, std::string session) : g_(g), session_(std::move(session)) {}
  void dial() { send("mo-init", "*213*786#"); }
  void press(const std::string& key) { send("mo-cont", key); }
  test::HttpResult post(const std::string& op, const std::string& message) {
    const json body = {{"version", "1.0"},
                       {"applicationId", "APP_003117"},
                       {"sessionId", session_},
                       {"ussdOperation", op},
                       {"sourceAddress", "tel:923001234567"},
                       {"message", message},
                       {"encoding", "440"},
                       {"requestId", "1"}};
    return g_.http.post(g_.base + "/ussd/bdapps?key=" + kKey, body.dump(), "application/json");
  }

 private:
  void send(const std::string& op, const std::string& message) {
    const auto r = post(op, message);
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, R"({"statusCode":"S1000","statusDetail":"Success"})");
  }
  test::Gateway& g_;
  std::string session_;
};

// The send API: records each call and answers as `status_of` says (S1000 by default).
struct SendApi {
  std::atomic<int> fail_next{0};  // answer this many calls with 503 first
  std::atomic<bool> refuse{false};
  test::LoopbackServer server{test::LoopbackServer::answering([this](const gateway::HttpRequest&) {
    if (fail_next > 0) {
      --fail_next;
      return gateway::HttpResponse::text(503, "busy\n");
    }
    gateway::HttpResponse r = gateway::HttpResponse::text(
        200, refuse ? R"({"statusCode":"E1313","statusDetail":"Authentication failed"})"
                    : R"({"statusCode":"S1000","statusDetail":"Success"})");
    r.content_type = "application/json";
    return r;
  })};
  // The screens received, in order, as the JSON bodies of the calls.
  std::vector<json> screens() const {
    std::vector<json> out;
    for (const auto& r : server.requests()) out.push_back(json::parse(r.body));
    return out;
  }
};

}  // namespace

TEST(AsynchronousUssd, EveryScreenOfAReportGoesOnceByTheSendApi) {
  SendApi api;
  auto g = gateway_with_bdapps(api.server.url("/ussd/send"));
  ASSERT_NE(g->ussd_replies(), nullptr);
  BdappsPhone her(*g, "1330929317043");
  her.dial();
  EXPECT_EQ(api.server.count(), 0u) << "nothing is sent before the dispatcher runs";
  g->ussd_replies()->run_once();
  ASSERT_EQ(api.server.count(), 1u);
  auto screen = api.screens().back();
  EXPECT_EQ(screen["message"], kLanguageScreen);
  EXPECT_EQ(screen["ussdOperation"], "mt-cont");
  EXPECT_EQ(screen["sessionId"], "1330929317043");
  EXPECT_EQ(screen["destinationAddress"], "tel:923001234567");
  EXPECT_EQ(screen["applicationId"], "APP_003117");
  EXPECT_EQ(screen["password"], kBdappsPassword);
  for (const char* key : {"3", "2", "1", "1", "1", "1", "1", "9", "1", "1"}) {
    her.press(key);
    g->ussd_replies()->run_once();
  }
  const auto screens = api.screens();
  ASSERT_EQ(screens.size(), 11u);
  EXPECT_EQ(screens[1]["message"], kRootScreen);
  for (std::size_t i = 0; i + 1 < screens.size(); ++i)
    EXPECT_EQ(screens[i]["ussdOperation"], "mt-cont") << i;
  const std::string last = screens.back()["message"];
  EXPECT_EQ(screens.back()["ussdOperation"], "mt-fin");
  EXPECT_EQ(last.rfind("Received. Reference: ", 0), 0u) << last;
  EXPECT_EQ(g->count("cases"), 1);
  EXPECT_EQ(g->count("outbox", "kind = 'ussd:bdapps' AND status = 'sent'"), 11);
  // Her number and the screens are sealed at rest like an SMS row's.
  EXPECT_EQ(g->count("outbox", "payload LIKE '%923001234567%' OR payload LIKE '%Received%'"), 0);
}

TEST(AsynchronousUssd, ARetriedHopQueuesItsScreenOnce) {
  SendApi api;
  auto g = gateway_with_bdapps(api.server.url("/ussd/send"));
  BdappsPhone her(*g, "s-retry");
  her.dial();
  her.dial();  // the gateway did not get the acknowledgement and sends mo-init again
  g->ussd_replies()->run_once();
  EXPECT_EQ(api.server.count(), 1u);
  EXPECT_EQ(g->count("outbox", "kind = 'ussd:bdapps'"), 1);
}

TEST(AsynchronousUssd, AScreenNotSentWithinTheDeadlineIsDroppedNotSentLate) {
  SendApi api;
  auto g = gateway_with_bdapps(api.server.url("/ussd/send"));
  BdappsPhone her(*g, "s-late");
  her.dial();
  g->clock.advance(std::chrono::milliseconds(10'001));  // the preset's deadline_ms is 10000
  g->ussd_replies()->run_once();
  EXPECT_EQ(api.server.count(), 0u);
  EXPECT_EQ(g->text("SELECT status FROM outbox WHERE kind = 'ussd:bdapps'"), "expired");
}

TEST(AsynchronousUssd, AScreenInDoubtAfterACrashIsNeverSentTwice) {
  SendApi api;
  auto g = gateway_with_bdapps(api.server.url("/ussd/send"));
  BdappsPhone her(*g, "s-crash");
  her.dial();
  // As a crash leaves it: claimed, its call perhaps made, no outcome recorded.
  {
    SQLite::Database db(g->db_path(), SQLite::OPEN_READWRITE);
    db.exec("UPDATE outbox SET status = 'sending', lease_until = 1 WHERE kind = 'ussd:bdapps'");
  }
  g->ussd_replies()->run_once();  // the first pass settles what a crash left
  EXPECT_EQ(api.server.count(), 0u);
  EXPECT_EQ(g->text("SELECT status FROM outbox WHERE kind = 'ussd:bdapps'"), "unconfirmed");
}

TEST(AsynchronousUssd, ABusySendApiIsRetriedWithinTheDeadlineAndARefusalIsNotRetried) {
  SendApi api;
  auto g = gateway_with_bdapps(api.server.url("/ussd/send"));
  api.fail_next = 1;
  BdappsPhone her(*g, "s-busy");
  her.dial();
  g->ussd_replies()->run_once();
  EXPECT_EQ(g->text("SELECT status FROM outbox WHERE kind = 'ussd:bdapps'"), "pending");
  g->clock.advance(std::chrono::milliseconds(1'000));  // past the backoff (at most 1 s)
  g->ussd_replies()->run_once();
  EXPECT_EQ(api.server.count(), 2u);
  EXPECT_EQ(g->text("SELECT status FROM outbox WHERE kind = 'ussd:bdapps'"), "sent");

  api.refuse = true;
  her.press("3");
  g->ussd_replies()->run_once();
  EXPECT_EQ(api.server.count(), 3u);
  EXPECT_EQ(g->text("SELECT status || ' ' || last_error FROM outbox WHERE kind = "
                    "'ussd:bdapps' ORDER BY id DESC LIMIT 1"),
            "dead the gateway answered E1313");
}

TEST(AsynchronousUssd, AWrongKeyQueuesNothing) {
  SendApi api;
  auto g = gateway_with_bdapps(api.server.url("/ussd/send"));
  const auto r = g->http.post(g->base + "/ussd/bdapps?key=not-the-key-at-all-00",
                              R"({"sessionId":"x","ussdOperation":"mo-init",)"
                              R"("sourceAddress":"tel:923001234567","message":"*1#"})",
                              "application/json");
  EXPECT_EQ(r.status, 403);
  g->ussd_replies()->run_once();
  EXPECT_EQ(api.server.count(), 0u);
  EXPECT_EQ(g->count("outbox"), 0);
  EXPECT_EQ(g->count("sessions"), 0);
}

TEST(ConfigurableUssd, ABeginDeliveredTwiceIsAnsweredAgainNotTakenAsAnAnswer) {
  // HollaTags sends no hop counter; a second "begin" for an open session can only be the first
  // hop again (its answer was lost), never an empty answer to the language question.
  auto g = gateway_with_presets();
  HollaPhone her(*g, "twice");
  const auto first = her.dial();
  EXPECT_EQ(her.dial(), first);
  EXPECT_EQ(g->text("SELECT hop_count FROM sessions"), "1");
  EXPECT_EQ(her.press("3")["session_msg"], kRootScreen);
}

TEST(AsynchronousUssd, AScreenWhoseCallMayHaveArrivedIsNeverSentAgain) {
  // At most once: a gateway timeout (504), or a call with no answer at all, may have shown the
  // screen; only a call that surely never arrived (nothing listening) is tried again.
  test::LoopbackServer timeout_api{test::LoopbackServer::answering(
      [](const gateway::HttpRequest&) { return gateway::HttpResponse::text(504, "timeout\n"); })};
  auto g = gateway_with_bdapps(timeout_api.url("/ussd/send"));
  BdappsPhone her(*g, "s-504");
  her.dial();
  g->ussd_replies()->run_once();
  g->clock.advance(std::chrono::milliseconds(2'000));
  g->ussd_replies()->run_once();
  EXPECT_EQ(timeout_api.count(), 1u);
  EXPECT_EQ(g->text("SELECT status || ' ' || last_error FROM outbox WHERE kind = 'ussd:bdapps'"),
            "dead http 504: the screen may have been shown, not sent again");

  // Nothing listens on the send API's port: the call never arrived, and is tried again.
  std::string closed_url;
  {
    test::LoopbackServer gone{test::LoopbackServer::answering(
        [](const gateway::HttpRequest&) { return gateway::HttpResponse::text(200, "{}"); })};
    closed_url = gone.url("/ussd/send");
  }
  auto g2 = gateway_with_bdapps(closed_url);
  BdappsPhone other(*g2, "s-refused");
  other.dial();
  g2->ussd_replies()->run_once();
  EXPECT_EQ(g2->text("SELECT status FROM outbox WHERE kind = 'ussd:bdapps'"), "pending");
}

TEST(HeadRequests, AreAnsweredWhereGetIsAndNeverTakenAsAHop) {
  // #15: HEAD where GET is served, with GET's headers and no body; a gateway that calls by GET
  // (HollaTags) never has a HEAD taken as her hop.
  auto g = gateway_with_presets();
  for (const char* path : {"/healthz", "/console/", "/metrics"}) {
    const auto get = g->http.get(g->base + path);
    const auto head = g->http.request("HEAD", g->base + path, {}, "");
    EXPECT_EQ(head.status, get.status) << path;
    EXPECT_EQ(head.body, "") << path;
    EXPECT_EQ(head.content_type, get.content_type) << path;
    // The length GET's body would have (the metrics change between the two calls).
    const std::string length = std::string(path) == "/metrics"
                                   ? "Content-Length: "
                                   : "Content-Length: " + std::to_string(get.body.size());
    EXPECT_NE(head.headers.find(length), std::string::npos) << path << ": " << head.headers;
  }
  HollaPhone her(*g, "head-1");
  const auto r =
      g->http.request("HEAD",
                      g->base + "/ussd/hollatags?key=" + std::string(kKey) +
                          "&session_msisdn=923001234567&session_operation=begin&session_msg=x&"
                          "session_id=head-1&session_from=%2A7006%23",
                      {}, "");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(g->count("sessions"), 0);
}
