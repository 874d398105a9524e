// USSD sessions against a real SQLite store: durable state per hop, cases with their outbox row
// in the same transaction, resume, quick exit and remembered language.
#include <gtest/gtest.h>

#include <future>

#include "gateway/inbound/effects.hpp"
#include "tests/support/gateway_fixture.hpp"

using namespace rabta;
using gateway::UssdService;

TEST(NewInput, TakesWhatTheLatestHopAdded) {
  EXPECT_EQ(UssdService::new_input("", ""), "");
  EXPECT_EQ(UssdService::new_input("", "1"), "1");
  EXPECT_EQ(UssdService::new_input("1", "1*2"), "2");
  EXPECT_EQ(UssdService::new_input("1*2", "1*2*500"), "500");
  // A '*' typed inside an answer stays in the answer.
  EXPECT_EQ(UssdService::new_input("2*1", "2*1*hello*there"), "hello*there");
  // An empty input (she pressed send with nothing typed).
  EXPECT_EQ(UssdService::new_input("2*1", "2*1*"), "");
  // An aggregator that sends only the newest input, or restarted the path.
  EXPECT_EQ(UssdService::new_input("2*1", "3"), "3");
  EXPECT_EQ(UssdService::new_input("2*1", "9*4"), "4");
}

namespace {

const std::string phone = "+923001234567";

// Walks a USSD session hop by hop, building the accumulated text like the aggregator does.
class Phone {
 public:
  Phone(test::Gateway& g, std::string session) : g_(g), session_(std::move(session)) {}
  std::string dial() {
    dialled_ = false;
    path_.clear();
    return send();
  }
  std::string press(const std::string& input) {
    path_ = dialled_ && !path_.empty() ? path_ + "*" + input : (dialled_ ? input : path_);
    return send();
  }

 private:
  std::string send() {
    dialled_ = true;
    const auto r = g_.hop(session_, phone, path_);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.body;
  }
  test::Gateway& g_;
  std::string session_;
  std::string path_;
  bool dialled_ = false;
};

}  // namespace

TEST(UssdService, IncidentReportOpensACaseAndItsOutboxRowWithTheReferenceShown) {
  test::Gateway g;
  Phone p{g, "s1"};
  p.dial();
  p.press("3");                           // English
  p.press("2");                           // tell us something
  p.press("1");                           // physical violence
  p.press("1");                           // today
  p.press("2");                           // not safe now -> high severity
  p.press("2");                           // not safe to call
  p.press("5");                           // Lahore
  const std::string last = p.press("3");  // share with neither
  ASSERT_EQ(last.rfind("END Received. Reference: ", 0), 0u) << last;
  const std::string ref = last.substr(std::string("END Received. Reference: ").size());
  EXPECT_EQ(ref.size(), 6u);
  EXPECT_EQ(g.count("cases", "reference = '" + ref +
                                 "' AND category = 'physical_violence' AND severity = 'high'"),
            1);
  EXPECT_EQ(g.count("outbox", "dedupe_key = 'case:" + ref + "' AND kind = 'case_alert'"), 1);
  // SAFETY S5: the reference on her screen is the only confirmation; nothing is queued to her.
  EXPECT_EQ(g.count("outbox", "contact_id != 0"), 0);
  EXPECT_EQ(g.count("outbox"), 1);
  // Her answers are stored encrypted (SAFETY D2): read back through the store, never in clear.
  EXPECT_EQ(g.count("answers", "key = 'district' AND typeof(value) = 'blob'"), 1);
  EXPECT_EQ(g.count("answers", "value = 'lahore'"), 0);
  std::string district;
  g.store->read([&](store::Tx& tx) {
    const auto c = tx.find_case(ref);
    ASSERT_TRUE(c);
    district = tx.session_answer(c->session_id, "district");
  });
  EXPECT_EQ(district, "lahore");
  EXPECT_EQ(g.count("consents", "purpose = 'referral_police' AND granted = 0"), 1);
  EXPECT_EQ(g.text("SELECT status FROM sessions"), "finished");
  // The outbox payload carries no phone number and no answers beyond the case's category.
  const std::string payload = g.text("SELECT payload FROM outbox");
  EXPECT_EQ(payload.find("3001234567"), std::string::npos);
  EXPECT_NE(payload.find(ref), std::string::npos);
}

TEST(UssdService, TheChosenLanguageIsRememberedForHerNextSession) {
  test::Gateway g;
  Phone p{g, "s1"};
  p.dial();
  p.press("2");  // Roman Urdu
  Phone q{g, "s2"};
  EXPECT_EQ(
      q.dial(),
      "CON Sehat aur khairiyat\n1. Hafta-waar rabta\n2. Kuch batayen\n3. Mufeed number\n4. Zubaan");
}

TEST(UssdService, ADroppedSessionIsOfferedBackOnlyAfterSheChoosesTheSameEntry) {
  test::Gateway g;
  Phone p{g, "s1"};
  p.dial();
  p.press("3");
  p.press("2");
  p.press("1");  // at "When?"
  g.http.post(g.events_url(),
              test::form({{"sessionId", "s1"}, {"status", "Incomplete"}, {"phoneNumber", phone}}));
  // SAFETY W4: whoever dials next sees the ordinary first screen, never "Continue ...?".
  Phone q{g, "s2"};
  EXPECT_EQ(q.dial(),
            "CON Health and well-being\n1. Weekly check-in\n2. Tell us something\n"
            "3. Useful numbers\n4. Language");
  EXPECT_EQ(q.press("2"), "CON Continue where you left off?\n1. Yes\n2. Start again");
  EXPECT_EQ(q.press("1"), "CON When?\n1. Today\n2. This week\n3. Earlier");
  EXPECT_EQ(g.text("SELECT status FROM sessions WHERE provider_session_id = 's1'"), "resumed");
  // Dialling again drops s2; its report is the same case (raised once), offered back again.
  Phone r{g, "s3"};
  EXPECT_EQ(r.dial().rfind("CON Health and well-being", 0), 0u);
  EXPECT_EQ(r.press("2"), "CON Continue where you left off?\n1. Yes\n2. Start again");
  EXPECT_EQ(g.count("cases"), 1);
}

TEST(UssdService, ResumeIsNotOfferedForAnotherEntry) {
  test::Gateway g;
  Phone p{g, "s1"};
  p.dial();
  p.press("3");
  p.press("2");
  p.press("1");  // at "When?"
  g.http.post(g.events_url(),
              test::form({{"sessionId", "s1"}, {"status", "Incomplete"}, {"phoneNumber", phone}}));
  Phone q{g, "s2"};
  q.dial();
  EXPECT_EQ(q.press("1"),
            "CON How are you this week?\n1. Fine\n2. I would like to talk\n"
            "3. I need help now");
}

TEST(UssdService, NoResumeOfferAfterTheWindowOrAfterAQuickExit) {
  test::Gateway g;
  Phone p{g, "s1"};
  p.dial();
  p.press("3");
  p.press("2");
  g.clock.advance(std::chrono::hours(1));  // past the 30-minute window
  Phone q{g, "s2"};
  EXPECT_EQ(q.dial().rfind("CON Health and well-being", 0), 0u);
  q.press("2");
  q.press("1");
  EXPECT_EQ(q.press("00"), "END Thank you. Goodbye.");
  Phone r{g, "s3"};
  EXPECT_EQ(r.dial().rfind("CON Health and well-being", 0), 0u)
      << "a quick exit is never offered back";
}

TEST(UssdService, QuickExitMidReportRaisesTheCaseAndStartsTheQuietPeriod) {
  test::Gateway g;
  Phone p{g, "s1"};
  p.dial();
  p.press("3");
  p.press("2");
  p.press("2");
  EXPECT_EQ(p.press("00"), "END Thank you. Goodbye.");
  EXPECT_EQ(g.count("cases", "category = 'interrupted_report' AND severity = 'high'"), 1);
  EXPECT_EQ(g.count("outbox"), 1);
  EXPECT_EQ(g.text("SELECT status FROM sessions"), "quick_exit");
  EXPECT_EQ(std::stoll(g.text("SELECT quiet_until FROM contacts")), g.clock.now_ms() + 86'400'000);
}

// A reference handed out in this transaction but not written yet (a step draws it, the case row
// comes later) is not handed out again, e.g. to a duress case opened in the same hop.
TEST(UssdService, AReferenceHandedOutInTheTransactionIsNotHandedOutAgain) {
  test::Gateway g;
  class Repeating final : public flows::IdSource {
   public:
    std::string case_reference(std::size_t) override { return calls_++ < 2 ? "AAAAAA" : "CCCCCC"; }

   private:
    int calls_ = 0;
  } repeating;
  std::string first, second;
  ASSERT_TRUE(g.store
                  ->run([&](store::Tx& tx) {
                    gateway::UniqueReferences references(repeating, tx);
                    first = references.case_reference(6);
                    second = references.case_reference(6);
                  })
                  .ok);
  EXPECT_EQ(first, "AAAAAA");
  EXPECT_EQ(second, "CCCCCC");
}

TEST(UssdService, ATakenReferenceIsNeverReused) {
  test::Gateway g;
  // The first reference the seeded source will produce already belongs to another case.
  flows::SeededIds same(99);
  const std::string taken = same.case_reference(6);
  ASSERT_TRUE(g.store
                  ->run([&](store::Tx& tx) {
                    const auto c = tx.upsert_contact("other", 1);
                    store::SessionRecord s;
                    s.provider = "x";
                    s.provider_session_id = "x";
                    s.contact_id = c.id;
                    s.channel = "ussd";
                    s.state = "{}";
                    const auto sid = tx.insert_session(s);
                    store::CaseRecord k;
                    k.reference = taken;
                    k.contact_id = c.id;
                    k.session_id = sid;
                    k.flow = "x";
                    k.category = "x";
                    k.severity = "low";
                    tx.insert_case(k);
                  })
                  .ok);
  Phone p{g, "s1"};
  p.dial();
  p.press("3");
  p.press("1");
  p.press("3");  // help now: opens a case at once
  EXPECT_EQ(g.count("cases"), 2);
  EXPECT_EQ(g.count("cases", "reference = '" + taken + "'"), 1);
}

namespace rabta {
namespace {

// Overload (#13): with [database] max_queue writes waiting, a hop gets a fast 503 "busy" with
// Retry-After, stores nothing, and is served again once the writer has caught up.
TEST(UssdOverload, AFullWriterQueueAnswersAFast503AndStoresNothing) {
  test::Gateway g(8 * 1024, test::default_channels(), "http://127.0.0.1",
                  [](gateway::Config& c) { c.max_queue = 1; });
  std::promise<void> entered, open;
  std::shared_future<void> opened = open.get_future().share();
  g.store->submit(
      [&entered, opened](store::Tx&) {
        entered.set_value();
        opened.wait();
      },
      {});
  entered.get_future().wait();  // the writer is held inside this job
  std::promise<store::JobResult> waiting;
  g.store->submit([](store::Tx&) {},
                  [&waiting](const store::JobResult& r) { waiting.set_value(r); });

  const auto busy = g.hop("s-busy", "+923001112233", "");
  EXPECT_EQ(busy.status, 503);
  EXPECT_EQ(busy.body, "END Service busy, please try again later.");
  EXPECT_NE(busy.headers.find("Retry-After: 1"), std::string::npos) << busy.headers;
  const auto sms = g.kannel_sms("busy-1", "+923001112233", "madad");
  EXPECT_EQ(sms.status, 503);

  open.set_value();
  EXPECT_TRUE(waiting.get_future().get().ok);
  EXPECT_EQ(g.count("sessions"), 0) << "nothing of the refused hop was stored";
  EXPECT_EQ(g.count("inbound"), 0);
  const auto served = g.hop("s-busy", "+923001112233", "");
  EXPECT_EQ(served.status, 200);
  EXPECT_EQ(served.body.rfind("CON ", 0), 0u) << served.body;
  EXPECT_EQ(g.store->stats().shed, 2u);
}

}  // namespace
}  // namespace rabta
