// An SMS gateway described by configuration (kind = "http", #16) through the real gateway: the
// shipped Vonage preset carries a whole report by SMS, each answer sent back through the outbox
// to a send API on loopback, its delivery reports coming back by callback; a duplicate delivery,
// a wrong key, and a gateway that throttles.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "adapters/common/form.hpp"
#include "gateway/checkins/scheduler.hpp"
#include "tests/support/gateway_fixture.hpp"
#include "tests/support/loopback_server.hpp"

using namespace rabta;
using nlohmann::json;

namespace {

namespace fs = std::filesystem;

constexpr const char* kKey = "vonage-cb-key-0123456789";
constexpr const char* kSecret = "vonageApiSecret9";

// The send API: every call's form fields; answers accepted (status "0") unless told otherwise.
struct SendApi {
  std::atomic<int> throttle_next{0};
  std::atomic<int> ids{0};
  test::LoopbackServer server{test::LoopbackServer::answering([this](const gateway::HttpRequest&) {
    json answer;
    if (throttle_next > 0) {
      --throttle_next;
      answer = {{"message-count", "1"}, {"messages", {{{"status", "1"}}}}};
    } else {
      answer = {{"message-count", "1"},
                {"messages", {{{"status", "0"}, {"message-id", "MSG" + std::to_string(++ids)}}}}};
    }
    gateway::HttpResponse r = gateway::HttpResponse::text(200, answer.dump());
    r.content_type = "application/json";
    return r;
  })};
  std::vector<std::map<std::string, std::string>> calls() const {
    std::vector<std::map<std::string, std::string>> out;
    for (const auto& r : server.requests()) {
      std::map<std::string, std::string> fields;
      const auto parsed = common::parse_form(r.body);
      if (const auto* f = std::get_if<std::vector<common::FormField>>(&parsed))
        for (const auto& x : *f) fields[x.name] = x.value;
      out.push_back(fields);
    }
    return out;
  }
};

std::unique_ptr<test::Gateway> gateway_with_vonage(const SendApi& api) {
  return std::make_unique<test::Gateway>(
      8 * 1024, std::vector<gateway::ChannelConfig>{}, "http://127.0.0.1", [&](gateway::Config& c) {
        test::TempDir dir;
        fs::create_directories(dir.path() / "flows");
        std::ofstream(dir.file("flows/main.toml")) << "";
        std::ofstream(dir.file("rabta.toml"))
            << "[channels.vonage]\nkind = \"http\"\npreset = "
            << json((fs::path(RABTA_SOURCE_DIR) / "config/presets/sms/vonage.toml").string())
            << "\npath = \"/sms/vonage\"\nauth.key = \"" << kKey
            << "\"\nsend.url = " << json(api.server.url("/sms/json"))
            << "\nsend.account = \"abcd1234\"\nsend.secret = \"" << kSecret
            << "\"\nsend.from = \"12345\"\n";
        c.channels = gateway::load_config(dir.file("rabta.toml")).channels;
      });
}

// One SMS as Vonage delivers it (a form POST on the inbound URL, the key in the URL's query).
test::HttpResult sms(test::Gateway& g, const std::string& id, const std::string& text,
                     const std::string& key = kKey) {
  return g.http.post(g.base + "/sms/vonage?key=" + key,
                     common::form_encode({{"msisdn", "923001234567"},
                                          {"to", "12345"},
                                          {"messageId", id},
                                          {"text", text},
                                          {"type", "text"},
                                          {"keyword", "X"},
                                          {"message-timestamp", "2026-12-01 10:15:42"}}));
}

}  // namespace

TEST(ConfigurableSms, AReportByVonageIsAnsweredMessageByMessageThroughTheOutbox) {
  SendApi api;
  auto g = gateway_with_vonage(api);
  const std::vector<std::pair<std::string, std::string>> steps = {
      {"MADAD", "Kya hua?"},         {"1", "Kab?"}, {"1", ""}, {"2", ""}, {"2", ""}, {"5", ""},
      {"3", "Shukriya. Khuda hafiz"}};
  int n = 0;
  for (const auto& [text, expect] : steps) {
    const auto r = sms(*g, "in-" + std::to_string(++n), text);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, "") << "no reply in the response: Vonage takes messages by its API";
    EXPECT_EQ(r.status, 200);
    g->dispatcher().run_once();
    ASSERT_EQ(api.server.count(), static_cast<std::size_t>(n));
    const auto call = api.calls().back();
    EXPECT_EQ(call.at("to"), "923001234567");
    EXPECT_EQ(call.at("from"), "12345");
    EXPECT_EQ(call.at("api_key"), "abcd1234");
    EXPECT_EQ(call.at("api_secret"), kSecret);
    EXPECT_EQ(call.at("type"), "text");
    if (!expect.empty()) {
      EXPECT_EQ(call.at("text").rfind(expect, 0), 0u) << call.at("text");
    }
    // The delivery report comes back to the channel's path, with its key, naming our row.
    EXPECT_EQ(call.at("callback").rfind("http://127.0.0.1/sms/vonage/dlr?key=", 0), 0u)
        << call.at("callback");
  }
  EXPECT_EQ(g->count("cases", "category = 'physical_violence'"), 1);
  EXPECT_EQ(g->count("outbox", "kind = 'sms:vonage' AND status = 'sent'"), 7);
  EXPECT_EQ(g->text("SELECT provider_message_id FROM outbox WHERE kind = 'sms:vonage' "
                    "ORDER BY id LIMIT 1"),
            "MSG1");

  const auto dlr = g->http.post(g->base + "/sms/vonage/dlr?key=" + std::string(kKey),
                                common::form_encode({{"msisdn", "923001234567"},
                                                     {"messageId", "MSG1"},
                                                     {"status", "delivered"},
                                                     {"err-code", "0"}}));
  EXPECT_EQ(dlr.status, 200) << dlr.body;
  EXPECT_EQ(g->text("SELECT delivery_status FROM outbox WHERE provider_message_id = 'MSG1'"),
            "delivered");
}

TEST(ConfigurableSms, ADuplicateDeliveryHasOneEffectAndAWrongKeyNone) {
  SendApi api;
  auto g = gateway_with_vonage(api);
  EXPECT_EQ(sms(*g, "dup-1", "MADAD").status, 200);
  EXPECT_EQ(sms(*g, "dup-1", "MADAD").status, 200);
  EXPECT_EQ(g->count("inbound"), 1);
  EXPECT_EQ(g->count("outbox", "kind = 'sms:vonage'"), 1);
  const auto forged = sms(*g, "forged-1", "MADAD", "not-the-key-0000000000");
  EXPECT_EQ(forged.status, 403);
  EXPECT_EQ(g->count("inbound"), 1);
}

TEST(ConfigurableSms, AThrottledSendIsRetried) {
  SendApi api;
  auto g = gateway_with_vonage(api);
  api.throttle_next = 1;
  sms(*g, "t-1", "MADAD");
  g->dispatcher().run_once();
  EXPECT_EQ(g->text("SELECT status || ' ' || last_error FROM outbox"),
            "pending the gateway answered 1");
  g->clock.advance(std::chrono::minutes(15));  // past any backoff
  g->dispatcher().run_once();
  EXPECT_EQ(api.server.count(), 2u);
  EXPECT_EQ(g->text("SELECT status FROM outbox"), "sent");
}

TEST(ConfigurableSms, CheckNamesTheLineOfASettingItCannotUse) {
  test::TempDir dir;
  fs::create_directories(dir.path() / "flows");
  std::ofstream(dir.file("flows/main.toml")) << "";
  std::ofstream(dir.file("rabta.toml"))
      << "[channels.vonage]\nkind = \"http\"\npreset = \"vonage\"\npath = \"/sms/vonage\"\n"
         "auth.key = \"0123456789abcdef0\"\nsend.account = \"a\"\nsend.secret = \"s\"\n"
         "send.from = \"12345\"\n"
         "send.url = \"https://gw.example.org/send?to={{to}}\"\n";
  // The preset is looked up beside rabta.toml (config/presets/sms/vonage.toml when shipped).
  fs::create_directories(dir.path() / "presets" / "sms");
  fs::copy_file(fs::path(RABTA_SOURCE_DIR) / "config/presets/sms/vonage.toml",
                dir.path() / "presets" / "sms" / "vonage.toml");
  const auto config = gateway::load_config(dir.file("rabta.toml"));
  std::vector<flows::Diagnostic> errors;
  gateway::build_channels(config, "http://127.0.0.1", errors);
  ASSERT_EQ(errors.size(), 1u);
  const std::string e = errors.front().to_string();
  EXPECT_NE(e.find("rabta.toml:9:"), std::string::npos) << e;
  EXPECT_NE(e.find("send.url: her number may not appear in the URL"), std::string::npos) << e;
}

TEST(ConfigurableSms, TheWeeklyCheckInGoesOutAndHerAnswerComesBackByVonage) {
  SendApi api;
  auto g = gateway_with_vonage(api);
  // Wednesday 2026-11-25 10:30 in Karachi; she is enrolled for Wednesdays 10-14 by SMS.
  g->clock.advance(std::chrono::milliseconds(1'795'584'600'000 - g->clock.now_ms()));
  const std::string her = "+923001234567";
  std::int64_t id = 0;
  ASSERT_TRUE(g->store
                  ->run([&](store::Tx& tx) {
                    store::ContactRecord c;
                    c.pseudonym = g->pseudonymizer.pseudonym(her);
                    c.status = store::contact_status::active;
                    c.language = "roman";
                    c.checkin_weekday = 3;
                    c.window_start_hour = 10;
                    c.window_end_hour = 14;
                    c.channel = "sms";
                    c.sms_ok = true;
                    id = tx.enrol_contact(c, g->clock.now_ms());
                    tx.set_contact_phone(
                        id,
                        g->cipher.encrypt(
                            her, common::FieldCipher::associated_data("contacts", "phone_enc", id)),
                        g->clock.now_ms());
                  })
                  .ok);
  gateway::SchedulerOptions options;
  options.zone = *flows::parse_zone("Asia/Karachi");
  options.channel = "vonage";
  gateway::Scheduler scheduler(
      *g->store, g->texts,
      gateway::load_flows(
          gateway::load_config(std::string(RABTA_SOURCE_DIR) + "/config/rabta.toml"))
          .flows,
      g->cipher, g->clock, g->ids, options);
  EXPECT_EQ(scheduler.run_once().queued, 1);
  g->dispatcher().run_once();
  ASSERT_EQ(api.server.count(), 1u);
  EXPECT_EQ(api.calls().back().at("text"), g->texts->text("checkin_prompt", "roman", "ur"));
  EXPECT_EQ(api.calls().back().at("to"), "923001234567");
  // Her answer, as Vonage delivers it, in Roman Urdu.
  EXPECT_EQ(sms(*g, "ans-1", "theek").status, 200);
  g->dispatcher().run_once();
  ASSERT_EQ(api.server.count(), 2u);
  EXPECT_EQ(api.calls().back().at("text"), "Shukriya. Khuda hafiz");
  EXPECT_EQ(g->count("checkins", "status = 'answered'"), 1);
}

TEST(ConfigurableSms, AReportLeftUnansweredOnVonageIsRaisedAfterTheConversationTimeout) {
  SendApi api;
  auto g = gateway_with_vonage(api);
  sms(*g, "d-1", "MADAD");
  sms(*g, "d-2", "1");  // physical violence, then she stops answering
  g->clock.advance(std::chrono::minutes(61));
  ASSERT_TRUE(
      g->store->run([&](store::Tx& tx) { g->sms().expire_idle(tx, g->clock.now_ms() - 3'600'000); })
          .ok);
  EXPECT_EQ(g->count("cases", "category = 'interrupted_report'"), 1);
}
