// Caseworkers' API tokens and the brake on guessing them (SECURITY #11 "Tokens"). Pure: no I/O,
// time comes from the caller.
//
// A token is "<responder id>.<64 lowercase hex>" (256 random bits). The database keeps the
// SHA-256 hex of the whole token, its issue time and its expiry; a request is checked by loading
// the responder the token names and comparing hashes in constant time, so nothing is looked up by
// a secret. A token issued before schema 7 is 64 hex alone and is still found by its hash until
// it expires (30 days after the upgrade).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

namespace rabta::gateway {

struct PresentedToken {
  std::int64_t responder_id = 0;  // 0: a token from before schema 7, found by its hash
  std::string hash;               // SHA-256 hex of the whole token
};

// nullopt when the text cannot be a token of either form (it is then an unknown token).
std::optional<PresentedToken> parse_api_token(std::string_view token);

// "<id>.<hex of secret>"; secret is 32 random bytes.
std::string format_api_token(std::int64_t responder_id, std::span<const unsigned char> secret);

// The days a token may be issued for.
inline constexpr int kDefaultTokenDays = 90;
inline constexpr int kMaxTokenDays = 365;

// Why a presented token did not sign anyone in, as audited (`sign_in_failed reason=...`).
enum class SignInFailure { unknown, wrong, expired, inactive };
const char* to_string(SignInFailure f);

// The address failed sign-ins are counted under: an IPv6 client by its /64 (one host can hold a
// whole /64), anything else as it is.
std::string sign_in_key(const std::string& address);

// Failed sign-ins per client address: after kMaxFailures within kWindowMs, every request from
// that address is refused (429 with Retry-After) for kLockMs without looking at its token, so
// guessing costs time and the audit log is not flooded. Bounded: at most kMaxAddresses are
// remembered; when full, the entries whose window and lock are over go first, then the oldest.
// Thread-safe (HTTP threads check, the store's thread records).
class SignInLimiter {
 public:
  static constexpr int kMaxFailures = 10;
  static constexpr std::int64_t kWindowMs = 15 * 60 * 1000;
  static constexpr std::int64_t kLockMs = 15 * 60 * 1000;
  static constexpr std::size_t kMaxAddresses = 4096;

  // The milliseconds left of the address's lock, or nullopt when it may sign in.
  std::optional<std::int64_t> locked_for(const std::string& address, std::int64_t now) const;
  // Counts one failure; true when it is the one that starts the lock.
  bool record_failure(const std::string& address, std::int64_t now);
  std::size_t size() const;

 private:
  struct Entry {
    std::int64_t window_start = 0;
    int failures = 0;
    std::int64_t locked_until = 0;
    std::int64_t last = 0;
  };
  void make_room(std::int64_t now);

  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace rabta::gateway
