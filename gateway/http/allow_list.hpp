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

// The client's address behind trusted proxies ([server] trusted_proxies, SECURITY #11). Only when
// the connection comes from a trusted proxy are `Forwarded` (RFC 7239, preferred) or else
// `X-Forwarded-For` read: walking from the nearest hop back, trusted proxies are skipped and the
// first other address is the client. `peer` is returned as it is when it is not a trusted proxy
// (or no proxy is trusted). "" (no address: every allow-list with entries refuses it, /metrics
// too) when a trusted proxy sent no usable address: a hop that is not an IP address
// ("unknown", "_hidden", garbage) is never skipped over, since anything before it could be forged.
// `forwarded` and `x_forwarded_for` are every such header's values, in order, joined by ",".
std::string client_address(std::string_view peer, const AllowList& trusted_proxies,
                           std::string_view forwarded, std::string_view x_forwarded_for);

// Whether `text` is an IPv4 or IPv6 address.
bool is_ip_address(std::string_view text);

}  // namespace rabta::gateway
