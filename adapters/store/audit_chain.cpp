#include "adapters/store/audit_chain.hpp"

#include "adapters/common/crypto.hpp"

namespace rabta::store {
namespace {

void field(std::string& out, std::string_view v) {
  out += std::to_string(v.size());
  out += ':';
  out += v;
  out += ',';
}

}  // namespace

std::string audit_mac(std::string_view key, const AuditRecord& a) {
  std::string input;
  input.reserve(a.prev_hash.size() + a.actor.size() + a.action.size() + a.case_reference.size() +
                a.detail.size() + 96);
  field(input, "rabta-audit-v1");
  field(input, std::to_string(a.id));
  field(input, std::to_string(a.at));
  field(input, a.actor);
  field(input, a.action);
  field(input, a.case_reference);
  field(input, a.detail);
  field(input, a.prev_hash);
  return std::string(kAuditMacPrefix) + common::hmac_sha256_hex(key, input);
}

std::string legacy_audit_hash(const AuditRecord& a) {
  return common::sha256_hex(a.prev_hash + "|" + std::to_string(a.at) + "|" + a.actor + "|" +
                            a.action + "|" + a.case_reference + "|" + a.detail);
}

void audit_check_next(std::string_view key, const AuditRecord& row, AuditCheck& state) {
  if (state.broken_at) return;
  const auto broken = [&](std::string reason) {
    state.broken_at = row.id;
    state.reason = std::move(reason);
  };
  if (row.id != state.last_id + 1) {
    broken(state.last_id == 0 ? "the log does not start at row 1"
                              : "rows " + std::to_string(state.last_id + 1) + " to " +
                                    std::to_string(row.id - 1) + " are missing");
    return;
  }
  if (row.prev_hash != state.last_mac) {
    broken("it does not follow the row before it");
    return;
  }
  if (!common::constant_time_equal(audit_mac(key, row), row.hash)) {
    broken("its content does not match its MAC");
    return;
  }
  ++state.rows;
  state.last_id = row.id;
  state.last_mac = row.hash;
}

}  // namespace rabta::store
