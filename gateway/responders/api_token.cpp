#include "gateway/responders/api_token.hpp"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <charconv>

#include "adapters/common/crypto.hpp"

namespace rabta::gateway {

namespace {

constexpr std::size_t kSecretHex = 64;

bool lower_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

std::optional<PresentedToken> parse_api_token(std::string_view token) {
  const std::size_t dot = token.find('.');
  if (dot == std::string_view::npos) {
    if (token.size() != kSecretHex || !lower_hex(token)) return std::nullopt;
    return PresentedToken{0, common::sha256_hex(token)};
  }
  const std::string_view id = token.substr(0, dot);
  const std::string_view secret = token.substr(dot + 1);
  if (id.empty() || id.size() > 18 || id.front() == '0' || secret.size() != kSecretHex ||
      !lower_hex(secret))
    return std::nullopt;
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), value);
  if (ec != std::errc() || end != id.data() + id.size() || value <= 0) return std::nullopt;
  return PresentedToken{value, common::sha256_hex(token)};
}

std::string format_api_token(std::int64_t responder_id, std::span<const unsigned char> secret) {
  return std::to_string(responder_id) + "." +
         common::hex_encode({reinterpret_cast<const char*>(secret.data()), secret.size()});
}

std::string sign_in_key(const std::string& address) {
  boost::system::error_code ec;
  const boost::asio::ip::address a = boost::asio::ip::make_address(address, ec);
  if (ec || !a.is_v6() || a.to_v6().is_v4_mapped()) return address;
  boost::asio::ip::address_v6::bytes_type bytes = a.to_v6().to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return boost::asio::ip::address_v6(bytes).to_string() + "/64";
}

const char* to_string(SignInFailure f) {
  switch (f) {
    case SignInFailure::unknown:
      return "unknown";
    case SignInFailure::wrong:
      return "wrong";
    case SignInFailure::expired:
      return "expired";
    case SignInFailure::inactive:
      return "inactive";
  }
  return "unknown";
}

std::optional<std::int64_t> SignInLimiter::locked_for(const std::string& address,
                                                      std::int64_t now) const {
  const std::lock_guard lock(mutex_);
  const auto it = entries_.find(address);
  if (it == entries_.end() || it->second.locked_until <= now) return std::nullopt;
  return it->second.locked_until - now;
}

bool SignInLimiter::record_failure(const std::string& address, std::int64_t now) {
  const std::lock_guard lock(mutex_);
  auto it = entries_.find(address);
  if (it == entries_.end()) {
    if (entries_.size() >= kMaxAddresses) make_room(now);
    it = entries_.emplace(address, Entry{now, 0, 0, now}).first;
  }
  Entry& e = it->second;
  if (e.locked_until > now) return false;  // already locked (a request that raced the lock)
  if (now - e.window_start >= kWindowMs) {
    e.window_start = now;
    e.failures = 0;
  }
  e.last = now;
  if (++e.failures < kMaxFailures) return false;
  e.locked_until = now + kLockMs;
  e.failures = 0;
  e.window_start = e.locked_until;
  return true;
}

std::size_t SignInLimiter::size() const {
  const std::lock_guard lock(mutex_);
  return entries_.size();
}

void SignInLimiter::make_room(std::int64_t now) {
  std::erase_if(entries_, [now](const auto& kv) {
    return kv.second.locked_until <= now && now - kv.second.window_start >= kWindowMs;
  });
  if (entries_.size() < kMaxAddresses) return;
  // Every remembered address is still counting or locked: forget the one that failed least
  // recently among those not locked (a flood of new addresses does not lift a lock), or else the
  // lock that ends first.
  auto victim = entries_.end();
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (victim == entries_.end()) {
      victim = it;
      continue;
    }
    const bool it_locked = it->second.locked_until > now;
    const bool victim_locked = victim->second.locked_until > now;
    if (it_locked != victim_locked) {
      if (!it_locked) victim = it;
    } else if (it_locked ? it->second.locked_until < victim->second.locked_until
                         : it->second.last < victim->second.last) {
      victim = it;
    }
  }
  entries_.erase(victim);
}

}  // namespace rabta::gateway
