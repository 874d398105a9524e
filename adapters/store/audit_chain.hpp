// The audit chain (SECURITY #11). Each row carries a MAC: HMAC-SHA256 under a key kept outside
// the database (derived from the pseudonym key, see gateway/ops/command_context.hpp) over the row's
// id, time, actor, action, case reference, detail and the previous row's MAC, each field
// length-prefixed so that no two different rows share an input. Row ids are contiguous from 1.
// Without the key nobody can recompute the chain after deleting, editing or reordering rows; a
// truncated tail is found against a head kept elsewhere (`rabta audit head`).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "adapters/store/records.hpp"

namespace rabta::store {

// Every keyed MAC starts with this; rows written before it carry the unkeyed hash of schema 3.
inline constexpr std::string_view kAuditMacPrefix = "k1:";

std::string audit_mac(std::string_view key, const AuditRecord& a);
// The unkeyed SHA-256 of schema 3 (prev|at|actor|action|reference|detail), to check an old chain
// once before it is sealed with the key.
std::string legacy_audit_hash(const AuditRecord& a);

// The outcome of checking rows in id order.
struct AuditCheck {
  std::int64_t rows = 0;
  std::int64_t last_id = 0;
  std::string last_mac;
  std::optional<std::int64_t> broken_at;  // the first row that does not follow
  std::string reason;                     // why, for the operator
};

// Checks one row after `state` (the rows before it); updates it. Pure: the caller pages rows.
void audit_check_next(std::string_view key, const AuditRecord& row, AuditCheck& state);

}  // namespace rabta::store
