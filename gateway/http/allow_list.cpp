#include "gateway/http/allow_list.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

namespace rabta::gateway {

namespace {

// The address as 4 (IPv4, mapped IPv6 included) or 16 bytes; false when it is not an address.
bool to_bytes(std::string_view text, bool& v6, std::array<std::uint8_t, 16>& out) {
  const std::string s(text);
  out.fill(0);
  if (inet_pton(AF_INET, s.c_str(), out.data()) == 1) {
    v6 = false;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), out.data()) != 1) return false;
  static constexpr std::array<std::uint8_t, 12> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(mapped.begin(), mapped.end(), out.begin())) {
    std::copy(out.begin() + 12, out.end(), out.begin());
    std::fill(out.begin() + 4, out.end(), 0);
    v6 = false;
    return true;
  }
  v6 = true;
  return true;
}

}  // namespace

std::optional<AllowList> AllowList::parse(const std::vector<std::string>& entries,
                                          std::string& error) {
  AllowList list;
  for (const auto& entry : entries) {
    const auto slash = entry.find('/');
    Block b;
    if (!to_bytes(std::string_view(entry).substr(0, slash), b.v6, b.bytes)) {
      error = "'" + entry + "' is not an IP address or CIDR block";
      return std::nullopt;
    }
    const int max = b.v6 ? 128 : 32;
    b.prefix = max;
    if (slash != std::string::npos) {
      const std::string bits = entry.substr(slash + 1);
      if (bits.empty() || bits.size() > 3 ||
          bits.find_first_not_of("0123456789") != std::string::npos || std::stoi(bits) > max) {
        error = "'" + entry + "': the prefix length must be 0 to " + std::to_string(max);
        return std::nullopt;
      }
      b.prefix = std::stoi(bits);
    }
    list.blocks_.push_back(b);
  }
  return list;
}

bool AllowList::allows(std::string_view peer) const {
  if (blocks_.empty()) return true;
  bool v6 = false;
  std::array<std::uint8_t, 16> addr{};
  if (!to_bytes(peer, v6, addr)) return false;
  for (const auto& b : blocks_) {
    if (b.v6 != v6) continue;
    int bits = b.prefix;
    bool match = true;
    for (std::size_t i = 0; bits > 0 && match; ++i, bits -= 8) {
      const int take = bits >= 8 ? 8 : bits;
      const auto mask = static_cast<std::uint8_t>(0xff << (8 - take));
      match = (addr[i] & mask) == (b.bytes[i] & mask);
    }
    if (match) return true;
  }
  return false;
}

bool is_ip_address(std::string_view text) {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};
  return !text.empty() && text.size() < 64 && to_bytes(text, v6, bytes);
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    const auto at = s.find(sep);
    out.push_back(trim(s.substr(0, at)));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + 1);
  }
}

// An address as a hop wrote it: "192.0.2.1", "192.0.2.1:4711", "[2001:db8::1]:4711",
// "2001:db8::1", with quotes in Forwarded. "" when it is no address.
std::string hop_address(std::string_view v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  if (!v.empty() && v.front() == '[') {
    const auto close = v.find(']');
    if (close == std::string_view::npos) return {};
    const auto rest = v.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return {};
    v = v.substr(1, close - 1);
  } else if (std::count(v.begin(), v.end(), ':') == 1) {
    v = v.substr(0, v.find(':'));  // IPv4 with a port
  }
  return is_ip_address(v) ? std::string(v) : std::string();
}

// The "for=" of each element of a Forwarded value, nearest hop last; "" for an element without
// a usable one.
std::vector<std::string> forwarded_for(std::string_view value) {
  std::vector<std::string> out;
  for (const auto element : split(value, ',')) {
    std::string found;
    for (const auto pair : split(element, ';')) {
      const auto eq = pair.find('=');
      if (eq == std::string_view::npos) continue;
      std::string name(trim(pair.substr(0, eq)));
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (name == "for") found = hop_address(trim(pair.substr(eq + 1)));
    }
    out.push_back(found);
  }
  return out;
}

}  // namespace

std::string client_address(std::string_view peer, const AllowList& trusted_proxies,
                           std::string_view forwarded, std::string_view x_forwarded_for) {
  if (trusted_proxies.empty() || !trusted_proxies.allows(peer)) return std::string(peer);
  std::vector<std::string> hops;
  if (!trim(forwarded).empty()) {
    hops = forwarded_for(forwarded);
  } else if (!trim(x_forwarded_for).empty()) {
    for (const auto h : split(x_forwarded_for, ',')) hops.push_back(hop_address(h));
  }
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    if (it->empty()) return {};
    if (!trusted_proxies.allows(*it)) return *it;
  }
  // Every hop is a trusted proxy: the first one is where the request started.
  return hops.empty() ? std::string() : hops.front();
}

}  // namespace rabta::gateway
