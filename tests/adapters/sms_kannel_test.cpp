// Kannel specifics: UTF-16BE decoding, the sendsms URL and its dlr-url, and a delivery report
// coming back through the dlr-url exactly as Kannel expands it.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <variant>

#include "adapters/common/form.hpp"
#include "adapters/kannel/sms.hpp"

namespace rabta::adapters::kannel {
namespace {

const sms::Settings kSettings = {
    {"sendsms_url", "http://127.0.0.1:13013/cgi-bin/sendsms"},
    {"username", "rabta"},
    {"password", "s3ndpass-Kx9"},
    {"from", "4455"},
    {"secret", "k4nnelS3cret-7Qp"},
    {"dlr_url", "http://127.0.0.1:8080/sms/kannel?key=k4nnelS3cret-7Qp"},
};

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (const int c : b) s.push_back(static_cast<char>(c));
  return s;
}

TEST(KannelUtf16, DecodesBmpAndSurrogatePairs) {
  EXPECT_EQ(utf16be_to_utf8(bytes({0x06, 0x45, 0x06, 0x2F, 0x06, 0x2F})), "مدد");
  EXPECT_EQ(utf16be_to_utf8(bytes({0x00, 0x41, 0x00, 0xE9, 0x20, 0xAC})), "Aé€");
  EXPECT_EQ(utf16be_to_utf8(bytes({0xD8, 0x3D, 0xDE, 0x4F})), "\xF0\x9F\x99\x8F");  // U+1F64F
  EXPECT_EQ(utf16be_to_utf8(bytes({0xDB, 0xFF, 0xDF, 0xFF})), "\xF4\x8F\xBF\xBF");  // U+10FFFF
  EXPECT_EQ(utf16be_to_utf8(bytes({0xFF, 0xFD})), "\xEF\xBF\xBD");
  EXPECT_EQ(utf16be_to_utf8(""), "");
}

TEST(KannelUtf16, RejectsMalformedInput) {
  EXPECT_FALSE(utf16be_to_utf8(bytes({0x06})).has_value());
  EXPECT_FALSE(utf16be_to_utf8(bytes({0x06, 0x45, 0x06})).has_value());
  EXPECT_FALSE(utf16be_to_utf8(bytes({0xD8, 0x3D})).has_value());              // high alone
  EXPECT_FALSE(utf16be_to_utf8(bytes({0xD8, 0x3D, 0x00, 0x41})).has_value());  // high + 'A'
  EXPECT_FALSE(utf16be_to_utf8(bytes({0xD8, 0x3D, 0xD8, 0x3D})).has_value());  // high + high
  EXPECT_FALSE(utf16be_to_utf8(bytes({0xDE, 0x4F, 0x00, 0x41})).has_value());  // low first
  EXPECT_FALSE(utf16be_to_utf8(bytes({0x00, 0x41, 0xD8, 0x3D, 0xDE})).has_value());
}

TEST(KannelSend, SevenBitMessageAndUrlWithQuery) {
  sms::Settings s = kSettings;
  s["sendsms_url"] = "http://127.0.0.1:13013/cgi-bin/sendsms?smsc=FAKE";
  const SmsChannel channel(s);
  const auto call =
      channel.build_send(sms::OutboundSms{7, "+923001234567", "Salaam & 100%", false});
  EXPECT_EQ(call.method, "GET");
  EXPECT_EQ(call.url,
            "http://127.0.0.1:13013/cgi-bin/sendsms?smsc=FAKE&username=rabta&password=s3ndpass-Kx9"
            "&from=4455&to=%2B923001234567&text=Salaam%20%26%20100%25&charset=UTF-8&coding=0"
            "&dlr-mask=31&dlr-url=http%3A%2F%2F127.0.0.1%3A8080%2Fsms%2Fkannel%3Fkey%3D"
            "k4nnelS3cret-7Qp%26dlr%3D1%26oid%3D7%26type%3D%25d%26fid%3D%25F");
  EXPECT_TRUE(call.body.empty());
  EXPECT_TRUE(call.basic_user.empty());
}

// Kannel decodes the dlr-url parameter once, expands %d and %F, and fetches it.
TEST(KannelSend, DlrUrlComesBackAsADeliveryReport) {
  const SmsChannel channel(kSettings);
  const auto call = channel.build_send(sms::OutboundSms{9001, "+923001234567", "hi", false});
  const auto at = call.url.find("&dlr-url=");
  ASSERT_NE(at, std::string::npos);
  auto dlr_url = common::percent_decode(call.url.substr(at + 9), false);
  ASSERT_TRUE(dlr_url.has_value());
  EXPECT_EQ(*dlr_url,
            "http://127.0.0.1:8080/sms/kannel?key=k4nnelS3cret-7Qp&dlr=1&oid=9001&type=%d&fid=%F");
  std::string expanded = *dlr_url;
  expanded.replace(expanded.find("%d"), 2, "1");
  expanded.replace(expanded.find("%F"), 2, "c34f4d45-b758-49d7-9aa8-d83520dbf899");

  sms::InboundHttp req;
  req.method = "GET";
  req.public_url = expanded;
  req.path = "/sms/kannel";
  req.query = expanded.substr(expanded.find('?') + 1);
  const auto result = channel.decode(req);
  ASSERT_TRUE(std::holds_alternative<sms::Inbound>(result));
  const auto* dlr = std::get_if<sms::DeliveryReport>(&std::get<sms::Inbound>(result));
  ASSERT_NE(dlr, nullptr);
  EXPECT_EQ(dlr->outbox_id, 9001);
  EXPECT_EQ(dlr->status, sms::Delivery::delivered);
  EXPECT_TRUE(dlr->final);
  EXPECT_EQ(dlr->provider_message_id, "c34f4d45-b758-49d7-9aa8-d83520dbf899");
}

TEST(KannelSend, DlrUrlWithoutKeyGetsTheSecret) {
  sms::Settings s = kSettings;
  for (const char* url :
       {"http://127.0.0.1:8080/sms/kannel", "http://127.0.0.1:8080/sms/kannel?"}) {
    s["dlr_url"] = url;
    const SmsChannel channel(s);
    const auto call = channel.build_send(sms::OutboundSms{5, "+923001234567", "hi", false});
    const std::string encoded_dlr = call.url.substr(call.url.find("&dlr-url=") + 9);
    EXPECT_EQ(common::percent_decode(encoded_dlr, false),
              "http://127.0.0.1:8080/sms/kannel?key=k4nnelS3cret-7Qp&dlr=1&oid=5&type=%d&fid=%F")
        << url;
  }
  s["dlr_url"] = "http://127.0.0.1:8080/sms/kannel?chan=pk";
  const auto call = SmsChannel(s).build_send(sms::OutboundSms{5, "+923001234567", "hi", false});
  EXPECT_EQ(
      common::percent_decode(call.url.substr(call.url.find("&dlr-url=") + 9), false),
      "http://127.0.0.1:8080/sms/kannel?chan=pk&key=k4nnelS3cret-7Qp&dlr=1&oid=5&type=%d&fid=%F");
}

TEST(KannelSend, DlrUrlWithAnotherKeyIsRefused) {
  sms::Settings s = kSettings;
  s["dlr_url"] = "http://127.0.0.1:8080/sms/kannel?key=another";
  try {
    SmsChannel c(s);
    ADD_FAILURE() << "a dlr_url with another key must be refused";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'dlr_url'"), std::string::npos);
    EXPECT_EQ(std::string(e.what()).find("k4nnelS3cret-7Qp"), std::string::npos);
    EXPECT_EQ(std::string(e.what()).find("another"), std::string::npos);
  }
}

TEST(KannelSettings, UrlsMustBeHttp) {
  sms::Settings s = kSettings;
  s["sendsms_url"] = "127.0.0.1:13013/cgi-bin/sendsms";
  EXPECT_THROW(SmsChannel{s}, std::invalid_argument);
}

TEST(KannelReply, UcsTwoHeaderOnlyWithText) {
  const SmsChannel channel(kSettings);
  const auto urdu = channel.encode_reply("شکریہ", true);
  ASSERT_EQ(urdu.headers.size(), 1U);
  EXPECT_EQ(urdu.headers[0].first, "X-Kannel-Coding");
  EXPECT_EQ(urdu.headers[0].second, "2");
  EXPECT_EQ(urdu.body, "شکریہ");
  EXPECT_EQ(urdu.content_type, "text/plain; charset=utf-8");
  EXPECT_TRUE(channel.encode_reply("Shukriya", false).headers.empty());
  const auto empty = channel.encode_reply("", true);
  EXPECT_TRUE(empty.body.empty());
  EXPECT_TRUE(empty.headers.empty());
}

TEST(KannelDecode, PostCharsetFromContentTypeAlone) {
  const SmsChannel channel(kSettings);
  sms::InboundHttp req;
  req.method = "POST";
  req.public_url = "http://127.0.0.1:8080/sms/kannel?key=k4nnelS3cret-7Qp&id=abc&from=%2B92300";
  req.query = "key=k4nnelS3cret-7Qp&id=abc&from=%2B92300";
  req.headers = {{"content-type", "text/plain; charset=\"UTF-16BE\""}};
  req.body = bytes({0x06, 0x45, 0x06, 0x2F, 0x06, 0x2F});
  const auto result = channel.decode(req);
  ASSERT_TRUE(std::holds_alternative<sms::Inbound>(result));
  const auto* sms = std::get_if<sms::InboundSms>(&std::get<sms::Inbound>(result));
  ASSERT_NE(sms, nullptr);
  EXPECT_EQ(sms->text, "مدد");
  EXPECT_EQ(sms->from, "+92300");
  EXPECT_EQ(sms->to, "");
}

}  // namespace
}  // namespace rabta::adapters::kannel
