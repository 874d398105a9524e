// An optional IP allow-list per aggregator route (SAFETY T1): `allow_from = ["196.201.214.0/24",
// "2001:db8::/32", "127.0.0.1"]` in [adapters.africastalking] or a [channels.X] table. A request
// from any other address gets 403 before anything is decoded or stored. Pure: no I/O.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rabta::gateway {

class AllowList {
 public:
  // Parses CIDR blocks ("a.b.c.d/n", "x:y::/n") or single addresses. nullopt and `error` set
  // (naming the entry) when one is not an address or its prefix length is out of range.
  static std::optional<AllowList> parse(const std::vector<std::string>& entries,
                                        std::string& error);

  // An empty list allows every address. `peer` is the connection's address as the HTTP server
  // reports it ("127.0.0.1", "::1"; an IPv4-mapped "::ffff:a.b.c.d" counts as IPv4).
  bool allows(std::string_view peer) const;
  bool empty() const { return blocks_.empty(); }

 private:
  struct Block {
    bool v6 = false;
    std::array<std::uint8_t, 16> bytes{};
    int prefix = 0;
  };
  std::vector<Block> blocks_;
};

}  // namespace rabta::gateway
