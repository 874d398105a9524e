#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <future>
#include <limits>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "adapters/common/cipher.hpp"
#include "adapters/common/crypto.hpp"
#include "adapters/store/audit_chain.hpp"
#include "adapters/store/queries.hpp"
#include "adapters/store/sql/tx.hpp"
#include "adapters/store/store.hpp"

namespace rabta::store::sql {

std::int64_t SqlTx::insert_case(const CaseRecord& c) {
  // The caller retries a duplicate reference in the same transaction, so the INSERT has a
  // savepoint of its own: PostgreSQL refuses every later statement of a transaction whose
  // statement failed, until it is rolled back to a savepoint before it.
  const auto step = [this](Sql id) { use(id)->exec(); };
  try {
    step(Sql::savepoint_insert_case);
    std::int64_t id = 0;
    {
      Stmt st = use(Sql::insert_case);
      st->bindNoCopy(1, c.reference);
      st->bind(2, c.contact_id);
      bind_session_id(*st, 3, c.session_id);
      st->bindNoCopy(4, c.flow);
      st->bindNoCopy(5, c.category);
      st->bindNoCopy(6, c.severity);
      st->bindNoCopy(7, c.status);
      st->bind(8, c.created_at);
      st->bindNoCopy(9, c.district);
      st->bindNoCopy(10, c.team);
      st->bind(11, c.rung);
      st->bind(12, c.next_alert_at);
      st->bind(13, c.acknowledged_at);
      st->bind(14, c.acknowledged_by);
      st->bind(15, c.claimed_by);
      st->bind(16, c.closed_at);
      st->bindNoCopy(17, c.outcome);
      st->bind(18, c.ack_due_at);
      st->bindNoCopy(19, c.pending_outcome);
      st->bind(20, c.pending_by);
      if (!st->executeStep()) throw std::runtime_error("store: insert_case: no row returned");
      id = st->getColumn(0).getInt64();
    }
    step(Sql::release_insert_case);
    return id;
  } catch (const Error& e) {
    try {
      step(Sql::rollback_to_insert_case);
      step(Sql::release_insert_case);
    } catch (const Error& again) {
      throw_with_context("insert_case (rollback)", again);
    }
    // reference is the only UNIQUE column of cases besides the id, which is never bound.
    if (e.kind == Error::Kind::unique) {
      throw DuplicateReference("store: insert_case: case reference exists already");
    }
    throw_with_context("insert_case", e);
  }
}

std::optional<CaseRecord> SqlTx::find_case(std::string_view reference) {
  return guarded("find_case", [&]() -> std::optional<CaseRecord> {
    const std::string ref(reference);
    Stmt st = use(writer_ ? Sql::find_case_locked : Sql::find_case);
    st->bindNoCopy(1, ref);
    if (!st->executeStep()) return std::nullopt;
    return case_from(st.get());
  });
}

std::vector<CaseRecord> SqlTx::cases_with_failing_alert(int limit) {
  return guarded("cases_with_failing_alert", [&] {
    std::vector<CaseRecord> out;
    if (limit <= 0) return out;
    // Open cases whose current rung's alert has failed at least once (a transport error, a
    // refusal, a dead letter, a failed delivery report) and has not been sent since.
    auto st = conn_.prepare("SELECT " + std::string(kCaseColumns) +
                            " FROM cases WHERE status = 'open' AND rung > 0 AND EXISTS "
                            "(SELECT 1 FROM outbox o WHERE o.dedupe_key = 'alert:' || "
                            "cases.reference || ':' || cases.rung AND ((o.status IN "
                            "('pending', 'dead', 'expired') AND o.last_error != '') OR "
                            "o.delivery_status IN ('failed', 'rejected', 'undelivered'))) "
                            "ORDER BY rung, id LIMIT ?1" +
                            // The writer then rewrites these: rows no other instance holds.
                            std::string(writer_ && conn_.dialect() == Dialect::postgres
                                            ? " FOR UPDATE OF cases SKIP LOCKED"
                                            : ""));
    st->bind(1, limit);
    while (st->executeStep()) out.push_back(case_from(*st));
    return out;
  });
}

int SqlTx::count_audit_since(std::string_view actor, std::string_view detail_prefix, Millis since) {
  return guarded("count_audit_since", [&] {
    auto st = conn_.prepare(
        "SELECT count(*) FROM audit WHERE actor = ?1 AND at >= ?2 AND "
        "substr(detail, 1, length(?3)) = ?3");
    st->bind(1, std::string(actor));
    st->bind(2, since);
    st->bind(3, std::string(detail_prefix));
    st->executeStep();
    return st->getColumn(0).getInt();
  });
}

void SqlTx::set_responder_pin(std::int64_t id, std::string_view pin_hash, Millis now) {
  guarded("set_responder_pin", [&] {
    auto st = conn_.prepare("UPDATE responders SET pin_hash = ?1, updated_at = ?2 WHERE id = ?3");
    st->bind(1, std::string(pin_hash));
    st->bind(2, now);
    st->bind(3, id);
    if (st->exec() == 0) throw std::runtime_error("store: set_responder_pin: no such responder");
  });
}

void SqlTx::set_responder_language(std::int64_t id, std::string_view language, Millis now) {
  guarded("set_responder_language", [&] {
    auto st = conn_.prepare("UPDATE responders SET language = ?1, updated_at = ?2 WHERE id = ?3");
    st->bind(1, std::string(language));
    st->bind(2, now);
    st->bind(3, id);
    if (st->exec() == 0)
      throw std::runtime_error("store: set_responder_language: no such responder");
  });
}

bool SqlTx::audit_has(std::string_view case_reference, std::string_view action,
                      std::string_view detail, Millis since) {
  return guarded("audit_has", [&] {
    auto st = conn_.prepare(
        "SELECT 1 FROM audit WHERE case_reference = ?1 AND action = ?2 AND "
        "detail = ?3 AND at >= ?4 LIMIT 1");
    st->bind(1, std::string(case_reference));
    st->bind(2, std::string(action));
    st->bind(3, std::string(detail));
    st->bind(4, since);
    return st->executeStep();
  });
}

std::vector<AuditRecord> SqlTx::list_case_audit(std::string_view case_reference, int limit) {
  return guarded("list_case_audit", [&] {
    if (case_reference.empty() || limit <= 0) return std::vector<AuditRecord>();
    // The newest rows of the steps a timeline shows (reads are audited too, every few seconds
    // while a case is open: they must not crowd out its later steps), in id order.
    auto st = conn_.prepare("SELECT " + std::string(kAuditColumns) +
                            " FROM audit WHERE case_reference = ?1 AND action IN ('case.route', "
                            "'case.alert', 'case.alert_failed', 'case.fallback', 'case.ack', "
                            "'case.claim', 'case.assign', 'case.note', 'case.close', "
                            "'case.approve', 'case.decline', 'case.reopen', 'case.refer') "
                            "ORDER BY id DESC LIMIT ?2");
    st->bind(1, std::string(case_reference));
    st->bind(2, limit);
    std::vector<AuditRecord> rows = all_rows(*st, audit_from);
    std::reverse(rows.begin(), rows.end());
    return rows;
  });
}

std::vector<OutboxRecord> SqlTx::list_case_outbox(std::string_view case_reference, int limit) {
  return guarded("list_case_outbox", [&] {
    if (case_reference.empty() || limit <= 0) return std::vector<OutboxRecord>();
    // The same condition as the partial index outbox_case_cause (schema 10), so it is used.
    auto st = conn_.prepare("SELECT " + std::string(kOutboxColumns) +
                            " FROM outbox WHERE cause = ?1 AND substr(cause, 1, 5) = 'case:' "
                            "ORDER BY id LIMIT ?2");
    st->bind(1, "case:" + std::string(case_reference));
    st->bind(2, limit);
    return all_rows(*st, outbox_from);
  });
}

std::vector<CaseRecord> SqlTx::list_contact_cases(std::int64_t contact_id, int limit) {
  return guarded("list_contact_cases", [&] {
    if (contact_id <= 0 || limit <= 0) return std::vector<CaseRecord>();
    auto st = conn_.prepare("SELECT " + std::string(kCaseColumns) +
                            " FROM cases WHERE contact_id = ?1 ORDER BY id DESC LIMIT ?2");
    st->bind(1, contact_id);
    st->bind(2, limit);
    return all_rows(*st, case_from);
  });
}

std::string SqlTx::session_channel(std::int64_t session_id) {
  return guarded("session_channel", [&]() -> std::string {
    if (session_id <= 0) return {};
    auto st = conn_.prepare("SELECT channel, provider FROM sessions WHERE id = ?1");
    st->bind(1, session_id);
    if (!st->executeStep()) return {};
    return st->getColumn(0).getString() + ":" + st->getColumn(1).getString();
  });
}

std::optional<CaseRecord> SqlTx::find_case_by_id(std::int64_t id) {
  return guarded("find_case_by_id", [&]() -> std::optional<CaseRecord> {
    Stmt st = use(writer_ ? Sql::find_case_by_id_locked : Sql::find_case_by_id);
    st->bind(1, id);
    if (!st->executeStep()) return std::nullopt;
    return case_from(st.get());
  });
}

void SqlTx::update_case(const CaseRecord& c) {
  guarded("update_case", [&] {
    Stmt st = use(Sql::update_case);
    st->bindNoCopy(1, c.status);
    st->bindNoCopy(2, c.district);
    st->bindNoCopy(3, c.team);
    st->bind(4, c.rung);
    st->bind(5, c.next_alert_at);
    st->bind(6, c.acknowledged_at);
    st->bind(7, c.acknowledged_by);
    st->bind(8, c.claimed_by);
    st->bind(9, c.closed_at);
    st->bindNoCopy(10, c.outcome);
    st->bind(11, c.id);
    st->bind(12, c.ack_due_at);
    st->bindNoCopy(13, c.pending_outcome);
    st->bind(14, c.pending_by);
    if (st->exec() == 0) throw std::runtime_error("store: update_case: no such case");
  });
}

std::vector<CaseRecord> SqlTx::list_cases(const CaseFilter& filter) {
  return guarded("list_cases", [&] {
    check_transaction();
    auto st = conn_.prepare(list_cases_text(filter));
    for (std::size_t i = 0; i < filter.teams.size(); ++i) {
      st->bindNoCopy(numbered(":t", i), filter.teams[i]);
    }
    if (!filter.status.empty()) st->bindNoCopy(":status", filter.status);
    if (!filter.severity.empty()) st->bindNoCopy(":severity", filter.severity);
    if (filter.after_id > 0) st->bind(":after", filter.after_id);
    if (!filter.reference.empty()) st->bindNoCopy(":reference", filter.reference);
    if (!filter.category.empty()) st->bindNoCopy(":category", filter.category);
    if (!filter.district.empty()) st->bindNoCopy(":district", filter.district);
    if (filter.claimed_by) st->bind(":claimed_by", *filter.claimed_by);
    if (filter.created_from > 0) st->bind(":created_from", filter.created_from);
    if (filter.created_to > 0) st->bind(":created_to", filter.created_to);
    if (filter.overdue_at > 0) st->bind(":overdue_at", filter.overdue_at);
    st->bind(":limit", std::clamp(filter.limit, 1, kListCasesMaxLimit));
    return all_rows(*st, case_from);
  });
}

std::vector<CaseRecord> SqlTx::cases_due_for_alert(Millis now, int limit) {
  return guarded("cases_due_for_alert", [&] {
    // SQLite would read a negative LIMIT as "no limit".
    if (limit <= 0) return std::vector<CaseRecord>();
    Stmt st = use(writer_ ? Sql::cases_due_for_alert_locked : Sql::cases_due_for_alert);
    st->bind(1, now);
    st->bind(2, limit);
    return all_rows(*st, case_from);
  });
}

std::vector<CaseRecord> SqlTx::cases_to_route(int limit) {
  return guarded("cases_to_route", [&] {
    if (limit <= 0) return std::vector<CaseRecord>();
    Stmt st = use(Sql::cases_to_route);
    st->bind(1, limit);
    return all_rows(*st, case_from);
  });
}

std::int64_t SqlTx::upsert_responder(const ResponderRecord& r) {
  return guarded("upsert_responder", [&] {
    Stmt st = use(Sql::upsert_responder);
    st->bindNoCopy(1, r.name);
    st->bindNoCopy(2, r.team);
    st->bindNoCopy(3, r.role);
    st->bind(4, r.can_export ? 1 : 0);
    st->bindNoCopy(5, r.phone_pseudonym);
    bind_blob(*st, 6, r.phone_enc);
    st->bind(7, r.active ? 1 : 0);
    st->bind(8, r.updated_at);
    if (!st->executeStep()) throw std::runtime_error("store: upsert_responder: no row returned");
    return st->getColumn(0).getInt64();
  });
}

void SqlTx::deactivate_responders_except(const std::vector<std::string>& names, Millis now) {
  guarded("deactivate_responders_except", [&] {
    check_transaction();
    auto st = conn_.prepare(deactivate_responders_text(names.size()));
    st->bind(":now", now);
    for (std::size_t i = 0; i < names.size(); ++i) st->bindNoCopy(numbered(":n", i), names[i]);
    st->exec();
  });
}

std::vector<ResponderRecord> SqlTx::list_responders() {
  return guarded("list_responders", [&] {
    Stmt st = use(Sql::list_responders);
    return all_rows(*st, responder_from);
  });
}

std::optional<ResponderRecord> SqlTx::find_responder_by_token(std::string_view token_hash) {
  if (token_hash.empty()) return std::nullopt;  // "" means "no API access", never a match
  return guarded("find_responder_by_token", [&]() -> std::optional<ResponderRecord> {
    const std::string hash(token_hash);
    Stmt st = use(Sql::find_responder_by_token);
    st->bindNoCopy(1, hash);
    if (!st->executeStep()) return std::nullopt;
    return responder_from(st.get());
  });
}

std::optional<ResponderRecord> SqlTx::find_responder_by_phone(std::string_view phone_pseudonym) {
  if (phone_pseudonym.empty()) return std::nullopt;
  return guarded("find_responder_by_phone", [&]() -> std::optional<ResponderRecord> {
    const std::string pseudonym(phone_pseudonym);
    Stmt st = use(Sql::find_responder_by_phone);
    st->bindNoCopy(1, pseudonym);
    if (!st->executeStep()) return std::nullopt;
    return responder_from(st.get());
  });
}

std::optional<ResponderRecord> SqlTx::find_responder(std::int64_t id) {
  return guarded("find_responder", [&]() -> std::optional<ResponderRecord> {
    Stmt st = use(Sql::find_responder);
    st->bind(1, id);
    if (!st->executeStep()) return std::nullopt;
    return responder_from(st.get());
  });
}

void SqlTx::set_responder_token(std::int64_t id, std::string_view token_hash, Millis now,
                                Millis expires_at) {
  guarded("set_responder_token", [&] {
    const std::string hash(token_hash);
    Stmt st = use(Sql::set_responder_token);
    st->bindNoCopy(1, hash);
    st->bind(2, hash.empty() ? Millis{0} : now);
    st->bind(3, hash.empty() ? Millis{0} : expires_at);
    st->bind(4, now);
    st->bind(5, id);
    if (st->exec() == 0) {
      throw std::runtime_error("store: set_responder_token: no such responder");
    }
  });
}

std::int64_t SqlTx::insert_note(const NoteRecord& n) {
  return guarded("insert_note", [&] {
    Stmt st = use(Sql::insert_note);
    st->bind(1, n.case_id);
    st->bind(2, n.responder_id);
    bind_blob(*st, 3, n.text_enc);
    st->bind(4, n.created_at);
    st->bindNoCopy(5, n.kind);
    if (!st->executeStep()) throw std::runtime_error("store: insert_note: no row returned");
    return st->getColumn(0).getInt64();
  });
}

std::vector<NoteRecord> SqlTx::list_notes(std::int64_t case_id) {
  return guarded("list_notes", [&] {
    Stmt st = use(Sql::list_notes);
    st->bind(1, case_id);
    return all_rows(*st, note_from);
  });
}

AuditRecord SqlTx::append_audit(Millis at, std::string_view actor, std::string_view action,
                                std::string_view case_reference, std::string_view detail) {
  return guarded("append_audit", [&] {
    if (audit_key_.empty())
      throw std::logic_error("store: the audit log needs its key (StoreOptions::audit_key)");
    AuditRecord a;
    a.at = at;
    a.actor = actor;
    a.action = action;
    a.case_reference = case_reference;
    a.detail = detail;
    a.id = 1;
    // Instances sharing one PostgreSQL database append in turn (one chain, no forks).
    conn_.lock_for_transaction(kAuditChainLock);
    {
      Stmt st = use(Sql::last_audit_hash);
      if (st->executeStep()) {
        a.id = st->getColumn(0).getInt64() + 1;
        a.prev_hash = st->getColumn(1).getString();
      }
    }
    a.hash = audit_mac(audit_key_, a);
    {
      Stmt st = use(Sql::insert_audit);
      st->bind(1, a.at);
      st->bindNoCopy(2, a.actor);
      st->bindNoCopy(3, a.action);
      st->bindNoCopy(4, a.case_reference);
      st->bindNoCopy(5, a.detail);
      st->bindNoCopy(6, a.prev_hash);
      st->bindNoCopy(7, a.hash);
      st->bind(8, a.id);
      st->exec();
    }
    return a;
  });
}

void SqlTx::reseal_audit_row(std::int64_t id, std::string_view prev_hash, std::string_view hash) {
  guarded("reseal_audit_row", [&] {
    auto st = conn_.prepare("UPDATE audit SET prev_hash = ?1, hash = ?2 WHERE id = ?3");
    st->bind(1, std::string(prev_hash));
    st->bind(2, std::string(hash));
    st->bind(3, id);
    st->exec();
  });
}

std::vector<AuditRecord> SqlTx::list_audit(std::int64_t after_id, int limit) {
  return guarded("list_audit", [&] {
    if (limit <= 0) return std::vector<AuditRecord>();
    Stmt st = use(Sql::list_audit);
    st->bind(1, after_id);
    st->bind(2, limit);
    return all_rows(*st, audit_from);
  });
}

}  // namespace rabta::store::sql
