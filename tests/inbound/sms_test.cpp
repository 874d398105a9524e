// SMS conversations over real HTTP (Kannel's get-url and Africa's Talking's callback) with a real
// SQLite file: keywords in three languages, the flows one question per message, STOP/START,
// floods and loops, duplicate deliveries, and no report confirmation by SMS (SAFETY S5).
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "adapters/common/crypto.hpp"
#include "tests/support/gateway_fixture.hpp"

using namespace rabta;

namespace {

const std::string phone = "+923001234567";

}  // namespace

TEST(SmsConversation, MadadStartsTheReportInRomanUrduAndEachAnswerGetsTheNextQuestion) {
  test::Gateway g;
  auto r = g.kannel_sms("m1", phone, "MADAD");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body.rfind("Kya hua?\n1. Jismani tashaddud", 0), 0u) << r.body;
  EXPECT_EQ(g.text("SELECT language FROM contacts"), "roman")
      << "the keyword's language is remembered";
  EXPECT_EQ(g.kannel_sms("m2", phone, "1").body.rfind("Kab?", 0), 0u);
  g.kannel_sms("m3", phone, "1");  // today
  g.kannel_sms("m4", phone, "2");  // not safe now
  g.kannel_sms("m5", phone, "2");  // no call
  g.kannel_sms("m6", phone, "5");  // Lahore
  const auto last = g.kannel_sms("m7", phone, "3");
  // The end screen would show the case reference: by SMS it is a neutral goodbye instead.
  EXPECT_EQ(last.body, "Shukriya. Khuda hafiz");
  EXPECT_EQ(g.count("cases", "category = 'physical_violence' AND severity = 'high'"), 1);
  EXPECT_EQ(g.count("sessions", "channel = 'sms' AND status = 'finished'"), 1);
}

TEST(SmsConversation, UrduKeywordAnswersInUrduWithTheUcs2Header) {
  test::Gateway g;
  const auto r = g.kannel_sms("u1", phone, "مدد");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.rfind("کیا ہوا؟", 0), 0u) << r.body;
  // Without X-Kannel-Coding: 2 Kannel would turn every Urdu letter into '?'.
  EXPECT_NE(r.headers.find("X-Kannel-Coding: 2"), std::string::npos) << r.headers;
  EXPECT_EQ(g.text("SELECT language FROM contacts"), "ur");
}

TEST(SmsConversation, DuplicateDeliveryGetsTheSameAnswerAndOneEffect) {
  test::Gateway g;
  const auto first = g.kannel_sms("d1", phone, "help");
  for (int i = 0; i < 10; ++i) EXPECT_EQ(g.kannel_sms("d1", phone, "help").body, first.body);
  EXPECT_EQ(g.count("inbound"), 1);
  EXPECT_EQ(g.count("sessions"), 1);
}

TEST(SmsConversation, StopOptsOutAndStartOptsBackIn) {
  test::Gateway g;
  EXPECT_EQ(g.kannel_sms("s1", phone, "STOP").body,
            "You will get no more messages. Send START to begin again.");
  EXPECT_EQ(g.text("SELECT status FROM contacts"), "opted_out");
  EXPECT_EQ(g.kannel_sms("s2", phone, "بند").body.empty(), false);
  EXPECT_EQ(g.kannel_sms("s3", phone, "start").body, "Welcome back. Send CHECK any time.");
  EXPECT_EQ(g.text("SELECT status FROM contacts"), "caller");
  EXPECT_EQ(g.count("consents", "purpose = 'sms' AND granted = 0"), 2);
}

TEST(SmsConversation, QuickExitEndsTheConversationOnNeutralText) {
  test::Gateway g;
  g.kannel_sms("q1", phone, "madad");
  g.kannel_sms("q2", phone, "2");
  EXPECT_EQ(g.kannel_sms("q3", phone, "00").body, "Shukriya. Khuda hafiz");
  EXPECT_EQ(g.count("cases", "category = 'interrupted_report'"), 1);
  EXPECT_GT(std::stoll(g.text("SELECT quiet_until FROM contacts")), 0);
}

TEST(SmsConversation, AFloodFromOneNumberIsThrottled) {
  test::Gateway g;
  int answered = 0;
  for (int i = 0; i < 30; ++i)
    if (!g.kannel_sms("f" + std::to_string(i), phone, "x" + std::to_string(i)).body.empty())
      ++answered;
  EXPECT_EQ(answered, g.sms_policy.throttle_max_messages);
}

TEST(SmsConversation, AnAutoReplyLoopStopsWithinTheLimit) {
  test::Gateway g;
  // Another machine answering every message with the same text: a menu, then re-prompts until
  // the invalid-answer limit ends the conversation, then silence.
  std::vector<bool> answered;
  for (int i = 0; i < 12; ++i)
    answered.push_back(
        !g.kannel_sms("l" + std::to_string(i), phone, "I am away, will reply later").body.empty());
  const auto replies = std::count(answered.begin(), answered.end(), true);
  EXPECT_LE(replies, g.sms_policy.loop_max_repeats + 3)
      << "bounded by the loop and invalid-answer limits";
  for (std::size_t i = answered.size() - 6; i < answered.size(); ++i)
    EXPECT_FALSE(answered[i]) << "message " << i;
}

TEST(SmsConversation, TheSameValidAnswerManyTimesIsNotALoop) {
  test::Gateway g;
  g.kannel_sms("v0", phone, "madad");
  // physical violence, today, safe now, may be called: four "1"s in a row, each answered.
  for (int i = 1; i <= 4; ++i)
    EXPECT_FALSE(g.kannel_sms("v" + std::to_string(i), phone, "1").body.empty()) << i;
  EXPECT_EQ(g.kannel_sms("v5", phone, "1").body.rfind("Zila", 0), 0u)
      << "morning, then the district list";
}

TEST(SmsConversation, ChannelsWithoutInBandRepliesQueueAnEncryptedReply) {
  test::Gateway g;
  const auto r = g.http.post(g.base + "/sms/at?key=" + test::kannel_secret,
                             test::form({{"from", phone},
                                         {"to", "12345"},
                                         {"text", "check"},
                                         {"id", "at-1"},
                                         {"date", "2026-11-24 10:00:00"}}));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(g.count("outbox", "kind = 'sms:at' AND status = 'pending'"), 1);
  const std::string payload = g.text("SELECT payload FROM outbox WHERE kind = 'sms:at'");
  EXPECT_EQ(payload.find("3001234567"), std::string::npos)
      << "the number is encrypted in the payload";
  EXPECT_EQ(payload.find("How are you"), std::string::npos)
      << "the screen she would see is sealed in the payload too (SECURITY #11)";
  const auto queued = test::queued_sms(g, "sms:at");
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_TRUE(queued[0].solicited);
  EXPECT_EQ(queued[0].text.rfind("How are you this week?", 0), 0u)
      << "an English keyword sets English";
}

// SECURITY #11: inbound.text_hash (the loop detector's) is keyed and per contact: the SHA-256 of
// a word from a list does not find it, and two women sending the same word leave different hashes.
TEST(SmsConversation, TheStoredTextHashIsKeyedSoAWordListDoesNotRecoverTheText) {
  test::Gateway g;
  ASSERT_FALSE(g.kannel_sms("h1", phone, "madad").body.empty());
  ASSERT_FALSE(g.kannel_sms("h2", "+923007654321", "madad").body.empty());
  const std::string first =
      g.text("SELECT text_hash FROM inbound WHERE provider_message_id = 'h1'");
  const std::string second =
      g.text("SELECT text_hash FROM inbound WHERE provider_message_id = 'h2'");
  EXPECT_EQ(first.size(), 64u);
  for (const char* word : {"madad", "MADAD", "madad\n"})
    EXPECT_NE(first, common::sha256_hex(word)) << word;
  EXPECT_NE(first, second) << "the same word from two women";
}

TEST(SmsConversation, AWrongKeyIsRefusedAndNothingIsStored) {
  test::Gateway g;
  const auto r = g.http.get(
      g.base + "/sms/kannel?" +
      test::form({{"key", "nope-nope-nope"}, {"id", "z"}, {"from", phone}, {"text", "madad"}}));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(g.count("inbound"), 0);
  EXPECT_EQ(g.count("contacts"), 0);
}

// SECURITY #11: Kannel's and Africa's Talking's SMS callbacks take the secret in X-Rabta-Key too.
TEST(SmsConversation, TheKeyMayComeInAHeaderAndThenAloneCounts) {
  test::Gateway g;
  const std::string query =
      test::form({{"id", "h1"}, {"from", phone}, {"to", "12345"}, {"text", "madad"}});
  auto r = g.http.request("GET", g.base + "/sms/kannel?" + query,
                          {std::string("X-Rabta-Key: ") + test::kannel_secret}, "");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(g.count("inbound"), 1);
  r = g.http.request("GET",
                     g.base + "/sms/kannel?" +
                         test::form({{"key", test::kannel_secret},
                                     {"id", "h2"},
                                     {"from", phone},
                                     {"to", "12345"},
                                     {"text", "1"}}),
                     {"X-Rabta-Key: nope-nope-nope"}, "");
  EXPECT_EQ(r.status, 403);
  r = g.http.request("POST", g.base + "/sms/at",
                     {"Content-Type: application/x-www-form-urlencoded", "X-Rabta-Key: nope"},
                     test::form({{"from", phone},
                                 {"to", "12345"},
                                 {"text", "1"},
                                 {"id", "h3"},
                                 {"date", "2026-12-05 10:00:00"}}));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(g.count("inbound"), 1);
}

TEST(SmsConversation, ADeliveryReportForAnUnknownMessageIsAcceptedNotAnErrorLoop) {
  test::Gateway g;
  const auto r = g.http.get(g.base + "/sms/kannel?" +
                            test::form({{"key", test::kannel_secret},
                                        {"dlr", "1"},
                                        {"oid", "999"},
                                        {"type", "1"},
                                        {"fid", "abc"}}));
  EXPECT_EQ(r.status, 200);
}

TEST(SmsConversation, QuickExitAtEveryStepOfAReportEndsOnNeutralTextAndQueuesNothingToHer) {
  test::Gateway g;
  // MADAD, then the answers of a whole report (what, when, safe now, safe to call, district).
  const std::vector<std::string> answers = {"1", "1", "1", "2", "5"};
  for (std::size_t step = 0; step <= answers.size(); ++step) {
    const std::string phone = "+9230012300" + std::to_string(10 + step);
    const std::string id = "qx" + std::to_string(step) + "-";
    g.kannel_sms(id + "0", phone, "madad");
    for (std::size_t j = 0; j < step; ++j)
      g.kannel_sms(id + std::to_string(j + 1), phone, answers[j]);
    EXPECT_EQ(g.kannel_sms(id + "x", phone, "00").body, "Shukriya. Khuda hafiz")
        << "quick exit after " << step << " answers";
  }
  const auto n = static_cast<int>(answers.size() + 1);
  EXPECT_EQ(g.count("cases", "category = 'interrupted_report'"), n) << "each started report";
  EXPECT_EQ(g.count("contacts", "quiet_until > 0"), n) << "each starts her quiet period";
  EXPECT_EQ(g.count("outbox", "contact_id != 0"), 0) << "nothing queued to her";
}
