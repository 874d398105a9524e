// Tests of the store: on a real SQLite file in a fresh temporary directory per test, and
// (StoreTest, #14) the same on a fresh database of a real PostgreSQL server started by the test.

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "adapters/store/queries.hpp"
#include "adapters/store/sql/statements.hpp"
#include "adapters/store/sqlite/migrations.hpp"
#include "adapters/store/store.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/test_cipher.hpp"

namespace rabta::store {
namespace {

namespace fs = std::filesystem;

enum class Backend { sqlite, postgres };

// The tests' PostgreSQL server (tests/support/pg_cluster.hpp); each test gets a fresh database.
test::PgCluster& pg_cluster() {
  return test::shared_pg();
}

// A store on a fresh database of it, without the field key (PostgresStore tests).
StoreOptions pg_options() {
  StoreOptions options;
  options.url = pg_cluster().create_database();
  options.audit_key = "test-audit-key";
  return options;
}

// The store on a real SQLite file in a fresh temporary folder, or on a fresh database of a real
// PostgreSQL server (#14): the same tests, through the same Store/Tx.
class StoreFixture : public ::testing::Test {
 protected:
  virtual Backend backend() const = 0;
  bool on_postgres() const { return backend() == Backend::postgres; }

  void SetUp() override {
    std::string dir = (fs::temp_directory_path() / "rabta-store-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    dir_ = dir;
    path_ = (dir_ / "rabta.db").string();
    if (on_postgres()) {
      url_ = pg_cluster().create_database();
      database_ = url_.substr(std::string("postgresql:///").size());
      database_ = database_.substr(0, database_.find('?'));
    }
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // What open() opens with. PostgreSQL's sealed columns hold only ciphertext, so a PostgreSQL
  // store always has the field key; the SQLite tests keep values in clear where they read them.
  StoreOptions options() const {
    StoreOptions options;
    options.audit_key = "test-audit-key";
    options.path = path_;
    options.url = url_;
    if (on_postgres()) options.cipher = cipher_;
    return options;
  }

  std::unique_ptr<Store> open() { return open_store(options()); }

  // The message open_sqlite_store throws with, or "" when it opened.
  std::string open_error(const std::string& path) {
    StoreOptions options;
    options.audit_key = "test-audit-key";
    options.path = path;
    try {
      open_sqlite_store(options);
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "";
  }

  // Counts rows through a connection of our own, independent of the store's.
  std::int64_t count(const std::string& sql) {
    if (on_postgres()) return std::stoll(pg_cluster().exec(sql, database_));
    SQLite::Database db(path_, SQLite::OPEN_READONLY);
    return db.execAndGet(sql).getInt64();
  }
  // SQL: `column` holds bytes (ciphertext), not text.
  std::string is_blob(const std::string& column) const {
    return on_postgres() ? "pg_typeof(" + column + ") = 'bytea'::regtype"
                         : "typeof(" + column + ") = 'blob'";
  }
  // The first value of the first row, read through a connection of our own.
  std::string text(const std::string& sql) {
    if (on_postgres()) return pg_cluster().exec(sql, database_);
    SQLite::Database db(path_, SQLite::OPEN_READONLY);
    return db.execAndGet(sql).getString();
  }
  // Changes the database through a connection of our own, as an older rabta (or an attacker
  // with the file) would have left it.
  void exec(const std::string& sql) {
    if (on_postgres()) {
      pg_cluster().exec(sql, database_);
      return;
    }
    SQLite::Database db(path_, SQLite::OPEN_READWRITE);
    db.exec(sql);
  }

  fs::path dir_;
  std::string path_;
  std::string url_;
  std::string database_;
  std::shared_ptr<const common::FieldCipher> cipher_ =
      std::make_shared<common::FieldCipher>(test::test_cipher());
};

// Runs on both backends.
class StoreTest : public StoreFixture, public ::testing::WithParamInterface<Backend> {
 protected:
  Backend backend() const override { return GetParam(); }
};

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values(Backend::sqlite, Backend::postgres),
                         [](const ::testing::TestParamInfo<Backend>& param) {
                           return std::string(param.param == Backend::sqlite ? "sqlite"
                                                                             : "postgres");
                         });

// What only SQLite has: its file, its migrations from older files, its query plans.
class SqliteStoreTest : public StoreFixture {
 protected:
  Backend backend() const override { return Backend::sqlite; }
};

std::future<JobResult> submit_future(Store& store, Job job) {
  auto promise = std::make_shared<std::promise<JobResult>>();
  auto result = promise->get_future();
  store.submit(std::move(job), [promise](const JobResult& r) { promise->set_value(r); });
  return result;
}

// Holds the writer inside a job until released, so that jobs submitted meanwhile are sure to
// form one batch of their own. With `inside`, the job first does that work and keeps its
// transaction open (its row and advisory locks held) until released, then does `after` (#14:
// what another instance sees meanwhile).
class Gate {
 public:
  // Submits the gate job and returns once the writer is inside it.
  void close_on(Store& store, std::function<void(Tx&)> inside = {},
                std::function<void(Tx&)> after = {}) {
    store.submit(
        [entered = entered_, opened = opened_, inside = std::move(inside),
         after = std::move(after)](Tx& tx) {
          if (inside) inside(tx);
          entered->set_value();
          opened.wait();
          if (after) after(tx);
        },
        {});
    entered_future_.wait();
  }
  void release() { open_.set_value(); }

 private:
  std::shared_ptr<std::promise<void>> entered_ = std::make_shared<std::promise<void>>();
  std::future<void> entered_future_ = entered_->get_future();
  std::promise<void> open_;
  std::shared_future<void> opened_ = open_.get_future().share();
};

ContactRecord add_contact(Store& store, const std::string& pseudonym) {
  ContactRecord contact;
  const JobResult r = store.run([&](Tx& tx) { contact = tx.upsert_contact(pseudonym, 1000); });
  EXPECT_TRUE(r.ok) << r.error;
  return contact;
}

SessionRecord make_session(std::int64_t contact_id, const std::string& provider_session_id,
                           const std::string& channel, const std::string& status,
                           Millis updated_at) {
  SessionRecord s;
  s.provider = "africastalking";
  s.provider_session_id = provider_session_id;
  s.contact_id = contact_id;
  s.channel = channel;
  s.state = R"({"screen":"menu"})";
  s.last_input_path = "1*2";
  s.last_reply = "CON Choose";
  s.hop_count = 2;
  s.status = status;
  s.started_at = updated_at - 10;
  s.updated_at = updated_at;
  return s;
}

CaseRecord make_case(std::int64_t contact_id, const std::string& reference) {
  CaseRecord c;
  c.reference = reference;
  c.contact_id = contact_id;
  c.flow = "report";
  c.category = "violence";
  c.severity = "high";
  c.created_at = 5000;
  return c;
}

OutboxRecord make_outbox(const std::string& dedupe_key, const std::string& payload = "{}") {
  OutboxRecord o;
  o.kind = "case_alert";
  o.dedupe_key = dedupe_key;
  o.payload = payload;
  o.cause = "case:TEST";
  o.created_at = 7000;
  o.not_before = 7000;
  return o;
}

void expect_same(const SessionRecord& a, const SessionRecord& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.provider, b.provider);
  EXPECT_EQ(a.provider_session_id, b.provider_session_id);
  EXPECT_EQ(a.contact_id, b.contact_id);
  EXPECT_EQ(a.channel, b.channel);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.last_input_path, b.last_input_path);
  EXPECT_EQ(a.last_reply, b.last_reply);
  EXPECT_EQ(a.hop_count, b.hop_count);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.end_reason, b.end_reason);
  EXPECT_EQ(a.started_at, b.started_at);
  EXPECT_EQ(a.updated_at, b.updated_at);
  EXPECT_EQ(a.ended_at, b.ended_at);
}

// ---- PostgreSQL only ----

TEST(PostgresStore, NeverWritesASealedColumnInClear) {
  // Without the field key, a job that would put her words in a sealed column fails; nothing is
  // written (SAFETY D2). The same store still reads and writes everything else.
  const StoreOptions options = pg_options();
  auto store = open_store(options);
  const auto contact = add_contact(*store, "p1");
  JobResult r = store->run(
      [&](Tx& tx) { tx.insert_session(make_session(contact.id, "s1", "ussd", "active", 1)); });
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("a sealed column would be written in clear"), std::string::npos)
      << r.error;
  EXPECT_EQ(r.error.find("menu"), std::string::npos) << r.error;  // no value in the reason
  store->read([&](Tx& tx) { EXPECT_FALSE(tx.find_session("africastalking", "s1").has_value()); });
  EXPECT_TRUE(store->run([&](Tx& tx) { tx.insert_outbox(make_outbox("k1")); }).ok);
}

TEST(PostgresStore, ATextWithANulByteIsRefusedNotCutShort) {
  // libpq sends text as a C string: without the check, "before\0after" was stored as "before".
  auto store = open_store(pg_options());
  const JobResult r = store->run([](Tx& tx) {
    auto o = make_outbox("k1", std::string("{\"t\":\"before") + '\0' + "after\"}");
    tx.insert_outbox(o);
  });
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("NUL byte"), std::string::npos) << r.error;
  store->read([](Tx& tx) { EXPECT_TRUE(tx.list_outbox("", 10).empty()); });
}

TEST(PostgresStore, ManyInstancesOpeningOneDatabaseMigrateItOnce) {
  const std::string url = pg_cluster().create_database();
  std::vector<std::future<int>> versions;
  for (int i = 0; i < 4; ++i) {
    versions.push_back(std::async(std::launch::async, [url] {
      StoreOptions options;
      options.url = url;
      return open_store(options)->schema_version();
    }));
  }
  for (auto& v : versions) EXPECT_EQ(v.get(), latest_schema_version());
}

TEST(PostgresStore, AnUnreachableServerIsRefusedWithoutThePassword) {
  StoreOptions options;
  options.url = "postgresql://rabta:pw-123@/nodb?host=/nonexistent-dir&port=1";
  try {
    open_store(options);
    ADD_FAILURE() << "opened";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("postgresql /nonexistent-dir:1/nodb"), std::string::npos) << what;
    EXPECT_EQ(what.find("pw-123"), std::string::npos) << what;
  }
}

// Instances sharing one database (#14): what one holds inside its open transaction, the other
// steps over; a lease that runs out frees a dead instance's rows.
TEST(PostgresStore, TwoInstancesNeverClaimTheSameRowOrRunOnePassTogether) {
  const StoreOptions options = pg_options();
  auto a = open_store(options);
  auto b = open_store(options);
  ASSERT_TRUE(a->shared());
  ASSERT_TRUE(a->run([](Tx& tx) {
                 for (int i = 0; i < 6; ++i) {
                   auto o = make_outbox("k" + std::to_string(i));
                   o.kind = "sms:at";
                   tx.insert_outbox(o);
                 }
               }).ok);
  // a claims three rows and holds its transaction open (and the pass lock) until released.
  std::vector<std::int64_t> a_ids;
  Gate gate;
  gate.close_on(*a, [&](Tx& tx) {
    EXPECT_TRUE(tx.try_lock("escalation"));
    for (const auto& r : tx.claim_outbox_exact(10'000, 20'000, 3, "sms:at")) a_ids.push_back(r.id);
  });
  ASSERT_EQ(a_ids.size(), 3U);
  std::vector<std::int64_t> b_ids;
  bool b_locked = true;
  ASSERT_TRUE(b->run([&](Tx& tx) {
                 b_locked = tx.try_lock("escalation");
                 for (const auto& r : tx.claim_outbox_exact(10'000, 20'000, 10, "sms:at"))
                   b_ids.push_back(r.id);
               }).ok);
  gate.release();
  EXPECT_FALSE(b_locked) << "a holds the pass";
  ASSERT_EQ(b_ids.size(), 3U) << "b takes only the rows a does not hold";
  for (const auto id : b_ids)
    EXPECT_EQ(std::count(a_ids.begin(), a_ids.end(), id), 0) << "row " << id << " claimed twice";
  ASSERT_TRUE(a->run([](Tx&) {}).ok);  // a's claim committed

  // b settles in-doubt rows: a's are "sending" under a live lease (until 20,000) and stay so.
  std::pair<int, int> settled{-1, -1};
  ASSERT_TRUE(b->run([&](Tx& tx) { settled = tx.settle_in_doubt_outbox("sms:", 15'000); }).ok);
  EXPECT_EQ(settled, std::make_pair(0, 0));
  // Once the lease has run out, a is taken for dead: rows to nobody in particular go back to
  // pending, a woman's would be held as unconfirmed (never sent twice).
  ASSERT_TRUE(b->run([&](Tx& tx) { settled = tx.settle_in_doubt_outbox("sms:", 20'001); }).ok);
  EXPECT_EQ(settled, std::make_pair(6, 0));
}

// #14: escalation on one instance never rewrites a case from a read older than another
// instance's acknowledgement, nor the scheduler a check-in she has just answered: the writer's
// reads of rows it rewrites lock them, and its lists skip rows another instance holds.
TEST(PostgresStore, NoInstanceRewritesACaseOrCheckinFromAStaleRead) {
  const StoreOptions options = pg_options();
  auto a = open_store(options);
  auto b = open_store(options);
  const auto contact = add_contact(*a, "p1");
  std::int64_t case_id = 0;
  ASSERT_TRUE(a->run([&](Tx& tx) {
                 auto c = make_case(contact.id, "K7P2QX");
                 c.status = "open";
                 c.next_alert_at = 100;
                 case_id = tx.insert_case(c);
                 CheckinRecord k;
                 k.contact_id = contact.id;
                 k.week = "2026-W49";
                 k.status = "sent";
                 k.sent_at = 50;
                 k.deadline_at = 100;
                 tx.insert_checkin(k);
               }).ok);
  // a (a responder's acknowledgement and her answer) holds both rows in its open batch.
  std::optional<CaseRecord> c;
  std::optional<CheckinRecord> k;
  Gate gate;
  gate.close_on(
      *a,
      [&](Tx& tx) {
        c = tx.find_case_by_id(case_id);
        k = tx.open_checkin(contact.id);
      },
      [&](Tx& tx) {
        c->status = "acknowledged";
        tx.update_case(*c);
        k->status = "answered";
        tx.update_checkin(*k);
      });
  ASSERT_TRUE(c && k);
  // What b's escalation and scheduler find to rewrite: the cases due and the check-ins overdue.
  const auto b_finds = [&] {
    std::pair<std::size_t, std::size_t> found{9, 9};
    EXPECT_TRUE(
        b->run([&](Tx& tx) {
           found = {tx.cases_due_for_alert(1000, 10).size(), tx.checkins_overdue(1000, 10).size()};
         }).ok);
    return found;
  };
  // Meanwhile: the rows a holds are not theirs to rewrite.
  EXPECT_EQ(b_finds(), std::make_pair(std::size_t{0}, std::size_t{0}));
  gate.release();
  ASSERT_TRUE(a->run([](Tx&) {}).ok);  // a's batch committed
  // And once a has committed, they see what a wrote: nothing due.
  EXPECT_EQ(b_finds(), std::make_pair(std::size_t{0}, std::size_t{0}));
  b->read([&](Tx& tx) {
    EXPECT_EQ(tx.find_case_by_id(case_id)->status, "acknowledged");
    EXPECT_EQ(tx.cases_due_for_alert(1000, 10).size(), 0U) << "a read takes no lock";
  });
}

// #14: a hop of a session another instance's open batch is applying (a duplicate, or a hop
// retried on this instance while the first one's dying batch still holds the row) is never
// applied to the row as it was before: the writer's lookup takes the row lock, so it waits there
// (at most lock_timeout, then a 503) and, once the other batch commits, reads what it wrote.
TEST(PostgresStore, HopsOfOneSessionOnTwoInstancesApplyOneAfterTheOther) {
  StoreOptions options = pg_options();
  options.cipher = std::make_shared<common::FieldCipher>(test::test_cipher());
  auto a = open_store(options);
  auto b = open_store(options);
  const auto contact = add_contact(*a, "p1");
  ASSERT_TRUE(a->run([&](Tx& tx) {
                 tx.insert_session(make_session(contact.id, "s1", "ussd", "active", 1));
               }).ok);
  const auto hop = [](int expected_before) {
    return [expected_before](Tx& tx) {
      auto s = tx.find_session("africastalking", "s1");
      ASSERT_TRUE(s);
      EXPECT_EQ(s->hop_count, expected_before);
      s->hop_count = expected_before + 1;
      tx.update_session(*s);
    };
  };
  Gate gate;
  gate.close_on(*a, hop(2));
  const JobResult waited = b->run(hop(3));
  EXPECT_FALSE(waited.ok);
  EXPECT_NE(waited.error.find("find_session"), std::string::npos)
      << "refused at the lookup, not after reading the row as it was: " << waited.error;
  gate.release();
  ASSERT_TRUE(a->run([](Tx&) {}).ok);
  EXPECT_TRUE(b->run(hop(3)).ok);  // on top of a's hop
  b->read([](Tx& tx) { EXPECT_EQ(tx.find_session("africastalking", "s1")->hop_count, 4); });
}

// #14: /healthz writes a heartbeat through the writer; an instance whose batch is open (here held
// on purpose) must not make another instance's probe wait on one shared row.
TEST(PostgresStore, InstancesHeartbeatsNeverWaitForEachOther) {
  const StoreOptions options = pg_options();
  auto a = open_store(options);
  auto b = open_store(options);
  Gate gate;
  gate.close_on(*a, [](Tx& tx) { tx.heartbeat(1'800'000'000'000); });
  const JobResult r = b->run([](Tx& tx) { tx.heartbeat(1'800'000'000'001); });
  gate.release();
  EXPECT_TRUE(r.ok) << r.error;  // with one shared row: lock_timeout, a 503 at /healthz
  ASSERT_TRUE(a->run([](Tx&) {}).ok);
}

// ---- opening and migrations ----

TEST_F(SqliteStoreTest, MigratesNewFileToLatestSchema) {
  ASSERT_GE(latest_schema_version(), 1);
  {
    auto store = open();
    EXPECT_EQ(store->schema_version(), latest_schema_version());
  }
  SQLite::Database db(path_, SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("PRAGMA user_version").getInt(), latest_schema_version());
  for (const char* table : {"contacts", "sessions", "cases", "answers", "consents", "outbox",
                            "meta", "inbound", "checkins", "responders", "notes", "audit"}) {
    EXPECT_TRUE(db.tableExists(table)) << table;
  }
  for (const char* index : {"sessions_contact_channel",
                            "sessions_live_updated",
                            "cases_session",
                            "consents_session",
                            "cases_closed_at",
                            "answers_loose_created",
                            "outbox_finished_created",
                            "inbound_received",
                            "checkins_finished_sent",
                            "outbox_status_not_before",
                            "contacts_checkin_schedule",
                            "outbox_channel_provider_message",
                            "inbound_contact_received",
                            "checkins_status_remind",
                            "checkins_status_deadline",
                            "cases_status_next_alert",
                            "cases_team_id",
                            "cases_team_status",
                            "responders_token_hash",
                            "responders_phone_pseudonym",
                            "notes_case"}) {
    SQLite::Statement q(db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ?");
    q.bind(1, index);
    ASSERT_TRUE(q.executeStep());
    EXPECT_EQ(q.getColumn(0).getInt(), 1) << index;
  }
}

// #13: a statement that scans a whole table costs more with every row the deployment keeps. Each
// statement the store prepares once (the Sql ids) is checked against the schema: only those
// listed, which read whole tables on purpose, may scan.
TEST_F(SqliteStoreTest, NoPreparedStatementScansAWholeTableUnlessItMust) {
  // Each with its reason.
  const std::vector<std::string> on_purpose = {
      "FROM outbox ORDER BY id DESC LIMIT",   // the newest rows: read backwards, stops at the limit
      "FROM audit ORDER BY id DESC LIMIT 1",  // the chain's last row: one step backwards
      "FROM outbox GROUP BY status",          // `rabta outbox`: counts every row, on its index
      "FROM responders ORDER BY name",        // the roster: tens of rows
  };
  { auto store = open(); }
  SQLite::Database db(path_, SQLite::OPEN_READONLY);
  std::set<std::string> tables;
  for (SQLite::Statement t(db, "SELECT name FROM sqlite_master WHERE type = 'table'");
       t.executeStep();)
    tables.insert(t.getColumn(0).getString());
  for (std::size_t i = 0; i < sql::kSqlCount; ++i) {
    const std::string sql = sql::sql_text(static_cast<sql::Sql>(i));
    SQLite::Statement plan(db, "EXPLAIN QUERY PLAN " + sql);
    while (plan.executeStep()) {
      const std::string detail = plan.getColumn(3).getString();
      if (detail.rfind("SCAN ", 0) != 0) continue;
      const std::string table = detail.substr(5, detail.find(' ', 5) - 5);
      if (!tables.contains(table)) continue;  // a CTE or a constant row
      const bool allowed = std::any_of(on_purpose.begin(), on_purpose.end(), [&](const auto& p) {
        return sql.find(p) != std::string::npos;
      });
      if (!allowed) ADD_FAILURE() << detail << "  <-  " << sql;
    }
  }
}

// #13: each step of a purge pass must stop after its limit: retention reads in the order of an
// index (no sort of every row older than the cut, no scan).
TEST_F(SqliteStoreTest, RetentionReadsEachKindInTheOrderOfAnIndex) {
  { auto store = open(); }
  SQLite::Database db(path_, SQLite::OPEN_READONLY);
  for (const auto id : {sql::Sql::purge_closed_cases, sql::Sql::purge_ended_sessions,
                        sql::Sql::purge_loose_answers, sql::Sql::purge_finished_outbox,
                        sql::Sql::purge_inbound, sql::Sql::purge_finished_checkins}) {
    const std::string sql = sql::sql_text(id);
    SQLite::Statement plan(db, "EXPLAIN QUERY PLAN " + sql);
    bool searched = false;
    while (plan.executeStep()) {
      const std::string detail = plan.getColumn(3).getString();
      if (detail.rfind("SEARCH ", 0) == 0 && detail.find(" USING ") != std::string::npos &&
          detail.find("(session_id=?)") == std::string::npos)
        searched = true;
      EXPECT_EQ(detail.find("TEMP B-TREE"), std::string::npos) << detail << "  <-  " << sql;
      EXPECT_NE(detail.rfind("SCAN ", 0), 0U) << detail << "  <-  " << sql;
    }
    EXPECT_TRUE(searched) << sql;
  }
}

TEST_F(SqliteStoreTest, MigratesZeroLengthFile) {
  std::ofstream(path_).close();
  ASSERT_EQ(fs::file_size(path_), 0U);
  auto store = open();
  EXPECT_EQ(store->schema_version(), latest_schema_version());
}

TEST_F(SqliteStoreTest, UsesWalJournal) {
  auto store = open();
  SQLite::Database other(path_, SQLite::OPEN_READONLY);
  EXPECT_EQ(other.execAndGet("PRAGMA journal_mode").getString(), "wal");
}

TEST_P(StoreTest, ReopeningKeepsData) {
  std::int64_t id = 0;
  {
    auto store = open();
    id = add_contact(*store, "pseudo-1").id;
  }
  auto store = open();
  EXPECT_EQ(store->schema_version(), latest_schema_version());
  store->read([&](Tx& tx) {
    const auto found = tx.find_contact("pseudo-1");
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->id, id);
  });
}

TEST_F(SqliteStoreTest, RefusesNewerSchema) {
  {
    SQLite::Database db(path_, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("CREATE TABLE future (x INTEGER)");
    db.exec("PRAGMA user_version = " + std::to_string(latest_schema_version() + 1));
  }
  const std::string error = open_error(path_);
  EXPECT_NE(error.find(path_), std::string::npos) << error;
  EXPECT_NE(error.find("newer"), std::string::npos) << error;
  // Refused before changing anything: still in its original journal mode.
  SQLite::Database db(path_, SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("PRAGMA journal_mode").getString(), "delete");
}

TEST_F(SqliteStoreTest, RefusesNonDatabaseFile) {
  {
    std::ofstream out(path_);
    for (int i = 0; i < 200; ++i) out << "this is a text file, not a database\n";
  }
  const std::string error = open_error(path_);
  EXPECT_NE(error.find(path_), std::string::npos) << error;
  EXPECT_NE(error.find("quick_check"), std::string::npos) << error;
}

TEST_F(SqliteStoreTest, RefusesCorruptDatabase) {
  {
    auto store = open();
    const JobResult r = store->run([](Tx& tx) {
      for (int i = 0; i < 3000; ++i) {
        tx.insert_outbox(make_outbox("key-" + std::to_string(i), std::string(60, 'p')));
      }
    });
    ASSERT_TRUE(r.ok) << r.error;
  }  // close() checkpoints: every row is in the main file now
  const auto size = fs::file_size(path_);
  ASSERT_GT(size, 16U * 4096U);
  {
    std::fstream file(path_, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(size / 2));
    const std::string garbage(3 * 4096, '\xA5');
    file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  const std::string error = open_error(path_);
  EXPECT_NE(error.find(path_), std::string::npos) << error;
  EXPECT_NE(error.find("failed quick_check"), std::string::npos) << error;
}

TEST_F(SqliteStoreTest, RefusesMissingDirectory) {
  const fs::path missing = dir_ / "missing";
  const std::string error = open_error((missing / "rabta.db").string());
  EXPECT_NE(error.find((missing / "rabta.db").string()), std::string::npos) << error;
  EXPECT_NE(error.find("does not exist"), std::string::npos) << error;
  EXPECT_FALSE(fs::exists(missing));
}

// ---- Tx operations ----

TEST_P(StoreTest, ContactsUpsertFindLanguageQuiet) {
  auto store = open();
  JobResult r = store->run([](Tx& tx) {
    EXPECT_FALSE(tx.find_contact("p1").has_value());
    const ContactRecord created = tx.upsert_contact("p1", 1000);
    EXPECT_GT(created.id, 0);
    EXPECT_EQ(created.pseudonym, "p1");
    EXPECT_EQ(created.language, "");
    EXPECT_EQ(created.quiet_until, 0);
    EXPECT_EQ(created.created_at, 1000);
    EXPECT_EQ(created.updated_at, 1000);

    const ContactRecord again = tx.upsert_contact("p1", 2000);
    EXPECT_EQ(again.id, created.id);
    EXPECT_EQ(again.created_at, 1000);

    tx.set_contact_language(created.id, "sw", 3000);
    tx.set_contact_quiet_until(created.id, 9000, 3500);
    EXPECT_NE(tx.upsert_contact("p2", 4000).id, created.id);
  });
  ASSERT_TRUE(r.ok) << r.error;

  store->read([](Tx& tx) {
    const auto found = tx.find_contact("p1");
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->language, "sw");
    EXPECT_EQ(found->quiet_until, 9000);
    EXPECT_EQ(found->created_at, 1000);
    EXPECT_EQ(found->updated_at, 3500);
  });

  r = store->run([](Tx& tx) { tx.set_contact_language(424242, "en", 1); });
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("no such contact"), std::string::npos) << r.error;
}

TEST_P(StoreTest, SessionsInsertFindUpdate) {
  auto store = open();
  const auto contact = add_contact(*store, "p1");
  SessionRecord session = make_session(contact.id, "ATUid_1", "ussd", "active", 2000);
  JobResult r = store->run([&](Tx& tx) { session.id = tx.insert_session(session); });
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_GT(session.id, 0);

  store->read([&](Tx& tx) {
    const auto found = tx.find_session("africastalking", "ATUid_1");
    ASSERT_TRUE(found.has_value());
    expect_same(*found, session);
    EXPECT_FALSE(tx.find_session("africastalking", "ATUid_2").has_value());
    EXPECT_FALSE(tx.find_session("other", "ATUid_1").has_value());
  });

  session.state = R"({"screen":"done"})";
  session.last_input_path = "1*2*3";
  session.last_reply = "END Thank you";
  session.hop_count = 3;
  session.status = session_status::finished;
  session.end_reason = "end_screen";
  session.updated_at = 2500;
  session.ended_at = 2500;
  r = store->run([&](Tx& tx) { tx.update_session(session); });
  ASSERT_TRUE(r.ok) << r.error;
  store->read([&](Tx& tx) {
    const auto found = tx.find_session("africastalking", "ATUid_1");
    ASSERT_TRUE(found.has_value());
    expect_same(*found, session);
  });

  SessionRecord missing = session;
  missing.id = 999999;
  r = store->run([&](Tx& tx) { tx.update_session(missing); });
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("no such session"), std::string::npos) << r.error;
}

// #13: a hop updates only what a hop changes; who the session belongs to is fixed at insert.
TEST_P(StoreTest, UpdatingASessionNeverMovesItToAnotherContactOrProvider) {
  auto store = open();
  const auto her = add_contact(*store, "p1");
  const auto other = add_contact(*store, "p2");
  SessionRecord session = make_session(her.id, "ATUid_1", "ussd", "active", 2000);
  ASSERT_TRUE(store->run([&](Tx& tx) { session.id = tx.insert_session(session); }).ok);
  SessionRecord changed = session;
  changed.contact_id = other.id;
  changed.provider = "other";
  changed.provider_session_id = "ATUid_2";
  changed.channel = "sms";
  changed.started_at = 1;
  changed.hop_count = 3;
  changed.updated_at = 2600;
  ASSERT_TRUE(store->run([&](Tx& tx) { tx.update_session(changed); }).ok);
  store->read([&](Tx& tx) {
    const auto found = tx.find_session("africastalking", "ATUid_1");
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->contact_id, her.id);
    EXPECT_EQ(found->channel, "ussd");
    EXPECT_EQ(found->started_at, session.started_at);
    EXPECT_EQ(found->hop_count, 3);
    EXPECT_EQ(found->updated_at, 2600);
    EXPECT_FALSE(tx.find_session("other", "ATUid_2").has_value());
  });
}

// #13: each session has the id SQLite would give it, sealed under that id in its one insert.
TEST_P(StoreTest, SessionIdsAreConsecutiveAndFindable) {
  auto store = open();
  const auto her = add_contact(*store, "p1");
  std::int64_t a = 0, b = 0;
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    a = tx.insert_session(make_session(her.id, "A", "ussd", "active", 1));
                    b = tx.insert_session(make_session(her.id, "B", "ussd", "active", 2));
                  })
                  .ok);
  EXPECT_EQ(b, a + 1);
  store->read([&](Tx& tx) {
    const auto found = tx.find_session("africastalking", "B");
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->id, b);
  });
}

TEST_P(StoreTest, ErrorsNameTheOperationButNoValues) {
  auto store = open();
  const auto contact = add_contact(*store, "p1");
  const SessionRecord session = make_session(contact.id, "secret-session-42", "ussd", "active", 1);
  ASSERT_TRUE(store->run([&](Tx& tx) { tx.insert_session(session); }).ok);

  JobResult r = store->run([&](Tx& tx) { tx.insert_session(session); });
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("insert_session"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("UNIQUE"), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find("secret-session-42"), std::string::npos) << r.error;

  // A case for a contact that does not exist breaks the foreign key.
  r = store->run([](Tx& tx) { tx.insert_case(make_case(777, "K7P2QX")); });
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("insert_case"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("FOREIGN KEY"), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find("K7P2QX"), std::string::npos) << r.error;
}

TEST_P(StoreTest, FindsResumableSession) {
  auto store = open();
  const auto her = add_contact(*store, "p1");
  const auto other = add_contact(*store, "p2");
  std::int64_t older_active = 0;
  std::int64_t newer_incomplete = 0;
  ASSERT_TRUE(
      store
          ->run([&](Tx& tx) {
            older_active =
                tx.insert_session(make_session(her.id, "s1", "ussd", session_status::active, 1000));
            newer_incomplete = tx.insert_session(
                make_session(her.id, "s2", "ussd", session_status::incomplete, 2000));
            tx.insert_session(make_session(her.id, "s3", "ussd", session_status::finished, 3000));
            tx.insert_session(make_session(her.id, "s4", "sms", session_status::active, 4000));
            tx.insert_session(make_session(other.id, "s5", "ussd", session_status::active, 5000));
          })
          .ok);

  store->read([&](Tx& tx) {
    auto found = tx.find_resumable_session(her.id, "ussd", 0);
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->id, newer_incomplete);
    EXPECT_EQ(found->provider_session_id, "s2");
    found = tx.find_resumable_session(her.id, "ussd", 2000);  // "at or after"
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->id, newer_incomplete);
    EXPECT_FALSE(tx.find_resumable_session(her.id, "ussd", 2001).has_value());
    found = tx.find_resumable_session(her.id, "sms", 0);
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->provider_session_id, "s4");
  });

  // Once resumed, the newer one is no longer a candidate.
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    auto s = tx.find_session("africastalking", "s2");
                    ASSERT_TRUE(s.has_value());
                    s->status = session_status::resumed;
                    tx.update_session(*s);
                  })
                  .ok);
  store->read([&](Tx& tx) {
    const auto found = tx.find_resumable_session(her.id, "ussd", 0);
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->id, older_active);
    EXPECT_FALSE(tx.find_resumable_session(her.id, "ussd", 1500).has_value());
  });
}

TEST_P(StoreTest, ListsIdleSessions) {
  auto store = open();
  const auto contact = add_contact(*store, "p1");
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    tx.insert_session(
                        make_session(contact.id, "a100", "ussd", session_status::active, 100));
                    tx.insert_session(
                        make_session(contact.id, "a200", "ussd", session_status::active, 200));
                    tx.insert_session(
                        make_session(contact.id, "a300", "ussd", session_status::active, 300));
                    tx.insert_session(
                        make_session(contact.id, "i50", "ussd", session_status::incomplete, 50));
                    tx.insert_session(
                        make_session(contact.id, "f10", "ussd", session_status::finished, 10));
                  })
                  .ok);

  // Active USSD sessions with no hop since 250, oldest first; the service ends each as dropped
  // (SAFETY W4, UssdService::expire_idle): the store itself changes nothing here.
  store->read([](Tx& tx) {
    std::vector<std::string> ids;
    for (const auto& s : tx.idle_sessions("ussd", 250, 10)) ids.push_back(s.provider_session_id);
    EXPECT_EQ(ids, (std::vector<std::string>{"a100", "a200"}));
    EXPECT_TRUE(tx.idle_sessions("sms", 250, 10).empty()) << "another channel";
    EXPECT_EQ(tx.idle_sessions("ussd", 250, 1).size(), 1u) << "the limit holds";
    EXPECT_EQ(tx.find_session("africastalking", "a100")->status, session_status::active);
  });
}

TEST_P(StoreTest, CaseAnswerConsentRows) {
  auto store = open();
  const auto contact = add_contact(*store, "p1");
  CaseRecord c = make_case(contact.id, "K7P2QX");
  const JobResult r = store->run([&](Tx& tx) {
    c.session_id = tx.insert_session(make_session(contact.id, "s1", "ussd", "active", 10));
    c.id = tx.insert_case(c);
    tx.insert_answer(AnswerRecord{c.session_id, contact.id, "where", "home", 11});
    tx.insert_answer(AnswerRecord{0, contact.id, "via_cli", "yes", 12});
    tx.insert_consent(ConsentRecord{contact.id, c.session_id, "callback", true, 13});
    tx.insert_consent(ConsentRecord{contact.id, 0, "callback", false, 14});
  });
  ASSERT_TRUE(r.ok) << r.error;

  store->read([&](Tx& tx) {
    const auto found = tx.find_case("K7P2QX");
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->id, c.id);
    EXPECT_EQ(found->contact_id, contact.id);
    EXPECT_EQ(found->session_id, c.session_id);
    EXPECT_EQ(found->flow, "report");
    EXPECT_EQ(found->category, "violence");
    EXPECT_EQ(found->severity, "high");
    EXPECT_EQ(found->status, "open");
    EXPECT_EQ(found->created_at, 5000);
    EXPECT_FALSE(tx.find_case("NOPE00").has_value());
  });
  EXPECT_EQ(count("SELECT COUNT(*) FROM answers"), 2);
  EXPECT_EQ(count("SELECT COUNT(*) FROM answers WHERE session_id IS NULL"), 1);
  // Newest row per purpose is her current choice.
  EXPECT_EQ(count("SELECT granted FROM consents WHERE purpose = 'callback' ORDER BY id DESC "
                  "LIMIT 1"),
            0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM consents"), 2);
}

TEST_P(StoreTest, DuplicateReferenceFailsOnlyItsJob) {
  auto store = open();
  const auto contact = add_contact(*store, "p1");
  Gate gate;
  gate.close_on(*store);
  auto a = submit_future(*store, [&](Tx& tx) { tx.insert_case(make_case(contact.id, "AAAAAA")); });
  std::atomic<bool> b_saw_duplicate{false};
  auto b = submit_future(*store, [&](Tx& tx) {
    tx.insert_answer(AnswerRecord{0, contact.id, "q", "from job B", 1});
    try {
      tx.insert_case(make_case(contact.id, "AAAAAA"));
    } catch (const DuplicateReference&) {
      b_saw_duplicate = true;
      throw;
    }
  });
  auto c = submit_future(*store, [&](Tx& tx) { tx.insert_case(make_case(contact.id, "CCCCCC")); });
  gate.release();

  const JobResult ra = a.get();
  const JobResult rb = b.get();
  const JobResult rc = c.get();
  EXPECT_TRUE(ra.ok) << ra.error;
  EXPECT_FALSE(rb.ok);
  EXPECT_TRUE(b_saw_duplicate);
  EXPECT_EQ(rb.error.find("AAAAAA"), std::string::npos) << rb.error;
  EXPECT_TRUE(rc.ok) << rc.error;
  EXPECT_GE(store->stats().largest_batch, 3U);  // A, B and C shared one commit
  EXPECT_GE(store->stats().failed_jobs, 1U);

  store->read([](Tx& tx) {
    EXPECT_TRUE(tx.find_case("AAAAAA").has_value());
    EXPECT_TRUE(tx.find_case("CCCCCC").has_value());
  });
  EXPECT_EQ(count("SELECT COUNT(*) FROM cases"), 2);
  EXPECT_EQ(count("SELECT COUNT(*) FROM answers"), 0);  // B's other write was rolled back
}

TEST_P(StoreTest, CaughtDuplicateReferenceLetsTheJobRetry) {
  auto store = open();
  const auto contact = add_contact(*store, "p1");
  ASSERT_TRUE(store->run([&](Tx& tx) { tx.insert_case(make_case(contact.id, "AAAAAA")); }).ok);
  const JobResult r = store->run([&](Tx& tx) {
    try {
      tx.insert_case(make_case(contact.id, "AAAAAA"));
      ADD_FAILURE() << "duplicate reference accepted";
    } catch (const DuplicateReference&) {
      tx.insert_case(make_case(contact.id, "BBBBBB"));
    }
  });
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(count("SELECT COUNT(*) FROM cases"), 2);
}

TEST_P(StoreTest, OutboxDedupes) {
  auto store = open();
  bool first = false;
  bool second = false;
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    first = tx.insert_outbox(make_outbox("case:K7P2QX:ngo", R"({"n":1})"));
                    second = tx.insert_outbox(make_outbox("case:K7P2QX:ngo", R"({"n":2})"));
                  })
                  .ok);
  EXPECT_TRUE(first);
  EXPECT_FALSE(second);
  bool third = true;
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    third = tx.insert_outbox(make_outbox("case:K7P2QX:ngo", R"({"n":3})"));
                  })
                  .ok);
  EXPECT_FALSE(third);
  EXPECT_EQ(count("SELECT COUNT(*) FROM outbox"), 1);
  EXPECT_EQ(text("SELECT payload FROM outbox"), R"({"n":1})");
  EXPECT_EQ(text("SELECT status FROM outbox"), "pending");
}

// ---- schema 2: migration from version 1 ----

TEST_F(SqliteStoreTest, MigratesVersion1FileKeepingRows) {
  ASSERT_GE(latest_schema_version(), 2);
  {
    // A file as a version-1 rabta left it: only migration 1's script, user_version 1.
    const auto scripts = detail::migrations();
    ASSERT_FALSE(scripts.empty());
    ASSERT_EQ(scripts.front().version, 1);
    SQLite::Database db(path_, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec(std::string(scripts.front().sql));
    db.exec("PRAGMA user_version = 1");
    db.exec(
        "INSERT INTO contacts (pseudonym, language, quiet_until, created_at, updated_at) "
        "VALUES ('old-contact', 'sw', 4242, 10, 20)");
    db.exec(
        "INSERT INTO outbox (kind, dedupe_key, payload, cause, status, attempts, created_at, "
        "not_before, expires_at, last_error) VALUES ('case_alert', 'case:OLD:ngo', '{}', "
        "'case:OLD', 'pending', 2, 30, 40, 50, 'timeout')");
    ASSERT_FALSE(db.tableExists("checkins"));
  }

  auto store = open();
  EXPECT_EQ(store->schema_version(), latest_schema_version());
  store->read([](Tx& tx) {
    const auto c = tx.find_contact("old-contact");
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->language, "sw");
    EXPECT_EQ(c->quiet_until, 4242);
    EXPECT_EQ(c->created_at, 10);
    EXPECT_EQ(c->updated_at, 20);
    EXPECT_EQ(c->status, contact_status::caller);
    EXPECT_EQ(c->phone_enc, "");
    EXPECT_EQ(c->district, "");
    EXPECT_EQ(c->checkin_weekday, 0);
    EXPECT_EQ(c->window_start_hour, 0);
    EXPECT_EQ(c->window_end_hour, 0);
    EXPECT_EQ(c->channel, "");
    EXPECT_FALSE(c->sms_ok);
    EXPECT_FALSE(c->confirm_ok);
    EXPECT_EQ(c->missed_in_row, 0);

    const auto rows = tx.list_outbox("", 10);
    ASSERT_EQ(rows.size(), 1U);
    const OutboxRecord& o = rows.front();
    EXPECT_EQ(o.kind, "case_alert");
    EXPECT_EQ(o.dedupe_key, "case:OLD:ngo");
    EXPECT_EQ(o.cause, "case:OLD");
    EXPECT_EQ(o.status, outbox_status::pending);
    EXPECT_EQ(o.attempts, 2);
    EXPECT_EQ(o.created_at, 30);
    EXPECT_EQ(o.not_before, 40);
    EXPECT_EQ(o.expires_at, 50);
    EXPECT_EQ(o.last_error, "timeout");
    EXPECT_EQ(o.contact_id, 0);
    EXPECT_EQ(o.channel, "");
    EXPECT_EQ(o.lease_until, 0);
    EXPECT_EQ(o.sent_at, 0);
    EXPECT_EQ(o.provider_message_id, "");
    EXPECT_EQ(o.delivery_status, "");
    EXPECT_EQ(o.encoding, "");
    EXPECT_EQ(o.segments, 0);
  });

  // The migrated contact can be enrolled; her quick-exit quiet time stays.
  ContactRecord enrol;
  enrol.pseudonym = "old-contact";
  enrol.status = contact_status::active;
  enrol.language = "en";
  enrol.checkin_weekday = 2;
  std::int64_t id = 0;
  ASSERT_TRUE(store->run([&](Tx& tx) { id = tx.enrol_contact(enrol, 99); }).ok);
  store->read([&](Tx& tx) {
    const auto c = tx.find_contact_by_id(id);
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->pseudonym, "old-contact");
    EXPECT_EQ(c->status, contact_status::active);
    EXPECT_EQ(c->quiet_until, 4242);
  });
  store->close();

  SQLite::Database db(path_, SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("PRAGMA user_version").getInt(), latest_schema_version());
  EXPECT_TRUE(db.tableExists("inbound"));
  EXPECT_TRUE(db.tableExists("checkins"));
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM contacts").getInt(), 1);
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM outbox").getInt(), 1);
  EXPECT_EQ(db.execAndGet("PRAGMA integrity_check").getString(), "ok");
}

// ---- schema 2: enrolment ----

ContactRecord make_enrolled(const std::string& pseudonym, int weekday, int start_hour, int end_hour,
                            const char* status = contact_status::active) {
  ContactRecord c;
  c.pseudonym = pseudonym;
  c.language = "sw";
  c.status = status;
  c.phone_enc = std::string("enc:") + pseudonym;
  c.district = "kinondoni";
  c.checkin_weekday = weekday;
  c.window_start_hour = start_hour;
  c.window_end_hour = end_hour;
  c.channel = "sms";
  c.sms_ok = true;
  c.confirm_ok = false;
  return c;
}

std::int64_t enrol(Store& store, const ContactRecord& c, Millis now = 1000) {
  std::int64_t id = 0;
  const JobResult r = store.run([&](Tx& tx) { id = tx.enrol_contact(c, now); });
  EXPECT_TRUE(r.ok) << r.error;
  return id;
}

TEST_P(StoreTest, EnrolContactCreatesThenUpdatesKeepingQuietAndMissed) {
  auto store = open();
  // Ciphertext: NUL bytes and bytes that are not UTF-8 must come back exactly.
  const std::string cipher(
      "\x00\x01\xff\xfe"
      "ab\x00\x80"
      "c\x00",
      11);
  ContactRecord c = make_enrolled("p-enrol", 3, 9, 17);
  c.phone_enc = cipher;
  c.confirm_ok = true;
  const std::int64_t id = enrol(*store, c, 1000);
  ASSERT_GT(id, 0);

  store->read([&](Tx& tx) {
    const auto found = tx.find_contact_by_id(id);
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->pseudonym, "p-enrol");
    EXPECT_EQ(found->language, "sw");
    EXPECT_EQ(found->status, contact_status::active);
    EXPECT_EQ(found->phone_enc, cipher);
    EXPECT_EQ(found->phone_enc.size(), 11U);
    EXPECT_EQ(found->district, "kinondoni");
    EXPECT_EQ(found->checkin_weekday, 3);
    EXPECT_EQ(found->window_start_hour, 9);
    EXPECT_EQ(found->window_end_hour, 17);
    EXPECT_EQ(found->channel, "sms");
    EXPECT_TRUE(found->sms_ok);
    EXPECT_TRUE(found->confirm_ok);
    EXPECT_EQ(found->missed_in_row, 0);
    EXPECT_EQ(found->quiet_until, 0);
    EXPECT_EQ(found->created_at, 1000);
    EXPECT_EQ(found->updated_at, 1000);
    // find_contact and upsert_contact carry the same fields.
    const auto by_pseudonym = tx.find_contact("p-enrol");
    ASSERT_TRUE(by_pseudonym.has_value());
    EXPECT_EQ(by_pseudonym->id, id);
    EXPECT_EQ(by_pseudonym->phone_enc, cipher);
    EXPECT_FALSE(tx.find_contact_by_id(id + 1000).has_value());
  });
  EXPECT_EQ(count("SELECT COUNT(*) FROM contacts WHERE " + is_blob("phone_enc") +
                  " AND "
                  "length(phone_enc) = 11"),
            1);

  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    tx.set_contact_quiet_until(id, 5000, 1100);
                    tx.set_contact_missed(id, 2, 1200);
                    const ContactRecord existing = tx.upsert_contact("p-enrol", 1300);
                    EXPECT_EQ(existing.id, id);
                    EXPECT_EQ(existing.phone_enc, cipher);
                    EXPECT_EQ(existing.checkin_weekday, 3);
                    EXPECT_EQ(existing.missed_in_row, 2);
                  })
                  .ok);

  // Enrolling again by pseudonym replaces every enrolment field, keeps the id, created_at,
  // quiet_until and missed_in_row.
  ContactRecord again = make_enrolled("p-enrol", 5, 18, 21, contact_status::paused);
  again.language = "en";
  again.phone_enc = "new";
  again.district = "";
  again.channel = "ussd";
  again.sms_ok = false;
  again.quiet_until = 1;    // not an enrolment field: ignored
  again.missed_in_row = 9;  // likewise
  EXPECT_EQ(enrol(*store, again, 2000), id);
  store->read([&](Tx& tx) {
    const auto found = tx.find_contact_by_id(id);
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->language, "en");
    EXPECT_EQ(found->status, contact_status::paused);
    EXPECT_EQ(found->phone_enc, "new");
    EXPECT_EQ(found->district, "");
    EXPECT_EQ(found->checkin_weekday, 5);
    EXPECT_EQ(found->window_start_hour, 18);
    EXPECT_EQ(found->window_end_hour, 21);
    EXPECT_EQ(found->channel, "ussd");
    EXPECT_FALSE(found->sms_ok);
    EXPECT_FALSE(found->confirm_ok);
    EXPECT_EQ(found->quiet_until, 5000);
    EXPECT_EQ(found->missed_in_row, 2);
    EXPECT_EQ(found->created_at, 1000);
    EXPECT_EQ(found->updated_at, 2000);
  });
  EXPECT_EQ(count("SELECT COUNT(*) FROM contacts"), 1);

  // A contact who only dialled in has the defaults.
  const JobResult r = store->run([](Tx& tx) {
    const ContactRecord caller = tx.upsert_contact("p-caller", 3000);
    EXPECT_EQ(caller.status, contact_status::caller);
    EXPECT_EQ(caller.phone_enc, "");
    EXPECT_EQ(caller.checkin_weekday, 0);
    EXPECT_EQ(caller.created_at, 3000);
    EXPECT_FALSE(caller.sms_ok);
  });
  EXPECT_TRUE(r.ok) << r.error;
}

TEST_P(StoreTest, SetContactStatusPhoneMissed) {
  auto store = open();
  const std::int64_t id = enrol(*store, make_enrolled("p1", 1, 8, 12));
  const std::string cipher("\x00\x00\x00", 3);
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    tx.set_contact_status(id, contact_status::opted_out, 2000);
                    tx.set_contact_phone(id, cipher, 2100);
                    tx.set_contact_missed(id, 3, 2200);
                  })
                  .ok);
  store->read([&](Tx& tx) {
    const auto c = tx.find_contact_by_id(id);
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->status, contact_status::opted_out);
    EXPECT_EQ(c->phone_enc, cipher);
    EXPECT_EQ(c->missed_in_row, 3);
    EXPECT_EQ(c->updated_at, 2200);
  });
  // Erasing the number leaves an empty blob, never NULL.
  ASSERT_TRUE(store->run([&](Tx& tx) { tx.set_contact_phone(id, "", 2300); }).ok);
  store->read([&](Tx& tx) { EXPECT_EQ(tx.find_contact_by_id(id)->phone_enc, ""); });
  EXPECT_EQ(count("SELECT length(phone_enc) FROM contacts"), 0);

  for (auto job : std::vector<Job>{
           [](Tx& tx) { tx.set_contact_status(4242, contact_status::removed, 1); },
           [](Tx& tx) { tx.set_contact_phone(4242, "x", 1); },
           [](Tx& tx) { tx.set_contact_missed(4242, 1, 1); },
       }) {
    const JobResult r = store->run(std::move(job));
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.error.find("no such contact"), std::string::npos) << r.error;
  }
}

TEST_P(StoreTest, ListContactsPagesById) {
  auto store = open();
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(add_contact(*store, "p" + std::to_string(i)).id);
  store->read([&](Tx& tx) {
    auto page = tx.list_contacts(0, 2);
    ASSERT_EQ(page.size(), 2U);
    EXPECT_EQ(page[0].id, ids[0]);
    EXPECT_EQ(page[1].id, ids[1]);
    page = tx.list_contacts(page.back().id, 2);
    ASSERT_EQ(page.size(), 2U);
    EXPECT_EQ(page[0].id, ids[2]);
    EXPECT_EQ(page[1].id, ids[3]);
    page = tx.list_contacts(page.back().id, 2);
    ASSERT_EQ(page.size(), 1U);
    EXPECT_EQ(page[0].id, ids[4]);
    EXPECT_EQ(page[0].pseudonym, "p4");
    EXPECT_TRUE(tx.list_contacts(ids[4], 2).empty());
  });
}

// ---- schema 2: inbound messages ----

InboundRecord make_inbound(std::int64_t contact_id, const std::string& message_id,
                           const std::string& hash, Millis received_at) {
  InboundRecord m;
  m.provider = "africastalking";
  m.provider_message_id = message_id;
  m.contact_id = contact_id;
  m.text_hash = hash;
  m.received_at = received_at;
  return m;
}

TEST_P(StoreTest, InboundDedupesByProviderMessageId) {
  auto store = open();
  const auto her = add_contact(*store, "p1");
  bool first = false;
  bool duplicate = true;
  bool other_provider = false;
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    first = tx.insert_inbound(make_inbound(her.id, "m1", "h-stop", 100));
                    InboundRecord again = make_inbound(her.id, "m1", "h-other", 999);
                    again.reply = "changed";
                    duplicate = tx.insert_inbound(again);
                    InboundRecord elsewhere = make_inbound(her.id, "m1", "h-stop", 100);
                    elsewhere.provider = "kannel";
                    other_provider = tx.insert_inbound(elsewhere);
                  })
                  .ok);
  EXPECT_TRUE(first);
  EXPECT_FALSE(duplicate);
  EXPECT_TRUE(other_provider);

  std::int64_t id = 0;
  store->read([&](Tx& tx) {
    const auto m = tx.find_inbound("africastalking", "m1");
    ASSERT_TRUE(m.has_value());
    id = m->id;
    EXPECT_GT(m->id, 0);
    EXPECT_EQ(m->provider, "africastalking");
    EXPECT_EQ(m->provider_message_id, "m1");
    EXPECT_EQ(m->contact_id, her.id);
    EXPECT_EQ(m->text_hash, "h-stop");  // the duplicate changed nothing
    EXPECT_EQ(m->reply, "");
    EXPECT_EQ(m->received_at, 100);
    EXPECT_FALSE(tx.find_inbound("africastalking", "m2").has_value());
    EXPECT_FALSE(tx.find_inbound("other", "m1").has_value());
  });

  ASSERT_TRUE(store->run([&](Tx& tx) { tx.set_inbound_reply(id, "Asante. Reply 1 ..."); }).ok);
  store->read([](Tx& tx) {
    EXPECT_EQ(tx.find_inbound("africastalking", "m1")->reply, "Asante. Reply 1 ...");
    EXPECT_EQ(tx.find_inbound("kannel", "m1")->reply, "");
  });
  const JobResult r = store->run([](Tx& tx) { tx.set_inbound_reply(4242, "x"); });
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("set_inbound_reply"), std::string::npos) << r.error;
}

TEST_P(StoreTest, CountsInboundSinceAndByTextHash) {
  auto store = open();
  const auto her = add_contact(*store, "p1");
  const auto other = add_contact(*store, "p2");
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    tx.insert_inbound(make_inbound(her.id, "a", "h1", 100));
                    tx.insert_inbound(make_inbound(her.id, "b", "h1", 200));
                    tx.insert_inbound(make_inbound(her.id, "c", "h2", 300));
                    tx.insert_inbound(make_inbound(her.id, "d", "h1", 400));
                    tx.insert_inbound(make_inbound(other.id, "e", "h1", 400));
                  })
                  .ok);
  store->read([&](Tx& tx) {
    EXPECT_EQ(tx.count_inbound_since(her.id, 0), 4);
    EXPECT_EQ(tx.count_inbound_since(her.id, 200), 3);  // at or after
    EXPECT_EQ(tx.count_inbound_since(her.id, 401), 0);
    EXPECT_EQ(tx.count_inbound_since(other.id, 0), 1);
    EXPECT_EQ(tx.count_inbound_text_since(her.id, "h1", 0), 3);
    EXPECT_EQ(tx.count_inbound_text_since(her.id, "h1", 200), 2);
    EXPECT_EQ(tx.count_inbound_text_since(her.id, "h2", 301), 0);
    EXPECT_EQ(tx.count_inbound_text_since(her.id, "h3", 0), 0);
  });
}

// ---- schema 2: outbox dispatch ----

OutboxRecord make_sms(const std::string& dedupe_key, const std::string& kind, Millis not_before,
                      Millis expires_at = 0) {
  OutboxRecord o = make_outbox(dedupe_key);
  o.kind = kind;
  o.created_at = not_before;
  o.not_before = not_before;
  o.expires_at = expires_at;
  return o;
}

std::vector<std::string> keys_of(const std::vector<OutboxRecord>& rows) {
  std::vector<std::string> keys;
  for (const auto& r : rows) keys.push_back(r.dedupe_key);
  return keys;
}

using Keys = std::vector<std::string>;

TEST_P(StoreTest, InsertOutboxStoresEverySchema2Field) {
  auto store = open();
  const auto her = add_contact(*store, "p1");
  OutboxRecord o = make_sms("sms:1", "sms", 500, 9000);
  o.payload = R"({"text":"Habari"})";
  o.contact_id = her.id;
  o.channel = "africastalking";
  o.encoding = "ucs2";
  o.segments = 2;
  ASSERT_TRUE(store->run([&](Tx& tx) { EXPECT_TRUE(tx.insert_outbox(o)); }).ok);
  store->read([&](Tx& tx) {
    const auto rows = tx.list_outbox("", 10);
    ASSERT_EQ(rows.size(), 1U);
    const auto found = tx.find_outbox(rows.front().id);
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->kind, "sms");
    EXPECT_EQ(found->dedupe_key, "sms:1");
    EXPECT_EQ(found->payload, R"({"text":"Habari"})");
    EXPECT_EQ(found->status, outbox_status::pending);
    EXPECT_EQ(found->attempts, 0);
    EXPECT_EQ(found->created_at, 500);
    EXPECT_EQ(found->not_before, 500);
    EXPECT_EQ(found->expires_at, 9000);
    EXPECT_EQ(found->contact_id, her.id);
    EXPECT_EQ(found->channel, "africastalking");
    EXPECT_EQ(found->encoding, "ucs2");
    EXPECT_EQ(found->segments, 2);
    EXPECT_EQ(found->lease_until, 0);
    EXPECT_EQ(found->provider_message_id, "");
    EXPECT_FALSE(tx.find_outbox(found->id + 1).has_value());
  });
}

TEST_P(StoreTest, ClaimOutboxTakesDueRowsOldestFirst) {
  auto store = open();
  ASSERT_TRUE(store
                  ->run([](Tx& tx) {
                    tx.insert_outbox(make_sms("s-100", "sms", 100));
                    tx.insert_outbox(make_sms("s-50", "sms", 50));
                    tx.insert_outbox(make_sms("s-future", "sms", 200));
                    tx.insert_outbox(make_sms("s-ttl-passed", "sms", 10, 90));
                    tx.insert_outbox(make_sms("s-ttl-150", "sms", 20, 150));  // expires_at <= now
                    tx.insert_outbox(make_sms("s-ttl-ok", "sms", 10, 1000));
                    tx.insert_outbox(make_sms("s-reminder", "sms_reminder", 60));
                    OutboxRecord sent = make_sms("s-sent", "sms", 0);
                    sent.status = outbox_status::sent;
                    tx.insert_outbox(sent);
                    tx.insert_outbox(make_sms("c-ttl-passed", "case_alert", 0, 100));
                    tx.insert_outbox(make_sms("c-lookalike", "caseXalert", 0));
                    tx.insert_outbox(make_sms("c-upper", "SMS", 0));
                  })
                  .ok);

  // Limit 2, prefix "sms": the two oldest due sms* rows; passed TTLs of sms* rows expire.
  std::vector<OutboxRecord> claimed;
  ASSERT_TRUE(store->run([&](Tx& tx) { claimed = tx.claim_outbox(150, 1150, 2, "sms"); }).ok);
  EXPECT_EQ(keys_of(claimed), (Keys{"s-ttl-ok", "s-50"}));
  for (const auto& o : claimed) {
    EXPECT_EQ(o.status, outbox_status::sending);
    EXPECT_EQ(o.lease_until, 1150);
    EXPECT_EQ(o.attempts, 1);
  }

  // Rows already sending are not claimed again.
  ASSERT_TRUE(store->run([&](Tx& tx) { claimed = tx.claim_outbox(150, 1150, 10, "sms"); }).ok);
  EXPECT_EQ(keys_of(claimed), (Keys{"s-reminder", "s-100"}));
  ASSERT_TRUE(store->run([&](Tx& tx) { claimed = tx.claim_outbox(150, 1150, 10, "sms"); }).ok);
  EXPECT_TRUE(claimed.empty());

  // An exact, case-sensitive prefix: neither "_" nor case acts as a wildcard.
  ASSERT_TRUE(
      store->run([&](Tx& tx) { claimed = tx.claim_outbox(150, 1150, 10, "case_alert"); }).ok);
  EXPECT_TRUE(claimed.empty());
  ASSERT_TRUE(store->run([&](Tx& tx) { claimed = tx.claim_outbox(150, 1150, 0, ""); }).ok);
  EXPECT_TRUE(claimed.empty());  // limit 0 claims nothing
  ASSERT_TRUE(store->run([&](Tx& tx) { claimed = tx.claim_outbox(150, 1150, 10, ""); }).ok);
  EXPECT_EQ(keys_of(claimed), (Keys{"c-lookalike", "c-upper"}));

  store->read([](Tx& tx) {
    EXPECT_EQ(keys_of(tx.list_outbox(outbox_status::expired, 10)),
              (Keys{"c-ttl-passed", "s-ttl-150", "s-ttl-passed"}));
    EXPECT_EQ(keys_of(tx.list_outbox(outbox_status::pending, 10)), (Keys{"s-future"}));
    EXPECT_EQ(keys_of(tx.list_outbox(outbox_status::sent, 10)), (Keys{"s-sent"}));
    EXPECT_EQ(tx.list_outbox(outbox_status::sending, 10).size(), 6U);
  });

  // The future row becomes due.
  ASSERT_TRUE(store->run([&](Tx& tx) { claimed = tx.claim_outbox(200, 1200, 10, "sms"); }).ok);
  EXPECT_EQ(keys_of(claimed), (Keys{"s-future"}));
}

TEST_P(StoreTest, ClaimOutboxExpiresRowsNotYetDue) {
  auto store = open();
  ASSERT_TRUE(store->run([](Tx& tx) { tx.insert_outbox(make_sms("late", "sms", 500, 300)); }).ok);
  std::vector<OutboxRecord> claimed;
  ASSERT_TRUE(store->run([&](Tx& tx) { claimed = tx.claim_outbox(299, 999, 10, ""); }).ok);
  EXPECT_TRUE(claimed.empty());
  store->read(
      [](Tx& tx) { EXPECT_EQ(tx.list_outbox("", 1).front().status, outbox_status::pending); });
  ASSERT_TRUE(store->run([&](Tx& tx) { claimed = tx.claim_outbox(300, 999, 10, ""); }).ok);
  EXPECT_TRUE(claimed.empty());
  store->read(
      [](Tx& tx) { EXPECT_EQ(tx.list_outbox("", 1).front().status, outbox_status::expired); });
}

TEST_P(StoreTest, ReleasesStaleOutboxLeases) {
  auto store = open();
  std::vector<OutboxRecord> claimed;
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    tx.insert_outbox(make_sms("a", "sms", 0));
                    tx.insert_outbox(make_sms("b", "sms", 0));
                    claimed = tx.claim_outbox(100, 500, 1, "");
                    EXPECT_EQ(keys_of(claimed), (Keys{"a"}));
                    claimed = tx.claim_outbox(100, 700, 1, "");
                    EXPECT_EQ(keys_of(claimed), (Keys{"b"}));
                  })
                  .ok);
  int released = -1;
  ASSERT_TRUE(store->run([&](Tx& tx) { released = tx.release_stale_outbox(500, ""); }).ok);
  EXPECT_EQ(released, 0);  // a lease is good until lease_until
  ASSERT_TRUE(store->run([&](Tx& tx) { released = tx.release_stale_outbox(501, ""); }).ok);
  EXPECT_EQ(released, 1);
  store->read([](Tx& tx) {
    const auto pending = tx.list_outbox(outbox_status::pending, 10);
    ASSERT_EQ(pending.size(), 1U);
    EXPECT_EQ(pending.front().dedupe_key, "a");
    EXPECT_EQ(pending.front().lease_until, 0);
    EXPECT_EQ(pending.front().attempts, 1);
    EXPECT_EQ(tx.list_outbox(outbox_status::sending, 10).front().dedupe_key, "b");
  });
  ASSERT_TRUE(store->run([&](Tx& tx) { claimed = tx.claim_outbox(600, 900, 10, ""); }).ok);
  ASSERT_EQ(keys_of(claimed), (Keys{"a"}));
  EXPECT_EQ(claimed.front().attempts, 2);
}

TEST_P(StoreTest, OutboxSentRetryDeadAndDeliveryReports) {
  auto store = open();
  std::vector<OutboxRecord> claimed;
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    for (const char* key : {"a", "b", "c"}) {
                      OutboxRecord o = make_sms(key, "sms", 0);
                      o.channel = "africastalking";
                      tx.insert_outbox(o);
                    }
                    claimed = tx.claim_outbox(10, 100, 10, "sms");
                  })
                  .ok);
  ASSERT_EQ(claimed.size(), 3U);
  const std::int64_t a = claimed[0].id;
  const std::int64_t b = claimed[1].id;
  const std::int64_t c = claimed[2].id;

  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    tx.outbox_sent(a, "ATXid_1", 50);
                    tx.outbox_retry(b, 400, "HTTP 503", 50);
                    tx.outbox_dead(c, "invalid number", 50);
                  })
                  .ok);
  store->read([&](Tx& tx) {
    const auto sent = tx.find_outbox(a);
    ASSERT_TRUE(sent.has_value());
    EXPECT_EQ(sent->status, outbox_status::sent);
    EXPECT_EQ(sent->sent_at, 50);
    EXPECT_EQ(sent->provider_message_id, "ATXid_1");
    EXPECT_EQ(sent->lease_until, 0);
    const auto retry = tx.find_outbox(b);
    EXPECT_EQ(retry->status, outbox_status::pending);
    EXPECT_EQ(retry->not_before, 400);
    EXPECT_EQ(retry->last_error, "HTTP 503");
    EXPECT_EQ(retry->attempts, 1);
    const auto dead = tx.find_outbox(c);
    EXPECT_EQ(dead->status, outbox_status::dead);
    EXPECT_EQ(dead->last_error, "invalid number");
    EXPECT_EQ(dead->sent_at, 0);
  });

  bool found = false;
  bool wrong_channel = true;
  bool unknown = true;
  bool empty_id = true;
  bool by_id = false;
  bool by_missing_id = true;
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    found = tx.update_delivery("africastalking", "ATXid_1", "delivered", 60);
                    wrong_channel = tx.update_delivery("kannel", "ATXid_1", "failed", 60);
                    unknown = tx.update_delivery("africastalking", "ATXid_9", "failed", 60);
                    // Unsent rows have provider_message_id "": an empty id never matches them.
                    empty_id = tx.update_delivery("africastalking", "", "failed", 60);
                    by_id = tx.update_delivery_by_id(c, "failed", 60);
                    by_missing_id = tx.update_delivery_by_id(4242, "failed", 60);
                  })
                  .ok);
  EXPECT_TRUE(found);
  EXPECT_FALSE(wrong_channel);
  EXPECT_FALSE(unknown);
  EXPECT_FALSE(empty_id);
  EXPECT_TRUE(by_id);
  EXPECT_FALSE(by_missing_id);
  store->read([&](Tx& tx) {
    EXPECT_EQ(tx.find_outbox(a)->delivery_status, "delivered");
    EXPECT_EQ(tx.find_outbox(b)->delivery_status, "");
    EXPECT_EQ(tx.find_outbox(c)->delivery_status, "failed");
  });

  for (auto job : std::vector<Job>{
           [](Tx& tx) { tx.outbox_sent(4242, "x", 1); },
           [](Tx& tx) { tx.outbox_retry(4242, 1, "x", 1); },
           [](Tx& tx) { tx.outbox_dead(4242, "x", 1); },
       }) {
    const JobResult r = store->run(std::move(job));
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.error.find("no such outbox row"), std::string::npos) << r.error;
  }
}

TEST_P(StoreTest, ListsAndCountsOutbox) {
  auto store = open();
  store->read([](Tx& tx) {
    EXPECT_TRUE(tx.list_outbox("", 10).empty());
    const auto counts = tx.outbox_counts();
    ASSERT_EQ(counts.size(), 1U);
    EXPECT_EQ(counts[0], (std::pair<std::string, std::int64_t>{"oldest_pending_created_at", 0}));
  });
  ASSERT_TRUE(store
                  ->run([](Tx& tx) {
                    tx.insert_outbox(make_sms("p1", "sms", 300));
                    tx.insert_outbox(make_sms("p2", "sms", 200));
                    tx.insert_outbox(make_sms("d1", "sms", 100));
                    tx.insert_outbox(make_sms("s1", "sms", 100));
                    tx.insert_outbox(make_sms("s2", "sms", 100));
                    const auto all = tx.list_outbox("", 10);
                    tx.outbox_dead(all[2].id, "x", 1);   // d1
                    tx.outbox_sent(all[1].id, "m1", 1);  // s1
                    tx.outbox_sent(all[0].id, "m2", 1);  // s2
                  })
                  .ok);
  store->read([](Tx& tx) {
    EXPECT_EQ(keys_of(tx.list_outbox("", 10)), (Keys{"s2", "s1", "d1", "p2", "p1"}));
    EXPECT_EQ(keys_of(tx.list_outbox("", 2)), (Keys{"s2", "s1"}));
    EXPECT_EQ(keys_of(tx.list_outbox(outbox_status::pending, 10)), (Keys{"p2", "p1"}));
    EXPECT_TRUE(tx.list_outbox(outbox_status::expired, 10).empty());
    const std::vector<std::pair<std::string, std::int64_t>> expected{
        {"dead", 1}, {"pending", 2}, {"sent", 2}, {"oldest_pending_created_at", 200}};
    EXPECT_EQ(tx.outbox_counts(), expected);
  });
}

// ---- schema 2: weekly check-ins ----

std::vector<std::int64_t> ids_of(const std::vector<ContactRecord>& contacts) {
  std::vector<std::int64_t> ids;
  for (const auto& c : contacts) ids.push_back(c.id);
  return ids;
}

using Ids = std::vector<std::int64_t>;

CheckinRecord make_checkin(std::int64_t contact_id, const std::string& week,
                           const char* status = checkin_status::sent, Millis remind_at = 0,
                           Millis deadline_at = 0) {
  CheckinRecord c;
  c.contact_id = contact_id;
  c.week = week;
  c.status = status;
  c.sent_at = 100;
  c.remind_at = remind_at;
  c.deadline_at = deadline_at;
  return c;
}

TEST_P(StoreTest, DueCheckinsHonoursWeekdayWindowStatusAndWeekRow) {
  auto store = open();
  const std::int64_t a = enrol(*store, make_enrolled("a", 3, 9, 12));
  const std::int64_t b = enrol(*store, make_enrolled("b", 3, 10, 14));
  enrol(*store, make_enrolled("paused", 3, 9, 12, contact_status::paused));
  enrol(*store, make_enrolled("opted-out", 3, 9, 12, contact_status::opted_out));
  enrol(*store, make_enrolled("thursday", 4, 9, 12));
  add_contact(*store, "caller");
  const std::int64_t f = enrol(*store, make_enrolled("f-done", 3, 9, 12));
  ASSERT_TRUE(store->run([&](Tx& tx) { tx.insert_checkin(make_checkin(f, "2026-W48")); }).ok);

  store->read([&](Tx& tx) {
    const auto due = tx.due_checkins("2026-W48", 3, 10, 0, 100);
    EXPECT_EQ(ids_of(due), (Ids{a, b}));
    ASSERT_FALSE(due.empty());
    EXPECT_EQ(due[0].pseudonym, "a");
    EXPECT_EQ(due[0].phone_enc, "enc:a");
    EXPECT_EQ(due[0].window_end_hour, 12);
    EXPECT_EQ(ids_of(tx.due_checkins("2026-W48", 3, 9, 0, 100)), (Ids{a}));
    EXPECT_EQ(ids_of(tx.due_checkins("2026-W48", 3, 11, 0, 100)), (Ids{a, b}));
    EXPECT_EQ(ids_of(tx.due_checkins("2026-W48", 3, 12, 0, 100)), (Ids{b}));  // end exclusive
    EXPECT_EQ(ids_of(tx.due_checkins("2026-W48", 3, 14, 0, 100)), Ids{});
    EXPECT_EQ(ids_of(tx.due_checkins("2026-W48", 3, 8, 0, 100)), Ids{});
    EXPECT_EQ(ids_of(tx.due_checkins("2026-W48", 2, 10, 0, 100)), Ids{});
    // Another week: f's row for W48 does not count.
    EXPECT_EQ(ids_of(tx.due_checkins("2026-W49", 3, 10, 0, 100)), (Ids{a, b, f}));
    // Paging by id.
    EXPECT_EQ(ids_of(tx.due_checkins("2026-W49", 3, 10, 0, 2)), (Ids{a, b}));
    EXPECT_EQ(ids_of(tx.due_checkins("2026-W49", 3, 10, b, 2)), (Ids{f}));
    EXPECT_EQ(ids_of(tx.due_checkins("2026-W49", 3, 10, f, 2)), Ids{});
  });

  // Once her row for the week exists she is no longer due.
  ASSERT_TRUE(store->run([&](Tx& tx) { tx.insert_checkin(make_checkin(a, "2026-W48")); }).ok);
  store->read(
      [&](Tx& tx) { EXPECT_EQ(ids_of(tx.due_checkins("2026-W48", 3, 10, 0, 100)), (Ids{b})); });
}

TEST_P(StoreTest, InsertCheckinOncePerWeekAndUpdate) {
  auto store = open();
  const std::int64_t her = enrol(*store, make_enrolled("her", 1, 8, 20));
  bool first = false;
  bool duplicate = true;
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    first = tx.insert_checkin(
                        make_checkin(her, "2026-W48", checkin_status::sent, 500, 1000));
                    duplicate = tx.insert_checkin(
                        make_checkin(her, "2026-W48", checkin_status::answered, 7, 7));
                  })
                  .ok);
  EXPECT_TRUE(first);
  EXPECT_FALSE(duplicate);

  CheckinRecord open_one;
  store->read([&](Tx& tx) {
    const auto c = tx.open_checkin(her);
    ASSERT_TRUE(c.has_value());
    open_one = *c;
    EXPECT_GT(c->id, 0);
    EXPECT_EQ(c->contact_id, her);
    EXPECT_EQ(c->week, "2026-W48");
    EXPECT_EQ(c->status, checkin_status::sent);
    EXPECT_EQ(c->sent_at, 100);
    EXPECT_EQ(c->remind_at, 500);
    EXPECT_EQ(c->deadline_at, 1000);
    EXPECT_EQ(c->answered_at, 0);
    EXPECT_EQ(c->answer, "");
    EXPECT_EQ(c->case_reference, "");
  });

  open_one.status = checkin_status::answered;
  open_one.answered_at = 700;
  open_one.answer = "fine";
  open_one.case_reference = "K7P2QX";
  ASSERT_TRUE(store->run([&](Tx& tx) { tx.update_checkin(open_one); }).ok);
  store->read([&](Tx& tx) {
    EXPECT_FALSE(tx.open_checkin(her).has_value());
    const auto c = tx.previous_checkin(her, "2026-W49");
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->id, open_one.id);
    EXPECT_EQ(c->status, checkin_status::answered);
    EXPECT_EQ(c->answered_at, 700);
    EXPECT_EQ(c->answer, "fine");
    EXPECT_EQ(c->case_reference, "K7P2QX");
  });

  CheckinRecord missing = open_one;
  missing.id = 4242;
  JobResult r = store->run([&](Tx& tx) { tx.update_checkin(missing); });
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("no such check-in"), std::string::npos) << r.error;
  // A check-in for a contact that does not exist breaks the foreign key; the error names the
  // operation, not the values.
  r = store->run([](Tx& tx) { tx.insert_checkin(make_checkin(777, "1999-W01")); });
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("insert_checkin"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("FOREIGN KEY"), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find("1999-W01"), std::string::npos) << r.error;
}

TEST_P(StoreTest, OpenCheckinIsTheNewestSentOrReminded) {
  auto store = open();
  const std::int64_t her = enrol(*store, make_enrolled("her", 1, 8, 20));
  const std::int64_t other = enrol(*store, make_enrolled("other", 1, 8, 20));
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    tx.insert_checkin(make_checkin(her, "2026-W46", checkin_status::reminded));
                    tx.insert_checkin(make_checkin(her, "2026-W47", checkin_status::sent));
                    tx.insert_checkin(make_checkin(her, "2026-W48", checkin_status::missed));
                    tx.insert_checkin(make_checkin(other, "2026-W49", checkin_status::sent));
                  })
                  .ok);
  store->read([&](Tx& tx) {
    const auto c = tx.open_checkin(her);
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->week, "2026-W47");
    EXPECT_FALSE(tx.open_checkin(4242).has_value());
  });
}

TEST_P(StoreTest, SelectsCheckinsToRemindAndOverdue) {
  auto store = open();
  std::vector<std::int64_t> c;
  for (int i = 0; i < 5; ++i) {
    c.push_back(enrol(*store, make_enrolled("p" + std::to_string(i), 1, 8, 20)));
  }
  const std::string week = "2026-W48";
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    tx.insert_checkin(make_checkin(c[0], week, checkin_status::sent, 500, 1000));
                    tx.insert_checkin(make_checkin(c[1], week, checkin_status::sent, 400, 900));
                    tx.insert_checkin(
                        make_checkin(c[2], week, checkin_status::sent, 0, 800));  // no reminder
                    tx.insert_checkin(make_checkin(c[3], week, checkin_status::reminded, 300, 700));
                    tx.insert_checkin(make_checkin(c[4], week, checkin_status::answered, 200, 600));
                  })
                  .ok);
  const auto contacts_of = [](const std::vector<CheckinRecord>& rows) {
    std::vector<std::int64_t> ids;
    for (const auto& r : rows) ids.push_back(r.contact_id);
    return ids;
  };
  store->read([&](Tx& tx) {
    EXPECT_EQ(contacts_of(tx.checkins_to_remind(399, 10)), Ids{});
    EXPECT_EQ(contacts_of(tx.checkins_to_remind(400, 10)), (Ids{c[1]}));
    EXPECT_EQ(contacts_of(tx.checkins_to_remind(10000, 10)), (Ids{c[1], c[0]}));
    EXPECT_EQ(contacts_of(tx.checkins_to_remind(10000, 1)), (Ids{c[1]}));

    EXPECT_EQ(contacts_of(tx.checkins_overdue(699, 10)), Ids{});
    EXPECT_EQ(contacts_of(tx.checkins_overdue(700, 10)), (Ids{c[3]}));
    EXPECT_EQ(contacts_of(tx.checkins_overdue(10000, 10)), (Ids{c[3], c[2], c[1], c[0]}));
    EXPECT_EQ(contacts_of(tx.checkins_overdue(10000, 2)), (Ids{c[3], c[2]}));
  });

  // Reminded: no second reminder, still overdue at its deadline.
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    auto open_one = tx.open_checkin(c[1]);
                    ASSERT_TRUE(open_one.has_value());
                    open_one->status = checkin_status::reminded;
                    tx.update_checkin(*open_one);
                  })
                  .ok);
  store->read([&](Tx& tx) {
    EXPECT_EQ(contacts_of(tx.checkins_to_remind(10000, 10)), (Ids{c[0]}));
    EXPECT_EQ(contacts_of(tx.checkins_overdue(900, 10)), (Ids{c[3], c[2], c[1]}));
  });
}

TEST_P(StoreTest, PreviousCheckinIsTheNewestEarlierWeek) {
  auto store = open();
  const std::int64_t her = enrol(*store, make_enrolled("her", 1, 8, 20));
  const std::int64_t other = enrol(*store, make_enrolled("other", 1, 8, 20));
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    tx.insert_checkin(make_checkin(her, "2026-W02", checkin_status::missed));
                    tx.insert_checkin(make_checkin(her, "2025-W52", checkin_status::answered));
                    tx.insert_checkin(make_checkin(her, "2026-W01", checkin_status::missed));
                    tx.insert_checkin(make_checkin(other, "2026-W03", checkin_status::sent));
                  })
                  .ok);
  store->read([&](Tx& tx) {
    auto prev = tx.previous_checkin(her, "2026-W03");
    ASSERT_TRUE(prev.has_value());
    EXPECT_EQ(prev->week, "2026-W02");
    prev = tx.previous_checkin(her, "2026-W02");
    ASSERT_TRUE(prev.has_value());
    EXPECT_EQ(prev->week, "2026-W01");
    prev = tx.previous_checkin(her, "2026-W01");  // across the year boundary
    ASSERT_TRUE(prev.has_value());
    EXPECT_EQ(prev->week, "2025-W52");
    EXPECT_EQ(prev->status, checkin_status::answered);
    EXPECT_FALSE(tx.previous_checkin(her, "2025-W52").has_value());
    EXPECT_FALSE(tx.previous_checkin(other, "2026-W03").has_value());
  });
}

// due_checkins reads growing id ranges; paging through it with any limit must give exactly what
// the plain definition gives, also when the due contacts are sparse and far apart.
TEST_P(StoreTest, DueCheckinsPagesMatchTheDefinition) {
  constexpr int kContacts = 5000;
  const std::string week = "2026-W10";
  auto store = open();
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    for (int i = 0; i < kContacts; ++i) {
                      // Dense due contacts among the first 100, then one in 397, then a gap.
                      const bool due_kind = i < 100 ? i % 2 == 0 : (i < 4000 && i % 397 == 0);
                      ContactRecord c =
                          make_enrolled("p" + std::to_string(i), due_kind ? 2 : 5, 8, 12);
                      if (i % 11 == 0) c.status = contact_status::paused;
                      if (i % 13 == 0) c.window_start_hour = 11;
                      if (i % 17 == 0) c.window_end_hour = 10;
                      const std::int64_t id = tx.enrol_contact(c, 1);
                      if (i % 19 == 0) tx.insert_checkin(make_checkin(id, week));
                      if (i % 23 == 0) tx.insert_checkin(make_checkin(id, "2026-W09"));
                    }
                  })
                  .ok);

  std::vector<std::int64_t> expected;
  store->read([&](Tx& tx) {
    std::int64_t after = 0;
    for (auto page = tx.list_contacts(after, 1000); !page.empty();
         page = tx.list_contacts(after, 1000)) {
      for (const auto& c : page) {
        const int i = std::stoi(c.pseudonym.substr(1));
        if (c.status == contact_status::active && c.checkin_weekday == 2 &&
            c.window_start_hour <= 10 && 10 < c.window_end_hour && i % 19 != 0) {
          expected.push_back(c.id);
        }
      }
      after = page.back().id;
    }
  });
  ASSERT_GT(expected.size(), 20U);

  for (const int limit : {1, 3, 64, 1000}) {
    std::vector<std::int64_t> got;
    store->read([&](Tx& tx) {
      std::int64_t after = 0;
      for (auto page = tx.due_checkins(week, 2, 10, after, limit); !page.empty();
           page = tx.due_checkins(week, 2, 10, after, limit)) {
        EXPECT_LE(page.size(), static_cast<std::size_t>(limit));
        for (const auto& c : page) got.push_back(c.id);
        after = page.back().id;
      }
    });
    EXPECT_EQ(got, expected) << "limit " << limit;
  }
  store->read([&](Tx& tx) {
    EXPECT_TRUE(tx.due_checkins(week, 2, 10, expected.back(), 10).empty());
    EXPECT_TRUE(tx.due_checkins(week, 2, 10, 0, 0).empty());
    EXPECT_TRUE(tx.due_checkins(week, 2, -1, 0, 10).empty());
    const auto from_middle = tx.due_checkins(week, 2, 10, expected[10] - 1, 2);
    EXPECT_EQ(ids_of(from_middle), (Ids{expected[10], expected[11]}));
  });
}

// The scheduler's query is an index search (the plan does not depend on the row count: the store
// never runs ANALYZE), and paging returns exactly the due set. How long it takes at 1M and 10M
// contacts is measured by scripts/bench (bench/bench_contacts.cpp), not here.
TEST_F(SqliteStoreTest, DueCheckinsUsesTheScheduleIndexAndPagesTheDueSet) {
  constexpr int kContacts = 7'000;
  constexpr int kWeekday = 3;
  constexpr int kHour = 12;
  const std::string week = "2026-W48";
  // Deterministic population: every weekday, windows [6,10) [8,12) [10,14) [12,16) [14,18), one
  // in ten paused, and a third of the Wednesday contacts already have this week's row.
  const auto weekday_of = [](int i) { return i % 7 + 1; };
  const auto start_of = [](int i) { return 6 + (i / 7 % 5) * 2; };
  const auto paused = [](int i) { return i % 10 == 0; };
  const auto has_row = [](int i) { return i % 3 == 0; };

  auto store = open();
  const JobResult r = store->run([&](Tx& tx) {
    ContactRecord c;
    c.language = "sw";
    c.channel = "sms";
    c.sms_ok = true;
    c.phone_enc = std::string(40, '\x01');
    for (int i = 0; i < kContacts; ++i) {
      c.pseudonym = "pseudonym-" + std::to_string(i);
      c.status = paused(i) ? contact_status::paused : contact_status::active;
      c.checkin_weekday = weekday_of(i);
      c.window_start_hour = start_of(i);
      c.window_end_hour = start_of(i) + 4;
      const std::int64_t id = tx.enrol_contact(c, 1000);
      if (weekday_of(i) == kWeekday && has_row(i)) tx.insert_checkin(make_checkin(id, week));
    }
  });
  ASSERT_TRUE(r.ok) << r.error;

  int expected = 0;
  for (int i = 0; i < kContacts; ++i) {
    if (weekday_of(i) == kWeekday && start_of(i) <= kHour && kHour < start_of(i) + 4 &&
        !paused(i) && !has_row(i)) {
      ++expected;
    }
  }
  ASSERT_GT(expected, 50);

  std::string plan;
  {
    SQLite::Database db(path_, SQLite::OPEN_READONLY);
    SQLite::Statement explain(db, "EXPLAIN QUERY PLAN " + detail::due_checkins_sql());
    while (explain.executeStep()) plan += explain.getColumn(3).getString() + "\n";
  }
  std::cout << "due_checkins plan:\n" << plan;
  EXPECT_NE(plan.find("contacts USING INDEX contacts_checkin_schedule"), std::string::npos) << plan;
  // The id range bounds the seek, instead of filtering every candidate.
  EXPECT_NE(plan.find("window_start_hour=? AND id>? AND id<?"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("SCAN contacts"), std::string::npos) << plan;
  EXPECT_NE(plan.find("checkins USING COVERING INDEX"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("SCAN checkins"), std::string::npos) << plan;

  int found = 0;
  int pages = 0;
  store->read([&](Tx& tx) {
    std::int64_t after = 0;
    for (;;) {
      const auto page = tx.due_checkins(week, kWeekday, kHour, after, 20);
      if (page.empty()) break;
      ++pages;
      for (const auto& c : page) {
        // Strictly increasing ids, each one due: with the count, exactly the due set.
        EXPECT_GT(c.id, after);
        after = c.id;
        const int i = std::stoi(c.pseudonym.substr(std::string("pseudonym-").size()));
        EXPECT_TRUE(weekday_of(i) == kWeekday && start_of(i) <= kHour && kHour < start_of(i) + 4 &&
                    !paused(i) && !has_row(i))
            << c.pseudonym;
        ++found;
      }
    }
  });
  EXPECT_EQ(found, expected);
  EXPECT_GT(pages, 2);  // several pages: the id range carries from one page to the next
}

// ---- schema 3: the responder queue ----

TEST_F(SqliteStoreTest, MigratesVersion2FileKeepingCasesAndContacts) {
  ASSERT_GE(latest_schema_version(), 3);
  {
    // A file as a version-2 rabta left it: migrations 1 and 2, user_version 2.
    const auto scripts = detail::migrations();
    ASSERT_GE(scripts.size(), 2U);
    ASSERT_EQ(scripts[1].version, 2);
    SQLite::Database db(path_, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec(std::string(scripts[0].sql));
    db.exec(std::string(scripts[1].sql));
    db.exec("PRAGMA user_version = 2");
    db.exec(
        "INSERT INTO contacts (id, pseudonym, language, quiet_until, created_at, updated_at, "
        "status, district, checkin_weekday, window_start_hour, window_end_hour, channel, sms_ok) "
        "VALUES (7, 'old-her', 'sw', 4242, 10, 20, 'active', 'kinondoni', 3, 9, 17, 'sms', 1)");
    db.exec(
        "INSERT INTO sessions (id, provider, provider_session_id, contact_id, channel, state, "
        "status, started_at, updated_at) VALUES (3, 'africastalking', 'old-s', 7, 'ussd', '{}', "
        "'finished', 30, 40)");
    db.exec(
        "INSERT INTO cases (id, reference, contact_id, session_id, flow, category, severity, "
        "status, created_at) VALUES (11, 'OLD001', 7, 3, 'report', 'violence', 'high', 'open', "
        "50)");
    db.exec(
        "INSERT INTO cases (id, reference, contact_id, session_id, flow, category, severity, "
        "status, created_at) VALUES (12, 'OLD002', 7, NULL, 'checkin', 'missed', 'normal', "
        "'open', 60)");
    db.exec(
        "INSERT INTO answers (session_id, contact_id, key, value, created_at) "
        "VALUES (3, 7, 'district', 'ilala', 45)");
    db.exec(
        "INSERT INTO consents (contact_id, session_id, purpose, granted, created_at) "
        "VALUES (7, 3, 'referral_ngo', 1, 46)");
    ASSERT_FALSE(db.tableExists("responders"));
  }

  auto store = open();
  EXPECT_EQ(store->schema_version(), latest_schema_version());
  store->read([](Tx& tx) {
    const auto c = tx.find_contact_by_id(7);
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->pseudonym, "old-her");
    EXPECT_EQ(c->status, contact_status::active);
    EXPECT_EQ(c->district, "kinondoni");
    EXPECT_EQ(c->quiet_until, 4242);
    EXPECT_TRUE(c->sms_ok);

    const auto k = tx.find_case("OLD001");
    ASSERT_TRUE(k.has_value());
    EXPECT_EQ(k->id, 11);
    EXPECT_EQ(k->contact_id, 7);
    EXPECT_EQ(k->session_id, 3);
    EXPECT_EQ(k->flow, "report");
    EXPECT_EQ(k->category, "violence");
    EXPECT_EQ(k->severity, "high");
    EXPECT_EQ(k->status, case_status::open);
    EXPECT_EQ(k->created_at, 50);
    // The schema-3 fields read as their defaults: not routed, no ladder running.
    EXPECT_EQ(k->district, "");
    EXPECT_EQ(k->team, "");
    EXPECT_EQ(k->rung, 0);
    EXPECT_EQ(k->next_alert_at, 0);
    EXPECT_EQ(k->acknowledged_at, 0);
    EXPECT_EQ(k->acknowledged_by, 0);
    EXPECT_EQ(k->claimed_by, 0);
    EXPECT_EQ(k->closed_at, 0);
    EXPECT_EQ(k->outcome, "");
    const auto by_id = tx.find_case_by_id(12);
    ASSERT_TRUE(by_id.has_value());
    EXPECT_EQ(by_id->reference, "OLD002");
    EXPECT_EQ(by_id->session_id, 0);

    // Old open cases are waiting for the router; nothing is due on the ladder.
    const auto to_route = tx.cases_to_route(10);
    ASSERT_EQ(to_route.size(), 2U);
    EXPECT_EQ(to_route[0].id, 11);
    EXPECT_EQ(to_route[1].id, 12);
    EXPECT_TRUE(tx.cases_due_for_alert(1'000'000, 10).empty());
    EXPECT_EQ(tx.session_answer(3, "district"), "ilala");
    EXPECT_EQ(tx.latest_consent(7, "referral_ngo"), std::optional<bool>(true));
    EXPECT_TRUE(tx.list_responders().empty());
    EXPECT_TRUE(tx.list_audit(0, 10).empty());
  });

  // A migrated case can be routed.
  ASSERT_TRUE(store
                  ->run([](Tx& tx) {
                    auto k = tx.find_case_by_id(11);
                    ASSERT_TRUE(k.has_value());
                    k->district = "ilala";
                    k->team = "ngo-ilala";
                    k->rung = 1;
                    k->next_alert_at = 900;
                    tx.update_case(*k);
                  })
                  .ok);
  store->read([](Tx& tx) {
    EXPECT_EQ(tx.find_case("OLD001")->team, "ngo-ilala");
    EXPECT_EQ(tx.cases_to_route(10).size(), 1U);
  });
  store->close();

  SQLite::Database db(path_, SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("PRAGMA user_version").getInt(), latest_schema_version());
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM contacts").getInt(), 1);
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM cases").getInt(), 2);
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM answers").getInt(), 1);
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM consents").getInt(), 1);
  EXPECT_EQ(db.execAndGet("PRAGMA integrity_check").getString(), "ok");
  SQLite::Statement fk(db, "PRAGMA foreign_key_check");
  EXPECT_FALSE(fk.executeStep());
}

// A case with every schema-3 field set to a value distinct from the default.
CaseRecord make_queued_case(std::int64_t contact_id, const std::string& reference,
                            const std::string& team, const char* status,
                            const std::string& severity = "high") {
  CaseRecord c = make_case(contact_id, reference);
  c.team = team;
  c.status = status;
  c.severity = severity;
  c.district = "district-of-" + reference;
  return c;
}

void expect_same(const CaseRecord& a, const CaseRecord& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.reference, b.reference);
  EXPECT_EQ(a.contact_id, b.contact_id);
  EXPECT_EQ(a.session_id, b.session_id);
  EXPECT_EQ(a.flow, b.flow);
  EXPECT_EQ(a.category, b.category);
  EXPECT_EQ(a.severity, b.severity);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.district, b.district);
  EXPECT_EQ(a.team, b.team);
  EXPECT_EQ(a.rung, b.rung);
  EXPECT_EQ(a.next_alert_at, b.next_alert_at);
  EXPECT_EQ(a.acknowledged_at, b.acknowledged_at);
  EXPECT_EQ(a.acknowledged_by, b.acknowledged_by);
  EXPECT_EQ(a.claimed_by, b.claimed_by);
  EXPECT_EQ(a.closed_at, b.closed_at);
  EXPECT_EQ(a.outcome, b.outcome);
}

TEST_P(StoreTest, CaseSchema3FieldsInsertFindUpdate) {
  auto store = open();
  const auto contact = add_contact(*store, "p1");
  CaseRecord c = make_case(contact.id, "K7P2QX");
  c.district = "kinondoni";
  c.team = "ngo-north";
  c.rung = 2;
  c.next_alert_at = 123'456'789'012;
  c.acknowledged_at = 11;
  c.acknowledged_by = 21;
  c.claimed_by = 31;
  c.closed_at = 41;
  c.outcome = "referred";
  c.status = case_status::claimed;
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    c.session_id = tx.insert_session(
                        make_session(contact.id, "s1", "ussd", session_status::finished, 10));
                    c.id = tx.insert_case(c);
                  })
                  .ok);
  store->read([&](Tx& tx) {
    const auto by_ref = tx.find_case("K7P2QX");
    ASSERT_TRUE(by_ref.has_value());
    expect_same(*by_ref, c);
    const auto by_id = tx.find_case_by_id(c.id);
    ASSERT_TRUE(by_id.has_value());
    expect_same(*by_id, c);
    EXPECT_FALSE(tx.find_case_by_id(c.id + 1).has_value());
  });

  // update_case writes status and every schema-3 field, and nothing she reported.
  CaseRecord changed = c;
  changed.status = case_status::closed;
  changed.district = "ilala";
  changed.team = "police-ilala";
  changed.rung = 3;
  changed.next_alert_at = 0;
  changed.acknowledged_at = 12;
  changed.acknowledged_by = 22;
  changed.claimed_by = 32;
  changed.closed_at = 42;
  changed.outcome = "resolved";
  CaseRecord attempt = changed;
  attempt.reference = "ZZZZZZ";
  attempt.flow = "other-flow";
  attempt.category = "other-category";
  attempt.severity = "low";
  attempt.created_at = 1;
  ASSERT_TRUE(store->run([&](Tx& tx) { tx.update_case(attempt); }).ok);
  store->read([&](Tx& tx) {
    const auto found = tx.find_case_by_id(c.id);
    ASSERT_TRUE(found.has_value());
    expect_same(*found, changed);
    EXPECT_FALSE(tx.find_case("ZZZZZZ").has_value());
  });

  CaseRecord missing = changed;
  missing.id = 424242;
  const JobResult r = store->run([&](Tx& tx) { tx.update_case(missing); });
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("no such case"), std::string::npos) << r.error;
}

std::vector<std::string> references_of(const std::vector<CaseRecord>& cases) {
  std::vector<std::string> refs;
  for (const auto& c : cases) refs.push_back(c.reference);
  return refs;
}

using Refs = std::vector<std::string>;

TEST_P(StoreTest, ListCasesHonoursEveryFilterField) {
  auto store = open();
  const auto contact = add_contact(*store, "p1");
  // Inserted in this order, so ids ascend A1 .. U1; lists are newest first.
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    const auto add = [&](const char* ref, const char* team, const char* status,
                                         const char* severity) {
                      tx.insert_case(make_queued_case(contact.id, ref, team, status, severity));
                    };
                    add("A1", "a", case_status::open, "high");
                    add("A2", "a", case_status::acknowledged, "critical");
                    add("B1", "b", case_status::open, "normal");
                    add("A3", "a", case_status::closed, "high");
                    add("B2", "b", case_status::claimed, "high");
                    add("C1", "c", case_status::open, "high");
                    add("U1", "", case_status::open, "low");
                  })
                  .ok);
  const auto list = [&](const CaseFilter& f) {
    Refs refs;
    store->read([&](Tx& tx) { refs = references_of(tx.list_cases(f)); });
    return refs;
  };

  CaseFilter f;
  EXPECT_EQ(list(f), (Refs{"U1", "C1", "B2", "A3", "B1", "A2", "A1"}));

  f = {};
  f.teams = {"a"};
  EXPECT_EQ(list(f), (Refs{"A3", "A2", "A1"}));
  f.teams = {"b", "a"};
  EXPECT_EQ(list(f), (Refs{"B2", "A3", "B1", "A2", "A1"}));
  f.teams = {""};
  EXPECT_EQ(list(f), (Refs{"U1"}));
  f.teams = {"nobody"};
  EXPECT_EQ(list(f), Refs{});

  f = {};
  f.status = case_status::open;
  EXPECT_EQ(list(f), (Refs{"U1", "C1", "B1", "A1"}));
  f.status = case_status::closed;
  EXPECT_EQ(list(f), (Refs{"A3"}));

  f = {};
  f.severity = "high";
  EXPECT_EQ(list(f), (Refs{"C1", "B2", "A3", "A1"}));

  f = {};
  f.open_only = true;
  EXPECT_EQ(list(f), (Refs{"U1", "C1", "B2", "B1", "A2", "A1"}));

  // Combinations: every field is ANDed.
  f = {};
  f.teams = {"a", "b"};
  f.open_only = true;
  EXPECT_EQ(list(f), (Refs{"B2", "B1", "A2", "A1"}));
  f.severity = "high";
  EXPECT_EQ(list(f), (Refs{"B2", "A1"}));
  f.status = case_status::open;
  EXPECT_EQ(list(f), (Refs{"A1"}));
  f = {};
  f.teams = {"a"};
  f.status = case_status::closed;
  f.open_only = true;  // closed is not open: nothing matches both
  EXPECT_EQ(list(f), Refs{});
  f = {};
  f.status = case_status::open;
  f.severity = "high";
  EXPECT_EQ(list(f), (Refs{"C1", "A1"}));

  // Paging: ids below after_id, newest first, at most limit.
  std::vector<std::int64_t> ids;
  store->read([&](Tx& tx) {
    for (const auto& c : tx.list_cases(CaseFilter{})) ids.push_back(c.id);
  });
  ASSERT_EQ(ids.size(), 7U);
  f = {};
  f.limit = 3;
  EXPECT_EQ(list(f), (Refs{"U1", "C1", "B2"}));
  f.after_id = ids[2];  // B2's id
  EXPECT_EQ(list(f), (Refs{"A3", "B1", "A2"}));
  f.after_id = ids[5];  // A2's id
  EXPECT_EQ(list(f), (Refs{"A1"}));
  f.after_id = ids[6];
  EXPECT_EQ(list(f), Refs{});
  f = {};
  f.teams = {"a", "b"};
  f.limit = 2;
  f.after_id = ids[2];
  EXPECT_EQ(list(f), (Refs{"A3", "B1"}));

  // Every page of a filter together is exactly the unpaged filter.
  for (const int limit : {1, 2, 3}) {
    CaseFilter page;
    page.open_only = true;
    page.limit = limit;
    Refs all;
    store->read([&](Tx& tx) {
      for (auto rows = tx.list_cases(page); !rows.empty(); rows = tx.list_cases(page)) {
        EXPECT_LE(rows.size(), static_cast<std::size_t>(limit));
        // Each page strictly below the last: a page that repeated would loop forever.
        if (page.after_id > 0) {
          ASSERT_LT(rows.front().id, page.after_id);
        }
        for (const auto& c : rows) all.push_back(c.reference);
        page.after_id = rows.back().id;
      }
    });
    EXPECT_EQ(all, (Refs{"U1", "C1", "B2", "B1", "A2", "A1"})) << "limit " << limit;
  }

  // limit is clamped to 1..500.
  f = {};
  f.limit = 0;
  EXPECT_EQ(list(f), (Refs{"U1"}));
  f.limit = -5;
  EXPECT_EQ(list(f), (Refs{"U1"}));
}

TEST_P(StoreTest, ListCasesClampsLimitTo500) {
  auto store = open();
  const auto contact = add_contact(*store, "p1");
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    for (int i = 0; i < 510; ++i) {
                      tx.insert_case(make_case(contact.id, "R" + std::to_string(i)));
                    }
                  })
                  .ok);
  store->read([](Tx& tx) {
    CaseFilter f;
    f.limit = 100'000;
    const auto rows = tx.list_cases(f);
    ASSERT_EQ(rows.size(), 500U);
    EXPECT_EQ(rows.front().reference, "R509");
    f.limit = 500;
    EXPECT_EQ(tx.list_cases(f).size(), 500U);
    f.limit = 499;
    EXPECT_EQ(tx.list_cases(f).size(), 499U);
  });
}

TEST_P(StoreTest, ListCasesBindsFilterValues) {
  auto store = open();
  const auto contact = add_contact(*store, "p1");
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    tx.insert_case(make_queued_case(contact.id, "A1", "a", case_status::open));
                  })
                  .ok);
  CaseFilter f;
  const std::string evil = "a') OR 1=1 OR ('";
  f.teams = {evil, "x'; DROP TABLE cases; --"};
  f.status = "open' OR '1'='1";
  f.severity = "high\" OR 1=1 --";
  f.after_id = 99;
  // The statement's text depends on the filter's shape only.
  const std::string sql = detail::list_cases_sql(f);
  for (const std::string& value : {f.teams[0], f.teams[1], f.status, f.severity}) {
    EXPECT_EQ(sql.find(value), std::string::npos) << sql;
  }
  EXPECT_EQ(sql.find("99"), std::string::npos) << sql;
  store->read([&](Tx& tx) {
    EXPECT_TRUE(tx.list_cases(f).empty());
    CaseFilter by_team;
    by_team.teams = {evil};
    EXPECT_TRUE(tx.list_cases(by_team).empty());
    CaseFilter by_status;
    by_status.status = f.status;
    EXPECT_TRUE(tx.list_cases(by_status).empty());
  });
  EXPECT_EQ(count("SELECT COUNT(*) FROM cases"), 1);
}

TEST_P(StoreTest, SelectsCasesDueForAlertAndToRoute) {
  auto store = open();
  const auto contact = add_contact(*store, "p1");
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    const auto add = [&](const char* ref, const char* team, const char* status,
                                         Millis next_alert_at) {
                      CaseRecord c = make_queued_case(contact.id, ref, team, status);
                      c.next_alert_at = next_alert_at;
                      tx.insert_case(c);
                    };
                    add("D500", "a", case_status::open, 500);
                    add("D300", "b", case_status::open, 300);
                    add("D700", "a", case_status::open, 700);
                    add("STOP", "a", case_status::open, 0);  // ladder stopped
                    add("ACK", "a", case_status::acknowledged, 100);
                    add("CLM", "a", case_status::claimed, 100);
                    add("CLS", "a", case_status::closed, 100);
                    add("R1", "", case_status::open, 0);
                    add("R2", "", case_status::open, 400);
                    add("RCLOSED", "", case_status::closed, 0);
                    add("R3", "", case_status::open, 0);
                  })
                  .ok);
  store->read([](Tx& tx) {
    EXPECT_EQ(references_of(tx.cases_due_for_alert(299, 10)), Refs{});
    EXPECT_EQ(references_of(tx.cases_due_for_alert(300, 10)), (Refs{"D300"}));  // inclusive
    EXPECT_EQ(references_of(tx.cases_due_for_alert(500, 10)), (Refs{"D300", "R2", "D500"}));
    EXPECT_EQ(references_of(tx.cases_due_for_alert(10'000, 10)),
              (Refs{"D300", "R2", "D500", "D700"}));
    EXPECT_EQ(references_of(tx.cases_due_for_alert(10'000, 2)), (Refs{"D300", "R2"}));
    EXPECT_EQ(references_of(tx.cases_due_for_alert(10'000, 0)), Refs{});
    const auto due = tx.cases_due_for_alert(300, 1);
    ASSERT_EQ(due.size(), 1U);
    EXPECT_EQ(due[0].team, "b");
    EXPECT_EQ(due[0].district, "district-of-D300");

    EXPECT_EQ(references_of(tx.cases_to_route(10)), (Refs{"R1", "R2", "R3"}));
    EXPECT_EQ(references_of(tx.cases_to_route(2)), (Refs{"R1", "R2"}));
    EXPECT_EQ(references_of(tx.cases_to_route(0)), Refs{});
  });

  // Acknowledging stops the ladder; routing takes a case off the router's list.
  ASSERT_TRUE(store
                  ->run([](Tx& tx) {
                    auto d = tx.find_case("D300");
                    ASSERT_TRUE(d.has_value());
                    d->status = case_status::acknowledged;
                    tx.update_case(*d);
                    auto r = tx.find_case("R1");
                    ASSERT_TRUE(r.has_value());
                    r->team = "c";
                    tx.update_case(*r);
                  })
                  .ok);
  store->read([](Tx& tx) {
    EXPECT_EQ(references_of(tx.cases_due_for_alert(500, 10)), (Refs{"R2", "D500"}));
    EXPECT_EQ(references_of(tx.cases_to_route(10)), (Refs{"R2", "R3"}));
  });
}

TEST_F(SqliteStoreTest, QueueSelectionsUseTheCaseIndexes) {
  auto store = open();
  store->close();
  SQLite::Database db(path_, SQLite::OPEN_READONLY);
  const auto plan_of = [&](const std::string& sql) {
    std::string plan;
    SQLite::Statement explain(db, "EXPLAIN QUERY PLAN " + sql);
    while (explain.executeStep()) plan += explain.getColumn(3).getString() + "\n";
    return plan;
  };
  std::string plan = plan_of(detail::cases_due_for_alert_sql());
  EXPECT_NE(plan.find("USING INDEX cases_status_next_alert"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << plan;
  plan = plan_of(detail::cases_to_route_sql());
  EXPECT_NE(plan.find("USING INDEX cases_team_status"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << plan;
  CaseFilter one_team;
  one_team.teams = {"a"};
  one_team.after_id = 10;
  plan = plan_of(detail::list_cases_sql(one_team));
  EXPECT_NE(plan.find("USING INDEX cases_team_"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << plan;
}

TEST_P(StoreTest, SessionAnswerAndLatestConsent) {
  auto store = open();
  const auto her = add_contact(*store, "p1");
  const auto other = add_contact(*store, "p2");
  std::int64_t s1 = 0;
  std::int64_t s2 = 0;
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    s1 = tx.insert_session(make_session(her.id, "s1", "ussd", "finished", 10));
                    s2 = tx.insert_session(make_session(other.id, "s2", "ussd", "finished", 10));
                    tx.insert_answer(AnswerRecord{s1, her.id, "district", "kinondoni", 11});
                    tx.insert_answer(AnswerRecord{s1, her.id, "district", "ilala", 12});
                    tx.insert_answer(AnswerRecord{s1, her.id, "where", "home", 13});
                    tx.insert_answer(AnswerRecord{s2, other.id, "district", "temeke", 14});
                    tx.insert_answer(AnswerRecord{0, her.id, "district", "no-session", 15});

                    tx.insert_consent(ConsentRecord{her.id, s1, "referral_ngo", true, 20});
                    tx.insert_consent(ConsentRecord{her.id, 0, "referral_ngo", false, 21});
                    tx.insert_consent(ConsentRecord{her.id, s1, "callback", true, 22});
                    tx.insert_consent(ConsentRecord{other.id, s2, "referral_police", true, 23});
                  })
                  .ok);
  store->read([&](Tx& tx) {
    EXPECT_EQ(tx.session_answer(s1, "district"), "ilala");  // the newest
    EXPECT_EQ(tx.session_answer(s1, "where"), "home");
    EXPECT_EQ(tx.session_answer(s1, "missing"), "");
    EXPECT_EQ(tx.session_answer(s2, "district"), "temeke");
    EXPECT_EQ(tx.session_answer(0, "district"), "");  // no session: never the sessionless row
    EXPECT_EQ(tx.session_answer(4242, "district"), "");

    EXPECT_EQ(tx.latest_consent(her.id, "referral_ngo"), std::optional<bool>(false));
    EXPECT_EQ(tx.latest_consent(her.id, "callback"), std::optional<bool>(true));
    EXPECT_EQ(tx.latest_consent(her.id, "referral_police"), std::nullopt);
    EXPECT_EQ(tx.latest_consent(other.id, "referral_police"), std::optional<bool>(true));
    EXPECT_EQ(tx.latest_consent(4242, "callback"), std::nullopt);
  });
  // She changes her mind again.
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    tx.insert_consent(ConsentRecord{her.id, 0, "referral_ngo", true, 30});
                  })
                  .ok);
  store->read([&](Tx& tx) {
    EXPECT_EQ(tx.latest_consent(her.id, "referral_ngo"), std::optional<bool>(true));
  });
}

ResponderRecord make_responder(const std::string& name, const std::string& team,
                               const std::string& phone_pseudonym = "") {
  ResponderRecord r;
  r.name = name;
  r.team = team;
  r.role = "caseworker";
  r.can_export = false;
  r.phone_pseudonym = phone_pseudonym;
  r.phone_enc = std::string("\x00enc\xff", 5) + name;
  r.updated_at = 100;
  return r;
}

void expect_same(const ResponderRecord& a, const ResponderRecord& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.team, b.team);
  EXPECT_EQ(a.role, b.role);
  EXPECT_EQ(a.can_export, b.can_export);
  EXPECT_EQ(a.phone_pseudonym, b.phone_pseudonym);
  EXPECT_EQ(a.phone_enc, b.phone_enc);
  EXPECT_EQ(a.token_hash, b.token_hash);
  EXPECT_EQ(a.token_issued_at, b.token_issued_at);
  EXPECT_EQ(a.token_expires_at, b.token_expires_at);
  EXPECT_EQ(a.active, b.active);
  EXPECT_EQ(a.updated_at, b.updated_at);
}

TEST_P(StoreTest, RespondersUpsertNeverTouchesTheToken) {
  auto store = open();
  ResponderRecord amina = make_responder("amina", "ngo-north", "ph-amina");
  amina.role = "supervisor";
  amina.can_export = true;
  amina.token_hash = "ignored: the roster carries no token";
  ResponderRecord baraka = make_responder("baraka", "police-ilala");
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    amina.id = tx.upsert_responder(amina);
                    baraka.id = tx.upsert_responder(baraka);
                  })
                  .ok);
  EXPECT_GT(amina.id, 0);
  EXPECT_NE(amina.id, baraka.id);
  amina.token_hash.clear();
  store->read([&](Tx& tx) {
    const auto found = tx.find_responder(amina.id);
    ASSERT_TRUE(found.has_value());
    expect_same(*found, amina);
    EXPECT_FALSE(tx.find_responder(4242).has_value());
  });

  // Issued: the hash, when and until when.
  ASSERT_TRUE(
      store->run([&](Tx& tx) { tx.set_responder_token(amina.id, "hash-amina", 150, 9000); }).ok);
  // The roster sync carries no token: every other field changes, the token stays.
  ResponderRecord synced = make_responder("amina", "ngo-south", "ph-amina-2");
  synced.phone_enc = std::string("\x01\x00new", 5);
  synced.token_hash = "hash-from-a-roster";
  synced.updated_at = 200;
  std::int64_t same_id = 0;
  ASSERT_TRUE(store->run([&](Tx& tx) { same_id = tx.upsert_responder(synced); }).ok);
  EXPECT_EQ(same_id, amina.id);
  store->read([&](Tx& tx) {
    const auto found = tx.find_responder(amina.id);
    ASSERT_TRUE(found.has_value());
    ResponderRecord expected = synced;
    expected.id = amina.id;
    expected.token_hash = "hash-amina";
    expected.token_issued_at = 150;
    expected.token_expires_at = 9000;
    expect_same(*found, expected);
  });

  // Revoked: an empty hash clears when and until when too.
  ASSERT_TRUE(store->run([&](Tx& tx) { tx.set_responder_token(amina.id, "", 400, 9999); }).ok);
  store->read([&](Tx& tx) {
    const auto a = tx.find_responder(amina.id);
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->token_hash, "");
    EXPECT_EQ(a->token_issued_at, 0);
    EXPECT_EQ(a->token_expires_at, 0);
    EXPECT_EQ(a->updated_at, 400);
    EXPECT_EQ(a->team, "ngo-south");
  });
  const JobResult r = store->run([](Tx& tx) { tx.set_responder_token(4242, "x", 1, 2); });
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("no such responder"), std::string::npos) << r.error;
  EXPECT_EQ(count("SELECT COUNT(*) FROM responders"), 2);
}

TEST_P(StoreTest, RespondersDeactivationAndLookups) {
  auto store = open();
  std::int64_t a = 0;
  std::int64_t b = 0;
  std::int64_t c = 0;
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    c = tx.upsert_responder(make_responder("chausiku", "t2", "pc"));
                    a = tx.upsert_responder(make_responder("amina", "t1", "pa"));
                    b = tx.upsert_responder(make_responder("baraka", "t1", "pb"));
                    tx.upsert_responder(make_responder("no-token", "t2", ""));
                    tx.set_responder_token(a, "ha", 100, 5000);
                    tx.set_responder_token(b, "hb", 100, 5000);
                    tx.set_responder_token(c, "hc", 100, 5000);
                  })
                  .ok);
  // amina and baraka hold tokens from before schema 7 (issued_at 0): found by hash alone.
  exec("UPDATE responders SET token_issued_at = 0 WHERE name IN ('amina', 'baraka')");
  store->read([&](Tx& tx) {
    const auto all = tx.list_responders();
    ASSERT_EQ(all.size(), 4U);
    EXPECT_EQ(all[0].name, "amina");  // by name
    EXPECT_EQ(all[1].name, "baraka");
    EXPECT_EQ(all[2].name, "chausiku");
    EXPECT_EQ(all[3].name, "no-token");
    EXPECT_EQ(tx.find_responder_by_token("hb")->id, b);
    EXPECT_EQ(tx.find_responder_by_phone("pc")->id, c);
    // A token issued by schema 7 is found by the id it carries, never by its hash alone.
    EXPECT_FALSE(tx.find_responder_by_token("hc").has_value());
    // "" means "none": it never matches the responders without a token or phone.
    EXPECT_FALSE(tx.find_responder_by_token("").has_value());
    EXPECT_FALSE(tx.find_responder_by_phone("").has_value());
    EXPECT_FALSE(tx.find_responder_by_token("nope").has_value());
  });

  // baraka and no-token left the roster.
  ASSERT_TRUE(store->run([](Tx& tx) {
                     tx.deactivate_responders_except({"amina", "chausiku"}, 500);
                   })
                  .ok);
  store->read([&](Tx& tx) {
    const auto all = tx.list_responders();  // inactive ones are listed too
    ASSERT_EQ(all.size(), 4U);
    EXPECT_TRUE(all[0].active);
    EXPECT_EQ(all[0].updated_at, 100);
    EXPECT_FALSE(all[1].active);
    EXPECT_EQ(all[1].updated_at, 500);
    EXPECT_TRUE(all[2].active);
    EXPECT_FALSE(all[3].active);
    // Deactivation clears nothing else.
    const auto gone = tx.find_responder(b);
    ASSERT_TRUE(gone.has_value());
    EXPECT_FALSE(gone->active);
    EXPECT_EQ(gone->token_hash, "hb");
    EXPECT_EQ(gone->phone_pseudonym, "pb");
    EXPECT_EQ(gone->phone_enc, std::string("\x00enc\xff", 5) + "baraka");
    EXPECT_EQ(gone->team, "t1");
    // The token lookup finds her still (the API answers "inactive"); the phone lookup does not.
    ASSERT_TRUE(tx.find_responder_by_token("hb").has_value());
    EXPECT_FALSE(tx.find_responder_by_token("hb")->active);
    EXPECT_FALSE(tx.find_responder_by_phone("pb").has_value());
    EXPECT_EQ(tx.find_responder_by_token("ha")->id, a);
    EXPECT_EQ(tx.find_responder_by_phone("pa")->id, a);
  });

  // Back on the roster: the upsert makes her active again, her token kept.
  ASSERT_TRUE(store->run([](Tx& tx) { tx.upsert_responder(make_responder("baraka", "t1")); }).ok);
  store->read([&](Tx& tx) {
    const auto back = tx.find_responder_by_token("hb");
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->id, b);
    EXPECT_TRUE(back->active);
  });

  // An empty roster deactivates everyone.
  ASSERT_TRUE(store->run([](Tx& tx) { tx.deactivate_responders_except({}, 600); }).ok);
  EXPECT_EQ(count("SELECT COUNT(*) FROM responders WHERE active = 1"), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM responders"), 4);
  // Only a change of state is an update: no-token was inactive already.
  EXPECT_EQ(count("SELECT updated_at FROM responders WHERE name = 'no-token'"), 500);
  EXPECT_EQ(count("SELECT updated_at FROM responders WHERE name = 'amina'"), 600);
}

// Tokens issued before schema 7 never expired; after the upgrade they work for 30 days more.
TEST_F(SqliteStoreTest, MigratesVersion6TokensToExpireThirtyDaysAfterTheUpgrade) {
  {
    const auto scripts = detail::migrations();
    ASSERT_GE(scripts.size(), 7U);
    SQLite::Database db(path_, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    for (std::size_t i = 0; i < 6; ++i) db.exec(std::string(scripts[i].sql));
    db.exec("PRAGMA user_version = 6");
    db.exec(
        "INSERT INTO responders (id, name, team, role, token_hash, updated_at) VALUES "
        "(1, 'amina', 't1', 'caseworker', 'legacy-hash', 10), "
        "(2, 'baraka', 't1', 'caseworker', '', 10)");
  }
  const auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  auto store = open();
  const auto after = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  constexpr std::int64_t kThirtyDays = 30LL * 24 * 3600 * 1000;
  store->read([&](Tx& tx) {
    const auto amina = tx.find_responder_by_token("legacy-hash");
    ASSERT_TRUE(amina.has_value());
    EXPECT_EQ(amina->token_issued_at, 0);
    // strftime('%s') has whole seconds.
    EXPECT_GE(amina->token_expires_at, before - 1000 + kThirtyDays);
    EXPECT_LE(amina->token_expires_at, after + kThirtyDays);
    const auto baraka = tx.find_responder(2);
    ASSERT_TRUE(baraka.has_value());
    EXPECT_EQ(baraka->token_expires_at, 0) << "no token, nothing to expire";
  });
}

TEST_P(StoreTest, NotesKeepBinaryTextInIdOrder) {
  auto store = open();
  const auto contact = add_contact(*store, "p1");
  const std::string cipher1(
      "\x00\x01\xff\xfe"
      "ab\x00\x80",
      8);
  const std::string cipher2(300, '\0');
  std::int64_t k1 = 0;
  std::int64_t k2 = 0;
  std::int64_t n1 = 0;
  std::int64_t n2 = 0;
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    k1 = tx.insert_case(make_case(contact.id, "K1"));
                    k2 = tx.insert_case(make_case(contact.id, "K2"));
                    n1 = tx.insert_note(NoteRecord{0, k1, 7, cipher1, 1000});
                    tx.insert_note(NoteRecord{0, k2, 8, "other case", 1001});
                    n2 = tx.insert_note(NoteRecord{0, k1, 9, cipher2, 999});
                    tx.insert_note(NoteRecord{0, k1, 7, "", 1002});
                  })
                  .ok);
  EXPECT_LT(n1, n2);
  store->read([&](Tx& tx) {
    const auto notes = tx.list_notes(k1);
    ASSERT_EQ(notes.size(), 3U);
    EXPECT_EQ(notes[0].id, n1);
    EXPECT_EQ(notes[0].case_id, k1);
    EXPECT_EQ(notes[0].responder_id, 7);
    EXPECT_EQ(notes[0].text_enc, cipher1);
    EXPECT_EQ(notes[0].created_at, 1000);
    EXPECT_EQ(notes[1].id, n2);  // id order, not created_at
    EXPECT_EQ(notes[1].text_enc, cipher2);
    EXPECT_EQ(notes[1].responder_id, 9);
    EXPECT_EQ(notes[2].text_enc, "");
    EXPECT_EQ(tx.list_notes(k2).size(), 1U);
    EXPECT_TRUE(tx.list_notes(4242).empty());
  });
  // Stored as BLOBs, not text.
  EXPECT_EQ(count("SELECT COUNT(*) FROM notes WHERE " + is_blob("text_enc")), 4);
  // A note on a case that does not exist breaks the foreign key.
  const JobResult r = store->run([](Tx& tx) { tx.insert_note(NoteRecord{0, 4242, 1, "x", 1}); });
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("insert_note"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("FOREIGN KEY"), std::string::npos) << r.error;
}

// An independent SHA-256 for checking the audit chain.
std::string test_sha256_hex(const std::string& data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int size = 0;
  EXPECT_EQ(EVP_Digest(data.data(), data.size(), md.data(), &size, EVP_sha256(), nullptr), 1);
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) {
    constexpr const char* kHex = "0123456789abcdef";
    hex += kHex[md[i] >> 4U];
    hex += kHex[md[i] & 0x0FU];
  }
  return hex;
}

// The MAC documented in adapters/store/audit_chain.hpp, computed here independently: "k1:" and
// the hex HMAC-SHA256 under the key of length-prefixed fields ("<len>:<bytes>,").
std::string expected_audit_hash(const AuditRecord& a, const std::string& key = "test-audit-key") {
  std::string input;
  for (const std::string& f :
       {std::string("rabta-audit-v1"), std::to_string(a.id), std::to_string(a.at), a.actor,
        a.action, a.case_reference, a.detail, a.prev_hash})
    input += std::to_string(f.size()) + ":" + f + ",";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), md, &size);
  std::string hex = "k1:";
  for (unsigned int i = 0; i < size; ++i) {
    constexpr const char* kHex = "0123456789abcdef";
    hex += kHex[md[i] >> 4U];
    hex += kHex[md[i] & 0x0FU];
  }
  return hex;
}

// The index of the first row whose link to its predecessor (`prev` for the first row) or whose own
// hash does not verify, or -1 when every row verifies.
int first_broken_link(const std::vector<AuditRecord>& rows, std::string prev = "") {
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].prev_hash != prev || rows[i].hash != expected_audit_hash(rows[i])) {
      return static_cast<int>(i);
    }
    prev = rows[i].hash;
  }
  return -1;
}

TEST_P(StoreTest, AuditRowsFormAHashChain) {
  ASSERT_EQ(test_sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  auto store = open();
  AuditRecord r1;
  AuditRecord r2;
  AuditRecord r3;
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    r1 = tx.append_audit(1000, "responder:1", "case.list", "", "team=a");
                  })
                  .ok);
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    r2 = tx.append_audit(2000, "sms:2", "case.ack", "K7P2QX", "");
                    r3 =
                        tx.append_audit(3000, "system", "case.close", "K7P2QX", "outcome=referred");
                  })
                  .ok);
  EXPECT_EQ(r1.id, 1);  // contiguous from 1
  EXPECT_EQ(r2.id, 2);
  EXPECT_EQ(r3.id, 3);
  EXPECT_EQ(r1.prev_hash, "");
  EXPECT_EQ(r2.prev_hash, r1.hash);
  EXPECT_EQ(r3.prev_hash, r2.hash);
  EXPECT_EQ(r1.hash.size(), 67U);
  EXPECT_EQ(r1.hash, expected_audit_hash(r1));
  EXPECT_EQ(r2.hash, expected_audit_hash(r2));
  EXPECT_EQ(r3.hash, expected_audit_hash(r3));
  EXPECT_NE(r3.hash, expected_audit_hash(r3, "another key"));
  EXPECT_EQ(r3.actor, "system");
  EXPECT_EQ(r3.action, "case.close");
  EXPECT_EQ(r3.case_reference, "K7P2QX");
  EXPECT_EQ(r3.detail, "outcome=referred");
  EXPECT_EQ(r3.at, 3000);

  store->read([&](Tx& tx) {
    const auto rows = tx.list_audit(0, 100);
    ASSERT_EQ(rows.size(), 3U);
    EXPECT_EQ(first_broken_link(rows), -1);
    EXPECT_EQ(rows[0].id, r1.id);
    EXPECT_EQ(rows[1].hash, r2.hash);
    EXPECT_EQ(rows[2].prev_hash, r2.hash);
    EXPECT_EQ(rows[2].detail, "outcome=referred");
    // Paging in id order.
    const auto after_first = tx.list_audit(r1.id, 1);
    ASSERT_EQ(after_first.size(), 1U);
    EXPECT_EQ(after_first[0].id, r2.id);
    EXPECT_EQ(tx.list_audit(r2.id, 10).size(), 1U);
    EXPECT_TRUE(tx.list_audit(r3.id, 10).empty());
    EXPECT_TRUE(tx.list_audit(0, 0).empty());
  });

  // A job that fails takes its audit row with it; the next row links to the last committed one.
  const JobResult failed = store->run([](Tx& tx) {
    tx.append_audit(4000, "system", "case.read", "K7P2QX", "");
    throw std::runtime_error("rolled back");
  });
  EXPECT_FALSE(failed.ok);
  AuditRecord r4;
  ASSERT_TRUE(
      store->run([&](Tx& tx) { r4 = tx.append_audit(5000, "system", "case.read", "X", ""); }).ok);
  EXPECT_EQ(r4.prev_hash, r3.hash);
  EXPECT_EQ(count("SELECT COUNT(*) FROM audit"), 4);

  // Editing a row with a raw UPDATE is detected: its hash no longer recomputes.
  store->close();
  exec("UPDATE audit SET detail = 'team=b' WHERE id = " + std::to_string(r1.id));
  store = open();
  store->read([&](Tx& tx) {
    const auto rows = tx.list_audit(0, 100);
    ASSERT_EQ(rows.size(), 4U);
    EXPECT_EQ(rows[0].detail, "team=b");
    EXPECT_EQ(first_broken_link(rows), 0);
    EXPECT_NE(expected_audit_hash(rows[0]), rows[0].hash);
    // The rows after it still link to the stored hash: only recomputation reveals the edit.
    EXPECT_EQ(rows[1].prev_hash, rows[0].hash);
    EXPECT_EQ(first_broken_link({rows.begin() + 1, rows.end()}, rows[0].hash), -1);
  });

  // Editing a middle row.
  store->close();
  exec("UPDATE audit SET detail = 'team=a' WHERE id = " + std::to_string(r1.id));
  exec("UPDATE audit SET detail = 'outcome=none' WHERE id = " + std::to_string(r3.id));
  store = open();
  store->read([&](Tx& tx) {
    const auto rows = tx.list_audit(0, 100);
    ASSERT_EQ(rows.size(), 4U);
    EXPECT_EQ(first_broken_link(rows), 2);
  });
}

// ---- the writer: commit, batching, failures, close ----

TEST_P(StoreTest, DoneRunsAfterCommit) {
  auto store = open();
  std::promise<std::int64_t> seen;
  auto seen_future = seen.get_future();
  store->submit([](Tx& tx) { tx.insert_outbox(make_outbox("k1")); },
                [&seen, this](const JobResult& r) {
                  try {
                    if (!r.ok) throw std::runtime_error(r.error);
                    // A connection of our own sees only committed data.
                    seen.set_value(count("SELECT COUNT(*) FROM outbox WHERE dedupe_key = 'k1'"));
                  } catch (...) {
                    seen.set_exception(std::current_exception());
                  }
                });
  EXPECT_EQ(seen_future.get(), 1);
}

TEST_P(StoreTest, ConcurrentSubmitsAreBatched) {
  auto store = open();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  Gate gate;
  gate.close_on(*store);
  std::vector<std::vector<std::future<JobResult>>> futures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string key = std::to_string(t) + ":" + std::to_string(i);
        futures[t].push_back(
            submit_future(*store, [key](Tx& tx) { tx.insert_outbox(make_outbox(key)); }));
      }
    });
  }
  for (auto& th : threads) th.join();
  gate.release();
  int ok = 0;
  for (auto& per_thread : futures) {
    for (auto& f : per_thread) {
      const JobResult r = f.get();
      EXPECT_TRUE(r.ok) << r.error;
      ok += r.ok ? 1 : 0;
    }
  }
  EXPECT_EQ(ok, kThreads * kPerThread);
  const StoreStats stats = store->stats();
  EXPECT_GT(stats.largest_batch, 1U);
  EXPECT_LE(stats.largest_batch, StoreOptions{}.max_batch);
  EXPECT_EQ(stats.jobs, static_cast<std::uint64_t>(kThreads * kPerThread + 1));
  EXPECT_EQ(stats.failed_jobs, 0U);
  EXPECT_LT(stats.commits, stats.jobs);
  EXPECT_EQ(count("SELECT COUNT(*) FROM outbox"), kThreads * kPerThread);
}

TEST_P(StoreTest, ABatchThatChangesNothingIsNotCommitted) {
  // An idle server's passes (a claim that finds nothing due, a sweep with nothing idle) must
  // write no WAL frame and call no fsync (#13).
  auto store = open();
  ASSERT_TRUE(store->run([](Tx& tx) { tx.insert_outbox(make_outbox("k")); }).ok);
  const StoreStats before = store->stats();
  const auto wal = std::filesystem::path(path_ + "-wal");
  const auto wal_size = std::filesystem::exists(wal) ? std::filesystem::file_size(wal) : 0;
  for (int i = 0; i < 5; ++i) {
    const JobResult r = store->run([](Tx& tx) {
      EXPECT_TRUE(tx.claim_outbox(0, 1, 10, "nothing-of-this-kind").empty());
      EXPECT_EQ(tx.release_stale_outbox(0, ""), 0);
    });
    EXPECT_TRUE(r.ok) << r.error;
  }
  const StoreStats after = store->stats();
  EXPECT_EQ(after.commits, before.commits) << "nothing changed, nothing committed";
  EXPECT_EQ(after.unchanged, before.unchanged + 5);
  EXPECT_EQ(after.jobs, before.jobs + 5);
  if (!on_postgres()) {
    EXPECT_EQ(std::filesystem::exists(wal) ? std::filesystem::file_size(wal) : 0, wal_size)
        << "no WAL frame written";
  }
  // A job that changes something is committed as before, and is durable.
  ASSERT_TRUE(store->run([](Tx& tx) { tx.insert_outbox(make_outbox("k2")); }).ok);
  EXPECT_EQ(store->stats().commits, before.commits + 1);
  EXPECT_EQ(count("SELECT COUNT(*) FROM outbox"), 2);
}

TEST_P(StoreTest, BoundedSubmitRefusesAtOnceWhenTheQueueIsFull) {
  StoreOptions options = this->options();
  options.max_queue = 2;
  auto store = open_store(options);
  Gate gate;
  gate.close_on(*store);  // the writer is busy: whatever comes now waits in the queue
  std::vector<std::future<JobResult>> results;
  for (int i = 0; i < 4; ++i) {
    auto promise = std::make_shared<std::promise<JobResult>>();
    results.push_back(promise->get_future());
    const std::string key = "k" + std::to_string(i);
    store->submit_bounded([key](Tx& tx) { tx.insert_outbox(make_outbox(key)); },
                          [promise](const JobResult& r) { promise->set_value(r); });
  }
  // The two over the bound are answered at once, before the writer is free.
  std::vector<std::future<JobResult>> accepted;
  int refused = 0;
  for (auto& f : results) {
    if (f.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      const JobResult r = f.get();
      EXPECT_FALSE(r.ok);
      EXPECT_TRUE(r.busy) << r.error;
      ++refused;
    } else {
      accepted.push_back(std::move(f));
    }
  }
  EXPECT_EQ(accepted.size(), 2u);
  EXPECT_EQ(refused, 2);
  EXPECT_EQ(store->stats().shed, 2u);
  // rabta's own work is never refused.
  auto own = submit_future(*store, [](Tx& tx) { tx.insert_outbox(make_outbox("own")); });
  gate.release();
  for (auto& f : accepted) EXPECT_TRUE(f.get().ok);
  EXPECT_TRUE(own.get().ok);
  EXPECT_EQ(count("SELECT COUNT(*) FROM outbox"), 3) << "the refused ones stored nothing";
}

TEST_P(StoreTest, FailedJobDoesNotStopTheWriter) {
  auto store = open();
  JobResult r = store->run([](Tx&) { throw std::runtime_error("job said no"); });
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "job said no");
  r = store->run([](Tx&) { throw 42; });
  EXPECT_FALSE(r.ok);
  // A throwing Done is logged and the writer carries on.
  store->submit([](Tx&) {}, [](const JobResult&) { throw std::runtime_error("done failed"); });
  r = store->run([](Tx& tx) { tx.insert_outbox(make_outbox("after")); });
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(store->stats().failed_jobs, 2U);
}

TEST_P(StoreTest, RunFromWriterThreadFailsInsteadOfDeadlocking) {
  auto store = open();
  std::promise<JobResult> inner;
  auto inner_future = inner.get_future();
  store->submit([](Tx&) {}, [&](const JobResult&) { inner.set_value(store->run([](Tx&) {})); });
  const JobResult r = inner_future.get();
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("writer thread"), std::string::npos) << r.error;
}

TEST_P(StoreTest, ReadSeesCommittedDataAndCannotWrite) {
  auto store = open();
  ASSERT_TRUE(store->run([](Tx& tx) { tx.insert_outbox(make_outbox("k1")); }).ok);
  store->read([](Tx& tx) { EXPECT_FALSE(tx.find_contact("nobody").has_value()); });
  EXPECT_THROW(store->read([](Tx& tx) { tx.insert_outbox(make_outbox("k2")); }),
               std::runtime_error);
  EXPECT_THROW(store->read([](Tx& tx) { tx.upsert_contact("p1", 1); }), std::runtime_error);
  // The read connection is still usable after a failed query.
  store->read([](Tx& tx) { EXPECT_FALSE(tx.find_case("NONE00").has_value()); });
  EXPECT_EQ(count("SELECT COUNT(*) FROM outbox"), 1);
}

TEST_P(StoreTest, CloseDrainsQueuedJobsThenRefuses) {
  auto store = open();
  Gate gate;
  gate.close_on(*store);
  std::vector<std::future<JobResult>> queued;
  for (int i = 0; i < 100; ++i) {
    const std::string key = "q" + std::to_string(i);
    queued.push_back(submit_future(*store, [key](Tx& tx) { tx.insert_outbox(make_outbox(key)); }));
  }
  std::thread closer([&] { store->close(); });
  // Wait until close() has stopped taking jobs: from then on a submit fails at once.
  std::atomic<int> refused{0};
  while (refused.load() == 0) {
    store->submit([](Tx&) {},
                  [&refused](const JobResult& r) {
                    if (!r.ok && r.error == "store closed") ++refused;
                  });
    std::this_thread::yield();
  }
  gate.release();  // close() is waiting on the writer, which still holds all 100 jobs
  closer.join();
  for (auto& f : queued) {
    const JobResult r = f.get();
    EXPECT_TRUE(r.ok) << r.error;
  }
  EXPECT_EQ(count("SELECT COUNT(*) FROM outbox"), 100);

  // Later submits fail at once, on the caller's thread.
  bool called = false;
  store->submit([](Tx&) {},
                [&](const JobResult& r) {
                  called = true;
                  EXPECT_FALSE(r.ok);
                  EXPECT_EQ(r.error, "store closed");
                });
  EXPECT_TRUE(called);
  EXPECT_FALSE(store->run([](Tx&) {}).ok);
  EXPECT_THROW(store->read([](Tx&) {}), std::runtime_error);
  store->close();  // idempotent
  // The WAL was checkpointed into the main file and truncated.
  const fs::path wal = path_ + "-wal";
  if (!on_postgres()) {
    EXPECT_TRUE(!fs::exists(wal) || fs::file_size(wal) == 0);
  }
}

}  // namespace
}  // namespace rabta::store
