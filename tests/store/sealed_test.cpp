// Encryption at rest of the sealed columns (SAFETY D2) and field key rotation, against real
// SQLite files: what she typed, the screens she saw, her answers and the replies to her SMS never
// reach the database file or its WAL in clear; a ciphertext moved to another row does not
// decrypt; a re-encryption pass moves every value to the newest key, after which the old key can
// be dropped.
#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "adapters/common/cipher.hpp"
#include "adapters/common/crypto.hpp"
#include "adapters/store/store.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/temp_dir.hpp"

namespace rabta::store {
namespace {

using common::FieldCipher;

const std::string kMarker = "MARKER-he-took-my-phone-last-night";
const std::string kNumber = "+923001234567";

FieldCipher::Key key_of(unsigned char byte) {
  FieldCipher::Key k;
  k.fill(byte);
  return k;
}

std::shared_ptr<FieldCipher> ring(std::initializer_list<std::uint8_t> ids, std::uint8_t current) {
  FieldCipher::KeyRing keys;
  for (auto id : ids) keys.emplace(id, key_of(static_cast<unsigned char>(0x10 + id)));
  return std::make_shared<FieldCipher>(std::move(keys), current);
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class SealedTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> open(std::shared_ptr<FieldCipher> cipher) {
    StoreOptions o;
    o.audit_key = "test-audit-key";
    o.path = path();
    o.cipher = std::move(cipher);
    return open_sqlite_store(o);
  }
  std::string path() const { return dir.file("rabta.db"); }

  // A session, an answer, an SMS reply and an outbox row, each holding the marker or the
  // number. Returns the session id.
  std::int64_t write_everything(Store& store, const FieldCipher& cipher) {
    std::int64_t session_id = 0;
    const auto r = store.run([&](Tx& tx) {
      const auto contact = tx.upsert_contact("pseudonym-1", 1000);
      SessionRecord s;
      s.provider = "africastalking";
      s.provider_session_id = "ATUid_sealed";
      s.contact_id = contact.id;
      s.channel = "ussd";
      s.state = R"({"vars":{"details":")" + kMarker + R"("}})";
      s.last_input_path = "2*1*" + kMarker;
      s.last_reply = "CON You said " + kMarker;
      s.started_at = s.updated_at = 1000;
      session_id = tx.insert_session(s);
      tx.insert_answer({session_id, contact.id, "details", kMarker, 1000});
      InboundRecord m;
      m.provider = "kannel";
      m.provider_message_id = "m-1";
      m.contact_id = contact.id;
      m.text_hash = "h";
      m.reply = "Reply about " + kMarker;
      m.received_at = 1000;
      EXPECT_TRUE(tx.insert_inbound(m));
      OutboxRecord o;
      o.kind = "sms:kannel";
      o.dedupe_key = "reply:m-1";
      o.payload = nlohmann::json{
          {"to_enc", common::base64_encode(cipher.encrypt(kNumber, "outbox.to:" + o.dedupe_key))},
          {"text",
           "ok"}}.dump();
      o.created_at = 1000;
      EXPECT_TRUE(tx.insert_outbox(o));
    });
    EXPECT_TRUE(r.ok) << r.error;
    return session_id;
  }

  void expect_reads_back(Store& store, std::int64_t session_id) {
    store.read([&](Tx& tx) {
      const auto s = tx.find_session("africastalking", "ATUid_sealed");
      ASSERT_TRUE(s);
      EXPECT_EQ(s->id, session_id);
      EXPECT_EQ(s->last_input_path, "2*1*" + kMarker);
      EXPECT_EQ(s->last_reply, "CON You said " + kMarker);
      EXPECT_NE(s->state.find(kMarker), std::string::npos);
      EXPECT_EQ(tx.session_answer(session_id, "details"), kMarker);
      const auto m = tx.find_inbound("kannel", "m-1");
      ASSERT_TRUE(m);
      EXPECT_EQ(m->reply, "Reply about " + kMarker);
    });
  }

  test::TempDir dir;
};

TEST_F(SealedTest, NoPlaintextInTheDatabaseOrItsWal) {
  auto cipher = ring({1}, 1);
  auto store = open(cipher);
  const auto session_id = write_everything(*store, *cipher);
  expect_reads_back(*store, session_id);
  // While open, the rows are in the WAL; after close, in the database file.
  const std::string wal = file_bytes(path() + "-wal");
  ASSERT_FALSE(wal.empty());
  EXPECT_EQ(wal.find(kMarker), std::string::npos);
  EXPECT_EQ(wal.find(kNumber), std::string::npos);
  store->close();
  const std::string db = file_bytes(path());
  EXPECT_EQ(db.find(kMarker), std::string::npos);
  EXPECT_EQ(db.find(kNumber), std::string::npos);
  EXPECT_NE(db.find("ATUid_sealed"), std::string::npos) << "the test reads the right file";
}

// #14: the same on PostgreSQL, whose files are the data directory: tables, indexes and WAL.
TEST_F(SealedTest, NoPlaintextInPostgresqlsDataDirectory) {
  test::PgCluster& server = test::shared_pg();
  auto cipher = ring({1}, 1);
  StoreOptions o;
  o.url = server.create_database();
  o.cipher = cipher;
  o.audit_key = "test-audit-key";
  auto store = open_store(o);
  const auto session_id = write_everything(*store, *cipher);
  expect_reads_back(*store, session_id);
  // A canary in a column that is not sealed: the scan below must find it, or it proves nothing.
  ASSERT_TRUE(store
                  ->run([](Tx& tx) {
                    OutboxRecord canary;
                    canary.kind = "webhook";
                    canary.dedupe_key = "canary";
                    canary.payload = "CANARY-in-clear";
                    canary.created_at = 1000;
                    tx.insert_outbox(canary);
                  })
                  .ok);
  store->close();
  server.exec("CHECKPOINT");  // every page in the table files, not only in the WAL
  std::size_t files = 0;
  bool found_canary = false;
  // (Other tests' databases may come and go meanwhile: a file that vanishes is skipped.)
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(server.data(), ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    const auto& f = *it;
    std::error_code type_ec;
    if (!f.is_regular_file(type_ec)) continue;
    ++files;
    const std::string bytes = file_bytes(f.path().string());
    EXPECT_EQ(bytes.find(kMarker), std::string::npos) << f.path();
    EXPECT_EQ(bytes.find(kNumber), std::string::npos) << f.path();
    found_canary = found_canary || bytes.find("CANARY-in-clear") != std::string::npos;
  }
  EXPECT_GT(files, 100U);
  EXPECT_TRUE(found_canary) << "the test reads the right files";
}

// SECURITY #11: values an older rabta left in clear (a check-in's answer, an SMS text in the
// outbox) are sealed by the one re-encryption pass, and afterwards are in neither file; and the
// three check-in answers seal to ciphertexts of one length, so the length does not tell them apart.
TEST_F(SealedTest, ValuesAnOlderRabtaLeftInClearAreSealedByOnePass) {
  auto cipher = ring({1}, 1);
  {
    auto store = open(cipher);
    write_everything(*store, *cipher);
    store->close();
  }
  {
    SQLite::Database db(path(), SQLite::OPEN_READWRITE);
    db.exec(
        "INSERT INTO checkins (contact_id, week, status, answer) VALUES "
        "(1, '2026-W40', 'answered', 'help_now'), (1, '2026-W41', 'answered', 'talk'), "
        "(1, '2026-W42', 'answered', 'fine')");
    db.exec(
        "INSERT INTO outbox (kind, dedupe_key, payload, created_at) VALUES ('sms:kannel', "
        "'reply:m-2', '" +
        nlohmann::json{
            {"to_enc", common::base64_encode(cipher->encrypt(kNumber, "outbox.to:reply:m-2"))},
            {"text", "Old screen " + kMarker},
            {"ucs2", false},
            {"solicited", true},
            {"purpose", "reply"}}
            .dump() +
        "', 1)");
  }
  auto store = open(cipher);
  ResealCursor cursor;
  int rewritten = 0;
  while (!cursor.done)
    ASSERT_TRUE(store->run([&](Tx& tx) { rewritten += tx.reseal(cursor, 50); }).ok);
  EXPECT_GE(rewritten, 4) << "three answers and one outbox text";
  store->read([&](Tx& tx) {
    const auto newest = tx.previous_checkin(1, "9999-W99");
    ASSERT_TRUE(newest);
    EXPECT_EQ(newest->answer, "fine");
  });
  {
    SQLite::Database db(path(), SQLite::OPEN_READONLY);
    SQLite::Statement lengths(db, "SELECT DISTINCT length(answer) FROM checkins");
    int distinct = 0;
    while (lengths.executeStep()) ++distinct;
    EXPECT_EQ(distinct, 1) << "fine, talk and help_now seal to one length";
  }
  ASSERT_TRUE(store->checkpoint_wal().ok);
  store->close();
  const std::string db = file_bytes(path()) + file_bytes(path() + "-wal");
  EXPECT_EQ(db.find(kMarker), std::string::npos) << "the old screen's text";
  EXPECT_EQ(db.find("help_now"), std::string::npos);
}

TEST_F(SealedTest, WithoutAKeyTheMarkerIsOnDiskSoTheCheckAboveCanFail) {
  auto cipher = ring({1}, 1);
  auto store = open(nullptr);
  write_everything(*store, *cipher);
  store->close();
  EXPECT_NE(file_bytes(path()).find(kMarker), std::string::npos);
}

TEST_F(SealedTest, ACiphertextCopiedToAnotherRowDoesNotDecrypt) {
  auto cipher = ring({1}, 1);
  auto store = open(cipher);
  const auto session_id = write_everything(*store, *cipher);
  ASSERT_TRUE(
      store->run([&](Tx& tx) {
             tx.insert_answer({session_id, 1, "other", "something else", 1001});
           })
          .ok);
  store->close();
  {
    SQLite::Database db(path(), SQLite::OPEN_READWRITE);
    db.exec(
        "UPDATE answers SET value = (SELECT value FROM answers WHERE key = 'details') "
        "WHERE key = 'other'");
  }
  store = open(cipher);
  EXPECT_EQ(
      store->run([&](Tx& tx) { EXPECT_EQ(tx.session_answer(session_id, "details"), kMarker); })
          .error,
      "");
  const auto r = store->run([&](Tx& tx) { tx.session_answer(session_id, "other"); });
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("answers.value of row 2 does not decrypt"), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find("something"), std::string::npos);
}

TEST_F(SealedTest, RotationMovesEveryValueToTheNewKeyAndTheOldKeyCanGo) {
  auto first = ring({1}, 1);
  std::int64_t session_id = 0;
  {
    auto store = open(first);
    session_id = write_everything(*store, *first);
    // A note and a number, encrypted by the gateway as it does (AD bound to case / contact).
    ASSERT_TRUE(store
                    ->run([&](Tx& tx) {
                      auto c = tx.find_contact("pseudonym-1");
                      tx.set_contact_phone(
                          c->id,
                          first->encrypt(kNumber, FieldCipher::associated_data("contacts",
                                                                               "phone_enc", c->id)),
                          1001);
                    })
                    .ok);
    KeyUsage usage;
    store->read([&](Tx& tx) { usage = tx.sealed_key_usage(); });
    EXPECT_EQ(usage, (KeyUsage{{1, 7}}));  // 3 session columns, answer, reply, phone, outbox
    store->close();
  }
  // A value written in clear before encryption existed is sealed by the same pass.
  {
    SQLite::Database db(path(), SQLite::OPEN_READWRITE);
    db.exec("INSERT INTO answers (session_id, contact_id, key, value, created_at) VALUES (" +
            std::to_string(session_id) + ", 1, 'legacy', 'old clear value', 1)");
  }
  auto both = ring({1, 2}, 2);
  {
    auto store = open(both);
    KeyUsage usage;
    store->read([&](Tx& tx) { usage = tx.sealed_key_usage(); });
    EXPECT_EQ(usage, (KeyUsage{{0, 1}, {1, 7}}));
    ResealCursor cursor;
    int rewritten = 0;
    int steps = 0;
    while (!cursor.done) {
      ASSERT_TRUE(store->run([&](Tx& tx) { rewritten += tx.reseal(cursor, 2); }).ok);
      ASSERT_LT(++steps, 100);
    }
    EXPECT_EQ(rewritten, 8);
    store->read([&](Tx& tx) { usage = tx.sealed_key_usage(); });
    EXPECT_EQ(usage, (KeyUsage{{2, 8}}));
    // A second pass finds nothing to do.
    ResealCursor again;
    int more = 0;
    while (!again.done) ASSERT_TRUE(store->run([&](Tx& tx) { more += tx.reseal(again, 50); }).ok);
    EXPECT_EQ(more, 0);
    store->close();
  }
  auto only_new = ring({2}, 2);
  auto store = open(only_new);
  expect_reads_back(*store, session_id);
  store->read([&](Tx& tx) {
    EXPECT_EQ(tx.session_answer(session_id, "legacy"), "old clear value");
    const auto c = tx.find_contact("pseudonym-1");
    EXPECT_EQ(only_new->decrypt(c->phone_enc,
                                FieldCipher::associated_data("contacts", "phone_enc", c->id)),
              kNumber);
    const auto o = tx.list_outbox("", 10);
    ASSERT_EQ(o.size(), 1u);
    const auto j = nlohmann::json::parse(o[0].payload);
    const auto blob = common::base64_decode(j["to_enc"].get<std::string>());
    ASSERT_TRUE(blob);
    EXPECT_EQ(only_new->decrypt(*blob, "outbox.to:reply:m-1"), kNumber);
  });
}

TEST_F(SealedTest, ReplaceKeysIsSeenByTheRunningStore) {
  auto cipher = ring({1}, 1);
  auto store = open(cipher);
  const auto session_id = write_everything(*store, *cipher);
  cipher->replace_keys(*ring({1, 2}, 2));
  ASSERT_TRUE(store
                  ->run([&](Tx& tx) {
                    tx.insert_answer({session_id, 1, "after", "written after the rotation", 2000});
                  })
                  .ok);
  KeyUsage usage;
  store->read([&](Tx& tx) { usage = tx.sealed_key_usage(); });
  EXPECT_EQ(usage, (KeyUsage{{1, 6}, {2, 1}}));
  expect_reads_back(*store, session_id);
}

}  // namespace
}  // namespace rabta::store
