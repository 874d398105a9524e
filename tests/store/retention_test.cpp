// Retention (SAFETY D4): what a pass deletes and keeps, on SQLite and PostgreSQL (#14); and
// against real SQLite files: after a purge with secure_delete on and the
// WAL checkpointed and truncated, `grep -a` finds the purged rows' markers in neither the
// database nor its WAL; without them the markers stay on disk (so the check can fail); what is
// inside its period, open, or still needed is kept.
#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "adapters/common/cipher.hpp"
#include "adapters/store/store.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/temp_dir.hpp"

namespace rabta::store {
namespace {

constexpr Millis kDay = 86'400'000;
constexpr Millis kT0 = 1'790'000'000'000;

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::shared_ptr<common::FieldCipher> cipher() {
  common::FieldCipher::Key k;
  k.fill(0x42);
  return std::make_shared<common::FieldCipher>(common::FieldCipher::KeyRing{{1, k}}, 1);
}

enum class Backend { sqlite, postgres };

class RetentionFixture : public ::testing::Test {
 protected:
  virtual Backend backend() const = 0;
  std::unique_ptr<Store> open(bool secure_delete = true) {
    StoreOptions o;
    o.audit_key = "test-audit-key";
    o.cipher = key;
    o.secure_delete = secure_delete;
    if (backend() == Backend::postgres) {
      if (url.empty()) url = test::shared_pg().create_database();
      o.url = url;
    } else {
      o.path = path();
    }
    return open_store(o);
  }
  std::string path() const { return dir.file("rabta.db"); }

  // One finished session with its answer and consent, its closed case with a note, a sent
  // outbox row, an inbound record and an answered check-in: all at `at`, each carrying `tag`.
  void old_report(Store& store, const std::string& tag, Millis at, const std::string& status) {
    const auto r = store.run([&](Tx& tx) {
      const auto c = tx.upsert_contact("pseudonym-" + tag, at);
      SessionRecord s;
      s.provider = "africastalking";
      s.provider_session_id = "ATUid_" + tag;
      s.contact_id = c.id;
      s.channel = "ussd";
      s.state = "{}";
      s.last_input_path = "2*1*3";
      s.last_reply = "END Received";
      s.status = session_status::finished;
      s.started_at = s.updated_at = at;
      const auto sid = tx.insert_session(s);
      tx.insert_answer({sid, c.id, "details", "answer-" + tag, at});
      tx.insert_consent({c.id, sid, "callback", true, at});
      CaseRecord k;
      k.reference = "R" + tag;
      k.contact_id = c.id;
      k.session_id = sid;
      k.flow = "incident";
      k.category = "physical_violence";
      k.severity = "high";
      k.status = status;
      k.created_at = at;
      k.closed_at = status == case_status::closed ? at : 0;
      k.id = tx.insert_case(k);
      tx.insert_note(
          {0, k.id, 1, key->encrypt("note-" + tag, "notes.text_enc:" + std::to_string(k.id)), at});
      OutboxRecord o;
      o.kind = "sms:at";
      o.dedupe_key = "reply:" + tag;
      o.payload = R"({"text":"outbox-)" + tag + R"("})";
      o.created_at = at;
      tx.insert_outbox(o);
      InboundRecord m;
      m.provider = "at";
      m.provider_message_id = "msg-" + tag;
      m.contact_id = c.id;
      m.text_hash = "hash-" + tag;
      m.received_at = at;
      tx.insert_inbound(m);
      CheckinRecord ci;
      ci.contact_id = c.id;
      ci.week = "2026-W01";
      ci.status = "answered";
      ci.sent_at = at;
      ci.case_reference = "C" + tag;
      tx.insert_checkin(ci);
    });
    ASSERT_TRUE(r.ok) << r.error;
    std::string sent_id;
    ASSERT_TRUE(store
                    .run([&](Tx& tx) {
                      for (auto& o : tx.list_outbox("", 100))
                        if (o.dedupe_key == "reply:" + tag) tx.outbox_sent(o.id, "ATX", at);
                    })
                    .ok);
  }

  // Markers a purge must remove: every one is stored in clear (the answer and note are
  // ciphertext, so their plaintext is never on disk in the first place).
  static std::vector<std::string> markers(const std::string& tag) {
    return {"ATUid_" + tag, "R" + tag, "outbox-" + tag, "msg-" + tag, "hash-" + tag, "C" + tag};
  }

  std::vector<std::string> found_on_disk(const std::string& tag) const {
    const std::string files = bytes_of(path()) + bytes_of(path() + "-wal");
    std::vector<std::string> found;
    for (const auto& m : markers(tag))
      if (files.find(m) != std::string::npos) found.push_back(m);
    return found;
  }

  PurgeCutoffs year_old(Millis now) const {
    return {now - 30 * kDay, now - 180 * kDay, now - 30 * kDay, now - 30 * kDay, now - 180 * kDay};
  }

  // A whole pass at `now`, one row of each kind per step, over old_report's three reports (one
  // closed past its period, one inside it, one open): what it deleted, checked against what
  // purgeable said and against what may go.
  void purge_year_old_pass(Store& store, Millis now) {
    PurgeCounts would;
    store.read([&](Tx& tx) { would = tx.purgeable(year_old(now)); });
    PurgeCounts gone;
    PurgeCursor cursor;
    while (!cursor.done) {
      PurgeCounts step;
      ASSERT_TRUE(store.run([&](Tx& tx) { step = tx.purge(year_old(now), 1, cursor); }).ok);
      gone += step;
    }
    EXPECT_EQ(gone.total(), would.total());
    EXPECT_EQ(gone.cases, 1);
    EXPECT_EQ(gone.notes, 1);
    EXPECT_EQ(gone.sessions, 1) << "the open case's session stays with it";
    EXPECT_EQ(gone.answers, 1);
    EXPECT_EQ(gone.outbox, 2) << "outbox, inbound and check-ins are not tied to the case";
    EXPECT_EQ(gone.inbound, 2);
    EXPECT_EQ(gone.checkins, 2);
  }

  std::shared_ptr<common::FieldCipher> key = cipher();
  test::TempDir dir;
  std::string url;  // PostgreSQL: this test's database
};

// What only a SQLite file shows: the bytes of deleted rows, in the file and its WAL.
class RetentionTest : public RetentionFixture {
 protected:
  Backend backend() const override { return Backend::sqlite; }
};

// What retention deletes and keeps, on both backends (#14).
class Retention : public RetentionFixture, public ::testing::WithParamInterface<Backend> {
 protected:
  Backend backend() const override { return GetParam(); }
};

INSTANTIATE_TEST_SUITE_P(Backends, Retention, ::testing::Values(Backend::sqlite, Backend::postgres),
                         [](const ::testing::TestParamInfo<Backend>& param) {
                           return std::string(param.param == Backend::sqlite ? "sqlite"
                                                                             : "postgres");
                         });

TEST_F(RetentionTest, PurgedRowsLeaveNoTraceInTheDatabaseOrItsWal) {
  auto store = open();
  old_report(*store, "MARKEROLD1", kT0, case_status::closed);
  old_report(*store, "MARKERNEW2", kT0 + 360 * kDay, case_status::closed);  // inside its period
  old_report(*store, "MARKEROPEN3", kT0, case_status::open);                // never purged open
  ASSERT_EQ(store->checkpoint_wal().error, "");  // the old rows are in the database file too
  EXPECT_EQ(found_on_disk("MARKEROLD1").size(), markers("MARKEROLD1").size()) << "control";

  purge_year_old_pass(*store, kT0 + 365 * kDay);
  const auto c = store->checkpoint_wal();
  ASSERT_TRUE(c.ok) << c.error;
  EXPECT_EQ(std::filesystem::file_size(path() + "-wal"), 0u) << "the WAL is truncated";

  EXPECT_EQ(found_on_disk("MARKEROLD1"), std::vector<std::string>{});
  EXPECT_EQ(found_on_disk("MARKERNEW2").size(), markers("MARKERNEW2").size());
  const auto open_left = found_on_disk("MARKEROPEN3");
  EXPECT_NE(std::find(open_left.begin(), open_left.end(), "RMARKEROPEN3"), open_left.end());
  EXPECT_NE(std::find(open_left.begin(), open_left.end(), "ATUid_MARKEROPEN3"), open_left.end());
  store->read([&](Tx& tx) {
    EXPECT_TRUE(tx.find_case("RMARKEROPEN3"));
    EXPECT_TRUE(tx.find_case("RMARKERNEW2"));
    EXPECT_FALSE(tx.find_case("RMARKEROLD1"));
    // Her consent outlives the purged session: it still decides what may leave rabta.
    const auto her = tx.find_contact("pseudonym-MARKEROLD1");
    ASSERT_TRUE(her);
    EXPECT_EQ(tx.latest_consent(her->id, "callback"), true);
  });
  store->close();
  SQLite::Database db(path(), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("PRAGMA integrity_check").getString(), "ok");
  SQLite::Statement fk(db, "PRAGMA foreign_key_check");
  EXPECT_FALSE(fk.executeStep()) << "no row points to a purged one";
}

TEST_F(RetentionTest, WithoutSecureDeleteAndTheCheckpointTheMarkersStaySoTheTestCanFail) {
  auto store = open(/*secure_delete=*/false);
  old_report(*store, "MARKEROLD1", kT0, case_status::closed);
  ASSERT_TRUE(store->checkpoint_wal().ok);
  const Millis now = kT0 + 365 * kDay;
  PurgeCounts gone;
  PurgeCursor cursor;
  ASSERT_TRUE(store->run([&](Tx& tx) { gone = tx.purge(year_old(now), 100, cursor); }).ok);
  EXPECT_TRUE(cursor.done);
  EXPECT_EQ(gone.cases, 1);
  store->read([&](Tx& tx) { EXPECT_FALSE(tx.find_case("RMARKEROLD1")); });
  EXPECT_FALSE(found_on_disk("MARKEROLD1").empty())
      << "deleted rows linger in free space and the WAL without secure_delete";
}

TEST_P(Retention, ZeroMeansKeepForever) {
  auto store = open();
  old_report(*store, "MARKEROLD1", kT0, case_status::closed);
  PurgeCounts gone;
  PurgeCursor cursor;
  ASSERT_TRUE(store->run([&](Tx& tx) { gone = tx.purge(PurgeCutoffs{}, 100, cursor); }).ok);
  EXPECT_EQ(gone.total(), 0);
  EXPECT_TRUE(cursor.done);
}

// What a pass deletes and keeps: a closed case past its period goes with its note, session and
// answers; one inside its period and an open one stay; her consent outlives the session.
TEST_P(Retention, APassDeletesWhatItsPeriodsAllowAndKeepsTheRest) {
  auto store = open();
  old_report(*store, "OLD1", kT0, case_status::closed);
  old_report(*store, "NEW2", kT0 + 360 * kDay, case_status::closed);  // inside its period
  old_report(*store, "OPEN3", kT0, case_status::open);                // never purged open
  purge_year_old_pass(*store, kT0 + 365 * kDay);
  store->read([&](Tx& tx) {
    EXPECT_TRUE(tx.find_case("ROPEN3"));
    EXPECT_TRUE(tx.find_case("RNEW2"));
    EXPECT_FALSE(tx.find_case("ROLD1"));
    EXPECT_TRUE(tx.find_session("africastalking", "ATUid_OPEN3"));
    EXPECT_FALSE(tx.find_session("africastalking", "ATUid_OLD1"));
    const auto her = tx.find_contact("pseudonym-OLD1");
    ASSERT_TRUE(her);
    EXPECT_EQ(tx.latest_consent(her->id, "callback"), true);
  });
}

// #13: a pass steps over the sessions a case keeps instead of reading them all at every step: with
// a step limit of 5, 30 kept sessions and 3 that may go (the newest), all ended at the same
// millisecond (as those one idle sweep ends), the pass ends in a number of steps bounded by the
// rows, deletes exactly the 3 and keeps the 30.
TEST_P(Retention, APassStepsOverKeptSessionsAFewRowsAtATime) {
  auto store = open();
  const Millis now = kT0 + 365 * kDay;
  for (int i = 0; i < 30; ++i)
    old_report(*store, "KEPT" + std::to_string(i), kT0, case_status::open);
  std::vector<std::int64_t> loose;
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    const auto c = tx.upsert_contact("pseudonym-loose", kT0);
                    for (int i = 0; i < 3; ++i) {
                      SessionRecord s;
                      s.provider = "africastalking";
                      s.provider_session_id = "ATUid_LOOSE" + std::to_string(i);
                      s.contact_id = c.id;
                      s.channel = "ussd";
                      s.state = "{}";
                      s.status = session_status::finished;
                      s.started_at = s.updated_at = kT0;
                      loose.push_back(tx.insert_session(s));
                    }
                  })
                  .ok);
  PurgeCutoffs sessions_only;
  sessions_only.sessions = now - 30 * kDay;
  PurgeCounts gone;
  PurgeCursor cursor;
  int steps = 0;
  while (!cursor.done && steps < 100) {
    PurgeCounts step;
    ASSERT_TRUE(store->run([&](Tx& tx) { step = tx.purge(sessions_only, 5, cursor); }).ok);
    gone += step;
    ++steps;
  }
  EXPECT_TRUE(cursor.done);
  EXPECT_LE(steps, 33 / 5 + 2) << "each step looks at the next 5, never the same ones again";
  EXPECT_EQ(gone.sessions, 3);
  store->read([&](Tx& tx) {
    for (int i = 0; i < 30; ++i)
      EXPECT_TRUE(tx.find_session("africastalking", "ATUid_KEPT" + std::to_string(i))) << i;
    for (int i = 0; i < 3; ++i)
      EXPECT_FALSE(tx.find_session("africastalking", "ATUid_LOOSE" + std::to_string(i))) << i;
  });
}

}  // namespace
}  // namespace rabta::store
