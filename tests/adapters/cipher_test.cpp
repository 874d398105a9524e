// FieldCipher: AEAD of sensitive fields bound to their table, column and row (SAFETY D1, D2).
#include "adapters/common/cipher.hpp"

#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <stdexcept>
#include <string>

#include "tests/support/temp_dir.hpp"

namespace rabta::common {
namespace {

using namespace std::string_literals;

constexpr const char* kHexA = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr const char* kHexB = "ffeeddccbbaa99887766554433221100FFEEDDCCBBAA99887766554433221100";

FieldCipher::Key key_of(unsigned char fill) {
  FieldCipher::Key k{};
  k.fill(fill);
  return k;
}

FieldCipher one_key() {
  return FieldCipher({{1, key_of(0x11)}}, 1);
}

void write_file(const std::string& path, const std::string& content) {
  {
    std::ofstream out(path, std::ios::binary);
    out << content;
  }
  // A key file is readable by its owner only, or rabta refuses it (SECURITY #11).
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Sets an environment variable for the lifetime of the guard.
class EnvGuard {
 public:
  EnvGuard(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~EnvGuard() { ::unsetenv(name_); }
  EnvGuard(const EnvGuard&) = delete;
  EnvGuard& operator=(const EnvGuard&) = delete;

 private:
  const char* name_;
};

// The message of the std::runtime_error that load() throws for this file content.
std::string load_error(const test::TempDir& dir, const std::string& content) {
  const std::string path = dir.file("field.key");
  write_file(path, content);
  try {
    (void)FieldCipher::load(path, nullptr);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "load() accepted: " << content;
  return {};
}

TEST(FieldCipher, RoundTripsUtf8AndBinary) {
  const FieldCipher c = one_key();
  const std::string ad = FieldCipher::associated_data("contacts", "phone_enc", 42);
  EXPECT_EQ(ad, "contacts.phone_enc:42");
  for (const std::string& text : {"+923001234567"s, "مجھے مدد چاہیے، میں گھر پر محفوظ نہیں ہوں"s,
                                  "a\0b\0"s, ""s, std::string(100000, 'x')}) {
    const std::string blob = c.encrypt(text, ad);
    EXPECT_EQ(blob.size(), FieldCipher::kHeaderBytes + FieldCipher::padded_size(text.size()) +
                               FieldCipher::kTagBytes);
    EXPECT_EQ(static_cast<std::uint8_t>(blob[0]), FieldCipher::kVersion);
    EXPECT_EQ(static_cast<std::uint8_t>(blob[1]), 1);
    const auto back = c.decrypt(blob, ad);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, text);
  }
}

TEST(FieldCipher, CiphertextCopiedToAnotherRowOrColumnFailsToDecrypt) {
  const FieldCipher c = one_key();
  const std::string blob =
      c.encrypt("+923001234567", FieldCipher::associated_data("contacts", "phone_enc", 42));
  EXPECT_FALSE(c.decrypt(blob, FieldCipher::associated_data("contacts", "phone_enc", 43)));
  EXPECT_FALSE(c.decrypt(blob, FieldCipher::associated_data("contacts", "notes_enc", 42)));
  EXPECT_FALSE(c.decrypt(blob, FieldCipher::associated_data("cases", "phone_enc", 42)));
  EXPECT_FALSE(c.decrypt(blob, ""));
  EXPECT_TRUE(c.decrypt(blob, "contacts.phone_enc:42"));
}

TEST(FieldCipher, AnyFlippedByteFailsToDecrypt) {
  const FieldCipher c = one_key();
  const std::string ad = "contacts.phone_enc:7";
  const std::string blob = c.encrypt("+923001234567", ad);
  for (std::size_t i = 0; i < blob.size(); ++i) {
    std::string tampered = blob;
    tampered[i] = static_cast<char>(tampered[i] ^ 0x01);
    EXPECT_FALSE(c.decrypt(tampered, ad)) << "byte " << i;
  }
}

TEST(FieldCipher, TruncatedOrEmptyBlobFailsToDecrypt) {
  const FieldCipher c = one_key();
  const std::string ad = "contacts.phone_enc:7";
  const std::string blob = c.encrypt("+923001234567", ad);
  for (std::size_t len = 0; len < blob.size(); ++len) {
    EXPECT_FALSE(c.decrypt(blob.substr(0, len), ad)) << "length " << len;
  }
  std::string longer = blob + "x";
  EXPECT_FALSE(c.decrypt(longer, ad));
}

TEST(FieldCipher, SamePlaintextEncryptsDifferently) {
  const FieldCipher c = one_key();
  const std::string ad = "contacts.phone_enc:1";
  const std::string a = c.encrypt("+923001234567", ad);
  const std::string b = c.encrypt("+923001234567", ad);
  EXPECT_NE(a, b);
  EXPECT_NE(a.substr(2, FieldCipher::kNonceBytes), b.substr(2, FieldCipher::kNonceBytes));
}

TEST(FieldCipher, PlaintextNeverAppearsInTheBlob) {
  const FieldCipher c = one_key();
  const std::string marker = "PLAINTEXT-MARKER-+923001234567";
  const std::string ad = "cases.notes_enc:3";
  const std::string blob = c.encrypt(marker + " " + marker, ad);
  EXPECT_EQ(blob.find(marker), std::string::npos);
  EXPECT_EQ(blob.find("+923001234567"), std::string::npos);
  EXPECT_EQ(blob.find("MARKER"), std::string::npos);
  EXPECT_EQ(blob.find(ad), std::string::npos);  // associated data is authenticated, not stored
}

TEST(FieldCipher, KeyRingDecryptsOldBlobsAndEncryptsWithTheCurrentKey) {
  const FieldCipher old_ring({{1, key_of(0x11)}}, 1);
  const std::string ad = "contacts.phone_enc:9";
  const std::string old_blob = old_ring.encrypt("+923001234567", ad);

  const FieldCipher ring({{1, key_of(0x11)}, {2, key_of(0x22)}}, 2);
  EXPECT_EQ(ring.current_key_id(), 2);
  EXPECT_EQ(FieldCipher::key_id_of(old_blob), 1);
  EXPECT_EQ(ring.decrypt(old_blob, ad), "+923001234567");

  const std::string new_blob = ring.encrypt("+923001234567", ad);
  EXPECT_EQ(FieldCipher::key_id_of(new_blob), 2);
  EXPECT_EQ(ring.decrypt(new_blob, ad), "+923001234567");
  EXPECT_FALSE(old_ring.decrypt(new_blob, ad));  // key 2 unknown to the old ring

  // The key id is authenticated: relabelling a blob fails even when both ids hold the same key.
  const FieldCipher same_key_twice({{1, key_of(0x33)}, {2, key_of(0x33)}}, 2);
  std::string relabelled = same_key_twice.encrypt("+923001234567", ad);
  ASSERT_TRUE(same_key_twice.decrypt(relabelled, ad));
  relabelled[1] = 1;
  EXPECT_FALSE(same_key_twice.decrypt(relabelled, ad));
}

TEST(FieldCipher, KeyIdOfRejectsShortAndUnknownVersions) {
  const FieldCipher c = one_key();
  const std::string blob = c.encrypt("x", "t.c:1");
  EXPECT_EQ(FieldCipher::key_id_of(blob), 1);
  EXPECT_FALSE(FieldCipher::key_id_of(""));
  EXPECT_FALSE(FieldCipher::key_id_of(blob.substr(0, FieldCipher::kHeaderBytes)));
  std::string v3 = blob;
  v3[0] = 3;
  EXPECT_FALSE(FieldCipher::key_id_of(v3));
  EXPECT_FALSE(c.decrypt(v3, "t.c:1"));
  std::string v1 = blob;
  v1[0] = 1;  // a known version, but the header is authenticated: it no longer decrypts
  EXPECT_FALSE(c.decrypt(v1, "t.c:1"));
}

// SECURITY #11: before, a sealed answer drawn from a short list ("fine", "not_fine",
// "unclear_urgent", a district) could be read from the length of its ciphertext.
TEST(FieldCipher, ValuesOfAShortListAllSealToTheSameLength) {
  const FieldCipher c = one_key();
  std::set<std::size_t> sizes;
  for (const char* v :
       {"", "1", "2", "3", "fine", "not_fine", "needs_help", "unclear", "unclear_urgent", "lahore",
        "rawalpindi", "dera_ghazi_khan", "yes", "no", "+923001234567", "+12025550123"})
    sizes.insert(c.encrypt(v, "checkins.answer_enc:1").size());
  EXPECT_EQ(sizes.size(), 1u);
  // Buckets: 32, 64, ..., 1024, then multiples of 1024.
  EXPECT_EQ(FieldCipher::padded_size(0), 32u);
  EXPECT_EQ(FieldCipher::padded_size(31), 32u);
  EXPECT_EQ(FieldCipher::padded_size(32), 64u);
  EXPECT_EQ(FieldCipher::padded_size(500), 512u);
  EXPECT_EQ(FieldCipher::padded_size(1023), 1024u);
  EXPECT_EQ(FieldCipher::padded_size(1024), 2048u);
  EXPECT_EQ(FieldCipher::padded_size(5000), 5120u);
}

// Blobs written before padding (version 1) still decrypt.
TEST(FieldCipher, UnpaddedVersion1BlobsStillDecrypt) {
  const FieldCipher c = one_key();
  const FieldCipher::Key key = key_of(0x11);
  const std::string plaintext = "theek nahi";
  const std::string ad = "checkins.answer_enc:7";
  std::string blob(FieldCipher::kHeaderBytes + plaintext.size() + FieldCipher::kTagBytes, '\0');
  blob[0] = 1;
  blob[1] = 1;
  randombytes_buf(blob.data() + 2, FieldCipher::kNonceBytes);
  const std::string full_ad = blob.substr(0, 2) + ad;
  unsigned long long written = 0;
  ASSERT_EQ(crypto_aead_xchacha20poly1305_ietf_encrypt(
                reinterpret_cast<unsigned char*>(blob.data()) + FieldCipher::kHeaderBytes, &written,
                reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(),
                reinterpret_cast<const unsigned char*>(full_ad.data()), full_ad.size(), nullptr,
                reinterpret_cast<const unsigned char*>(blob.data()) + 2, key.data()),
            0);
  EXPECT_EQ(c.decrypt(blob, ad), plaintext);
  EXPECT_EQ(FieldCipher::key_id_of(blob), 1);
}

TEST(FieldCipher, ConstructorRejectsABadRing) {
  EXPECT_THROW(FieldCipher({}, 1), std::invalid_argument);
  EXPECT_THROW(FieldCipher({{1, key_of(1)}}, 2), std::invalid_argument);
  EXPECT_THROW(FieldCipher({{0, key_of(1)}}, 0), std::invalid_argument);
}

TEST(FieldCipher, AssociatedDataNeedsIdentifiers) {
  EXPECT_EQ(FieldCipher::associated_data("cases", "notes_enc", -1), "cases.notes_enc:-1");
  EXPECT_THROW((void)FieldCipher::associated_data("", "c", 1), std::invalid_argument);
  EXPECT_THROW((void)FieldCipher::associated_data("a.b", "c", 1), std::invalid_argument);
  EXPECT_THROW((void)FieldCipher::associated_data("a", "b:c", 1), std::invalid_argument);
}

TEST(FieldCipherKeys, LoadsAKeyRingWithTheLastLineCurrent) {
  const test::TempDir dir;
  const std::string path = dir.file("field.key");
  write_file(path, "# rotated 2026-11\n3:"s + kHexA + "\r\n\n7:" + kHexB + "\n");
  const FieldCipher c = FieldCipher::load(path, nullptr);
  EXPECT_EQ(c.current_key_id(), 7);

  // Key 3 is the bytes of kHexA: a blob made with it decrypts.
  FieldCipher::Key a{};
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<unsigned char>(i);
  const std::string blob = FieldCipher({{3, a}}, 3).encrypt("hello", "t.c:1");
  EXPECT_EQ(c.decrypt(blob, "t.c:1"), "hello");
  EXPECT_EQ(FieldCipher::key_id_of(c.encrypt("hello", "t.c:1")), 7);
}

TEST(FieldCipherKeys, ABareHexLineIsKeyOne) {
  const test::TempDir dir;
  const std::string path = dir.file("field.key");
  write_file(path, std::string(kHexA) + "\n");
  const FieldCipher c = FieldCipher::load(path, nullptr);
  EXPECT_EQ(c.current_key_id(), 1);
  const FieldCipher same = FieldCipher::load(path, nullptr);
  EXPECT_EQ(same.decrypt(c.encrypt("x", "t.c:1"), "t.c:1"), "x");
}

TEST(FieldCipherKeys, EnvironmentWinsOverTheFile) {
  const test::TempDir dir;
  const std::string path = dir.file("field.key");
  write_file(path, "1:"s + kHexA + "\n");
  const char* var = "RABTA_TEST_FIELD_KEY";
  {
    const EnvGuard env(var, ("1:"s + kHexA + "\n5:" + kHexB).c_str());
    EXPECT_EQ(FieldCipher::load("/nonexistent/field.key", var).current_key_id(), 5);
  }
  {
    const EnvGuard empty(var, "");
    EXPECT_EQ(FieldCipher::load(path, var).current_key_id(), 1);
  }
  {
    const EnvGuard bad(var, "5:nothex");
    try {
      (void)FieldCipher::load(path, var);
      ADD_FAILURE() << "accepted a bad key";
    } catch (const std::runtime_error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("environment variable RABTA_TEST_FIELD_KEY line 1"), std::string::npos)
          << msg;
      EXPECT_EQ(msg.find("nothex"), std::string::npos) << msg;
    }
  }
}

// SECURITY #11: a field key file readable by group or others is refused, naming the file and
// its mode, never the key.
TEST(FieldCipherKeys, AKeyFileOthersMayReadIsRefused) {
  const test::TempDir dir;
  const std::string path = dir.file("field.key");
  write_file(path, "1:"s + kHexA + "\n");
  std::filesystem::permissions(path, std::filesystem::perms::owner_read |
                                         std::filesystem::perms::owner_write |
                                         std::filesystem::perms::others_read);
  try {
    (void)FieldCipher::load(path, nullptr);
    FAIL() << "expected a refusal";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'" + path + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("0604"), std::string::npos) << msg;
    EXPECT_EQ(msg.find(kHexA), std::string::npos) << msg;
  }
}

TEST(FieldCipherKeys, LoadErrorsNameFileLineAndReasonButNoKey) {
  const test::TempDir dir;
  const std::string path = dir.file("field.key");
  const std::string short_key = std::string(kHexA).substr(0, 62);

  std::string msg = load_error(dir, "1:"s + kHexA + "\n\n2:" + short_key + "\n");
  EXPECT_NE(msg.find("'" + path + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("line 3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("64 hex characters"), std::string::npos) << msg;
  EXPECT_EQ(msg.find(short_key), std::string::npos) << msg;
  EXPECT_EQ(msg.find(kHexA), std::string::npos) << msg;

  msg = load_error(dir, "0:"s + kHexA + "\n");
  EXPECT_NE(msg.find("line 1: key id must be a number from 1 to 255"), std::string::npos) << msg;
  msg = load_error(dir, "256:"s + kHexA + "\n");
  EXPECT_NE(msg.find("line 1: key id must be a number from 1 to 255"), std::string::npos) << msg;
  msg = load_error(dir, "x:"s + kHexA + "\n");
  EXPECT_NE(msg.find("line 1: key id must be a number from 1 to 255"), std::string::npos) << msg;

  msg = load_error(dir, "2:"s + kHexA + "\n2:" + kHexB + "\n");
  EXPECT_NE(msg.find("line 2: duplicate key id 2"), std::string::npos) << msg;
  EXPECT_EQ(msg.find(kHexB), std::string::npos) << msg;

  msg = load_error(dir, "2:"s + kHexA + "\n" + kHexB + "\n");
  EXPECT_NE(msg.find("line 2: a key without '<id>:'"), std::string::npos) << msg;
  EXPECT_EQ(msg.find(kHexB), std::string::npos) << msg;

  const std::string secret = "correct horse battery staple";
  msg = load_error(dir, secret + "\n");
  EXPECT_NE(msg.find("line 1: expected <id>:<64 hex characters>"), std::string::npos) << msg;
  EXPECT_EQ(msg.find(secret), std::string::npos) << msg;

  msg = load_error(dir, "\n# only a comment\n");
  EXPECT_NE(msg.find("holds no key"), std::string::npos) << msg;

  try {
    (void)FieldCipher::load(dir.file("missing.key"), nullptr);
    ADD_FAILURE() << "loaded a missing file";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.key' is missing"), std::string::npos) << e.what();
  }
}

TEST(FieldCipherKeys, CreateKeyFileIsPrivateLoadableAndNeverOverwritten) {
  const test::TempDir dir;
  const std::string path = dir.file("field.key");
  const mode_t old_umask = ::umask(0);  // a permissive umask must not widen the mode
  FieldCipher::create_key_file(path);
  ::umask(old_umask);

  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);

  const std::string content = read_file(path);
  ASSERT_EQ(content.size(), 2 + 64 + 1U);
  EXPECT_EQ(content.substr(0, 2), "1:");
  EXPECT_EQ(content.back(), '\n');
  EXPECT_EQ(content.find_first_not_of("0123456789abcdef", 2), content.size() - 1);

  const FieldCipher c = FieldCipher::load(path, nullptr);
  EXPECT_EQ(c.current_key_id(), 1);
  const std::string blob = c.encrypt("kept", "t.c:1");

  try {
    FieldCipher::create_key_file(path);
    ADD_FAILURE() << "overwrote the key file";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("refusing to overwrite"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_file(path), content);
  EXPECT_EQ(FieldCipher::load(path, nullptr).decrypt(blob, "t.c:1"), "kept");

  const std::string other = dir.file("other.key");
  FieldCipher::create_key_file(other);
  EXPECT_NE(read_file(other), content);
  EXPECT_FALSE(FieldCipher::load(other, nullptr).decrypt(blob, "t.c:1"));

  EXPECT_THROW(FieldCipher::create_key_file(dir.file("no/such/dir/field.key")), std::runtime_error);
}

}  // namespace
}  // namespace rabta::common
