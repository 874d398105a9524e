// SAFETY W1-W6 (issue "Safety first"): what she answered, consented to and opted out of is
// exactly what rabta does. Each test is named after the finding it proves fixed; every one failed
// on the code before the fix. Real SQLite, real HTTP on loopback, the shipped flows and keywords,
// a manual clock; the failing aggregator of W6 is a loopback port that refuses connections.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "flows/text.hpp"
#include "gateway/checkins/enrolment.hpp"
#include "gateway/checkins/rekey.hpp"
#include "gateway/outbound/dispatcher.hpp"
#include "gateway/outbound/outbound_sms.hpp"
#include "gateway/responders/case_service.hpp"
#include "gateway/responders/caseworker_api.hpp"
#include "gateway/responders/escalation.hpp"
#include "gateway/responders/roster_sync.hpp"
#include "tests/support/gateway_fixture.hpp"

using namespace rabta;
using std::chrono::minutes;

namespace {

constexpr const char* kHer = "+923001234598";

// Every common way her number is written (GLOSSARY "Phone numbers arrive as ...").
const std::vector<std::string> kForms = {
    "+923001234598",      "923001234598",      "00923001234598",  "03001234598",
    "3001234598",         "0300-1234598",      "+92 300 1234598", "tel:+923001234598",
    "+92 (0)300 1234598", "0092 300 123 4598", "(0300) 123-4598", "۰۳۰۰۱۲۳۴۵۹۸"};

// A phone on USSD: dial, then press keys; the path grows as Africa's Talking sends it.
class Caller {
 public:
  Caller(test::Gateway& g, std::string session, std::string phone = kHer)
      : g_(g), session_(std::move(session)), phone_(std::move(phone)) {}
  std::string dial() {
    path_.clear();
    dialled_ = true;
    return send();
  }
  std::string press(const std::string& key) {
    path_ = path_.empty() ? key : path_ + "*" + key;
    return send();
  }
  void hang_up() {
    const auto r = g_.http.post(
        g_.events_url(),
        test::form({{"sessionId", session_}, {"status", "Incomplete"}, {"phoneNumber", phone_}}));
    EXPECT_EQ(r.status, 200);
  }

 private:
  std::string send() {
    const auto r = g_.hop(session_, phone_, path_);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.body;
  }
  test::Gateway& g_;
  std::string session_, phone_, path_;
  bool dialled_ = false;
};

// The case as a supervisor sees it in the console and the API.
gateway::CaseDetail supervisor_reads(test::Gateway& g, const std::string& ref) {
  gateway::CaseService cases{std::make_shared<const gateway::Roster>(), g.cipher, g.clock, {}};
  gateway::Actor sup;
  sup.responder_id = 1;
  sup.role = "supervisor";
  gateway::CaseDetail d;
  EXPECT_TRUE(g.store->run([&](store::Tx& tx) { cases.detail(tx, sup, ref, d); }).ok);
  return d;
}

const std::string kRoot =
    "CON Health and well-being\n1. Weekly check-in\n2. Tell us something\n3. Useful numbers\n"
    "4. Language";

// Her enrolment: active, SMS check-ins, consented to SMS.
void enrol(test::Gateway& g, const std::string& number = kHer) {
  ASSERT_TRUE(g.store
                  ->run([&](store::Tx& tx) {
                    store::ContactRecord c;
                    c.pseudonym = g.pseudonymizer.pseudonym(number);
                    c.status = store::contact_status::active;
                    c.language = "en";
                    c.checkin_weekday = 1;
                    c.window_start_hour = 0;
                    c.window_end_hour = 24;
                    c.channel = "sms";
                    c.sms_ok = true;
                    tx.enrol_contact(c, 1);
                  })
                  .ok);
}

}  // namespace

// ------------------------------------------------------------------------------------------ W1

TEST(W1_OneIdentity, EveryWrittenFormIsTheSameE164) {
  for (const auto& f : kForms) EXPECT_EQ(common::normalise_msisdn(f), kHer) << f;
  for (const char* bad : {"JAZZ", "8001", "+92 300 12345", "+92300abc1234", "92+3001234598",
                          "0300-1234598 ext 2", ""})
    EXPECT_EQ(common::normalise_msisdn(bad), "") << bad;
  const auto refused = common::canonical_phone("030012345", common::default_number_plan());
  EXPECT_FALSE(refused);
  EXPECT_FALSE(refused.reason.empty());
  EXPECT_EQ(refused.reason.find("30012345"), std::string::npos) << "a reason never quotes it";
}

TEST(W1_OneIdentity, StopAndStartFromEveryFormActOnTheOneEnrolledContact) {
  for (std::size_t i = 0; i < kForms.size(); ++i) {
    test::Gateway g;
    enrol(g);
    const auto stop = g.kannel_sms("stop" + std::to_string(i), kForms[i], "STOP");
    EXPECT_EQ(stop.status, 200);
    EXPECT_EQ(g.count("contacts"), 1) << kForms[i] << ": a second contact appeared";
    EXPECT_EQ(g.text("SELECT status FROM contacts"), "opted_out") << kForms[i];
    g.kannel_sms("start" + std::to_string(i), kForms[(i + 1) % kForms.size()], "START");
    EXPECT_EQ(g.count("contacts"), 1);
    EXPECT_EQ(g.text("SELECT status FROM contacts"), "active") << kForms[i];
  }
}

TEST(W1_OneIdentity, AQuickExitFromAnyFormStartsHerQuietPeriod) {
  for (std::size_t i = 0; i < kForms.size(); ++i) {
    test::Gateway g;
    enrol(g);
    Caller c{g, "qe" + std::to_string(i), kForms[i]};
    EXPECT_EQ(c.dial(), kRoot) << "her language is known: no language screen";
    EXPECT_EQ(c.press("00"), "END Thank you. Goodbye.");
    EXPECT_EQ(g.count("contacts"), 1) << kForms[i];
    EXPECT_GT(std::stoll(g.text("SELECT quiet_until FROM contacts")), 0) << kForms[i];
  }
}

TEST(W1_OneIdentity, TheFloodThrottleCountsEveryFormAsOneSender) {
  test::Gateway g;
  enrol(g);
  int answered = 0;
  for (int i = 0; i < g.sms_policy.throttle_max_messages + 4; ++i) {
    const auto r = g.kannel_sms("f" + std::to_string(i), kForms[i % kForms.size()],
                                "hello " + std::to_string(i));
    if (!r.body.empty()) ++answered;
  }
  EXPECT_EQ(answered, g.sms_policy.throttle_max_messages);
  EXPECT_EQ(g.count("contacts"), 1);
}

TEST(W1_OneIdentity, TheImportRefusesWhatIsNotANumberWithAReason) {
  const auto p = common::canonical_phone("0300-CALL-ME", common::default_number_plan());
  EXPECT_FALSE(p);
  EXPECT_EQ(p.reason, "a character that is not a digit");
  EXPECT_EQ(common::canonical_phone("+9230012345678", common::default_number_plan()).reason,
            "wrong number of digits for country code +92");
}

TEST(W1_OneIdentity, TheMigrationReKeysAndMergesWithoutLosingAnOptOut) {
  // A database from before: her enrolment under her E.164 number, and the STOP that Kannel
  // passed as "923001234598" on a contact of its own (keyed as given); and a caller whose
  // callback number was stored under "3001234599" without '+'.
  test::Gateway g;
  enrol(g);
  std::int64_t her = 0, stray = 0, caller = 0;
  ASSERT_TRUE(g.store
                  ->run([&](store::Tx& tx) {
                    her = tx.find_contact(g.pseudonymizer.pseudonym(kHer))->id;
                    tx.set_contact_phone(
                        her,
                        g.cipher.encrypt(kHer, common::FieldCipher::associated_data(
                                                   "contacts", "phone_enc", her)),
                        1);
                    stray = tx.upsert_contact(g.pseudonymizer.keyed("923001234598"), 2).id;
                    tx.set_contact_status(stray, store::contact_status::opted_out, 2);
                    tx.insert_consent({stray, 0, "sms", false, 2});
                    caller = tx.upsert_contact(g.pseudonymizer.keyed("3001234599"), 3).id;
                    tx.set_contact_phone(
                        caller,
                        g.cipher.encrypt("3001234599", common::FieldCipher::associated_data(
                                                           "contacts", "phone_enc", caller)),
                        3);
                  })
                  .ok);
  ASSERT_EQ(g.count("contacts"), 3);
  const auto r = gateway::rekey_contacts(*g.store, g.pseudonymizer, g.cipher, 10);
  EXPECT_EQ(r.merged, 1);
  EXPECT_EQ(r.rekeyed, 1);  // the caller (her own pseudonym and number were canonical already)
  EXPECT_EQ(g.count("contacts"), 2);
  EXPECT_EQ(g.text("SELECT status FROM contacts WHERE id = " + std::to_string(her)), "opted_out")
      << "an opt-out always wins the merge";
  EXPECT_EQ(g.count("contacts", "pseudonym = '" + g.pseudonymizer.pseudonym("+923001234599") + "'"),
            1)
      << "the caller is re-keyed to her E.164 pseudonym";
  g.store->read([&](store::Tx& tx) {
    const auto c = tx.find_contact(g.pseudonymizer.pseudonym("+923001234599"));
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(g.cipher.decrypt(c->phone_enc, common::FieldCipher::associated_data(
                                                 "contacts", "phone_enc", c->id)),
              "+923001234599")
        << "her stored number is E.164 too";
    const auto h = tx.find_contact_by_id(her);
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(h->checkin_weekday, 1) << "her enrolment survives the merge";
    EXPECT_TRUE(h->sms_ok);
  });
  // Run again: nothing more to do. And her STOP from any form now finds her.
  const auto again = gateway::rekey_contacts(*g.store, g.pseudonymizer, g.cipher, 11);
  EXPECT_EQ(again.merged + again.rekeyed, 0);
}

TEST(W1_OneIdentity, TheMigrationKeepsTheEnrolledContactWhicheverComesFirst) {
  // A caller who once gave her callback number as "923001234598" (stored under that spelling,
  // first), then enrolled under her E.164 number.
  test::Gateway g;
  std::int64_t caller = 0;
  ASSERT_TRUE(g.store
                  ->run([&](store::Tx& tx) {
                    caller = tx.upsert_contact(g.pseudonymizer.keyed("923001234598"), 1).id;
                    tx.set_contact_phone(
                        caller,
                        g.cipher.encrypt("923001234598", common::FieldCipher::associated_data(
                                                             "contacts", "phone_enc", caller)),
                        1);
                    tx.set_contact_quiet_until(caller, 999'999, 1);
                  })
                  .ok);
  enrol(g);
  ASSERT_EQ(g.count("contacts"), 2);
  gateway::rekey_contacts(*g.store, g.pseudonymizer, g.cipher, 10);
  EXPECT_EQ(g.count("contacts"), 1);
  EXPECT_EQ(g.count("contacts", "checkin_weekday = 1 AND quiet_until = 999999"), 1)
      << "the enrolment is kept and the later quiet period wins";
}

// #13: the migration reads every contact; it runs once per database and number plan, not at every
// start (at 10M contacts that kept rabta from listening for minutes).
TEST(W1_OneIdentity, TheMigrationRunsOncePerNumberPlan) {
  test::Gateway g;
  const auto stray = [&](const std::string& digits) {
    ASSERT_TRUE(g.store
                    ->run([&](store::Tx& tx) {
                      const auto id = tx.upsert_contact(g.pseudonymizer.keyed(digits), 1).id;
                      tx.set_contact_phone(
                          id,
                          g.cipher.encrypt(digits, common::FieldCipher::associated_data(
                                                       "contacts", "phone_enc", id)),
                          1);
                    })
                    .ok);
  };
  stray("923001234597");
  EXPECT_EQ(gateway::rekey_contacts(*g.store, g.pseudonymizer, g.cipher, 10).rekeyed, 1);
  std::string marker;
  g.store->read([&](store::Tx& tx) { marker = tx.meta("contacts_rekeyed_v1"); });
  EXPECT_EQ(marker, "numbers canonical under +92");
  // What no rabta since the migration writes: the next start does not look for it...
  stray("923001234596");
  EXPECT_EQ(gateway::rekey_contacts(*g.store, g.pseudonymizer, g.cipher, 11).rekeyed, 0);
  // ...unless the number plan changed, and with it what "canonical" means.
  const common::NumberPlan pakistan = common::default_number_plan();
  common::set_default_number_plan(*common::number_plan("IN"));
  gateway::rekey_contacts(*g.store, g.pseudonymizer, g.cipher, 12);
  common::set_default_number_plan(pakistan);
  g.store->read([&](store::Tx& tx) { marker = tx.meta("contacts_rekeyed_v1"); });
  EXPECT_EQ(marker, "numbers canonical under +91");
}

// ------------------------------------------------------------------------------------------ W2

namespace {

// What one session said, for the case it raised.
struct Said {
  std::map<std::string, bool> consents;  // purpose -> granted
  bool case_raised = false;
};

}  // namespace

TEST(W2_ConsentBelongsToItsCase, ALaterUnfinishedSessionNeverWidensAnEarlierCase) {
  // The finding, as the woman lived it: she reports and says "not safe to call"; she dials
  // again, says "safe, mornings" and hangs up.
  test::Gateway g;
  Caller first{g, "r1"};
  first.dial();
  first.press("3");  // English
  first.press("2");  // Tell us something
  first.press("1");
  first.press("1");
  first.press("2");                          // not safe now
  first.press("2");                          // not safe to call
  first.press("1");                          // district
  const std::string end = first.press("3");  // share with neither
  ASSERT_EQ(end.rfind("END Received. Reference: ", 0), 0u) << end;
  const std::string ref = end.substr(std::string("END Received. Reference: ").size());
  g.clock.advance(minutes(20));
  Caller second{g, "r2"};
  EXPECT_EQ(second.dial(), kRoot);
  second.press("2");
  second.press("1");
  second.press("1");
  second.press("1");
  second.press("1");  // safe to call
  second.press("1");  // mornings: callback consent granted in THIS session
  second.hang_up();

  const gateway::CaseDetail d = supervisor_reads(g, ref);
  const std::map<std::string, bool> shown(d.consents.begin(), d.consents.end());
  ASSERT_TRUE(shown.count("callback")) << "she was asked in the first case";
  EXPECT_FALSE(shown.at("callback")) << "the first case still says: not safe to call";
  EXPECT_TRUE(d.phone.empty()) << "her number is not shown for the first case";
  for (const auto& [k, v] : d.answers)
    EXPECT_NE(k, "call_time") << "the second session's call time is not the first case's";
}

TEST(W2_ConsentBelongsToItsCase, AResumedReportAnswersForItsOwnCase) {
  test::Gateway g;
  Caller first{g, "r1"};
  first.dial();
  first.press("3");
  first.press("2");
  first.press("1");
  first.press("1");
  first.press("2");
  first.press("1");  // safe to call
  first.press("1");  // mornings: callback granted, in the case this report raises
  first.hang_up();   // at "District": the interrupted report is raised now
  ASSERT_EQ(g.count("cases"), 1);
  const std::string ref = g.text("SELECT reference FROM cases");
  g.clock.advance(minutes(3));
  Caller second{g, "r2"};
  second.dial();
  EXPECT_EQ(second.press("2"), "CON Continue where you left off?\n1. Yes\n2. Start again");
  EXPECT_EQ(second.press("1").rfind("CON District", 0), 0u);
  second.press("1");
  EXPECT_EQ(second.press("1"), "END Received. Reference: " + ref) << "the same case";
  EXPECT_EQ(g.count("cases"), 1);
  std::optional<bool> callback, ngo;
  std::string district;
  g.store->read([&](store::Tx& tx) {
    const auto id = tx.find_case(ref)->id;
    callback = tx.case_consent(id, "callback");
    ngo = tx.case_consent(id, "referral_ngo");
    district = tx.case_answer(id, "district");
  });
  EXPECT_EQ(callback, true) << "given in the first part of the report";
  EXPECT_EQ(ngo, true) << "given in the resumed part, for the same case";
  EXPECT_FALSE(district.empty());
}

TEST(W2_ConsentBelongsToItsCase, ALaterNotSafeToCallHoldsForEveryEarlierCase) {
  test::Gateway g;
  Caller first{g, "r1"};
  first.dial();
  first.press("3");
  first.press("1");  // weekly check-in
  first.press("3");  // I need help now: a case at once
  first.press("1");  // safe to call
  const std::string end = first.press("1");
  ASSERT_EQ(end.rfind("END Received. Reference: ", 0), 0u) << end;
  const std::string ref = g.text("SELECT reference FROM cases");
  std::optional<bool> before, after;
  const auto read = [&](std::optional<bool>& out) {
    g.store->read([&](store::Tx& tx) {
      out = gateway::consent_for_case(tx, tx.find_case(ref)->id, "callback");
    });
  };
  read(before);
  EXPECT_EQ(before, true);
  g.clock.advance(minutes(30));
  Caller second{g, "r2"};
  second.dial();
  second.press("1");
  second.press("2");  // I would like to talk
  second.press("2");  // it is NOT safe to call
  read(after);
  EXPECT_EQ(after, false) << "her later 'not safe to call' holds for the earlier case";
}

TEST(W2_ConsentBelongsToItsCase, RandomSequencesOfSessionsEachCaseShowsWhatWasSaidInIt) {
  std::mt19937 rng(20261204);
  for (int round = 0; round < 6; ++round) {
    test::Gateway g;
    std::map<std::string, Said> said;  // provider session id -> what was said
    std::map<std::string, int> order;  // provider session id -> when (session number)
    for (int s = 0; s < 8; ++s) {
      const std::string sid = "p" + std::to_string(round) + "-" + std::to_string(s);
      order[sid] = s;
      Caller c{g, sid};
      Said& w = said[sid];
      auto pick = [&](int n) { return std::to_string(1 + static_cast<int>(rng() % n)); };
      // How far she gets before she hangs up (99 = to the end).
      const int stop_after = static_cast<int>(rng() % 10);
      c.dial();
      if (s == 0) c.press("3");  // English, once: remembered after
      int step = 0;
      auto go = [&](const std::string& key) {
        if (step++ >= stop_after) return false;
        c.press(key);
        return true;
      };
      bool on = go("2");  // Tell us something
      if (on) w.case_raised = true;
      on = on && go(pick(5)) && go(pick(3)) && go(pick(2));
      if (on) {
        const std::string safe = pick(2);
        on = go(safe);
        if (on && safe == "2") w.consents["callback"] = false;
        if (on && safe == "1") {
          on = go(pick(3));
          if (on) w.consents["callback"] = true;
        }
      }
      on = on && go("1");  // district
      if (on) {
        const std::string refer = pick(3);
        if (go(refer)) {
          w.consents["referral_ngo"] = refer == "1";
          w.consents["referral_police"] = refer == "2";
        }
      }
      // Half the time the aggregator says she hung up; otherwise her next dial ends it.
      if (rng() % 2 == 0) c.hang_up();
      g.clock.advance(minutes(11));  // past the resume window: every session is its own
    }
    Caller last{g, "end-" + std::to_string(round)};
    last.dial();  // ends the last session if it was left open

    SQLite::Database db(g.db_path(), SQLite::OPEN_READONLY);
    SQLite::Statement q(db,
                        "SELECT c.id, c.reference, s.provider_session_id FROM cases c JOIN "
                        "sessions s ON s.id = c.session_id");
    int checked = 0;
    std::set<std::string> with_case;
    while (q.executeStep()) {
      const std::int64_t case_id = q.getColumn(0).getInt64();
      const std::string sid = q.getColumn(2).getString();
      with_case.insert(sid);
      ASSERT_TRUE(said.count(sid)) << sid;
      for (const char* purpose : {"callback", "referral_ngo", "referral_police"}) {
        std::optional<bool> got, effective;
        g.store->read([&](store::Tx& tx) {
          got = tx.case_consent(case_id, purpose);
          effective = gateway::consent_for_case(tx, case_id, purpose);
        });
        const auto it = said[sid].consents.find(purpose);
        if (it == said[sid].consents.end()) {
          EXPECT_FALSE(got.has_value()) << sid << " " << purpose << ": never asked in this case";
          EXPECT_FALSE(effective.value_or(false)) << sid << " " << purpose;
          continue;
        }
        EXPECT_EQ(got, it->second) << sid << " " << purpose;
        // What every reader applies: the same, except that a later "not safe to call" in any
        // session withdraws a callback yes.
        bool expected = it->second;
        if (std::string_view(purpose) == "callback")
          for (const auto& [later, w] : said)
            if (order.at(later) > order.at(sid) && w.consents.count("callback") &&
                !w.consents.at("callback"))
              expected = false;
        EXPECT_EQ(effective, expected) << sid << " " << purpose << " as the readers see it";
      }
      ++checked;
    }
    for (const auto& [sid, w] : said) EXPECT_EQ(with_case.count(sid) == 1, w.case_raised) << sid;
    EXPECT_GT(checked, 0);
  }
}

// ------------------------------------------------------------------------------------------ W3

namespace {

// tests/fixtures/checkin_replies.tsv: language, her reply, what it means (1, 2, 3 or unclear).
struct Reply {
  std::string language, text, meaning;
};
std::vector<Reply> fixture_replies() {
  std::ifstream in(std::string(RABTA_SOURCE_DIR) + "/tests/fixtures/checkin_replies.tsv");
  std::vector<Reply> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    Reply r;
    std::getline(ls, r.language, '\t');
    std::getline(ls, r.text, '\t');
    std::getline(ls, r.meaning, '\t');
    out.push_back(r);
  }
  return out;
}

}  // namespace

TEST(W3_AnswersAreReadWhole, AFixtureTableOfRealWorldSpellingsPerLanguage) {
  test::Gateway g;
  const auto replies = fixture_replies();
  std::map<std::string, int> per_language;
  for (const auto& r : replies) {
    ++per_language[r.language];
    const auto reading = g.texts->read_checkin_answer(flows::normalise_input(r.text));
    const std::string got = reading.unclear ? "unclear" : std::to_string(reading.option);
    EXPECT_EQ(got, r.meaning) << r.language << ": \"" << r.text << "\"";
    if (r.meaning != "1") {
      EXPECT_NE(got, "1") << "never read as fine: \"" << r.text << "\"";
    }
  }
  for (const char* lang : {"en", "ur", "roman"})
    EXPECT_GE(per_language[lang], 60) << lang << ": at least 60 real-world spellings";
}

namespace {

// An open weekly check-in for her (the prompt was sent).
void open_checkin(test::Gateway& g) {
  ASSERT_TRUE(g.store
                  ->run([&](store::Tx& tx) {
                    const auto c = tx.find_contact(g.pseudonymizer.pseudonym(kHer));
                    store::CheckinRecord k;
                    k.contact_id = c->id;
                    k.week = "2026-W39";
                    k.status = store::checkin_status::sent;
                    k.sent_at = g.clock.now_ms();
                    k.deadline_at = g.clock.now_ms() + 86'400'000;
                    tx.insert_checkin(k);
                  })
                  .ok);
}

}  // namespace

TEST(W3_AnswersAreReadWhole, NotFineGetsOneClarifyingQuestionNeverFine) {
  for (const std::string reply :
       {"theek nahi", "thik nai", "ok nahi hoon", "ٹھیک نہیں", "main theek nahin hoon", "not ok"}) {
    test::Gateway g;
    enrol(g);
    open_checkin(g);
    const auto r = g.kannel_sms("a", kHer, reply);
    EXPECT_EQ(r.body, "Sorry, which one? Reply 1 Fine, 2 I would like to talk, 3 I need you now")
        << reply;
    EXPECT_EQ(g.count("answers", "key = 'wellbeing'"), 0) << reply << " was recorded";
    EXPECT_EQ(g.count("checkins", "status = 'answered'"), 0) << reply;
    // Unclear again: a person looks (would like to talk), never "fine".
    g.kannel_sms("b", kHer, reply);
    EXPECT_EQ(g.count("cases", "category = 'checkin_talk'") +
                  g.count("sessions", "status = 'active' AND channel = 'sms'"),
              1)
        << reply;
    EXPECT_EQ(g.count("checkins", "answer = 'fine'"), 0) << reply;
  }
}

TEST(W3_SameChoicesOnEveryChannel, SmsThreeIsNeedsHelpNowLikeUssdThree) {
  test::Gateway g;
  enrol(g);
  open_checkin(g);
  EXPECT_EQ(g.kannel_sms("a", kHer, "3").body.rfind("Is it safe to call you?", 0), 0u);
  EXPECT_EQ(g.count("cases", "category = 'checkin_help_now' AND severity = 'high'"), 1);
  // ... and on USSD the third choice of the same question is the same answer.
  test::Gateway u;
  Caller c{u, "u1"};
  c.dial();
  c.press("3");
  EXPECT_EQ(c.press("1"),
            "CON How are you this week?\n1. Fine\n2. I would like to talk\n3. I need help now");
  c.press("3");
  EXPECT_EQ(u.count("cases", "category = 'checkin_help_now' AND severity = 'high'"), 1);
  // The prompt names the same three choices.
  EXPECT_EQ(g.texts->text("checkin_prompt", "en", "en"),
            "Salam! How is your week? Reply 1 Fine, 2 I would like to talk, 3 I need you now");
}

// ------------------------------------------------------------------------------------------ W4

TEST(W4_HangingUpIsAnExit, ADroppedReportAtEveryNodeRaisesTheCase) {
  // The incident flow's screens, in order, and the keys that reach each from the root.
  const std::vector<std::pair<std::string, std::vector<std::string>>> nodes = {
      {"what", {"2"}},
      {"when", {"2", "1"}},
      {"safe_now", {"2", "1", "1"}},
      {"call_safe", {"2", "1", "1", "2"}},
      {"call_when", {"2", "1", "1", "2", "1"}},
      {"district", {"2", "1", "1", "2", "2"}},
      {"refer", {"2", "1", "1", "2", "2", "1"}}};
  for (const bool by_idle : {false, true}) {
    for (const auto& [node, keys] : nodes) {
      test::Gateway g;
      Caller c{g, "d-" + node};
      c.dial();
      c.press("3");
      for (const auto& k : keys) c.press(k);
      if (by_idle) {
        g.clock.advance(minutes(4));  // past [sessions] idle_timeout_ms (3 min)
        ASSERT_TRUE(
            g.store
                ->run([&](store::Tx& tx) { g.ussd().expire_idle(tx, g.clock.now_ms() - 180'000); })
                .ok);
      } else {
        c.hang_up();
      }
      EXPECT_EQ(g.count("cases", "category = 'interrupted_report' AND severity = 'high'"), 1)
          << node << (by_idle ? " (idle)" : " (hung up)");
      EXPECT_EQ(g.count("outbox", "kind = 'case_alert'"), 1) << node;
      // Consent fail-closed: what she did not say is not a yes.
      std::optional<bool> callback;
      g.store->read([&](store::Tx& tx) {
        callback =
            tx.case_consent(tx.find_case(g.text("SELECT reference FROM cases"))->id, "callback");
      });
      EXPECT_NE(callback, std::optional<bool>(true)) << node;
      EXPECT_GT(std::stoll(g.text("SELECT quiet_until FROM contacts")), 0) << node;
      // Whoever dials from her phone next sees the ordinary first screen.
      Caller next{g, "n-" + node};
      EXPECT_EQ(next.dial(), kRoot) << node;
      EXPECT_EQ(g.count("cases"), 1) << node << ": raised once";
    }
  }
}

TEST(W4_HangingUpIsAnExit, RedialingEndsTheOpenReportAndRaisesIt) {
  test::Gateway g;
  Caller c{g, "a"};
  c.dial();
  c.press("3");
  c.press("2");
  c.press("4");  // forced marriage; then the call drops and no notification comes
  Caller again{g, "b"};
  EXPECT_EQ(again.dial(), kRoot);
  EXPECT_EQ(g.count("cases", "category = 'interrupted_report'"), 1);
}

TEST(W4_HangingUpIsAnExit, StartAgainStartsWhatSheChoseAndResumeKeepsTheSameCase) {
  test::Gateway g;
  Caller c{g, "a"};
  c.dial();
  c.press("3");
  c.press("2");
  c.press("1");
  c.hang_up();
  Caller again{g, "b"};
  EXPECT_EQ(again.dial(), kRoot);
  EXPECT_EQ(again.press("2"), "CON Continue where you left off?\n1. Yes\n2. Start again");
  EXPECT_EQ(again.press("2").rfind("CON What happened?", 0), 0u) << "not the first menu again";
  // A fresh report: the dropped one stays raised on its own.
  again.press("2");
  again.press("1");
  again.press("1");
  again.press("2");
  again.press("1");
  const std::string end = again.press("3");
  EXPECT_EQ(end.rfind("END Received. Reference: ", 0), 0u) << end;
  EXPECT_EQ(g.count("cases"), 2);
}

TEST(W4_HangingUpIsAnExit, AnSmsReportLeftUnansweredIsRaisedAfterTheConversationTimeout) {
  test::Gateway g;
  EXPECT_EQ(g.kannel_sms("m1", kHer, "help").body.rfind("What happened?", 0), 0u);
  g.kannel_sms("m2", kHer, "2");  // threats; then she stops answering
  EXPECT_EQ(g.count("cases"), 0);
  g.clock.advance(minutes(61));
  ASSERT_TRUE(
      g.store->run([&](store::Tx& tx) { g.sms().expire_idle(tx, g.clock.now_ms() - 3'600'000); })
          .ok);
  EXPECT_EQ(g.count("cases", "category = 'interrupted_report' AND severity = 'high'"), 1);
  std::optional<std::string> category;
  g.store->read([&](store::Tx& tx) {
    category = tx.case_answer(tx.find_case(g.text("SELECT reference FROM cases"))->id, "category");
  });
  EXPECT_EQ(category, "threats") << "raised with what she answered";
}

TEST(W4_HangingUpIsAnExit, TooManyWrongAnswersMidReportStillRaiseIt) {
  test::Gateway g;
  Caller c{g, "a"};
  c.dial();
  c.press("3");
  c.press("2");
  c.press("1");  // at "When?"
  std::string last;
  for (int i = 0; i < 5 && last.rfind("END", 0) != 0; ++i) last = c.press("7");
  EXPECT_EQ(last.rfind("END", 0), 0u) << last;
  EXPECT_EQ(g.count("cases", "category = 'interrupted_report'"), 1);
}

TEST(W4_HangingUpIsAnExit, StopInTheMiddleOfAnSmsRequestToTalkStillRaisesIt) {
  test::Gateway g;
  enrol(g);
  open_checkin(g);
  EXPECT_EQ(g.kannel_sms("a", kHer, "2").body.rfind("Is it safe to call you?", 0), 0u);
  g.kannel_sms("b", kHer, "STOP");
  EXPECT_EQ(g.count("cases", "category = 'checkin_talk'"), 1) << "someone still knows";
  EXPECT_EQ(g.text("SELECT status FROM contacts"), "opted_out") << "and her STOP holds";
}

TEST(W3_AnswersAreReadWhole, AnUnclearReplyWithAnUrgentWordIsUrgentTheSecondTime) {
  test::Gateway g;
  enrol(g);
  open_checkin(g);
  EXPECT_EQ(g.kannel_sms("a", kHer, "theek nahi madad chahiye").body.rfind("Sorry, which one?", 0),
            0u);
  g.kannel_sms("b", kHer, "pata nahi");
  EXPECT_EQ(g.count("cases", "category = 'checkin_help_now' AND severity = 'high'"), 1);
  // With a comma the urgent clause stands on its own: urgent at once.
  test::Gateway h;
  enrol(h);
  open_checkin(h);
  EXPECT_EQ(h.kannel_sms("a", kHer, "main theek nahi, madad chahiye")
                .body.rfind("Is it safe to call you?", 0),
            0u);
  EXPECT_EQ(h.count("cases", "category = 'checkin_help_now' AND severity = 'high'"), 1);
}

// ------------------------------------------------------------------------------------------ W5

TEST(W5_SessionBelongsToItsNumber, AHopWithHerSessionIdFromAnotherNumberIsANewSession) {
  test::Gateway g;
  Caller her{g, "shared-id"};
  her.dial();
  her.press("3");
  her.press("2");
  her.press("1");
  her.press("1");
  her.press("2");
  EXPECT_EQ(her.press("1"), "CON When is it safe to call?\n1. Morning\n2. Afternoon\n3. Evening");
  // Someone holding the aggregator's credentials sends her session id from another number,
  // answering her "when may we call" so that his number would be the one called.
  const auto other = g.hop("shared-id", "+923339999999", "3*2*1*1*2*1*1");
  EXPECT_EQ(other.status, 200);
  EXPECT_EQ(g.count("sessions"), 2) << "a new session for the other number";
  EXPECT_EQ(g.count("contacts"), 2);
  EXPECT_EQ(g.count("sessions", "provider_session_id = 'shared-id' AND hop_count = 7"), 1)
      << "her session was not touched";
  // Her session goes on where she was; her case shows her number only.
  EXPECT_EQ(her.press("1").rfind("CON District", 0), 0u);
  her.press("1");
  const std::string end = her.press("1");
  ASSERT_EQ(end.rfind("END Received. Reference: ", 0), 0u) << end;
  const std::string ref = end.substr(std::string("END Received. Reference: ").size());
  const gateway::CaseDetail d = supervisor_reads(g, ref);
  const std::map<std::string, bool> consents(d.consents.begin(), d.consents.end());
  ASSERT_TRUE(consents.count("callback"));
  EXPECT_TRUE(consents.at("callback"));
  EXPECT_EQ(g.text("SELECT c.pseudonym FROM cases k JOIN contacts c ON c.id = k.contact_id"),
            g.pseudonymizer.pseudonym(kHer))
      << "her case is hers, not the other number's";
  EXPECT_EQ(g.count("cases"), 1) << "the other number's session raised nothing of hers";
  // The other number's end notification ends its own session, not hers.
  g.http.post(g.events_url(), test::form({{"sessionId", "shared-id"},
                                          {"status", "Incomplete"},
                                          {"phoneNumber", "+923339999999"}}));
  EXPECT_EQ(g.count("sessions",
                    "provider_session_id = 'shared-id' AND status = 'finished' AND "
                    "end_reason = 'ended'"),
            1)
      << "hers is untouched";
  EXPECT_EQ(g.count("sessions",
                    "provider_session_id LIKE 'shared-id#%' AND status = "
                    "'incomplete' AND end_reason = 'Incomplete'"),
            1);
  // A notification that names no number ends nothing.
  Caller again{g, "id-2"};
  again.dial();
  g.http.post(g.events_url(), test::form({{"sessionId", "id-2"}, {"status", "Incomplete"}}));
  EXPECT_EQ(g.count("sessions", "provider_session_id = 'id-2' AND status = 'active'"), 1);
}

// ------------------------------------------------------------------------------------------ W6

namespace {

gateway::Roster w6_roster(bool punjab_on_duty) {
  gateway::Roster r;
  gateway::Team t;
  t.name = "punjab";
  t.supervisor = "Sadia";
  t.members = {{"Amna", "+923000000101", "caseworker", false, {}},
               {"Bushra", "+923000000102", "caseworker", false, {}},
               {"Sadia", "+923000000109", "supervisor", true, {}}};
  if (!punjab_on_duty) t.on_duty_weekdays = {};  // never on duty: always the fallback's turn
  gateway::Team national;
  national.name = "national";
  national.supervisor = "Nadia";
  national.members = {{"Hina", "+923000000301", "caseworker", false, {}},
                      {"Nadia", "+923000000309", "supervisor", true, {}}};
  r.teams = {t, national};
  gateway::Route all;
  all.team = "punjab";
  r.routes = {all};
  for (const char* s : {"low", "normal", "high", "critical"}) r.ack_sla[s] = minutes(15);
  r.alert_channel = "kannel";
  r.fallback_team = "national";
  return r;
}

class W6_AlertsNeverGoQuiet : public ::testing::Test {
 protected:
  void SetUp() override {}
  void start(bool punjab_on_duty) {
    roster = std::make_shared<const gateway::Roster>(w6_roster(punjab_on_duty));
    cases = std::make_unique<gateway::CaseService>(roster, g.cipher, g.clock, roster->outcomes);
    escalation = std::make_unique<gateway::Escalation>(
        *g.store, roster, g.cipher, g.clock,
        gateway::EscalationOptions{*flows::parse_zone("UTC"), "kannel", 100});
    ASSERT_TRUE(g.store
                    ->run([&](store::Tx& tx) {
                      gateway::sync_roster(tx, *roster, g.pseudonymizer, g.cipher, 1);
                    })
                    .ok);
    g.set_case_service(cases.get());
    // The aggregator fails on purpose: a loopback port where nothing listens.
    std::vector<gateway::ChannelRuntime> channels = {
        {"kannel",
         adapters::sms::make_adapter("kannel",
                                     {{"sendsms_url", "http://127.0.0.1:9/cgi-bin/sendsms"},
                                      {"username", "u"},
                                      {"password", "p"},
                                      {"from", "12345"},
                                      {"secret", test::kannel_secret},
                                      {"dlr_url", "http://127.0.0.1:9/sms/kannel"}}),
         0}};
    gateway::DispatcherOptions o;
    o.send_timeout = std::chrono::milliseconds(2000);
    dispatcher =
        std::make_unique<gateway::Dispatcher>(*g.store, std::move(channels), g.cipher, g.clock,
                                              *flows::parse_zone("UTC"), o, [] { return 1.0; });
  }

  std::string report_help_now() { return test::report_help_now(g, kHer); }
  std::vector<std::string> alert_recipients() { return test::alert_recipients(g); }

  test::Gateway g;
  std::shared_ptr<const gateway::Roster> roster;
  std::unique_ptr<gateway::CaseService> cases;
  std::unique_ptr<gateway::Escalation> escalation;
  std::unique_ptr<gateway::Dispatcher> dispatcher;
};

}  // namespace

TEST_F(W6_AlertsNeverGoQuiet, AFailedDeliveryAlertsTheNextRungAtOnceAndKeepsRetrying) {
  start(true);
  const std::string ref = report_help_now();
  escalation->run_once();
  EXPECT_EQ(alert_recipients(), std::vector<std::string>{"+923000000101"});
  EXPECT_EQ(dispatcher->run_once().retried, 1) << "the aggregator refused the connection";
  // No SLA has passed: the failing delivery moves the ladder on now.
  const auto r = escalation->run_once();
  EXPECT_EQ(r.failing, 1);
  EXPECT_EQ(r.alerts, 1);
  EXPECT_EQ(alert_recipients(), (std::vector<std::string>{"+923000000101", "+923000000102"}));
  EXPECT_GE(g.count("audit", "action = 'case.alert_failed'"), 1);
  // Far past the old give-up point (8 attempts, ~1 minute): still pending, never dead.
  for (int i = 0; i < 14; ++i) {
    g.clock.advance(std::chrono::seconds(61));
    dispatcher->run_once();
    escalation->run_once();
  }
  EXPECT_EQ(g.count("outbox", "dedupe_key LIKE 'alert:%' AND status = 'dead'"), 0);
  EXPECT_GE(
      std::stoi(g.text("SELECT attempts FROM outbox WHERE dedupe_key = 'alert:" + ref + ":1'")),
      10);
  // The ladder went on to the always-on team (it now holds the case); Amna, alerted first,
  // acknowledges late from her phone, and that still works.
  EXPECT_EQ(alert_recipients(),
            (std::vector<std::string>{"+923000000101", "+923000000102", "+923000000109",
                                      "+923000000301", "+923000000309"}));
  EXPECT_EQ(g.text("SELECT team FROM cases"), "national");
  EXPECT_EQ(g.kannel_sms("ack", "0300-0000101", "ACK " + ref).body,
            "Case " + ref + " acknowledged.");
  EXPECT_EQ(g.kannel_sms("claim", "0300-0000101", "CLAIM " + ref).body, "Case " + ref + " claimed.")
      << "and she can work the case she acknowledged";
  g.clock.advance(std::chrono::seconds(61));
  dispatcher->run_once();
  EXPECT_EQ(g.count("outbox", "dedupe_key LIKE 'alert:%' AND status = 'pending'"), 0);
  EXPECT_GE(g.count("outbox", "status = 'cancelled' AND last_error = 'case claimed'"), 1);
  EXPECT_EQ(g.count("outbox", "status = 'dead'"), 0) << "a cancelled alert is no dead letter";
}

TEST_F(W6_AlertsNeverGoQuiet, AnOffDutyTeamFallsBackToTheAlwaysOnTeam) {
  start(false);
  const std::string ref = report_help_now();
  escalation->run_once();
  EXPECT_EQ(alert_recipients(), std::vector<std::string>{"+923000000301"})
      << "the national desk's caseworker, not only the regional supervisor";
  EXPECT_EQ(g.text("SELECT team FROM cases"), "national");
  // She can acknowledge it (from her number written without '+', W1).
  EXPECT_EQ(g.kannel_sms("ack", "923000000301", "ACK " + ref).body,
            "Case " + ref + " acknowledged.");
}

TEST_F(W6_AlertsNeverGoQuiet, TheFailingAlertsMetricCountsThem) {
  start(true);
  report_help_now();
  escalation->run_once();
  dispatcher->run_once();
  store::MetricsSnapshot m;
  g.store->read([&](store::Tx& tx) { m = tx.metrics_snapshot(); });
  EXPECT_EQ(m.failing_alerts, 1);
}

TEST_F(W6_AlertsNeverGoQuiet, OutboxResendPutsADeadLetterBack) {
  start(true);
  report_help_now();
  escalation->run_once();
  std::int64_t id = 0;
  ASSERT_TRUE(g.store
                  ->run([&](store::Tx& tx) {
                    id = tx.list_outbox("", 10).front().id;
                    tx.outbox_dead(id, "given up", g.clock.now_ms());
                    EXPECT_TRUE(tx.outbox_resend(id, g.clock.now_ms()));
                    EXPECT_FALSE(tx.outbox_resend(id, g.clock.now_ms())) << "already pending";
                  })
                  .ok);
  EXPECT_EQ(g.text("SELECT status FROM outbox WHERE id = " + std::to_string(id)), "pending");
}

TEST(W6_Ladder, OffDutyTheAlwaysOnTeamComesFirstAndItsSupervisorLast) {
  const gateway::Roster off = w6_roster(false);
  auto names = [](const std::vector<gateway::Rung>& ladder) {
    std::vector<std::string> out;
    for (const auto& r : ladder) out.push_back(r.member.name + "@" + r.team);
    return out;
  };
  const flows::LocalTime night{2026, 12, 4, 5, 2, 0};
  EXPECT_EQ(names(gateway::escalation_ladder(off, off.teams[0], night)),
            (std::vector<std::string>{"Hina@national", "Sadia@punjab", "Nadia@national"}));
  const gateway::Roster on = w6_roster(true);
  EXPECT_EQ(names(gateway::escalation_ladder(on, on.teams[0], night)),
            (std::vector<std::string>{"Amna@punjab", "Bushra@punjab", "Sadia@punjab",
                                      "Hina@national", "Nadia@national"}));
  // Without a fallback team: the team's own ladder, as before.
  gateway::Roster none = w6_roster(false);
  none.fallback_team.clear();
  EXPECT_EQ(names(gateway::escalation_ladder(none, none.teams[0], night)),
            std::vector<std::string>{"Sadia@punjab"});
}

TEST(W6_Ladder, TheRosterRefusesAFallbackTeamThatIsNotAlwaysOnDuty) {
  test::TempDir dir;
  const std::string path = dir.file("responders.toml");
  std::ofstream(path) << R"(alert_channel = "kannel"
fallback_team = "day"
[sla]
critical = "10m"
high = "15m"
normal = "24h"
low = "72h"
[[teams]]
name = "day"
on_duty = { days = ["mon", "tue", "wed", "thu", "fri"], hours = "9-17" }
supervisor = "S"
members = [ { name = "S", phone = "+923000000109", role = "supervisor" } ]
[[routes]]
team = "day"
)";
  flows::FlowSet flows;
  std::vector<flows::Diagnostic> errors;
  gateway::load_roster(path, flows, errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].pos.line, 2u);
  EXPECT_NE(errors[0].reason.find("must be on duty every day, all day"), std::string::npos)
      << errors[0].reason;
}

TEST_F(W6_AlertsNeverGoQuiet, AResponderAcknowledgesFromEveryFormOfHerNumber) {
  // SAFETY W1 for responders: Kannel passes "923000000101", a phone may send "0300-0000101".
  start(true);
  const std::string ref = report_help_now();
  escalation->run_once();
  const std::vector<std::string> amna = {
      "+923000000101", "923000000101",    "00923000000101",    "03000000101",        "3000000101",
      "0300-0000101",  "+92 300 0000101", "tel:+923000000101", "+92 (0)300 0000101", "۰۳۰۰۰۰۰۰۱۰۱"};
  for (std::size_t i = 0; i < amna.size(); ++i)
    EXPECT_EQ(g.kannel_sms("ack" + std::to_string(i), amna[i], "ACK " + ref).body,
              "Case " + ref + " acknowledged.")
        << amna[i];
  EXPECT_EQ(g.text("SELECT status FROM cases"), "acknowledged");
}
