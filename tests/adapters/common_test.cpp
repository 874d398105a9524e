#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "adapters/common/clock.hpp"
#include "adapters/common/crypto.hpp"
#include "adapters/common/form.hpp"
#include "flows/engine.hpp"

namespace rabta::common {
namespace {

namespace fs = std::filesystem;

std::vector<FormField> parse_ok(std::string_view body) {
  auto result = parse_form(body);
  EXPECT_TRUE(std::holds_alternative<std::vector<FormField>>(result)) << body;
  if (auto* fields = std::get_if<std::vector<FormField>>(&result)) return *fields;
  return {};
}

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "rabta-common-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

void write_file(const fs::path& p, const std::string& content) {
  {
    std::ofstream out(p, std::ios::binary);
    out << content;
  }
  // A key file is readable by its owner only, or rabta refuses it (SECURITY #11).
  std::filesystem::permissions(
      p, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
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

const std::string kKeyA(32, 'a');
const std::string kKeyB(32, 'b');

// ---------------------------------------------------------------- percent_decode

// A case reference is what she is told and what a caseworker types: every character from the
// alphabet, every character about as likely (no modulo bias), and no two alike in practice.
TEST(RandomIds, ReferencesUseTheWholeAlphabetEvenly) {
  common::RandomIds ids;
  std::map<char, int> seen;
  std::set<std::string> references;
  constexpr int kCount = 20'000;
  for (int i = 0; i < kCount; ++i) {
    const std::string r = ids.case_reference(8);
    ASSERT_EQ(r.size(), 8U);
    for (const char c : r) {
      ASSERT_NE(flows::reference_alphabet.find(c), std::string_view::npos) << r;
      ++seen[c];
    }
    references.insert(r);
  }
  EXPECT_EQ(references.size(), static_cast<std::size_t>(kCount));
  ASSERT_EQ(seen.size(), flows::reference_alphabet.size());
  const double expected = 8.0 * kCount / static_cast<double>(flows::reference_alphabet.size());
  for (const auto& [c, n] : seen) {
    EXPECT_GT(n, expected * 0.9) << c;
    EXPECT_LT(n, expected * 1.1) << c;
  }
  EXPECT_EQ(ids.case_reference(40).size(), 40U);  // longer than one draw of the CSPRNG
}

TEST(PercentDecode, DecodesEscapesInEitherCase) {
  EXPECT_EQ(percent_decode("a%20b%2Fc%2fd", false), "a b/c/d");
  EXPECT_EQ(percent_decode("%D9%85%D8%AF%D8%AF", false), "\xD9\x85\xD8\xAF\xD8\xAF");
  EXPECT_EQ(percent_decode("", false), "");
}

TEST(PercentDecode, PlusIsSpaceOnlyWhenAsked) {
  EXPECT_EQ(percent_decode("a+b", true), "a b");
  EXPECT_EQ(percent_decode("a+b", false), "a+b");
  EXPECT_EQ(percent_decode("%2B", true), "+");
}

TEST(PercentDecode, RejectsMalformedEscapes) {
  EXPECT_EQ(percent_decode("%", false), std::nullopt);
  EXPECT_EQ(percent_decode("abc%2", false), std::nullopt);
  EXPECT_EQ(percent_decode("%zz", false), std::nullopt);
  EXPECT_EQ(percent_decode("%2g", false), std::nullopt);
  EXPECT_EQ(percent_decode("%%41", false), std::nullopt);
}

TEST(PercentDecode, DecodesNulByte) {
  const auto decoded = percent_decode("a%00b", false);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, std::string("a\0b", 3));
}

// ---------------------------------------------------------------- parse_form

TEST(ParseForm, SplitsPairsAndDecodes) {
  const auto fields = parse_ok("sessionId=ATU1&phoneNumber=%2B254700000001&text=1*2+3");
  ASSERT_EQ(fields.size(), 3U);
  EXPECT_EQ(fields[0].name, "sessionId");
  EXPECT_EQ(fields[0].value, "ATU1");
  EXPECT_EQ(fields[1].value, "+254700000001");
  EXPECT_EQ(fields[2].value, "1*2 3");
}

TEST(ParseForm, KeepsRepeatedNamesInOrder) {
  const auto fields = parse_ok("a=1&b=2&a=3");
  ASSERT_EQ(fields.size(), 3U);
  EXPECT_EQ(fields[0].name, "a");
  EXPECT_EQ(fields[0].value, "1");
  EXPECT_EQ(fields[2].name, "a");
  EXPECT_EQ(fields[2].value, "3");
  ASSERT_NE(find_field(fields, "a"), nullptr);
  EXPECT_EQ(*find_field(fields, "a"), "1");
  EXPECT_EQ(find_field(fields, "missing"), nullptr);
}

TEST(ParseForm, EmptyBodyAndEmptyPairs) {
  EXPECT_TRUE(parse_ok("").empty());
  EXPECT_TRUE(parse_ok("&&&").empty());
  const auto fields = parse_ok("&a=1&&b=2&");
  ASSERT_EQ(fields.size(), 2U);
  EXPECT_EQ(fields[1].name, "b");
}

TEST(ParseForm, KeyWithoutEqualsHasEmptyValue) {
  const auto fields = parse_ok("flag&text=&x=a=b");
  ASSERT_EQ(fields.size(), 3U);
  EXPECT_EQ(fields[0].name, "flag");
  EXPECT_EQ(fields[0].value, "");
  EXPECT_EQ(fields[1].name, "text");
  EXPECT_EQ(fields[1].value, "");
  EXPECT_EQ(fields[2].value, "a=b");  // only the first '=' splits
}

TEST(ParseForm, PlusIsSpaceInNamesAndValues) {
  const auto fields = parse_ok("first+name=Ali+Khan");
  ASSERT_EQ(fields.size(), 1U);
  EXPECT_EQ(fields[0].name, "first name");
  EXPECT_EQ(fields[0].value, "Ali Khan");
}

TEST(ParseForm, MalformedEscapeNamesTheFieldNotTheValue) {
  const auto result = parse_form("from=%2B923001234567&text=secret%zzmessage");
  const auto* err = std::get_if<FormParseError>(&result);
  ASSERT_NE(err, nullptr);
  EXPECT_EQ(err->reason, "malformed percent-encoding in field 'text'");
  EXPECT_EQ(err->reason.find("secret"), std::string::npos);
  EXPECT_EQ(err->reason.find("923001234567"), std::string::npos);
}

TEST(ParseForm, MalformedEscapeInNameIsRejectedWithoutEchoingIt) {
  const auto result = parse_form("te%xt=1");
  const auto* err = std::get_if<FormParseError>(&result);
  ASSERT_NE(err, nullptr);
  EXPECT_EQ(err->reason.find("te%xt"), std::string::npos);
}

// ---------------------------------------------------------------- UTF-8

TEST(Utf8, AcceptsValidText) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("مدد"));               // Urdu: "help"
  EXPECT_TRUE(is_valid_utf8("\xE2\x82\xAC"));      // U+20AC
  EXPECT_TRUE(is_valid_utf8("\xF0\x9F\x98\x80"));  // U+1F600
  EXPECT_TRUE(is_valid_utf8("\xED\x9F\xBF"));      // U+D7FF, just below the surrogates
  EXPECT_TRUE(is_valid_utf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF
}

TEST(Utf8, RejectsOverlongs) {
  EXPECT_FALSE(is_valid_utf8("\xC0\x80"));
  EXPECT_FALSE(is_valid_utf8("\xC1\xBF"));
  EXPECT_FALSE(is_valid_utf8("\xE0\x80\xAF"));
  EXPECT_FALSE(is_valid_utf8("\xF0\x80\x80\xAF"));
}

TEST(Utf8, RejectsSurrogatesAndOutOfRange) {
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // U+D800
  EXPECT_FALSE(is_valid_utf8("\xED\xBF\xBF"));      // U+DFFF
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // U+110000
  EXPECT_FALSE(is_valid_utf8("\xF5\x80\x80\x80"));
  EXPECT_FALSE(is_valid_utf8("\xFF"));
}

TEST(Utf8, RejectsTruncatedAndStrayBytes) {
  EXPECT_FALSE(is_valid_utf8("\xD9"));
  EXPECT_FALSE(is_valid_utf8("ok\xE2\x82"));
  EXPECT_FALSE(is_valid_utf8("\xF0\x9F\x98"));
  EXPECT_FALSE(is_valid_utf8("\x80"));
  EXPECT_FALSE(is_valid_utf8("\xE2\x28\xA1"));  // bad continuation
}

// ---------------------------------------------------------------- form_encode

TEST(FormEncode, EncodesAllButUnreserved) {
  EXPECT_EQ(form_encode({{"a b", "x+y&z=1"}, {"safe", "AZaz09-._~"}}),
            "a%20b=x%2By%26z%3D1&safe=AZaz09-._~");
  EXPECT_EQ(form_encode({}), "");
  EXPECT_EQ(form_encode({{"text", ""}}), "text=");
}

TEST(FormEncode, RoundTripsThroughParseForm) {
  const std::vector<FormField> original = {{"sessionId", "SIM01"},
                                           {"phoneNumber", "+923001234567"},
                                           {"text", "1*2*مدد & more=%"},
                                           {"text", ""},
                                           {"bytes", std::string("\x00\xFF\x7F", 3)}};
  const auto decoded = parse_ok(form_encode(original));
  ASSERT_EQ(decoded.size(), original.size());
  for (std::size_t i = 0; i < original.size(); ++i) {
    EXPECT_EQ(decoded[i].name, original[i].name);
    EXPECT_EQ(decoded[i].value, original[i].value);
  }
}

// ---------------------------------------------------------------- digests

TEST(Crypto, HmacSha256Rfc4231) {
  // Test case 1
  EXPECT_EQ(hmac_sha256_hex(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // Test case 2
  EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(hmac_sha256_base64("Jefe", "what do ya want for nothing?"),
            "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
}

TEST(Crypto, HmacSha1Rfc2202) {
  // Test case 1: digest b617318655057264e28bc0b6fb378c8ef146be00, base64-encoded.
  EXPECT_EQ(hmac_sha1_base64(std::string(20, '\x0b'), "Hi There"), "thcxhlUFcmTii8C2+zeMjvFGvgA=");
}

TEST(Crypto, HmacSha1TwilioVector) {
  const std::string data = std::string("https://mycompany.com/myapp.php?foo=1&bar=2") + "CallSid" +
                           "CA1234567890ABCDE" + "Caller+14158675309Digits1234From+14158675309" +
                           "To+18005551212";
  EXPECT_EQ(hmac_sha1_base64("12345", data), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
}

TEST(Crypto, EmptyKeyAndMessage) {
  EXPECT_EQ(hmac_sha256_hex("", ""),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(Crypto, Sha256AndBase64) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

TEST(Crypto, ConstantTimeEqual) {
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
  EXPECT_FALSE(constant_time_equal("", "a"));
  EXPECT_FALSE(constant_time_equal("a", ""));
}

// ---------------------------------------------------------------- MSISDN

TEST(NormaliseMsisdn, Spellings) {
  EXPECT_EQ(normalise_msisdn("+92 300 1234567"), "+923001234567");
  EXPECT_EQ(normalise_msisdn("00923001234567"), "+923001234567");
  EXPECT_EQ(normalise_msisdn("0092 300-1234567"), "+923001234567");
  EXPECT_EQ(normalise_msisdn("03001234567"), "+923001234567");
  EXPECT_EQ(normalise_msisdn("0300-1234567"), "+923001234567");
  EXPECT_EQ(normalise_msisdn("(0300) 123 4567"), "+923001234567");
  EXPECT_EQ(normalise_msisdn("+254700000001"), "+254700000001");
  EXPECT_EQ(normalise_msisdn("+254 (700) 000-001"), "+254700000001");
}

TEST(NormaliseMsisdn, OtherShapesBecomeE164OrAreRefused) {
  // SAFETY W1: every accepted shape comes out as E.164 with '+'; nothing keeps a second form.
  EXPECT_EQ(normalise_msisdn("254700000001"), "+254700000001");  // international without '+'
  EXPECT_EQ(normalise_msisdn("0300123456"), "+92300123456");     // 9-digit national (landline)
  EXPECT_EQ(normalise_msisdn("0300.1234567"), "+923001234567");  // dots as separators
  EXPECT_EQ(normalise_msisdn("+9230012345678"), "");             // +92 with 11 national digits
  EXPECT_EQ(normalise_msisdn("030012345678"), "");  // one digit too many for a national number
}

TEST(NormaliseMsisdn, RejectsGarbage) {
  EXPECT_EQ(normalise_msisdn(""), "");
  EXPECT_EQ(normalise_msisdn("   "), "");
  EXPECT_EQ(normalise_msisdn("+"), "");
  EXPECT_EQ(normalise_msisdn("00"), "");
  EXPECT_EQ(normalise_msisdn("MTN"), "");
  EXPECT_EQ(normalise_msisdn("+92abc300"), "");
  EXPECT_EQ(normalise_msisdn("92+300"), "");
  EXPECT_EQ(normalise_msisdn("++92300"), "");
  EXPECT_EQ(normalise_msisdn("8001"), "");  // a short code
}

// ---------------------------------------------------------------- Pseudonymizer

TEST(Pseudonymizer, SameNumberDifferentSpellingsSamePseudonym) {
  const Pseudonymizer p(kKeyA);
  const std::string expected = p.pseudonym("+923001234567");
  EXPECT_EQ(expected.size(), 64U);
  EXPECT_EQ(expected.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(p.pseudonym("+92 300 1234567"), expected);
  EXPECT_EQ(p.pseudonym("00923001234567"), expected);
  EXPECT_EQ(p.pseudonym("03001234567"), expected);
  EXPECT_EQ(expected, hmac_sha256_hex(kKeyA, "+923001234567"));
  EXPECT_NE(p.pseudonym("+923001234568"), expected);
}

TEST(Pseudonymizer, DifferentKeysDiffer) {
  EXPECT_NE(Pseudonymizer(kKeyA).pseudonym("+254700000001"),
            Pseudonymizer(kKeyB).pseudonym("+254700000001"));
}

TEST(Pseudonymizer, NonNumbersStayDistinct) {
  const Pseudonymizer p(kKeyA);
  EXPECT_NE(p.pseudonym("MTN"), p.pseudonym("Safaricom"));
  EXPECT_EQ(p.pseudonym("MTN"), p.pseudonym("MTN"));
}

TEST(Pseudonymizer, ShortKeyThrowsWithoutTheKey) {
  const std::string short_key = "short-secret-key";
  try {
    const Pseudonymizer p(short_key);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).find(short_key), std::string::npos);
  }
  EXPECT_THROW(Pseudonymizer(std::string(31, 'k')), std::invalid_argument);
  EXPECT_NO_THROW(Pseudonymizer(std::string(32, 'k')));
}

TEST(Pseudonymizer, PseudonymDoesNotContainTheNumber) {
  const Pseudonymizer p(kKeyA);
  for (const std::string number : {"+923001234567", "+254700000001", "+14158675309"}) {
    const std::string pseudo = p.pseudonym(number);
    const std::string digits = number.substr(1);
    EXPECT_EQ(pseudo.find(digits), std::string::npos) << pseudo;
    // Not even the subscriber part (last 7 digits).
    EXPECT_EQ(pseudo.find(digits.substr(digits.size() - 7)), std::string::npos) << pseudo;
  }
}

TEST(PseudonymizerKey, FromEnvRawAndHex) {
  const char* var = "RABTA_TEST_PSEUDONYM_KEY";
  {
    const std::string raw(40, 'r');
    const EnvGuard env(var, raw.c_str());
    EXPECT_EQ(Pseudonymizer::load_key("/nonexistent/key", var), raw);
  }
  {
    const std::string hex(64, 'a');  // 32 bytes of 0xaa
    const EnvGuard env(var, hex.c_str());
    EXPECT_EQ(Pseudonymizer::load_key("/nonexistent/key", var), std::string(32, '\xaa'));
  }
  {
    const std::string secret = "too-short-secret";
    const EnvGuard env(var, secret.c_str());
    try {
      (void)Pseudonymizer::load_key("/nonexistent/key", var);
      FAIL() << "expected std::runtime_error";
    } catch (const std::runtime_error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("shorter than 32 bytes"), std::string::npos) << msg;
      EXPECT_NE(msg.find(var), std::string::npos) << msg;
      EXPECT_EQ(msg.find(secret), std::string::npos) << msg;
    }
  }
}

TEST(PseudonymizerKey, EmptyEnvFallsBackToFile) {
  const TempDir dir;
  const auto path = dir / "key";
  write_file(path, std::string(32, 'f') + "\n");
  const char* var = "RABTA_TEST_PSEUDONYM_KEY";
  const EnvGuard env(var, "");
  EXPECT_EQ(Pseudonymizer::load_key(path.string(), var), std::string(32, 'f'));
  EXPECT_EQ(Pseudonymizer::load_key(path.string(), nullptr), std::string(32, 'f'));
}

TEST(PseudonymizerKey, FromFileRawHexAndErrors) {
  const TempDir dir;
  const auto raw_path = dir / "raw";
  write_file(raw_path, std::string(33, 'z') + "\n");
  EXPECT_EQ(Pseudonymizer::load_key(raw_path.string(), nullptr), std::string(33, 'z'));

  const auto hex_path = dir / "hex";
  write_file(hex_path, std::string(64, '0') + "\r\n");
  EXPECT_EQ(Pseudonymizer::load_key(hex_path.string(), nullptr), std::string(32, '\0'));

  const auto missing = dir / "missing";
  try {
    (void)Pseudonymizer::load_key(missing.string(), nullptr);
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(missing.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
  }

  const auto short_path = dir / "short";
  const std::string secret = "short-file-secret";
  write_file(short_path, secret + "\n");
  try {
    (void)Pseudonymizer::load_key(short_path.string(), nullptr);
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(short_path.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("shorter than 32 bytes"), std::string::npos) << msg;
    EXPECT_EQ(msg.find(secret), std::string::npos) << msg;
  }
}

// SECURITY #11: a key file that group or others may read is refused with its path, its mode and
// the fix, whatever the key in it; the key never appears in the message.
TEST(PseudonymizerKey, AKeyFileOthersMayReadIsRefused) {
  const TempDir dir;
  const auto path = dir / "pseudonym.key";
  const std::string secret(40, 'q');
  write_file(path, secret + "\n");
  for (const auto extra : {fs::perms::group_read, fs::perms::others_read, fs::perms::group_write}) {
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write | extra);
    try {
      (void)Pseudonymizer::load_key(path.string(), nullptr);
      FAIL() << "expected a refusal";
    } catch (const std::runtime_error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
      EXPECT_NE(msg.find("chmod 600"), std::string::npos) << msg;
      EXPECT_EQ(msg.find(secret), std::string::npos) << msg;
    }
  }
  fs::permissions(path, fs::perms::owner_read);
  EXPECT_EQ(Pseudonymizer::load_key(path.string(), nullptr), secret);
}

TEST(PseudonymizerKey, CreateKeyFileIsPrivateAndNotOverwritten) {
  const TempDir dir;
  const auto path = dir / "pseudonym.key";
  const mode_t old_umask = ::umask(0);  // a permissive umask must not widen the mode
  Pseudonymizer::create_key_file(path.string());
  ::umask(old_umask);

  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);

  const std::string key = Pseudonymizer::load_key(path.string(), nullptr);
  EXPECT_EQ(key.size(), 32U);
  EXPECT_NO_THROW(Pseudonymizer{key});

  EXPECT_THROW(Pseudonymizer::create_key_file(path.string()), std::runtime_error);
  EXPECT_EQ(Pseudonymizer::load_key(path.string(), nullptr), key);  // untouched

  // Two generated keys differ (RAND_bytes, not a fixed seed).
  const auto other = dir / "other.key";
  Pseudonymizer::create_key_file(other.string());
  EXPECT_NE(Pseudonymizer::load_key(other.string(), nullptr), key);
}

}  // namespace
}  // namespace rabta::common
