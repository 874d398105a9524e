// Key rotation inside `rabta serve`, on its PassLoop: a first pass when the database was sealed
// with another key, a reload and a pass when the key file gains a key, and a stop that ends it.
#include "gateway/ops/keys.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "adapters/common/cipher.hpp"
#include "adapters/store/store.hpp"
#include "tests/support/log_capture.hpp"
#include "tests/support/temp_dir.hpp"

namespace rabta {
namespace {

using namespace std::chrono_literals;

constexpr const char* kSealedKeyId = "sealed_key_id_v2";  // gateway/ops/keys.cpp
const std::string kKey1 = "1:" + std::string(64, 'a');
const std::string kKey2 = "2:" + std::string(64, 'b');

class KeyRotationTest : public ::testing::Test {
 protected:
  KeyRotationTest() {
    std::ofstream(key_file) << kKey1 << "\n";
    std::filesystem::permissions(
        key_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    cipher = std::make_shared<common::FieldCipher>(common::FieldCipher::load(key_file, nullptr));
    store::StoreOptions so;
    so.audit_key = "test-audit-key";
    so.path = dir.file("rabta.db");
    so.cipher = cipher;  // the same ring the rotation replaces in place, as in serve
    store = store::open_sqlite_store(so);
  }
  ~KeyRotationTest() override { store->close(); }

  std::string sealed() {
    std::string v;
    store->read([&](store::Tx& tx) { v = tx.meta(kSealedKeyId); });
    return v;
  }
  // The rotation's own event (the meta row a complete pass writes), waited for with a bound.
  bool sealed_becomes(const std::string& want) {
    for (int i = 0; i < 1000; ++i) {
      if (sealed() == want) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  test::TempDir dir;
  std::string key_file = dir.file("field.key");
  std::unique_ptr<store::Store> store;
  std::shared_ptr<common::FieldCipher> cipher;
};

TEST_F(KeyRotationTest, SealsAtStartThenFollowsANewKeyInTheFile) {
  gateway::KeyRotation rotation(*store, cipher, key_file, true, 20ms);
  EXPECT_EQ(sealed(), "");
  rotation.start();
  ASSERT_TRUE(sealed_becomes("1")) << "the first pass records the key in use";

  std::ofstream(key_file, std::ios::app) << kKey2 << "\n";  // what `rabta keys rotate` appends
  ASSERT_TRUE(sealed_becomes("2")) << "the file's new key is taken and everything re-sealed";
  EXPECT_EQ(cipher->current_key_id(), 2);
  rotation.stop();
}

TEST_F(KeyRotationTest, AFileThatDropsTheKeyInUseIsRefused) {
  test::LogCapture logs;
  gateway::KeyRotation rotation(*store, cipher, key_file, true, 20ms);
  rotation.start();
  ASSERT_TRUE(sealed_becomes("1"));
  std::ofstream(key_file) << kKey2 << "\n";  // key 1, which encrypts what is stored, is gone
  ASSERT_TRUE(logs.wait_for("no longer holds key 1")) << logs.text();
  EXPECT_EQ(cipher->current_key_id(), 1) << "the keys in use are kept";
  EXPECT_EQ(sealed(), "1");
  std::ofstream(key_file) << kKey1 << "\n" << kKey2 << "\n";
  ASSERT_TRUE(sealed_becomes("2"));
  rotation.stop();
}

TEST_F(KeyRotationTest, AStartAfterAStopFinishesAnInterruptedPass) {
  gateway::KeyRotation rotation(*store, cipher, key_file, true, 20ms);
  rotation.start();
  ASSERT_TRUE(sealed_becomes("1"));
  rotation.stop();
  // As a stop half-way through a pass leaves it: the key in use is not yet recorded.
  ASSERT_TRUE(store->run([](store::Tx& tx) { tx.set_meta(kSealedKeyId, "0"); }).ok);
  rotation.start();
  EXPECT_TRUE(sealed_becomes("1")) << "the pass is run again and completed";
  rotation.stop();
}

TEST_F(KeyRotationTest, StopsAndStartsAgain) {
  gateway::KeyRotation rotation(*store, cipher, key_file, true, 20ms);
  rotation.start();
  ASSERT_TRUE(sealed_becomes("1"));
  rotation.stop();
  rotation.stop();   // idempotent
  rotation.start();  // as after a pause: the file is still watched
  std::ofstream(key_file, std::ios::app) << kKey2 << "\n";
  ASSERT_TRUE(sealed_becomes("2"));
  rotation.stop();
}

}  // namespace
}  // namespace rabta
