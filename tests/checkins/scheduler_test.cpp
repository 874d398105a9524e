// The weekly check-in on a manual clock with a real SQLite file: due only in her window, never
// twice in a week, one reminder, a missed week opens a case, two in a row a more severe one.
#include "gateway/checkins/scheduler.hpp"

#include <gtest/gtest.h>

#include "gateway/outbound/outbound_sms.hpp"
#include "tests/support/gateway_fixture.hpp"

using namespace rabta;
using std::chrono::hours;

namespace {

// Wednesday 2026-11-25 10:30 in Karachi (05:30 UTC).
constexpr std::int64_t wednesday_1030_karachi = 1'795'584'600'000;

struct Enrolled {
  std::int64_t id;
  std::string phone;
};

class SchedulerTest : public ::testing::Test {
 protected:
  SchedulerTest() {
    g.clock.advance(std::chrono::milliseconds(wednesday_1030_karachi - g.clock.now_ms()));
    options.zone = *flows::parse_zone("Asia/Karachi");
    options.channel = "kannel";
    options.reminder_after = hours(2);
    options.deadline = hours(48);
  }

  Enrolled enrol(const std::string& phone, int weekday, int start, int end, bool sms_ok,
                 const std::string& status = store::contact_status::active,
                 const std::string& channel = "sms") {
    Enrolled e{0, phone};
    EXPECT_TRUE(g.store
                    ->run([&](store::Tx& tx) {
                      store::ContactRecord c;
                      c.pseudonym = g.pseudonymizer.pseudonym(phone);
                      c.status = status;
                      c.language = "roman";
                      c.checkin_weekday = weekday;
                      c.window_start_hour = start;
                      c.window_end_hour = end;
                      c.channel = channel;
                      c.sms_ok = sms_ok;
                      e.id = tx.enrol_contact(c, g.clock.now_ms());
                      tx.set_contact_phone(
                          e.id,
                          g.cipher.encrypt(phone, common::FieldCipher::associated_data(
                                                      "contacts", "phone_enc", e.id)),
                          g.clock.now_ms());
                    })
                    .ok);
    return e;
  }

  gateway::Scheduler scheduler() {
    return gateway::Scheduler(*g.store, g.texts, scenario_flows(), g.cipher, g.clock, g.ids,
                              options);
  }
  std::shared_ptr<const flows::FlowSet> scenario_flows() {
    return gateway::load_flows(
               gateway::load_config(std::string(RABTA_SOURCE_DIR) + "/config/rabta.toml"))
        .flows;
  }

  // "status/answer" of her newest check-in, read through the store (the answer is sealed in the
  // table, SECURITY #11: the column itself never holds the word).
  std::string newest_checkin(std::int64_t contact_id) {
    std::string out;
    g.store->read([&](store::Tx& tx) {
      if (const auto c = tx.previous_checkin(contact_id, "9999-W99")) {
        out = c->status + "/" + c->answer;
        EXPECT_NE(g.text("SELECT answer FROM checkins WHERE id = " + std::to_string(c->id)),
                  c->answer)
            << "the answer is in clear in the table";
      }
    });
    return out;
  }

  test::Gateway g;
  gateway::SchedulerOptions options;
};

}  // namespace

TEST_F(SchedulerTest, PromptsOnlyTheWomenDueNowAndNeverTwiceAWeek) {
  const Enrolled a = enrol("+923001110001", 3, 10, 14, true);
  enrol("+923001110002", 3, 15, 18, true);                                 // later today
  enrol("+923001110003", 4, 10, 14, true);                                 // tomorrow
  enrol("+923001110004", 3, 10, 14, true, store::contact_status::paused);  // paused
  enrol("+923001110005", 3, 10, 14, true, store::contact_status::opted_out);
  enrol("+923001110006", 3, 10, 14, false, store::contact_status::active,
        "ussd");  // no SMS consent
  auto s = scheduler();
  const auto r = s.run_once();
  EXPECT_EQ(r.prompted, 2);
  EXPECT_EQ(r.queued, 1);
  EXPECT_EQ(g.count("checkins", "week = '2026-W48'"), 2);
  ASSERT_EQ(g.count("outbox", "kind = 'sms:kannel'"), 1);
  // The row carries her number encrypted, and the neutral prompt in her language.
  store::OutboxRecord row;
  g.store->read([&](store::Tx& tx) { row = tx.list_outbox("", 1).front(); });
  const auto payload = gateway::read_sms_payload(row, g.cipher);
  ASSERT_TRUE(payload.has_value());
  EXPECT_EQ(payload->to, a.phone);
  EXPECT_EQ(payload->text, g.texts->text("checkin_prompt", "roman", "ur"));
  EXPECT_FALSE(payload->solicited);
  EXPECT_EQ(row.contact_id, a.id);
  // A second pass in the same hour, or after a restart, sends nothing more.
  const auto again = s.run_once();
  EXPECT_EQ(again.prompted, 0);
  EXPECT_EQ(g.count("outbox"), 1);
}

TEST_F(SchedulerTest, OneReminderThenAMissedWeekOpensACaseAndTwoInARowAreMoreSevere) {
  const Enrolled a = enrol("+923001110001", 3, 10, 14, true);
  auto s = scheduler();
  s.run_once();
  g.clock.advance(hours(2));
  EXPECT_EQ(s.run_once().reminded, 1);
  EXPECT_EQ(s.run_once().reminded, 0) << "only one reminder";
  EXPECT_EQ(g.count("outbox", "dedupe_key LIKE 'checkin-reminder:%'"), 1);
  g.clock.advance(hours(47));
  EXPECT_EQ(s.run_once().missed, 1);
  EXPECT_EQ(g.count("cases", "category = 'missed_checkin' AND severity = 'normal'"), 1);
  EXPECT_EQ(g.count("outbox", "kind = 'case_alert'"), 1);
  EXPECT_EQ(g.text("SELECT missed_in_row FROM contacts WHERE id = " + std::to_string(a.id)), "1");
  // Next Wednesday, 10:30 again: a new week, silence again.
  g.clock.advance(hours(7 * 24 - 49));
  EXPECT_EQ(s.run_once().prompted, 1);
  g.clock.advance(hours(49));
  EXPECT_EQ(s.run_once().missed, 1);
  EXPECT_EQ(g.count("cases", "category = 'missed_checkin' AND severity = 'high'"), 1);
}

TEST_F(SchedulerTest, HerSmsAnswerAnswersTheWeekAndResetsTheMissedCount) {
  const Enrolled a = enrol("+923001110001", 3, 10, 14, true);
  auto s = scheduler();
  s.run_once();
  const auto r = g.kannel_sms("c1", a.phone, "theek");
  EXPECT_EQ(r.body, "Shukriya. Khuda hafiz") << "1 = fine ends the check-in";
  EXPECT_EQ(newest_checkin(a.id), "answered/fine");
  g.clock.advance(hours(49));
  EXPECT_EQ(s.run_once().missed, 0);
  EXPECT_EQ(g.count("cases"), 0);
}

TEST_F(SchedulerTest, AnswerThreeMeansNotFineAndOpensAHighSeverityCase) {
  const Enrolled a = enrol("+923001110001", 3, 10, 14, true);
  scheduler().run_once();
  const auto r = g.kannel_sms("c1", a.phone, "3");
  EXPECT_EQ(r.body.rfind("Kya aap ko phone karna mehfooz hai?", 0), 0u) << r.body;
  EXPECT_EQ(g.count("cases", "category = 'checkin_help_now' AND severity = 'high'"), 1);
  EXPECT_EQ(newest_checkin(a.id), "answered/help_now");
}
