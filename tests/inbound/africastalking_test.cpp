// The Africa's Talking USSD adapter over real HTTP on loopback with a real SQLite file:
// good requests, and every kind of bad one answered with a clear 4xx and nothing stored.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "adapters/africastalking/ussd.hpp"
#include "tests/support/gateway_fixture.hpp"

using namespace rabta;
using test::form;
using test::Gateway;

namespace {

const std::string phone = "+923001234567";

std::string hop_body(const std::string& session, const std::string& text) {
  return form({{"sessionId", session},
               {"serviceCode", "*786#"},
               {"phoneNumber", phone},
               {"networkCode", "99999"},
               {"text", text}});
}

}  // namespace

TEST(AfricasTalkingDecode, TakesTheDocumentedFields) {
  namespace at = adapters::africastalking;
  auto r = at::decode_ussd("application/x-www-form-urlencoded; charset=UTF-8",
                           "sessionId=ATUid_1&serviceCode=*384*1234%23&phoneNumber=%2B254700000002&"
                           "networkCode=99999&text=2*1");
  ASSERT_TRUE(std::holds_alternative<at::UssdRequest>(r));
  const auto& u = std::get<at::UssdRequest>(r);
  EXPECT_EQ(u.session_id, "ATUid_1");
  EXPECT_EQ(u.service_code, "*384*1234#");
  EXPECT_EQ(u.phone_number, "+254700000002");
  EXPECT_EQ(u.text, "2*1");
  EXPECT_EQ(at::encode_reply(false, "Hi"), "CON Hi");
  EXPECT_EQ(at::encode_reply(true, "Bye"), "END Bye");
}

TEST(AfricasTalkingDecode, KeyIsComparedExactly) {
  namespace at = adapters::africastalking;
  EXPECT_TRUE(at::authenticate("", "key=abc123", "abc123"));
  EXPECT_TRUE(at::authenticate("", "x=1&key=abc123", "abc123"));
  EXPECT_FALSE(at::authenticate("", "key=abc124", "abc123"));
  EXPECT_FALSE(at::authenticate("", "key=abc1234", "abc123"));
  EXPECT_FALSE(at::authenticate("", "", "abc123"));
  EXPECT_FALSE(at::authenticate("", "key=", ""));
  // The header form (SECURITY #11): when present it alone counts.
  EXPECT_TRUE(at::authenticate("abc123", "", "abc123"));
  EXPECT_FALSE(at::authenticate("abc124", "key=abc123", "abc123")) << "a wrong header is wrong";
  EXPECT_FALSE(at::authenticate("abc123", "", ""));
}

TEST(AfricasTalkingHttp, FirstHopShowsTheLanguageScreenAsPlainTextCon) {
  Gateway g;
  const auto r = g.hop("s1", phone, "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(r.body.rfind("CON ", 0), 0u) << r.body;
  EXPECT_NE(r.body.find("1. اردو"), std::string::npos);
  EXPECT_EQ(g.count("sessions"), 1);
  EXPECT_EQ(g.count("contacts"), 1);
}

// SECURITY #11: the callback secret in a header instead of the query, so that a reverse proxy's
// access log (which records the query) never holds it. When the header is there, it alone counts.
TEST(AfricasTalkingHttp, TheKeyMayComeInAHeaderSoAProxyLogNeverHoldsIt) {
  Gateway g;
  const std::string form_type = "Content-Type: application/x-www-form-urlencoded";
  auto r = g.http.request("POST", g.base + "/ussd/africastalking",
                          {form_type, std::string("X-Rabta-Key: ") + test::test_secret},
                          hop_body("hdr", ""));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body.rfind("CON ", 0), 0u) << r.body;
  r = g.http.request("POST", g.base + "/ussd/africastalking?key=" + test::test_secret,
                     {form_type, "X-Rabta-Key: not-the-secret-at-all"}, hop_body("hdr2", ""));
  EXPECT_EQ(r.status, 403) << "a wrong header is not rescued by a right query key";
  EXPECT_EQ(g.count("sessions"), 1);
}

struct BadRequest {
  const char* name;
  std::string url_key;  // "" = no key
  std::string content_type;
  std::string body;
  long status;
  const char* reason;
};

TEST(AfricasTalkingHttp, BadRequestsGetAReasonAndStoreNothing) {
  Gateway g;
  const std::string form_type = "application/x-www-form-urlencoded";
  const std::vector<BadRequest> cases = {
      {"wrong key", "not-the-secret-at-all", form_type, hop_body("a", ""), 403,
       "missing or wrong key"},
      {"no key", "", form_type, hop_body("a", ""), 403, "missing or wrong key"},
      {"missing sessionId", test::test_secret, form_type,
       form({{"serviceCode", "*786#"}, {"phoneNumber", phone}, {"text", ""}}), 400,
       "missing field 'sessionId'"},
      {"missing phoneNumber", test::test_secret, form_type,
       form({{"sessionId", "a"}, {"serviceCode", "*786#"}, {"text", ""}}), 400,
       "missing field 'phoneNumber'"},
      {"missing text", test::test_secret, form_type,
       form({{"sessionId", "a"}, {"serviceCode", "*786#"}, {"phoneNumber", phone}}), 400,
       "missing field 'text'"},
      {"not a phone number", test::test_secret, form_type,
       form({{"sessionId", "a"}, {"serviceCode", "*786#"}, {"phoneNumber", "abc"}, {"text", ""}}),
       400, "field 'phoneNumber' is not a phone number"},
      {"bytes that are not UTF-8", test::test_secret, form_type,
       "sessionId=a&serviceCode=*786%23&phoneNumber=%2B923001234567&text=%FF%FE", 400,
       "field 'text' is not valid UTF-8"},
      {"malformed percent-encoding", test::test_secret, form_type,
       "sessionId=a&serviceCode=*786%23&phoneNumber=%2B923001234567&text=%G1", 400,
       "malformed percent-encoding in field 'text'"},
      {"JSON instead of a form", test::test_secret, "application/json", "{\"sessionId\":\"a\"}",
       415, "expected Content-Type application/x-www-form-urlencoded"},
  };
  for (const auto& c : cases) {
    const std::string url =
        g.base + "/ussd/africastalking" + (c.url_key.empty() ? "" : "?key=" + c.url_key);
    const auto r = g.http.post(url, c.body, c.content_type);
    EXPECT_EQ(r.status, c.status) << c.name;
    EXPECT_NE(r.body.find(c.reason), std::string::npos) << c.name << ": " << r.body;
  }
  EXPECT_EQ(g.count("sessions"), 0);
  EXPECT_EQ(g.count("contacts"), 0);
}

TEST(AfricasTalkingHttp, OversizedBodyGets413AndNothingIsStored) {
  Gateway g;
  std::string big = hop_body("a", "") + "&pad=" + std::string(1 << 20, 'x');
  const auto r = g.http.post(g.ussd_url(), big);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(g.count("sessions"), 0);
}

TEST(AfricasTalkingHttp, WrongMethodAndUnknownPath) {
  Gateway g;
  EXPECT_EQ(g.http.get(g.ussd_url()).status, 405);
  EXPECT_EQ(g.http.post(g.base + "/nope", "").status, 404);
}

TEST(AfricasTalkingHttp, RepeatedHopIsAnsweredAgainWithoutASecondEffect) {
  Gateway g;
  g.hop("s1", phone, "");
  g.hop("s1", phone, "3");    // English (third on the language screen)
  g.hop("s1", phone, "3*1");  // weekly check-in
  const auto first = g.hop("s1", phone, "3*1*1");
  ASSERT_EQ(first.status, 200);
  const int answers = g.count("answers");
  for (int i = 0; i < 10; ++i) {
    const auto again = g.hop("s1", phone, "3*1*1");
    EXPECT_EQ(again.status, 200);
    EXPECT_EQ(again.body, first.body);
  }
  EXPECT_EQ(g.count("answers"), answers);
  EXPECT_EQ(g.text("SELECT hop_count FROM sessions"), "4");
}

TEST(AfricasTalkingHttp, EndOfSessionNotificationRecordsHowItEnded) {
  Gateway g;
  g.hop("s1", phone, "");
  const auto ok = g.http.post(g.events_url(), form({{"sessionId", "s1"},
                                                    {"status", "Incomplete"},
                                                    {"phoneNumber", phone},
                                                    {"hopsCount", "1"},
                                                    {"date", "2026-11-24 10:00:00"}}));
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(g.text("SELECT status || '/' || end_reason FROM sessions"), "incomplete/Incomplete");
  // Unknown sessions are accepted (a retry cannot make them known) and change nothing.
  EXPECT_EQ(g.http.post(g.events_url(), form({{"sessionId", "zzz"}, {"status", "Success"}})).status,
            200);
  EXPECT_EQ(g.http.post(g.events_url(), form({{"sessionId", "s1"}, {"status", "Weird"}})).status,
            400);
  EXPECT_EQ(g.http
                .post(g.events_url("wrong-key-wrong-key"),
                      form({{"sessionId", "s1"}, {"status", "Success"}}))
                .status,
            403);
  EXPECT_EQ(g.text("SELECT status FROM sessions"), "incomplete");
}

TEST(AfricasTalkingHttp, HealthzIsOkWhileTheDatabaseIsWritable) {
  Gateway g;
  const auto r = g.http.get(g.base + "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
}

TEST(AfricasTalkingHttp, ThePhoneNumberIsNeverStored) {
  Gateway g;
  g.hop("s1", phone, "");
  g.hop("s1", phone, "3");
  g.store->close();
  for (const std::string suffix : {"", "-wal"}) {
    std::ifstream in(g.db_path() + suffix, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(bytes.find("3001234567"), std::string::npos) << "number found in database" << suffix;
  }
}
