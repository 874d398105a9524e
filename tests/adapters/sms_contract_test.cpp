// The contract every SMS adapter meets, driven by its own table in tests/fixtures/sms/<kind>.json
// (format: tests/fixtures/sms/README.md). Runs for every kind adapter_kinds() lists, so a new
// adapter without a complete fixture fails here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "adapters/sms/sms_adapter.hpp"
#include "tests/support/fixture_request.hpp"
#include "tests/support/preset_settings.hpp"

namespace rabta::adapters::sms {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::vector<std::string> kRequiredInbound = {"valid receive", "missing field",
                                                   "bad secret or signature", "delivery report"};
const std::vector<std::string> kRequiredSend = {"send success", "4xx", "429 throttled", "5xx"};
const std::vector<std::string> kRequiredReply = {"reply empty", "reply text"};
// Settings whose values are secrets: never in an error message, a reason or an error string.
const std::set<std::string> kSecretSettings = {"api_key", "auth_token", "password", "secret"};

fs::path fixture_path(const std::string& kind) {
  return fs::path(RABTA_SOURCE_DIR) / "tests" / "fixtures" / "sms" / (kind + ".json");
}

// The fixture, or nullopt with `error` set.
std::optional<json> load_fixture(const std::string& kind, std::string& error) {
  std::ifstream in(fixture_path(kind), std::ios::binary);
  if (!in) {
    error = "missing fixture " + fixture_path(kind).string();
    return std::nullopt;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    error = "fixture " + fixture_path(kind).string() + " is not a JSON object";
    return std::nullopt;
  }
  return j;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return s;
}

Settings settings_of(const json& fixture) {
  return test::fixture_settings(fixture);
}

// As the gateway hands a request over (tests/support/fixture_request.hpp).
InboundHttp request_of(const json& r) {
  return test::fixture_request(r);
}

OutboundSms message_of(const json& m) {
  OutboundSms msg;
  msg.outbox_id = m.at("outbox_id").get<std::int64_t>();
  msg.to = m.at("to").get<std::string>();
  msg.text = m.at("text").get<std::string>();
  msg.ucs2 = m.value("ucs2", false);
  return msg;
}

const char* outcome_name(SendOutcome o) {
  switch (o) {
    case SendOutcome::sent:
      return "sent";
    case SendOutcome::retry:
      return "retry";
    case SendOutcome::permanent:
      return "permanent";
  }
  return "?";
}

bool has_case(const json& cases, const std::string& name) {
  return std::any_of(cases.begin(), cases.end(),
                     [&](const json& c) { return c.value("name", std::string()) == name; });
}

// Every phone number, text and secret the fixture holds: none may appear in a reason or error.
std::vector<std::string> sensitive_strings(const json& fixture) {
  std::set<std::string> out;
  const auto add = [&](const std::string& s) {
    if (s.size() >= 3) out.insert(s);
  };
  for (const auto& [k, v] : fixture.at("settings").items())
    if (kSecretSettings.count(k) != 0) add(v.get<std::string>());
  for (const auto& s : fixture.value("sensitive", json::array())) add(s.get<std::string>());
  for (const auto& c : fixture.at("inbound")) {
    if (!c.at("expect").contains("sms")) continue;
    const auto& sms = c.at("expect").at("sms");
    add(sms.at("from").get<std::string>());
    add(sms.at("text").get<std::string>());
  }
  for (const auto& c : fixture.at("send")) {
    add(c.at("message").at("to").get<std::string>());
    add(c.at("message").at("text").get<std::string>());
  }
  return {out.begin(), out.end()};
}

void expect_no_leak(const std::string& said, const std::vector<std::string>& sensitive,
                    const std::string& where) {
  for (const auto& s : sensitive)
    EXPECT_EQ(said.find(s), std::string::npos)
        << where << ": '" << said << "' contains a phone number, text or secret";
}

class SmsContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string error;
    fixture_ = load_fixture(GetParam(), error);
    ASSERT_TRUE(fixture_.has_value()) << error;
    ASSERT_EQ(fixture_->value("kind", std::string()), GetParam());
    adapter_ = make_adapter(GetParam(), settings_of(*fixture_));
    ASSERT_NE(adapter_, nullptr);
    sensitive_ = sensitive_strings(*fixture_);
  }

  const json& fx() const { return *fixture_; }

  std::optional<json> fixture_;
  std::unique_ptr<SmsAdapter> adapter_;
  std::vector<std::string> sensitive_;
};

TEST_P(SmsContract, FixtureHasEveryRequiredCase) {
  for (const char* section : {"settings", "inbound", "send", "request", "reply"})
    ASSERT_TRUE(fx().contains(section)) << "fixture lacks '" << section << "'";
  for (const auto& name : kRequiredInbound)
    EXPECT_TRUE(has_case(fx().at("inbound"), name)) << "no inbound case '" << name << "'";
  for (const auto& name : kRequiredSend)
    EXPECT_TRUE(has_case(fx().at("send"), name)) << "no send case '" << name << "'";
  for (const auto& name : kRequiredReply)
    EXPECT_TRUE(has_case(fx().at("reply"), name)) << "no reply case '" << name << "'";
  std::set<std::string> names;
  for (const char* section : {"inbound", "send", "reply"})
    for (const auto& c : fx().at(section))
      EXPECT_TRUE(names.insert(std::string(section) + "/" + c.at("name").get<std::string>()).second)
          << "duplicate case name " << c.at("name");
}

TEST_P(SmsContract, NameAndReplyMode) {
  EXPECT_EQ(adapter_->name(), GetParam());
  EXPECT_EQ(adapter_->replies_in_band(), fx().at("replies_in_band").get<bool>());
}

TEST_P(SmsContract, InboundCases) {
  for (const auto& c : fx().at("inbound")) {
    const std::string name = c.at("name").get<std::string>();
    SCOPED_TRACE("inbound case '" + name + "'");
    const auto result = adapter_->decode(request_of(c.at("request")));
    const json& expect = c.at("expect");
    if (expect.contains("status")) {
      const auto* rej = std::get_if<Rejection>(&result);
      ASSERT_NE(rej, nullptr) << "expected a Rejection";
      EXPECT_EQ(rej->status, expect.at("status").get<int>()) << rej->reason;
      EXPECT_FALSE(rej->reason.empty());
      if (expect.contains("reason")) {
        EXPECT_NE(rej->reason.find(expect.at("reason").get<std::string>()), std::string::npos)
            << "reason '" << rej->reason << "' does not name " << expect.at("reason");
      }
      continue;
    }
    const auto* rej = std::get_if<Rejection>(&result);
    ASSERT_EQ(rej, nullptr) << "rejected " << rej->status << ": " << rej->reason;
    const auto& inbound = std::get<Inbound>(result);
    if (expect.contains("sms")) {
      const auto* sms = std::get_if<InboundSms>(&inbound);
      ASSERT_NE(sms, nullptr) << "expected a message, got a delivery report";
      const json& e = expect.at("sms");
      EXPECT_EQ(sms->provider_message_id, e.at("id").get<std::string>());
      EXPECT_EQ(sms->from, e.at("from").get<std::string>());
      EXPECT_EQ(sms->to, e.at("to").get<std::string>());
      EXPECT_EQ(sms->text, e.at("text").get<std::string>());
    } else {
      ASSERT_TRUE(expect.contains("dlr")) << "expect needs status, sms or dlr";
      const auto* dlr = std::get_if<DeliveryReport>(&inbound);
      ASSERT_NE(dlr, nullptr) << "expected a delivery report, got a message";
      const json& e = expect.at("dlr");
      EXPECT_EQ(dlr->provider_message_id, e.at("id").get<std::string>());
      EXPECT_EQ(dlr->outbox_id, e.at("outbox_id").get<std::int64_t>());
      EXPECT_STREQ(to_string(dlr->status), e.at("status").get<std::string>().c_str());
      EXPECT_EQ(dlr->final, e.at("final").get<bool>());
      if (e.contains("error")) {
        EXPECT_EQ(dlr->error, e.at("error").get<std::string>());
      }
    }
  }
}

TEST_P(SmsContract, SendCases) {
  for (const auto& c : fx().at("send")) {
    SCOPED_TRACE("send case '" + c.at("name").get<std::string>() + "'");
    // build_send must accept the case's message; the answer is then classified.
    (void)adapter_->build_send(message_of(c.at("message")));
    const auto& resp = c.at("response");
    const SendResult r =
        adapter_->parse_send(resp.at("status").get<long>(), resp.at("body").get<std::string>());
    const json& e = c.at("expect");
    EXPECT_STREQ(outcome_name(r.outcome), e.at("outcome").get<std::string>().c_str()) << r.error;
    EXPECT_EQ(r.provider_message_id, e.value("id", std::string()));
    if (r.outcome != SendOutcome::sent) {
      EXPECT_FALSE(r.error.empty());
    }
    if (e.contains("error")) {
      EXPECT_NE(r.error.find(e.at("error").get<std::string>()), std::string::npos)
          << "error '" << r.error << "' lacks " << e.at("error");
    }
  }
}

TEST_P(SmsContract, BuildSendMatchesRequest) {
  const json& spec = fx().at("request");
  const HttpCall call = adapter_->build_send(message_of(spec.at("message")));
  const json& e = spec.at("call");
  EXPECT_EQ(call.method, e.at("method").get<std::string>());
  EXPECT_EQ(call.url, e.at("url").get<std::string>());
  EXPECT_EQ(call.body, e.at("body").get<std::string>());
  EXPECT_EQ(call.basic_user, e.value("basic_user", std::string()));
  EXPECT_EQ(call.basic_password, e.value("basic_password", std::string()));
  for (const auto& header : e.at("headers").items()) {
    const std::string wanted = lower(header.key());
    const auto it = std::find_if(call.headers.begin(), call.headers.end(),
                                 [&](const auto& h) { return lower(h.first) == wanted; });
    ASSERT_NE(it, call.headers.end()) << "no header " << header.key();
    EXPECT_EQ(it->second, header.value().get<std::string>()) << "header " << header.key();
  }
}

TEST_P(SmsContract, EncodeReply) {
  for (const auto& c : fx().at("reply")) {
    SCOPED_TRACE("reply case '" + c.at("name").get<std::string>() + "'");
    const HttpReply r =
        adapter_->encode_reply(c.at("text").get<std::string>(), c.at("ucs2").get<bool>());
    const json& e = c.at("expect");
    EXPECT_EQ(r.status, e.at("status").get<int>());
    EXPECT_EQ(r.content_type, e.at("content_type").get<std::string>());
    EXPECT_EQ(r.body, e.at("body").get<std::string>());
    std::vector<std::pair<std::string, std::string>> expected_headers;
    for (const auto& [name, value] : e.at("headers").items())
      expected_headers.emplace_back(name, value.get<std::string>());
    EXPECT_EQ(r.headers, expected_headers);
  }
  // A delivery report is answered with encode_reply(""): never a message to the sender.
  const HttpReply empty = adapter_->encode_reply("", false);
  EXPECT_EQ(empty.status, 200);
  EXPECT_EQ(empty.body.find("<Message>"), std::string::npos);
}

TEST_P(SmsContract, NoNumberTextOrSecretInReasonsOrErrors) {
  ASSERT_FALSE(sensitive_.empty());
  for (const auto& c : fx().at("inbound")) {
    const auto result = adapter_->decode(request_of(c.at("request")));
    if (const auto* rej = std::get_if<Rejection>(&result))
      expect_no_leak(rej->reason, sensitive_, "inbound '" + c.at("name").get<std::string>() + "'");
    else if (const auto* dlr = std::get_if<DeliveryReport>(&std::get<Inbound>(result)))
      expect_no_leak(dlr->error, sensitive_, "inbound '" + c.at("name").get<std::string>() + "'");
  }
  for (const auto& c : fx().at("send")) {
    const auto& resp = c.at("response");
    const SendResult r =
        adapter_->parse_send(resp.at("status").get<long>(), resp.at("body").get<std::string>());
    expect_no_leak(r.error, sensitive_, "send '" + c.at("name").get<std::string>() + "'");
  }
  // The valid request with a field named after each sensitive string and holding bytes that are
  // not UTF-8: the sender chose that name, so the reason must not repeat it.
  for (const auto& c : fx().at("inbound")) {
    if (c.at("name") != "valid receive") continue;
    for (const auto& s : sensitive_) {
      InboundHttp req = request_of(c.at("request"));
      std::string field = "&";
      for (const unsigned char ch : s) {
        static constexpr char kHex[] = "0123456789ABCDEF";
        field += '%';
        field += kHex[ch >> 4U];
        field += kHex[ch & 0x0FU];
      }
      field += "=%FF%FE";
      if (req.method == "GET" || req.body.empty()) {
        req.query += field;
        req.public_url += field;
      } else {
        req.body += field;
      }
      const auto result = adapter_->decode(req);
      if (const auto* rej = std::get_if<Rejection>(&result))
        expect_no_leak(rej->reason, sensitive_, "inbound with a crafted field name");
    }
  }
  // Answers made of nothing but the sensitive strings, at every status an aggregator uses.
  for (const long status : {0L, 200L, 201L, 202L, 400L, 401L, 403L, 404L, 429L, 500L, 503L}) {
    for (const auto& s : sensitive_) {
      for (const std::string& body :
           {s, std::string(R"({"code":21211,"message":")") + s + "\"}",
            std::string(R"({"SMSMessageData":{"Message":")") + s +
                R"(","Recipients":[{"statusCode":403,"number":")" + s + R"(","status":")" + s +
                R"(","messageId":")" + s + "\"}]}}"}) {
        const SendResult r = adapter_->parse_send(status, body);
        expect_no_leak(r.error, sensitive_, "parse_send(" + std::to_string(status) + ")");
      }
    }
  }
}

TEST_P(SmsContract, MissingRequiredSettingIsNamedWithoutValues) {
  const Settings full = settings_of(fx());
  std::vector<std::string> values;
  for (const auto& [k, v] : full)
    if (v.size() >= 4) values.push_back(v);
  for (const auto& required : fx().at("required_settings")) {
    const std::string name = required.get<std::string>();
    for (const bool empty : {false, true}) {
      Settings s = full;
      if (empty)
        s[name] = "";
      else
        s.erase(name);
      try {
        (void)make_adapter(GetParam(), s);
        ADD_FAILURE() << "no error without setting '" << name << "'";
      } catch (const std::invalid_argument& e) {
        EXPECT_EQ(std::string(e.what()),
                  "channel " + GetParam() + ": missing setting '" + name + "'");
        for (const auto& v : values) EXPECT_EQ(std::string(e.what()).find(v), std::string::npos);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllKinds, SmsContract, ::testing::ValuesIn(adapter_kinds()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           return param.param;
                         });

TEST(SmsRegistry, ListsEveryAdapterOnce) {
  const auto kinds = adapter_kinds();
  EXPECT_EQ(kinds, (std::vector<std::string>{"africastalking", "twilio", "kannel", "http"}));
  for (const auto& k : kinds) EXPECT_TRUE(fs::exists(fixture_path(k))) << k;
}

TEST(SmsRegistry, UnknownKindThrows) {
  EXPECT_THROW((void)make_adapter("carrier-pigeon", Settings{}), std::invalid_argument);
}

TEST(SmsRegistry, DeliveryNames) {
  EXPECT_STREQ(to_string(Delivery::queued), "queued");
  EXPECT_STREQ(to_string(Delivery::sent), "sent");
  EXPECT_STREQ(to_string(Delivery::delivered), "delivered");
  EXPECT_STREQ(to_string(Delivery::failed), "failed");
  EXPECT_STREQ(to_string(Delivery::unknown), "unknown");
}

}  // namespace
}  // namespace rabta::adapters::sms
