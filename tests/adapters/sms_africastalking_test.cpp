// Africa's Talking SMS specifics: base URL and sender settings, statusCode spellings.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "adapters/africastalking/sms.hpp"

namespace rabta::adapters::africastalking {
namespace {

const sms::Settings kSettings = {
    {"username", "sandbox"}, {"api_key", "atsk_test_key_0123"}, {"secret", "cb-secret-42"}};

TEST(AfricasTalkingSms, SandboxBaseUrlAndNoSender) {
  sms::Settings s = kSettings;
  s["base_url"] = "https://api.sandbox.africastalking.com/";
  const SmsChannel channel(s);
  const auto call = channel.build_send(sms::OutboundSms{3, "+254711082001", "Habari, dada", true});
  EXPECT_EQ(call.method, "POST");
  EXPECT_EQ(call.url, "https://api.sandbox.africastalking.com/version1/messaging");
  EXPECT_EQ(call.body,
            "username=sandbox&to=%2B254711082001&message=Habari%2C%20dada&bulkSMSMode=1");
  EXPECT_FALSE(channel.replies_in_band());
}

TEST(AfricasTalkingSms, BadBaseUrlIsNamedNotShown) {
  sms::Settings s = kSettings;
  s["base_url"] = "api.africastalking.com/atsk_test_key_0123";
  try {
    SmsChannel c(s);
    ADD_FAILURE() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'base_url'"), std::string::npos);
    EXPECT_EQ(std::string(e.what()).find("atsk_test_key_0123"), std::string::npos);
  }
}

TEST(AfricasTalkingSms, StatusCodeAsStringAndUnknownCodes) {
  const SmsChannel channel(kSettings);
  const auto body = [](const std::string& code) {
    return R"({"SMSMessageData":{"Message":"Sent to 1/1","Recipients":[{"statusCode":)" + code +
           R"(,"number":"+254711082001","status":"x","messageId":"ATXid_1"}]}})";
  };
  auto r = channel.parse_send(201, body("\"101\""));
  EXPECT_EQ(r.outcome, sms::SendOutcome::sent);
  EXPECT_EQ(r.provider_message_id, "ATXid_1");
  EXPECT_EQ(channel.parse_send(201, body("103")).outcome, sms::SendOutcome::sent);
  EXPECT_EQ(channel.parse_send(201, body("509")).outcome, sms::SendOutcome::retry);
  EXPECT_EQ(channel.parse_send(201, body("410")).outcome, sms::SendOutcome::permanent);
  EXPECT_EQ(channel.parse_send(201, body("\"abc\"")).outcome, sms::SendOutcome::retry);
  EXPECT_EQ(channel.parse_send(201, body("409")).outcome, sms::SendOutcome::permanent);
  EXPECT_EQ(channel.parse_send(201, body("402")).outcome, sms::SendOutcome::permanent);
  EXPECT_EQ(channel.parse_send(201, body("401")).outcome, sms::SendOutcome::retry);
  EXPECT_EQ(channel.parse_send(201, body("407")).outcome, sms::SendOutcome::retry);
  EXPECT_EQ(channel.parse_send(201, body("502")).outcome, sms::SendOutcome::retry);
  EXPECT_EQ(channel.parse_send(201, body("404")).outcome, sms::SendOutcome::permanent);
  EXPECT_EQ(channel.parse_send(201, body("100")).outcome, sms::SendOutcome::sent);
  EXPECT_EQ(channel.parse_send(201, "[]").outcome, sms::SendOutcome::retry);
  EXPECT_EQ(channel.parse_send(201, R"({"SMSMessageData":{"Recipients":[]}})").outcome,
            sms::SendOutcome::retry);
  const auto auth = channel.parse_send(403, "");
  EXPECT_EQ(auth.outcome, sms::SendOutcome::retry);
  EXPECT_EQ(auth.error, "authentication failed");
  EXPECT_EQ(channel.parse_send(404, "").outcome, sms::SendOutcome::permanent);
  EXPECT_EQ(channel.parse_send(200, "").outcome, sms::SendOutcome::permanent);
}

TEST(AfricasTalkingSms, DecodeRequiresPost) {
  const SmsChannel channel(kSettings);
  sms::InboundHttp req;
  req.method = "GET";
  req.public_url = "https://rabta.example.org/sms/at?key=cb-secret-42&from=%2B254711082001";
  req.query = "key=cb-secret-42&from=%2B254711082001";
  const auto result = channel.decode(req);
  const auto* rej = std::get_if<sms::Rejection>(&result);
  ASSERT_NE(rej, nullptr);
  EXPECT_EQ(rej->status, 405);
  req.query = "from=%2B254711082001";  // without the key: 403 comes first
  const auto unauth = channel.decode(req);
  ASSERT_NE(std::get_if<sms::Rejection>(&unauth), nullptr);
  EXPECT_EQ(std::get<sms::Rejection>(unauth).status, 403);
}

}  // namespace
}  // namespace rabta::adapters::africastalking
