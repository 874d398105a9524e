// The escalation ladder on a manual clock (no sleeping), with a real SQLite file and real HTTP:
// a "needs help now" report is routed and alerted to the on-duty responder, climbs to the next
// member and the supervisor as each SLA runs out, never goes silent, and stops at once when a
// responder acknowledges by SMS. Alerts carry only the reference and severity (SAFETY C3).
#include "gateway/responders/escalation.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

#include <array>
#include <future>
#include <map>

#include "gateway/inbound/responder_ussd.hpp"
#include "gateway/outbound/outbound_sms.hpp"
#include "gateway/responders/api_token.hpp"
#include "gateway/responders/case_service.hpp"
#include "gateway/responders/caseworker_api.hpp"
#include "gateway/responders/console.hpp"
#include "gateway/responders/roster_sync.hpp"
#include "tests/support/gateway_fixture.hpp"

using namespace rabta;
using std::chrono::minutes;

namespace {

gateway::Roster test_roster() {
  gateway::Roster r;
  gateway::Team t;
  t.name = "punjab";
  t.supervisor = "Sadia";
  t.members = {{"Amna", "+923000000101", "caseworker", false, {}},
               {"Bushra", "+923000000102", "caseworker", false, {}},
               {"Sadia", "+923000000109", "supervisor", true, {}}};
  gateway::Team other;
  other.name = "kp";
  other.supervisor = "Zainab";
  other.members = {{"Yasmin", "+923000000202", "caseworker", false, {}},
                   {"Zainab", "+923000000201", "supervisor", true, {}}};
  r.teams = {t, other};
  gateway::Route all;
  all.team = "punjab";
  r.routes = {all};
  for (const char* s : {"low", "normal", "high", "critical"}) r.ack_sla[s] = minutes(15);
  r.alert_channel = "kannel";
  return r;
}

class EscalationTest : public ::testing::Test {
 protected:
  EscalationTest() {
    EXPECT_TRUE(g.store
                    ->run([&](store::Tx& tx) {
                      gateway::sync_roster(tx, *roster, g.pseudonymizer, g.cipher, 1);
                    })
                    .ok);
    g.set_case_service(&cases);
    g.ussd().set_responder_menu(&menu);
  }

  // An "I need help now" check-in from `phone` on its own USSD session: the new case's reference.
  std::string report_from(const std::string& session, const std::string& phone) {
    for (const char* path : {"", "3", "3*1", "3*1*3"}) g.hop(session, phone, path);
    return g.text("SELECT reference FROM cases ORDER BY id DESC LIMIT 1");
  }

  // Sets the PIN of the roster member `name` (as `rabta responders pin` does); her id, 0 if absent.
  std::int64_t give_pin(const std::string& name, const std::string& pin) {
    std::int64_t id = 0;
    EXPECT_TRUE(g.store
                    ->run([&](store::Tx& tx) {
                      for (const auto& r : tx.list_responders())
                        if (r.name == name) id = r.id;
                      if (id > 0)
                        tx.set_responder_pin(
                            id, gateway::responder_pin_hash(g.pseudonymizer, id, pin), 1);
                    })
                    .ok);
    return id;
  }

  // "I need help now" through USSD: a high-severity case with its case_alert outbox row.
  std::string report_help_now() {
    const std::string phone = "+923001234567";
    return test::report_help_now(g, phone);
  }

  std::vector<std::string> alert_recipients() { return test::alert_recipients(g); }

  test::Gateway g;
  std::shared_ptr<const gateway::Roster> roster =
      std::make_shared<const gateway::Roster>(test_roster());
  gateway::CaseService cases{roster, g.cipher, g.clock, roster->outcomes};
  gateway::ResponderUssd menu{cases, g.pseudonymizer, g.clock};
  gateway::Escalation escalation{
      *g.store, roster, g.cipher, g.clock,
      gateway::EscalationOptions{*flows::parse_zone("UTC"), "kannel", 100}};
};

}  // namespace

TEST_F(EscalationTest, ClimbsTheLadderUntilAcknowledgedBySms) {
  const std::string ref = report_help_now();
  ASSERT_EQ(ref.size(), 6u);
  auto r = escalation.run_once();
  EXPECT_EQ(r.routed, 1);
  EXPECT_EQ(r.alerts, 1);
  EXPECT_EQ(alert_recipients(), std::vector<std::string>{"+923000000101"});
  // The alert text: reference and severity, never her story.
  std::string text;
  g.store->read([&](store::Tx& tx) {
    for (const auto& row : tx.list_outbox("", 100))
      if (row.dedupe_key == "alert:" + ref + ":1")
        text = gateway::read_sms_payload(row, g.cipher)->text;
  });
  EXPECT_NE(text.find(ref), std::string::npos);
  EXPECT_NE(text.find("high"), std::string::npos);
  EXPECT_EQ(text.find("checkin"), std::string::npos);
  EXPECT_EQ(escalation.run_once().alerts, 0) << "nothing more until the SLA runs out";

  g.clock.advance(minutes(15));
  EXPECT_EQ(escalation.run_once().alerts, 1);
  g.clock.advance(minutes(15));
  EXPECT_EQ(escalation.run_once().alerts, 1);
  g.clock.advance(minutes(15));
  EXPECT_EQ(escalation.run_once().alerts, 1)
      << "past the last rung the supervisor is alerted again";
  EXPECT_EQ(alert_recipients(), (std::vector<std::string>{"+923000000101", "+923000000102",
                                                          "+923000000109", "+923000000109"}));

  // Bushra acknowledges by SMS: the ladder stops at once.
  const auto ack = g.kannel_sms("ack1", "+923000000102", "ACK " + ref);
  EXPECT_EQ(ack.body, "Case " + ref + " acknowledged.");
  EXPECT_EQ(g.text("SELECT status FROM cases"), "acknowledged");
  g.clock.advance(minutes(60));
  EXPECT_EQ(escalation.run_once().alerts, 0);
  EXPECT_GE(g.count("audit", "action = 'case.ack' AND case_reference = '" + ref + "'"), 1);
}

TEST_F(EscalationTest, UrduAndRomanUrduAcknowledgementsWork) {
  const std::string ref = report_help_now();
  escalation.run_once();
  EXPECT_EQ(g.kannel_sms("ack1", "+923000000101", "theek " + ref).body,
            "Case " + ref + " acknowledged.");
}

TEST_F(EscalationTest, AnUnknownSendersAckIsIgnoredWithoutSayingWhetherTheCaseExists) {
  const std::string ref = report_help_now();
  escalation.run_once();
  EXPECT_EQ(g.kannel_sms("x1", "+923009999999", "ACK " + ref).body, "");
  EXPECT_EQ(g.kannel_sms("x2", "+923009999999", "ACK KKKKKK").body, "");
  EXPECT_EQ(g.text("SELECT status FROM cases"), "open");
}

TEST_F(EscalationTest, AResponderOfAnotherTeamCannotAcknowledge) {
  const std::string ref = report_help_now();
  escalation.run_once();
  // Yasmin is a caseworker of another team (a supervisor would see every team's cases).
  EXPECT_EQ(g.kannel_sms("z1", "+923000000202", "ACK " + ref).body,
            "No case " + ref + " in your queue.")
      << "the same answer as for a case that does not exist";
  EXPECT_EQ(g.text("SELECT status FROM cases"), "open");
}

// SECURITY #11: whoever holds the aggregator's (or Kannel's) credentials can send SMS from any
// responder's number. What such a sender can do is limited to ACK and CLAIM, within the
// responder's own team or the cases she was alerted about, and to nothing once she has a PIN.

TEST_F(EscalationTest, Sec11_NobodyClosesACaseBySms) {
  const std::string ref = report_help_now();
  escalation.run_once();
  // Before: "Case <ref> closed." from any supervisor's number.
  for (const std::string& text : {"CLOSE " + ref + " resolved", "band " + ref + " resolved"}) {
    const auto r = g.kannel_sms("close-" + text.substr(0, 4), "+923000000109", text);
    EXPECT_EQ(r.body,
              "Reply ACK <reference> to acknowledge or CLAIM <reference> to take the case.");
  }
  EXPECT_EQ(g.text("SELECT status FROM cases"), "open");
}

TEST_F(EscalationTest, Sec11_AnotherTeamsSupervisorCannotActBySmsAndLearnsNothing) {
  const std::string ref = report_help_now();
  escalation.run_once();
  // Zainab supervises another team: in the console she sees every case, by SMS only her team's.
  const auto on_real = g.kannel_sms("z1", "+923000000201", "ACK " + ref);
  const auto on_made_up = g.kannel_sms("z2", "+923000000201", "ACK KKKKKK");
  EXPECT_EQ(on_real.body, "No case " + ref + " in your queue.");
  EXPECT_EQ(on_made_up.body, "No case KKKKKK in your queue.");
  EXPECT_EQ(g.kannel_sms("z3", "+923000000201", "CLAIM " + ref).body,
            "No case " + ref + " in your queue.");
  EXPECT_EQ(g.text("SELECT status FROM cases"), "open");
  // Her own team's supervisor still can.
  EXPECT_EQ(g.kannel_sms("s1", "+923000000109", "CLAIM " + ref).body, "Case " + ref + " claimed.");
}

TEST_F(EscalationTest, Sec11_OnceSheHasAPinEveryCommandNeedsItAndWrongOnesLock) {
  const std::string ref = report_help_now();
  escalation.run_once();
  const std::int64_t amna = give_pin("Amna", "4821");
  ASSERT_GT(amna, 0);
  const std::string unknown = "No case " + ref + " in your queue.";
  EXPECT_EQ(g.kannel_sms("p1", "+923000000101", "ACK " + ref).body, unknown);
  EXPECT_EQ(g.kannel_sms("p2", "+923000000101", "ACK " + ref + " 1111").body, unknown);
  EXPECT_EQ(g.text("SELECT status FROM cases"), "open");
  for (int i = 3; i <= 6; ++i)
    g.kannel_sms("p" + std::to_string(i), "+923000000101",
                 "ACK " + ref + " 000" + std::to_string(i));
  // Five wrong PINs within the hour: even the right one answers like an unknown reference.
  EXPECT_EQ(g.kannel_sms("p7", "+923000000101", "ACK " + ref + " 4821").body, unknown);
  EXPECT_EQ(g.text("SELECT status FROM cases"), "open");
  EXPECT_EQ(
      g.count("audit", "actor = 'sms:" + std::to_string(amna) + "' AND detail LIKE 'locked,%'"), 1);
  g.clock.advance(minutes(61));
  EXPECT_EQ(g.kannel_sms("p8", "+923000000101", "ack " + ref + " ۴۸۲۱").body,
            "Case " + ref + " acknowledged.");
  EXPECT_EQ(g.text("SELECT status FROM cases"), "acknowledged");
  // The PIN is kept as a keyed hash, never as the digits.
  EXPECT_EQ(g.count("responders", "pin_hash LIKE '%4821%'"), 0);
  EXPECT_EQ(g.count("responders", "length(pin_hash) >= 32"), 1);
}

TEST_F(EscalationTest, Sec11_EverySmsActionIsAuditedWithItsChannelAndMessageId) {
  const std::string ref = report_help_now();
  escalation.run_once();
  g.kannel_sms("kannel-msg-77", "+923000000101", "ACK " + ref);
  g.kannel_sms("kannel-msg-78", "+923000000202", "ACK " + ref);  // another team's caseworker
  EXPECT_EQ(g.count("audit",
                    "action = 'case.ack' AND detail = "
                    "'ok,channel=kannel,message=kannel-msg-77'"),
            1);
  EXPECT_EQ(g.count("audit",
                    "action = 'case.ack' AND detail = "
                    "'not_found,channel=kannel,message=kannel-msg-78'"),
            1);
}

TEST_F(EscalationTest, Sec11_OnlyWrongPinsCountTowardsTheLockWhateverTheMessageIdSays) {
  // The message id is the aggregator's words, audited after the outcome. Before, any detail
  // containing "pin_wrong" counted: five right commands with such ids locked her out.
  const std::string ref = report_help_now();
  escalation.run_once();
  const std::int64_t amna = give_pin("Amna", "4821");
  ASSERT_GT(amna, 0);
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(
        g.kannel_sms("pin_wrong-" + std::to_string(i), "+923000000101", "ACK " + ref + " 4821")
            .body,
        "Case " + ref + " acknowledged.")
        << i;
}

// #15: from a real report through the real ladder, the case's timeline tells each step with who
// and when (routing, each rung's alert and what became of it, her responder's SMS ACK), and the
// acknowledgement deadline counts from her report: it does not restart as the ladder climbs.
TEST_F(EscalationTest, TheTimelineAndTheDeadlineFollowTheLadder) {
  const std::string ref = report_help_now();
  const std::int64_t reported = g.clock.now_ms();
  escalation.run_once();
  const auto stored = [&] {
    std::optional<store::CaseRecord> c;
    g.store->read([&](store::Tx& tx) { c = tx.find_case(ref); });
    return *c;
  };
  EXPECT_EQ(stored().ack_due_at, reported + 15 * 60 * 1000);
  // The dispatcher's record of the first alert going out (the fixture's SMS gateway is
  // unreachable, so the row is marked sent as the dispatcher marks it).
  ASSERT_TRUE(g.store
                  ->run([&](store::Tx& tx) {
                    for (const auto& row : tx.list_outbox("", 100))
                      if (row.dedupe_key == "alert:" + ref + ":1")
                        tx.outbox_sent(row.id, "m-1", g.clock.now_ms());
                  })
                  .ok);
  const gateway::Actor sadia{0, "Sadia", "supervisor", "punjab", true, "api", "", ""};
  auto overdue_refs = [&](gateway::Actor who) {
    g.store->read([&](store::Tx& tx) {
      for (const auto& r : tx.list_responders())
        if (r.name == who.name) who.responder_id = r.id;
    });
    gateway::CaseQuery q;
    q.overdue = true;
    std::vector<store::CaseRecord> found;
    EXPECT_TRUE(g.store->run([&](store::Tx& tx) { cases.search(tx, who, q, found); }).ok);
    return found.size();
  };
  EXPECT_EQ(overdue_refs(sadia), 0u);
  g.clock.advance(minutes(15));
  escalation.run_once();  // rung 2
  g.clock.advance(minutes(5));
  EXPECT_EQ(stored().rung, 2);
  EXPECT_EQ(stored().ack_due_at, reported + 15 * 60 * 1000) << "the deadline did not restart";
  EXPECT_EQ(overdue_refs(sadia), 1u);
  // Refused SMS steps are audited under the same action, but are not events of the case.
  give_pin("Bushra", "4821");
  EXPECT_NE(g.kannel_sms("ack-nopin", "+923000000102", "ACK " + ref).body,
            "Case " + ref + " acknowledged.");
  EXPECT_NE(g.kannel_sms("ack-wrong", "+923000000102", "ACK " + ref + " 1111").body,
            "Case " + ref + " acknowledged.");
  EXPECT_EQ(g.count("audit", "action = 'case.ack' AND case_reference = '" + ref + "'"), 2);
  EXPECT_EQ(g.kannel_sms("ack-tl", "+923000000102", "ACK " + ref + " 4821").body,
            "Case " + ref + " acknowledged.");
  EXPECT_EQ(overdue_refs(sadia), 0u);
  g.dispatcher().run_once();  // cancels the alert nobody needs now

  gateway::Actor reader = sadia;
  g.store->read([&](store::Tx& tx) {
    for (const auto& r : tx.list_responders())
      if (r.name == "Sadia") reader.responder_id = r.id;
  });
  std::vector<gateway::TimelineEvent> events;
  gateway::CaseResult result = gateway::CaseResult::invalid;
  ASSERT_TRUE(
      g.store->run([&](store::Tx& tx) { result = cases.timeline(tx, reader, ref, events); }).ok);
  ASSERT_EQ(result, gateway::CaseResult::ok);
  std::vector<std::string> seen;
  for (const auto& e : events)
    seen.push_back(e.event + (e.detail.empty() ? "" : " " + e.detail) +
                   (e.delivery.empty() ? "" : " [" + e.delivery + "]") +
                   (e.by.empty() ? "" : " by " + e.by) + (e.via.empty() ? "" : " via " + e.via));
  EXPECT_EQ(seen, (std::vector<std::string>{
                      "opened checkin via ussd",
                      "routed punjab by rabta",
                      "alerted rung 1 to Amna [sent] by rabta",
                      "alert_sent rung 1 [sent] by rabta",
                      "alerted rung 2 to Bushra [cancelled] by rabta",
                      "acknowledged by Bushra via sms",
                  }))
      << ::testing::PrintToString(seen);
}

// #15: responders on basic phones. A registered responder dialling the service code gets a
// neutral menu of what waits for her team and acts on it by choosing a number.
TEST_F(EscalationTest, AResponderAcknowledgesAndTakesCasesFromTheUssdMenu) {
  const std::string first = report_from("w1", "+923001234567");
  g.clock.advance(minutes(3));
  const std::string second = report_from("w2", "+923001234568");
  escalation.run_once();
  g.clock.advance(minutes(9));
  // Amna (punjab caseworker) dials in.
  auto r = g.hop("r1", "+923000000101", "");
  EXPECT_EQ(r.body, "CON 2 waiting:\n1 " + first + " high 12m\n2 " + second + " high 9m\n0 Exit");
  EXPECT_EQ(g.hop("r1", "+923000000101", "1").body,
            "CON " + first + " high 12m\n1 Acknowledge\n2 Take it\n0 Back");
  EXPECT_EQ(g.hop("r1", "+923000000101", "1*1").body, "END " + first + " acknowledged.");
  EXPECT_EQ(g.text("SELECT status FROM cases WHERE reference = '" + first + "'"), "acknowledged");
  // A retried last hop: the same answer, applied once.
  EXPECT_EQ(g.hop("r1", "+923000000101", "1*1").body, "END " + first + " acknowledged.");
  EXPECT_EQ(g.count("audit", "action = 'case.ack' AND case_reference = '" + first + "'"), 1);
  EXPECT_EQ(g.count("audit",
                    "action = 'case.ack' AND actor LIKE 'ussd:%' AND detail LIKE "
                    "'ok,channel=africastalking,message=r1'"),
            1);
  // Bushra takes the second one; the first is no longer waiting for an acknowledgement but is
  // nobody's yet, so it is still listed after the unacknowledged one.
  r = g.hop("r2", "+923000000102", "");
  EXPECT_EQ(r.body, "CON 2 waiting:\n1 " + second + " high 9m\n2 " + first + " high 12m\n0 Exit");
  g.hop("r2", "+923000000102", "1");
  EXPECT_EQ(g.hop("r2", "+923000000102", "1*2").body, "END " + second + " is yours now.");
  EXPECT_EQ(g.text("SELECT status FROM cases WHERE reference = '" + second + "'"), "claimed");
  // Not a woman's service: no session row, no contact for a responder's number.
  EXPECT_EQ(g.count("sessions", "provider_session_id IN ('r1', 'r2')"), 0);
  // SAFETY W1: her number written another way is still her (the pseudonym normalises it).
  for (const std::string form : {"03000000101", "00923000000101", "923000000101"})
    EXPECT_EQ(g.hop("rf-" + form, form, "").body.substr(0, 14), "CON 1 waiting:") << form;
  EXPECT_EQ(g.count("sessions", "provider_session_id LIKE 'rf-%'"), 0);
}

TEST_F(EscalationTest, TheUssdMenuKeepsTheListSheSawAndHerTeamsScope) {
  const std::string first = report_from("w1", "+923001234567");
  const std::string second = report_from("w2", "+923001234568");
  escalation.run_once();
  EXPECT_EQ(g.hop("r1", "+923000000101", "").body.substr(0, 14), "CON 2 waiting:");
  // Between her hops someone acknowledges the first by SMS: "2" is still the second she saw.
  ASSERT_EQ(g.kannel_sms("m1", "+923000000102", "ACK " + first).body,
            "Case " + first + " acknowledged.");
  EXPECT_EQ(g.hop("r1", "+923000000101", "2").body.substr(0, 10), "CON " + second);
  EXPECT_EQ(g.hop("r1", "+923000000101", "2*2").body, "END " + second + " is yours now.");
  // Another team's people see nothing of punjab's cases by phone, a supervisor included (in
  // the console she sees every team).
  EXPECT_EQ(g.hop("y1", "+923000000202", "").body, "END Nothing waits for you.");
  EXPECT_EQ(g.hop("z1", "+923000000201", "").body, "END Nothing waits for you.");
  // Bad choices get the screen again, not a crash or a silent end.
  EXPECT_EQ(g.hop("r3", "+923000000101", "").body.substr(0, 4), "CON ");
  EXPECT_EQ(g.hop("r3", "+923000000101", "7").body.substr(0, 21), "CON Choose a number.\n");
  EXPECT_EQ(g.hop("r3", "+923000000101", "7*1").body.substr(0, 4), "CON ");
  EXPECT_EQ(g.hop("r3", "+923000000101", "7*1*9").body.substr(0, 22), "CON Choose 1, 2 or 0.\n");
  EXPECT_EQ(g.hop("r3", "+923000000101", "7*1*9*0").body.substr(0, 14), "CON 1 waiting:");
  EXPECT_EQ(g.hop("r3", "+923000000101", "7*1*9*0*0").body, "END Goodbye.");
  // A woman's number still gets the women's service.
  EXPECT_NE(g.hop("w9", "+923001234999", "").body.find("CON "), std::string::npos);
  EXPECT_EQ(g.count("sessions", "provider_session_id = 'w9'"), 1);
}

TEST_F(EscalationTest, WithAPinTheUssdMenuAsksForItAndWrongOnesLockAsBySms) {
  const std::string ref = report_help_now();
  escalation.run_once();
  give_pin("Amna", "4821");
  EXPECT_EQ(g.hop("p1", "+923000000101", "").body, "CON Enter your PIN");
  EXPECT_EQ(g.hop("p1", "+923000000101", "1111").body, "END Not accepted.");
  EXPECT_EQ(g.hop("p2", "+923000000101", "").body, "CON Enter your PIN");
  EXPECT_EQ(g.hop("p2", "+923000000101", "4821").body.substr(0, 14), "CON 1 waiting:");
  g.hop("p2", "+923000000101", "4821*1");
  EXPECT_EQ(g.hop("p2", "+923000000101", "4821*1*1").body, "END " + ref + " acknowledged.");
  // The PIN is nowhere in clear: not in the menu's state, not in the audit log.
  EXPECT_EQ(g.count("meta", "value LIKE '%4821%'"), 0);
  EXPECT_EQ(g.count("audit", "detail LIKE '%4821%'"), 0);
  // Wrong PINs by SMS and by USSD count together: after five, even the right one is refused.
  for (int i = 0; i < 2; ++i)
    g.kannel_sms("w" + std::to_string(i), "+923000000101", "ACK " + ref + " 9999");
  for (int i = 0; i < 2; ++i) {
    const std::string s = "q" + std::to_string(i);
    g.hop(s, "+923000000101", "");
    EXPECT_EQ(g.hop(s, "+923000000101", "0000").body, "END Not accepted.");
  }
  g.hop("q9", "+923000000101", "");
  EXPECT_EQ(g.hop("q9", "+923000000101", "4821").body, "END Not accepted.") << "locked";
  EXPECT_GE(g.count("audit", "action = 'responder.menu' AND detail LIKE 'locked,%'"), 1);
  // The menu's state is dropped by the idle sweep once she hung up.
  EXPECT_GT(g.count("meta", "key LIKE 'responder_ussd:%'"), 0);
  g.clock.advance(minutes(30));
  ASSERT_TRUE(g.store->run([&](store::Tx& tx) { g.ussd().expire_idle(tx, g.clock.now_ms()); }).ok);
  EXPECT_EQ(g.count("meta", "key LIKE 'responder_ussd:%'"), 0);
}

// Review of the USSD menu: a code of its own, a session id reused by another number, a gateway
// without a path retrying its first hop, and asynchronous screens keyed apart per menu.
TEST_F(EscalationTest, TheUssdMenuHasItsOwnCodeAndKeepsSessionsApart) {
  const std::string ref = report_help_now();
  escalation.run_once();
  const auto dial = [&](const std::string& session, const std::string& phone,
                        const std::string& code, const std::string& text) {
    return g.http
        .post(g.ussd_url(), test::form({{"sessionId", session},
                                        {"serviceCode", code},
                                        {"phoneNumber", phone},
                                        {"networkCode", "99999"},
                                        {"text", text}}))
        .body;
  };
  gateway::ResponderUssd own_code{cases, g.pseudonymizer, g.clock, "*786*5#"};
  g.ussd().set_responder_menu(&own_code);
  // With a code of its own, a responder dialling the women's code gets the women's service.
  EXPECT_EQ(dial("c1", "+923000000101", "*786#", "").find("waiting"), std::string::npos);
  EXPECT_EQ(g.count("sessions", "provider_session_id = 'c1'"), 1);
  EXPECT_EQ(dial("c2", "+923000000101", "*786*5#", "").substr(0, 14), "CON 1 waiting:");
  // Another number with the menu's session id is the women's service's, kept apart (W5).
  EXPECT_EQ(dial("c2", "+923001234500", "*786*5#", "").find("waiting"), std::string::npos);
  EXPECT_EQ(dial("c2", "+923000000101", "*786*5#", "1").substr(0, 10), "CON " + ref);
  g.ussd().set_responder_menu(&menu);

  // A gateway that sends only the newest input: a second "begin" is the first hop again.
  gateway::UssdHop hop;
  hop.provider = "hubtel";
  hop.session_id = "h1";
  hop.pseudonym = g.pseudonymizer.pseudonym("+923000000101");
  hop.text_is_path = false;
  hop.begins = true;
  hop.service_code = "*786#";
  std::optional<gateway::UssdReply> a, b, c;
  ASSERT_TRUE(g.store->run([&](store::Tx& tx) { a = menu.handle(tx, hop); }).ok);
  ASSERT_TRUE(g.store->run([&](store::Tx& tx) { b = menu.handle(tx, hop); }).ok);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->text, b->text);
  EXPECT_EQ(b->outcome, "repeated");
  // Each menu has a session number of its own for asynchronous screens, never a woman's.
  hop.session_id = "h2";
  ASSERT_TRUE(g.store->run([&](store::Tx& tx) { c = menu.handle(tx, hop); }).ok);
  ASSERT_TRUE(c);
  EXPECT_LT(a->session, 0);
  EXPECT_LT(c->session, 0);
  EXPECT_NE(a->session, c->session);
}

// SAFETY S4 for responders too: the duress code is the women's service's, whoever dials it.
TEST(ResponderUssdDuress, TheDuressCodeIsNeverTheResponderMenu) {
  test::Gateway g(8 * 1024, test::default_channels(), "http://127.0.0.1", [](gateway::Config& c) {
    for (auto& u : c.ussd) u.duress_code_sha256 = common::sha256_hex("*786*9#");
  });
  const auto roster = std::make_shared<const gateway::Roster>(test_roster());
  ASSERT_TRUE(g.store
                  ->run([&](store::Tx& tx) {
                    gateway::sync_roster(tx, *roster, g.pseudonymizer, g.cipher, 1);
                  })
                  .ok);
  gateway::CaseService cases{roster, g.cipher, g.clock, roster->outcomes};
  gateway::ResponderUssd menu{cases, g.pseudonymizer, g.clock};
  g.ussd().set_responder_menu(&menu);
  const auto body = g.http
                        .post(g.ussd_url(), test::form({{"sessionId", "d1"},
                                                        {"serviceCode", "*786*9#"},
                                                        {"phoneNumber", "+923000000101"},
                                                        {"networkCode", "99999"},
                                                        {"text", ""}}))
                        .body;
  EXPECT_EQ(body.find("waiting"), std::string::npos) << body;
  EXPECT_EQ(g.text("SELECT category FROM cases"), "duress");
  EXPECT_EQ(g.text("SELECT severity FROM cases"), "critical");
}

// #15: the scope rules of every way in, in one table. The console is a client of the API (the
// same calls), SMS and the USSD menu are the responders' phones. A caseworker works her team's
// cases; a supervisor reads every case in the console and the API but acts by phone only on her
// own team's (the number alone says who she is); supervisor steps are the console's and API's.
TEST_F(EscalationTest, ScopeRulesOfTheConsoleApiSmsAndUssdInOneTable) {
  const std::string punjab = report_help_now();  // routed to punjab (the one route)
  escalation.run_once();
  const std::string kp = "KPCAXE";  // of the reference alphabet, as SMS commands read them
  ASSERT_TRUE(g.store
                  ->run([&](store::Tx& tx) {
                    const auto contact = tx.upsert_contact("kp-contact", g.clock.now_ms());
                    store::CaseRecord c;
                    c.reference = kp;
                    c.contact_id = contact.id;
                    c.flow = "incident";
                    c.category = "threats";
                    c.severity = "high";
                    c.created_at = g.clock.now_ms();
                    c.team = "kp";
                    c.rung = 1;
                    c.next_alert_at = g.clock.now_ms() + 900'000;
                    tx.insert_case(c);
                  })
                  .ok);
  gateway::CaseworkerApi api{*g.store, cases, g.clock};
  std::map<std::string, std::string> tokens;
  std::map<std::string, std::string> phones = {{"Amna", "+923000000101"},
                                               {"Sadia", "+923000000109"},
                                               {"Yasmin", "+923000000202"},
                                               {"Zainab", "+923000000201"}};
  ASSERT_TRUE(g.store
                  ->run([&](store::Tx& tx) {
                    for (const auto& r : tx.list_responders()) {
                      std::array<unsigned char, 32> secret{};
                      randombytes_buf(secret.data(), secret.size());
                      const std::string token = gateway::format_api_token(r.id, secret);
                      tx.set_responder_token(r.id, common::sha256_hex(token), 1,
                                             g.clock.now_ms() + 86'400'000);
                      tokens[r.name] = token;
                    }
                  })
                  .ok);
  // The API called as the console calls it (the handler, without a socket).
  const auto call = [&](const std::string& who, const std::string& method, const std::string& path,
                        const std::string& body) {
    gateway::HttpRequest req;
    req.method = method;
    req.path = "/api/v1/" + path;
    req.target = req.path;
    req.headers = {{"authorization", "Bearer " + tokens.at(who)}};
    req.body = body;
    req.peer = "127.0.0.1";
    std::promise<int> status;
    api.handle(std::move(req), [&](gateway::HttpResponse r) { status.set_value(r.status); });
    return status.get_future().get();
  };
  struct Row {
    std::string who;
    std::string via;   // "api" (and the console), "sms", "ussd"
    std::string step;  // read, ack, claim, assign, close, approve, reopen, list
    std::string team;  // the case's team
    std::string expect;
  };
  // "ok", "hidden" (as if it did not exist), "forbidden" (a supervisor's step), "conflict" (a
  // supervisor's step on a case with nothing to approve or not closed: she may take it).
  const std::vector<Row> table = {
      {"Amna", "api", "read", "punjab", "ok"},
      {"Amna", "api", "read", "kp", "hidden"},
      {"Amna", "api", "ack", "kp", "hidden"},
      {"Amna", "api", "assign", "kp", "hidden"},
      {"Amna", "api", "approve", "punjab", "forbidden"},
      {"Amna", "api", "reopen", "punjab", "forbidden"},
      {"Amna", "api", "list", "punjab", "ok"},
      {"Amna", "api", "list", "kp", "hidden"},
      {"Amna", "sms", "ack", "kp", "hidden"},
      {"Amna", "sms", "close", "punjab", "no_such_command"},
      {"Amna", "ussd", "list", "punjab", "ok"},
      {"Amna", "ussd", "list", "kp", "hidden"},
      {"Yasmin", "api", "read", "kp", "ok"},
      {"Yasmin", "api", "read", "punjab", "hidden"},
      {"Yasmin", "sms", "ack", "punjab", "hidden"},
      {"Yasmin", "ussd", "list", "kp", "ok"},
      {"Yasmin", "ussd", "list", "punjab", "hidden"},
      {"Sadia", "api", "read", "kp", "ok"},
      {"Sadia", "api", "list", "kp", "ok"},
      {"Sadia", "api", "approve", "kp", "conflict"},
      {"Sadia", "api", "reopen", "kp", "conflict"},
      {"Sadia", "sms", "ack", "kp", "hidden"},
      {"Sadia", "ussd", "list", "kp", "hidden"},
      {"Sadia", "ussd", "list", "punjab", "ok"},
      {"Zainab", "api", "read", "punjab", "ok"},
      {"Zainab", "sms", "claim", "punjab", "hidden"},
      {"Zainab", "ussd", "list", "punjab", "hidden"},
      // Last, as they change the cases: her own team's, by each way in.
      {"Yasmin", "sms", "ack", "kp", "ok"},
      {"Amna", "api", "claim", "punjab", "ok"},
      {"Zainab", "api", "assign", "punjab", "ok"},
  };
  int session = 0;
  for (const Row& row : table) {
    const std::string ref = row.team == "kp" ? kp : punjab;
    std::string got;
    if (row.via == "api") {
      int status = 0;
      if (row.step == "read") status = call(row.who, "GET", "cases/" + ref, "");
      if (row.step == "ack" || row.step == "claim" || row.step == "approve")
        status = call(row.who, "POST", "cases/" + ref + "/" + row.step, "");
      if (row.step == "reopen")
        status = call(row.who, "POST", "cases/" + ref + "/reopen", R"({"reason":"x"})");
      if (row.step == "assign")
        status = call(row.who, "POST", "cases/" + ref + "/assign", R"({"to":"Sadia"})");
      if (row.step == "list") {
        gateway::HttpRequest req;
        req.method = "GET";
        req.path = "/api/v1/cases";
        req.query = "view=team";
        req.headers = {{"authorization", "Bearer " + tokens.at(row.who)}};
        req.peer = "127.0.0.1";
        std::promise<gateway::HttpResponse> answer;
        api.handle(std::move(req),
                   [&](gateway::HttpResponse r) { answer.set_value(std::move(r)); });
        const gateway::HttpResponse r = answer.get_future().get();
        status = r.status != 200 ? r.status : r.body.find(ref) != std::string::npos ? 200 : 404;
      }
      got = status == 200   ? "ok"
            : status == 404 ? "hidden"
            : status == 403 ? "forbidden"
            : status == 409 ? "conflict"
                            : std::to_string(status);
    } else if (row.via == "sms") {
      const std::string word = row.step == "ack" ? "ACK" : row.step == "claim" ? "CLAIM" : "CLOSE";
      const std::string reply =
          g.kannel_sms("scope-" + std::to_string(++session), phones.at(row.who),
                       word + " " + ref + (row.step == "close" ? " resolved" : ""))
              .body;
      // Exactly the answers a responder gets: done, the same "no case" as for a reference that
      // does not exist, or the help text for a command there is none of by SMS.
      if (reply == "Case " + ref + " acknowledged." || reply == "Case " + ref + " claimed.")
        got = "ok";
      else if (reply == "No case " + ref + " in your queue.")
        got = "hidden";
      else if (reply.rfind("Reply ACK <reference>", 0) == 0)
        got = "no_such_command";
      else
        got = "unexpected: " + reply;
    } else {
      const std::string screen =
          g.hop("scope-u" + std::to_string(++session), phones.at(row.who), "").body;
      if (screen.rfind("CON ", 0) == 0 && screen.find("waiting:") != std::string::npos)
        got = screen.find(ref) != std::string::npos ? "ok" : "hidden";
      else if (screen == "END Nothing waits for you.")
        got = "hidden";
      else
        got = "unexpected: " + screen;
    }
    EXPECT_EQ(got, row.expect) << row.who << " via " << row.via << ": " << row.step << " on a "
                               << row.team << " case";
  }
  // Nothing above closed a case by phone.
  EXPECT_EQ(g.count("cases", "status = 'closed'"), 0);
}
