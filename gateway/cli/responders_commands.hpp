// `rabta responders ...` and `rabta audit ...`.
#pragma once

#include <iosfwd>
#include <string>

namespace rabta::gateway {

// The operator's commands on caseworkers' access. Each syncs the roster ([responders] file of the
// config) first. 0 = done, 1 = no such active member, 2 = bad arguments, config, roster or
// database.
// `rabta responders token NAME [--days N]`: issues a fresh random API token, "<id>.<64 hex>",
// valid for N days (default 90, at most 365), and prints it once; only its SHA-256 is stored and
// it replaces any earlier token. Audited as responder.token_issued.
int responders_token(const std::string& config_path, const std::string& name, int days,
                     std::ostream& out, std::ostream& err);
// `rabta responders revoke NAME`: her token stops working now (responder.token_revoked).
int responders_revoke(const std::string& config_path, const std::string& name, std::ostream& out,
                      std::ostream& err);
// `rabta responders tokens`: every member with her token's state (valid, expired, removed,
// none), when it was issued and until when it is valid; never a secret or a hash.
int responders_tokens(const std::string& config_path, std::ostream& out, std::ostream& err);
// `rabta responders pin NAME`: sets her SMS PIN (4 to 8 digits, read from `in`), or clears it.
int responders_pin(const std::string& config_path, const std::string& name, bool clear,
                   std::istream& in, std::ostream& out, std::ostream& err);

// `rabta audit verify [--head ROW:MAC]`: walks the MAC chain (SECURITY #11). 0 "audit chain ok:
// N rows"; 1 names the first broken row, or a kept head that is gone or changed; 2 = bad config,
// keys or database.
int audit_verify(const std::string& config_path, const std::string& head, std::ostream& out,
                 std::ostream& err);
// `rabta audit head`: prints "ROW:MAC" of the last row, for the operator to keep elsewhere.
int audit_head(const std::string& config_path, std::ostream& out, std::ostream& err);

}  // namespace rabta::gateway
