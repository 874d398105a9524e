// Twilio specifics: the published X-Twilio-Signature test vectors (shared/PROTOCOLS.md §2), the
// port variants, TwiML escaping and the sender settings.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "adapters/common/form.hpp"
#include "adapters/twilio/sms.hpp"

namespace rabta::adapters::twilio {
namespace {

using common::FormField;

const std::string kToken = "12345";
const std::string kUrl = "https://mycompany.com/myapp.php?foo=1&bar=2";
const std::vector<FormField> kFirstSet = {{"CallSid", "CA1234567890ABCDE"},
                                          {"Caller", "+14158675309"},
                                          {"Digits", "1234"},
                                          {"From", "+14158675309"},
                                          {"To", "+18005551212"}};
// A repeated name, its values out of order.
const std::vector<FormField> kSecondSet = {
    {"Sid", "CA123"}, {"SidAccount", "AC123"}, {"Digits", "5678"}, {"Digits", "1234"}};

TEST(TwilioSignature, PublishedVectors) {
  EXPECT_EQ(compute_signature(kToken, kUrl, kFirstSet), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
  EXPECT_EQ(compute_signature(kToken, kUrl, kSecondSet), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
  EXPECT_EQ(compute_signature(kToken, "https://mycompany.com:443/myapp.php?foo=1&bar=2", kFirstSet),
            "kvajT1Ptam85bY51eRf/AJRuM3w=");
  EXPECT_EQ(compute_signature(kToken, "http://mycompany.com:80/myapp.php?foo=1&bar=2", kFirstSet),
            "0ZXoZLH/DfblKGATFgpif+LLRf4=");
}

TEST(TwilioSignature, ParameterOrderDoesNotMatter) {
  std::vector<FormField> reversed(kFirstSet.rbegin(), kFirstSet.rend());
  EXPECT_EQ(compute_signature(kToken, kUrl, reversed), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
  std::vector<FormField> second(kSecondSet.rbegin(), kSecondSet.rend());
  EXPECT_EQ(compute_signature(kToken, kUrl, second), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
}

TEST(TwilioSignature, BothPortVariantsAreAccepted) {
  // Signed without a port; called with or without :443.
  EXPECT_TRUE(signature_valid(kToken, kUrl, kFirstSet, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
  EXPECT_TRUE(signature_valid(kToken, "https://mycompany.com:443/myapp.php?foo=1&bar=2", kFirstSet,
                              "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
  // Signed with :443; called with or without it.
  EXPECT_TRUE(signature_valid(kToken, kUrl, kFirstSet, "kvajT1Ptam85bY51eRf/AJRuM3w="));
  EXPECT_TRUE(signature_valid(kToken, "https://mycompany.com:443/myapp.php?foo=1&bar=2", kFirstSet,
                              "kvajT1Ptam85bY51eRf/AJRuM3w="));
  // http: signed with :80; called with or without it.
  EXPECT_TRUE(signature_valid(kToken, "http://mycompany.com/myapp.php?foo=1&bar=2", kFirstSet,
                              "0ZXoZLH/DfblKGATFgpif+LLRf4="));
  EXPECT_TRUE(signature_valid(kToken, "http://mycompany.com:80/myapp.php?foo=1&bar=2", kFirstSet,
                              "0ZXoZLH/DfblKGATFgpif+LLRf4="));
  // The repeated-name vector.
  EXPECT_TRUE(signature_valid(kToken, kUrl, kSecondSet, "IK+Dwps556ElfBT0I3Rgjkr1wJU="));
}

TEST(TwilioSignature, MismatchesAreRejected) {
  EXPECT_FALSE(signature_valid(kToken, kUrl, kFirstSet, "IK+Dwps556ElfBT0I3Rgjkr1wJU="));
  EXPECT_FALSE(signature_valid(kToken, kUrl, kSecondSet, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
  EXPECT_FALSE(signature_valid("54321", kUrl, kFirstSet, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
  EXPECT_FALSE(signature_valid(kToken, kUrl, kFirstSet, ""));
  EXPECT_FALSE(signature_valid("", kUrl, kFirstSet, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
  // The http :80 signature does not pass for https, nor the https one for http.
  EXPECT_FALSE(signature_valid(kToken, kUrl, kFirstSet, "0ZXoZLH/DfblKGATFgpif+LLRf4="));
  EXPECT_FALSE(signature_valid(kToken, "http://mycompany.com/myapp.php?foo=1&bar=2", kFirstSet,
                               "kvajT1Ptam85bY51eRf/AJRuM3w="));
  // Query string altered.
  EXPECT_FALSE(signature_valid(kToken, "https://mycompany.com/myapp.php?foo=1&bar=3", kFirstSet,
                               "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
  // A parameter dropped or added.
  std::vector<FormField> fewer(kFirstSet.begin(), kFirstSet.end() - 1);
  EXPECT_FALSE(signature_valid(kToken, kUrl, fewer, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
  std::vector<FormField> more = kFirstSet;
  more.push_back({"Body", ""});
  EXPECT_FALSE(signature_valid(kToken, kUrl, more, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
}

TEST(TwilioSignature, UrlVariants) {
  EXPECT_EQ(signature_urls(kUrl),
            (std::vector<std::string>{kUrl, "https://mycompany.com:443/myapp.php?foo=1&bar=2"}));
  EXPECT_EQ(signature_urls("http://mycompany.com:80/a"),
            (std::vector<std::string>{"http://mycompany.com/a", "http://mycompany.com:80/a"}));
  // A non-default port: removed in one variant, kept in the other (as Twilio's validators do).
  EXPECT_EQ(
      signature_urls("https://h.example:8443/a?x=1:2"),
      (std::vector<std::string>{"https://h.example/a?x=1:2", "https://h.example:8443/a?x=1:2"}));
  // No path; a port-like string in the query is not a port.
  EXPECT_EQ(signature_urls("https://h.example?u=a:1"),
            (std::vector<std::string>{"https://h.example?u=a:1", "https://h.example:443?u=a:1"}));
  EXPECT_EQ(signature_urls("HTTPS://h.example/"),
            (std::vector<std::string>{"HTTPS://h.example/", "HTTPS://h.example:443/"}));
  // IPv6 literal and user info.
  EXPECT_EQ(signature_urls("http://[::1]:8080/t"),
            (std::vector<std::string>{"http://[::1]/t", "http://[::1]:8080/t"}));
  EXPECT_EQ(signature_urls("http://[::1]/t"),
            (std::vector<std::string>{"http://[::1]/t", "http://[::1]:80/t"}));
  EXPECT_EQ(signature_urls("https://u:p@h.example/t"),
            (std::vector<std::string>{"https://u:p@h.example/t", "https://u:p@h.example:443/t"}));
}

sms::InboundHttp vector_request(const std::string& url, const std::vector<FormField>& params,
                                const std::string& signature) {
  sms::InboundHttp req;
  req.method = "POST";
  req.public_url = url;
  req.path = "/myapp.php";
  req.query = "foo=1&bar=2";
  req.headers = {{"content-type", "application/x-www-form-urlencoded"},
                 {"x-twilio-signature", signature}};
  req.body = common::form_encode(params);
  return req;
}

int decode_status(const SmsChannel& channel, const sms::InboundHttp& req) {
  const auto result = channel.decode(req);
  if (const auto* rej = std::get_if<sms::Rejection>(&result)) return rej->status;
  return 200;
}

TEST(TwilioSignature, DecodeChecksTheVectorsBeforeAnythingElse) {
  const SmsChannel channel(
      sms::Settings{{"account_sid", "AC123"}, {"auth_token", kToken}, {"from", "+15005550006"}});
  // The vectors are voice callbacks (no Body, no MessageStatus): authenticated, then 400.
  EXPECT_EQ(decode_status(channel, vector_request(kUrl, kFirstSet, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")),
            400);
  EXPECT_EQ(
      decode_status(channel, vector_request(kUrl, kSecondSet, "IK+Dwps556ElfBT0I3Rgjkr1wJU=")),
      400);
  EXPECT_EQ(decode_status(channel, vector_request(kUrl, kFirstSet, "kvajT1Ptam85bY51eRf/AJRuM3w=")),
            400);
  EXPECT_EQ(decode_status(channel, vector_request("https://mycompany.com:443/myapp.php?foo=1&bar=2",
                                                  kFirstSet, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")),
            400);
  EXPECT_EQ(decode_status(channel, vector_request("http://mycompany.com/myapp.php?foo=1&bar=2",
                                                  kFirstSet, "0ZXoZLH/DfblKGATFgpif+LLRf4=")),
            400);
  EXPECT_EQ(decode_status(channel, vector_request(kUrl, kFirstSet, "0ZXoZLH/DfblKGATFgpif+LLRf4=")),
            403);
  EXPECT_EQ(
      decode_status(channel, vector_request(kUrl, kSecondSet, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")),
      403);
  // With a Body added after signing, the same signature no longer holds.
  std::vector<FormField> with_body = kFirstSet;
  with_body.push_back({"Body", "hi"});
  with_body.push_back({"MessageSid", "SM1"});
  EXPECT_EQ(decode_status(channel, vector_request(kUrl, with_body, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")),
            403);
  // Signed correctly, it decodes.
  EXPECT_EQ(decode_status(channel, vector_request(kUrl, with_body,
                                                  compute_signature(kToken, kUrl, with_body))),
            200);
}

TEST(TwilioReply, TwimlIsEscaped) {
  EXPECT_EQ(common::xml_escape(R"(a&b<c>d"e'f)"), "a&amp;b&lt;c&gt;d&quot;e&apos;f");
  EXPECT_EQ(common::xml_escape("</Message><Redirect>http://x</Redirect>"),
            "&lt;/Message&gt;&lt;Redirect&gt;http://x&lt;/Redirect&gt;");
  // Control characters XML 1.0 forbids are dropped; tab and newlines stay.
  EXPECT_EQ(common::xml_escape(std::string("a\x01"
                                           "b\tc\nd\re\x1f",
                                           11)),
            "ab\tc\nd\re");
  EXPECT_EQ(common::xml_escape("آپ کی مدد"), "آپ کی مدد");

  const SmsChannel channel(
      sms::Settings{{"account_sid", "AC123"}, {"auth_token", "t0ken"}, {"from", "+15005550006"}});
  const auto reply = channel.encode_reply("1 & 2 <3>", true);
  EXPECT_EQ(reply.content_type, "text/xml");
  EXPECT_EQ(
      reply.body,
      R"(<?xml version="1.0" encoding="UTF-8"?><Response><Message>1 &amp; 2 &lt;3&gt;</Message></Response>)");
  EXPECT_EQ(channel.encode_reply("", false).body,
            R"(<?xml version="1.0" encoding="UTF-8"?><Response/>)");
}

TEST(TwilioSettings, MessagingServiceInsteadOfFrom) {
  const SmsChannel channel(sms::Settings{{"account_sid", "AC123"},
                                         {"auth_token", "t0ken"},
                                         {"messaging_service_sid", "MG9f8e"},
                                         {"base_url", "http://127.0.0.1:9999/"}});
  const auto call = channel.build_send(sms::OutboundSms{1, "+923001234567", "hi", false});
  EXPECT_EQ(call.url, "http://127.0.0.1:9999/2010-04-01/Accounts/AC123/Messages.json");
  EXPECT_EQ(call.body, "To=%2B923001234567&MessagingServiceSid=MG9f8e&Body=hi");
  EXPECT_EQ(call.basic_user, "AC123");
  EXPECT_EQ(call.basic_password, "t0ken");
}

TEST(TwilioSettings, SenderIsRequiredAndUnambiguous) {
  const auto message_of = [](const sms::Settings& s) {
    try {
      SmsChannel c(s);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(message_of({{"account_sid", "AC123"}, {"auth_token", "t0ken-secret"}}),
            "channel twilio: missing setting 'from' or 'messaging_service_sid'");
  const std::string both = message_of({{"account_sid", "AC123"},
                                       {"auth_token", "t0ken-secret"},
                                       {"from", "+15005550006"},
                                       {"messaging_service_sid", "MG9f8e"}});
  EXPECT_NE(both.find("only one"), std::string::npos);
  EXPECT_EQ(both.find("+15005550006"), std::string::npos);
  const std::string bad_callback = message_of({{"account_sid", "AC123"},
                                               {"auth_token", "t0ken-secret"},
                                               {"from", "+15005550006"},
                                               {"status_callback", "ftp://t0ken-secret@x"}});
  EXPECT_NE(bad_callback.find("'status_callback'"), std::string::npos);
  EXPECT_EQ(bad_callback.find("t0ken-secret"), std::string::npos);
}

TEST(TwilioSend, CreatedButFailedIsPermanent) {
  const SmsChannel channel(
      sms::Settings{{"account_sid", "AC123"}, {"auth_token", "t0ken"}, {"from", "+15005550006"}});
  const auto r = channel.parse_send(201, R"({"sid":"SM1","status":"failed","error_code":30007})");
  EXPECT_EQ(r.outcome, sms::SendOutcome::permanent);
  EXPECT_EQ(r.error, "error 30007");
  EXPECT_EQ(channel.parse_send(404, "{}").outcome, sms::SendOutcome::permanent);
  EXPECT_EQ(channel.parse_send(403, "{}").outcome, sms::SendOutcome::retry);
  EXPECT_EQ(channel.parse_send(502, "").outcome, sms::SendOutcome::retry);
}

}  // namespace
}  // namespace rabta::adapters::twilio
