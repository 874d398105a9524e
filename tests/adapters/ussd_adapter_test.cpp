// Africa's Talking through the USSD adapter interface (adapters/ussd/ussd_adapter.hpp): what the
// gateway sees of any USSD aggregator. Routing labels, authentication before decoding, a hop, a
// session end, and the two replies.
#include "adapters/ussd/ussd_adapter.hpp"

#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "adapters/africastalking/ussd.hpp"

namespace rabta {
namespace {

using adapters::ussd::Hop;
using adapters::ussd::Inbound;
using adapters::ussd::InboundHttp;
using adapters::ussd::Rejection;
using adapters::ussd::SessionEnd;

constexpr const char* kSecret = "s3cret-0123456789abcdef";

InboundHttp post(std::string path, std::string query, std::string body) {
  InboundHttp r;
  r.method = "POST";
  r.path = std::move(path);
  r.query = std::move(query);
  r.headers = {{"content-type", "application/x-www-form-urlencoded"}};
  r.body = std::move(body);
  return r;
}

class AfricasTalkingUssdAdapter : public ::testing::Test {
 protected:
  adapters::africastalking::UssdChannel at{"/ussd/at", kSecret};
  const adapters::ussd::UssdAdapter& adapter = at;
};

TEST_F(AfricasTalkingUssdAdapter, RoutesItsTwoEndpointsOnly) {
  EXPECT_EQ(adapter.provider(), "africastalking");
  EXPECT_EQ(adapter.route("/ussd/at"), "ussd_africastalking");
  EXPECT_EQ(adapter.route("/ussd/at/events"), "ussd_africastalking_events");
  for (const char* other : {"/ussd", "/ussd/at/", "/ussd/atx", "/ussd/at/events/x", "/sms/at"})
    EXPECT_EQ(adapter.route(other), "") << other;
}

TEST_F(AfricasTalkingUssdAdapter, AuthenticatesBeforeItDecodes) {
  // A body that would not decode still gets 403 without the key: nothing is read first.
  for (const char* query : {"", "key=wrong", "key="}) {
    const auto r = adapter.decode(post("/ussd/at", query, "%zz"));
    ASSERT_TRUE(std::holds_alternative<Rejection>(r)) << query;
    EXPECT_EQ(std::get<Rejection>(r).status, 403) << query;
  }
  InboundHttp get = post("/ussd/at", std::string("key=") + kSecret, "");
  get.method = "GET";
  EXPECT_EQ(std::get<Rejection>(adapter.decode(get)).status, 405);
  // The header form of the key alone counts when present.
  InboundHttp header =
      post("/ussd/at", "key=wrong",
           "sessionId=s&serviceCode=*384*123%23&phoneNumber=%2B923001234567&text=");
  header.headers.emplace_back("x-rabta-key", kSecret);
  const auto with_header = adapter.decode(header);
  EXPECT_TRUE(std::holds_alternative<Inbound>(with_header))
      << std::get<Rejection>(with_header).reason;
}

TEST_F(AfricasTalkingUssdAdapter, DecodesAHopAndASessionEnd) {
  const auto hop = adapter.decode(
      post("/ussd/at", std::string("key=") + kSecret,
           "sessionId=ATU1&serviceCode=*384*123%23&phoneNumber=%2B923001234567&text=1*2"));
  ASSERT_TRUE(std::holds_alternative<Inbound>(hop));
  const auto& h = std::get<Hop>(std::get<Inbound>(hop));
  EXPECT_EQ(h.session_id, "ATU1");
  EXPECT_EQ(h.service_code, "*384*123#");
  EXPECT_EQ(h.phone, "+923001234567");
  EXPECT_EQ(h.text, "1*2");

  const auto end =
      adapter.decode(post("/ussd/at/events", std::string("key=") + kSecret,
                          "sessionId=ATU1&status=Incomplete&phoneNumber=%2B923001234567"
                          "&hopsCount=2&durationInMillis=9000"));
  ASSERT_TRUE(std::holds_alternative<Inbound>(end));
  const auto& e = std::get<SessionEnd>(std::get<Inbound>(end));
  EXPECT_EQ(e.session_id, "ATU1");
  EXPECT_EQ(e.status, "Incomplete");

  const auto missing = adapter.decode(post("/ussd/at", std::string("key=") + kSecret, "text=1"));
  ASSERT_TRUE(std::holds_alternative<Rejection>(missing));
  EXPECT_EQ(std::get<Rejection>(missing).status, 400);
}

TEST_F(AfricasTalkingUssdAdapter, EncodesTheNextScreenTheLastAndBusy) {
  EXPECT_EQ(adapter.encode_reply({}, false, "1 Yes").body, "CON 1 Yes");
  EXPECT_EQ(adapter.encode_reply({}, true, "Thank you").body, "END Thank you");
  EXPECT_EQ(adapter.encode_reply({}, false, "x").status, 200);
  const auto busy = adapter.busy_reply({});
  EXPECT_EQ(busy.status, 503);
  EXPECT_EQ(busy.body.rfind("END ", 0), 0U);
}

}  // namespace
}  // namespace rabta
