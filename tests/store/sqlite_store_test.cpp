// Tests of the SQLite store against real files in a fresh temporary directory per test.

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "adapters/store/store.hpp"

namespace rabta::store {
namespace {

namespace fs = std::filesystem;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = (fs::temp_directory_path() / "rabta-store-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    dir_ = dir;
    path_ = (dir_ / "rabta.db").string();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<Store> open() {
    StoreOptions options;
    options.path = path_;
    return open_sqlite_store(options);
  }

  // The message open_sqlite_store throws with, or "" when it opened.
  std::string open_error(const std::string& path) {
    StoreOptions options;
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
    SQLite::Database db(path_, SQLite::OPEN_READONLY);
    return db.execAndGet(sql).getInt64();
  }

  fs::path dir_;
  std::string path_;
};

std::future<JobResult> submit_future(Store& store, Job job) {
  auto promise = std::make_shared<std::promise<JobResult>>();
  auto result = promise->get_future();
  store.submit(std::move(job), [promise](const JobResult& r) { promise->set_value(r); });
  return result;
}

// Holds the writer inside a job until released, so that jobs submitted meanwhile are sure to
// form one batch of their own.
class Gate {
 public:
  // Submits the gate job and returns once the writer is inside it.
  void close_on(Store& store) {
    store.submit(
        [entered = entered_, opened = opened_](Tx&) {
          entered->set_value();
          opened.wait();
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

// ---- opening and migrations ----

TEST_F(StoreTest, MigratesNewFileToLatestSchema) {
  ASSERT_GE(latest_schema_version(), 1);
  {
    auto store = open();
    EXPECT_EQ(store->schema_version(), latest_schema_version());
  }
  SQLite::Database db(path_, SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("PRAGMA user_version").getInt(), latest_schema_version());
  for (const char* table :
       {"contacts", "sessions", "cases", "answers", "consents", "outbox", "meta"}) {
    EXPECT_TRUE(db.tableExists(table)) << table;
  }
  for (const char* index : {"sessions_contact_channel_updated", "sessions_status_updated",
                            "outbox_status_not_before"}) {
    SQLite::Statement q(db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ?");
    q.bind(1, index);
    ASSERT_TRUE(q.executeStep());
    EXPECT_EQ(q.getColumn(0).getInt(), 1) << index;
  }
}

TEST_F(StoreTest, MigratesZeroLengthFile) {
  std::ofstream(path_).close();
  ASSERT_EQ(fs::file_size(path_), 0U);
  auto store = open();
  EXPECT_EQ(store->schema_version(), latest_schema_version());
}

TEST_F(StoreTest, UsesWalJournal) {
  auto store = open();
  SQLite::Database other(path_, SQLite::OPEN_READONLY);
  EXPECT_EQ(other.execAndGet("PRAGMA journal_mode").getString(), "wal");
}

TEST_F(StoreTest, ReopeningKeepsData) {
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

TEST_F(StoreTest, RefusesNewerSchema) {
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

TEST_F(StoreTest, RefusesNonDatabaseFile) {
  {
    std::ofstream out(path_);
    for (int i = 0; i < 200; ++i) out << "this is a text file, not a database\n";
  }
  const std::string error = open_error(path_);
  EXPECT_NE(error.find(path_), std::string::npos) << error;
  EXPECT_NE(error.find("quick_check"), std::string::npos) << error;
}

TEST_F(StoreTest, RefusesCorruptDatabase) {
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

TEST_F(StoreTest, RefusesMissingDirectory) {
  const fs::path missing = dir_ / "missing";
  const std::string error = open_error((missing / "rabta.db").string());
  EXPECT_NE(error.find((missing / "rabta.db").string()), std::string::npos) << error;
  EXPECT_NE(error.find("does not exist"), std::string::npos) << error;
  EXPECT_FALSE(fs::exists(missing));
}

// ---- Tx operations ----

TEST_F(StoreTest, ContactsUpsertFindLanguageQuiet) {
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

TEST_F(StoreTest, SessionsInsertFindUpdate) {
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

TEST_F(StoreTest, ErrorsNameTheOperationButNoValues) {
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

TEST_F(StoreTest, FindsResumableSession) {
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

TEST_F(StoreTest, ExpiresIdleSessions) {
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

  int expired = -1;
  ASSERT_TRUE(store->run([&](Tx& tx) { expired = tx.expire_idle_sessions(250, 1000); }).ok);
  EXPECT_EQ(expired, 2);

  store->read([](Tx& tx) {
    for (const char* id : {"a100", "a200"}) {
      const auto s = tx.find_session("africastalking", id);
      ASSERT_TRUE(s.has_value());
      EXPECT_EQ(s->status, session_status::incomplete) << id;
      EXPECT_EQ(s->end_reason, "idle") << id;
      EXPECT_EQ(s->ended_at, 1000) << id;
    }
    EXPECT_EQ(tx.find_session("africastalking", "a300")->status, session_status::active);
    EXPECT_EQ(tx.find_session("africastalking", "i50")->end_reason, "");
    EXPECT_EQ(tx.find_session("africastalking", "f10")->status, session_status::finished);
  });

  ASSERT_TRUE(store->run([&](Tx& tx) { expired = tx.expire_idle_sessions(250, 2000); }).ok);
  EXPECT_EQ(expired, 0);
}

TEST_F(StoreTest, CaseAnswerConsentRows) {
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

TEST_F(StoreTest, DuplicateReferenceFailsOnlyItsJob) {
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

TEST_F(StoreTest, CaughtDuplicateReferenceLetsTheJobRetry) {
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

TEST_F(StoreTest, OutboxDedupes) {
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
  SQLite::Database db(path_, SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT payload FROM outbox").getString(), R"({"n":1})");
  EXPECT_EQ(db.execAndGet("SELECT status FROM outbox").getString(), "pending");
}

// ---- the writer: commit, batching, failures, close ----

TEST_F(StoreTest, DoneRunsAfterCommit) {
  auto store = open();
  std::promise<std::int64_t> seen;
  auto seen_future = seen.get_future();
  store->submit(
      [](Tx& tx) { tx.insert_outbox(make_outbox("k1")); },
      [&seen, path = path_](const JobResult& r) {
        try {
          if (!r.ok) throw std::runtime_error(r.error);
          // A connection of our own sees only committed data.
          SQLite::Database db(path, SQLite::OPEN_READONLY);
          seen.set_value(
              db.execAndGet("SELECT COUNT(*) FROM outbox WHERE dedupe_key = 'k1'").getInt64());
        } catch (...) {
          seen.set_exception(std::current_exception());
        }
      });
  EXPECT_EQ(seen_future.get(), 1);
}

TEST_F(StoreTest, ConcurrentSubmitsAreBatched) {
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

TEST_F(StoreTest, FailedJobDoesNotStopTheWriter) {
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

TEST_F(StoreTest, RunFromWriterThreadFailsInsteadOfDeadlocking) {
  auto store = open();
  std::promise<JobResult> inner;
  auto inner_future = inner.get_future();
  store->submit([](Tx&) {}, [&](const JobResult&) { inner.set_value(store->run([](Tx&) {})); });
  const JobResult r = inner_future.get();
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("writer thread"), std::string::npos) << r.error;
}

TEST_F(StoreTest, ReadSeesCommittedDataAndCannotWrite) {
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

TEST_F(StoreTest, CloseDrainsQueuedJobsThenRefuses) {
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
  EXPECT_TRUE(!fs::exists(wal) || fs::file_size(wal) == 0);
}

}  // namespace
}  // namespace rabta::store
