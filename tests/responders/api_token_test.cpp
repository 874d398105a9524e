// The token format and the failed-sign-in brake, without HTTP or a database (SECURITY #11).
#include "gateway/responders/api_token.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>

#include "adapters/common/crypto.hpp"

namespace rabta::gateway {
namespace {

constexpr std::int64_t kMinute = 60 * 1000;

TEST(ApiToken, FormatsAndParsesBothForms) {
  std::array<unsigned char, 32> secret{};
  for (std::size_t i = 0; i < secret.size(); ++i) secret[i] = static_cast<unsigned char>(i * 9);
  const std::string token = format_api_token(42, secret);
  EXPECT_EQ(token.substr(0, 3), "42.");
  EXPECT_EQ(token.size(), 3u + 64u);
  const auto parsed = parse_api_token(token);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->responder_id, 42);
  EXPECT_EQ(parsed->hash, common::sha256_hex(token)) << "the hash covers the id too";

  const std::string legacy(64, 'f');
  const auto old = parse_api_token(legacy);
  ASSERT_TRUE(old.has_value());
  EXPECT_EQ(old->responder_id, 0);
  EXPECT_EQ(old->hash, common::sha256_hex(legacy));
}

TEST(ApiToken, AnythingElseIsNotAToken) {
  const std::string hex(64, 'a');
  for (const std::string& bad :
       {std::string(), std::string("token-alice"), std::string(63, 'a'), std::string(65, 'a'),
        std::string(64, 'A'), "." + hex, "0." + hex, "01." + hex, "-1." + hex, "1x." + hex,
        "1." + hex.substr(1), "1." + hex + "a", "1.." + hex, "1234567890123456789." + hex,
        "1." + std::string(63, 'a') + "g", "1." + hex + ".2"})
    EXPECT_FALSE(parse_api_token(bad).has_value()) << bad;
}

TEST(SignInKey, AnIpv6ClientCountsByItsSlash64) {
  EXPECT_EQ(sign_in_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), sign_in_key("2001:db8:1:2::1"));
  EXPECT_EQ(sign_in_key("2001:db8:1:2::1"), "2001:db8:1:2::/64");
  EXPECT_NE(sign_in_key("2001:db8:1:3::1"), sign_in_key("2001:db8:1:2::1"));
  EXPECT_EQ(sign_in_key("203.0.113.7"), "203.0.113.7");
  EXPECT_EQ(sign_in_key("::ffff:203.0.113.7"), "::ffff:203.0.113.7");
  EXPECT_EQ(sign_in_key("not an address"), "not an address");
}

TEST(SignInLimiter, TenFailuresInTheWindowLockForFifteenMinutes) {
  SignInLimiter l;
  std::int64_t now = 1'000'000;
  for (int i = 1; i < SignInLimiter::kMaxFailures; ++i) {
    EXPECT_FALSE(l.record_failure("a", now)) << i;
    EXPECT_FALSE(l.locked_for("a", now).has_value());
    now += kMinute;
  }
  EXPECT_TRUE(l.record_failure("a", now)) << "the tenth starts the lock";
  EXPECT_EQ(l.locked_for("a", now), SignInLimiter::kLockMs);
  EXPECT_FALSE(l.locked_for("b", now).has_value()) << "another address is not touched";
  EXPECT_FALSE(l.record_failure("a", now + 1)) << "a raced failure does not extend the lock";
  EXPECT_EQ(l.locked_for("a", now + 1), SignInLimiter::kLockMs - 1);
  EXPECT_FALSE(l.locked_for("a", now + SignInLimiter::kLockMs).has_value());
  // After the lock, counting starts again from nothing.
  now += SignInLimiter::kLockMs;
  for (int i = 1; i < SignInLimiter::kMaxFailures; ++i) EXPECT_FALSE(l.record_failure("a", now));
  EXPECT_TRUE(l.record_failure("a", now));
}

TEST(SignInLimiter, FailuresOlderThanTheWindowDoNotCount) {
  SignInLimiter l;
  std::int64_t now = 0;
  for (int i = 0; i < 100; ++i) {
    EXPECT_FALSE(l.record_failure("a", now)) << i;
    now += 2 * kMinute;  // 7 or 8 per window
  }
}

TEST(SignInLimiter, RemembersABoundedNumberOfAddressesAndKeepsTheLockedOnes) {
  SignInLimiter l;
  for (int i = 0; i < SignInLimiter::kMaxFailures; ++i) l.record_failure("locked", 0);
  ASSERT_TRUE(l.locked_for("locked", 1).has_value());
  // A flood of addresses, each failing once, never grows the map past its bound ...
  for (std::size_t i = 0; i < 3 * SignInLimiter::kMaxAddresses; ++i)
    l.record_failure("10.0." + std::to_string(i), static_cast<std::int64_t>(i));
  EXPECT_LE(l.size(), SignInLimiter::kMaxAddresses);
  // ... nor lifts the lock it was meant to push out ...
  EXPECT_TRUE(l.locked_for("locked", 3 * SignInLimiter::kMaxAddresses).has_value());
  // ... and once their windows are over, room is made from them.
  const std::int64_t later = SignInLimiter::kWindowMs + 3 * SignInLimiter::kMaxAddresses;
  for (int i = 0; i < SignInLimiter::kMaxFailures; ++i) l.record_failure("locked-2", later);
  EXPECT_TRUE(l.locked_for("locked-2", later).has_value());
  EXPECT_LE(l.size(), 2u);
}

}  // namespace
}  // namespace rabta::gateway
