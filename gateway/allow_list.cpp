#include "gateway/allow_list.hpp"

#include <arpa/inet.h>

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

}  // namespace rabta::gateway
