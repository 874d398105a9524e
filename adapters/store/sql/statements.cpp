#include "adapters/store/sql/statements.hpp"

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
#include "adapters/store/store.hpp"

namespace rabta::store::sql {

std::string select(std::string_view columns, std::string_view rest) {
  std::string sql = "SELECT ";
  sql += columns;
  sql += " FROM ";
  sql += rest;
  return sql;
}

std::string returning(std::string_view head, std::string_view columns) {
  std::string sql(head);
  sql += " RETURNING ";
  sql += columns;
  return sql;
}

std::string kind_has_prefix(std::string_view param) {
  const std::string p(param);
  return "substr(kind, 1, length(" + p + ")) = " + p;
}

std::string sql_text(Sql id, Dialect dialect) {
  const bool pg = dialect == Dialect::postgres;
  // Rows that instances sharing a PostgreSQL database take for themselves: a row another
  // instance holds is stepped over (SKIP LOCKED), never taken twice. SQLite has one writer.
  const std::string skip_locked = pg ? " FOR UPDATE SKIP LOCKED" : "";
  // The writer's variants (statements.hpp): the row lock on PostgreSQL.
  const auto locked = [&](Sql writer, const char* lock) {
    return std::string(pg && id == writer ? lock : "");
  };
  switch (id) {
    case Sql::begin:
      return "BEGIN";
    case Sql::begin_read:
      // One snapshot for every query of a read (Store::read).
      return pg ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN";
    case Sql::begin_immediate:
      // PostgreSQL: READ COMMITTED, with row locks and advisory locks where instances meet.
      return pg ? "BEGIN" : "BEGIN IMMEDIATE";
    case Sql::commit:
      return "COMMIT";
    case Sql::rollback:
      return "ROLLBACK";
    case Sql::savepoint:
      return "SAVEPOINT j";
    case Sql::release:
      return "RELEASE j";
    case Sql::rollback_to:
      return "ROLLBACK TO j";
    case Sql::savepoint_insert_case:  // Tx::insert_case: a duplicate reference is retried
      return "SAVEPOINT insert_case";
    case Sql::release_insert_case:
      return "RELEASE insert_case";
    case Sql::rollback_to_insert_case:
      return "ROLLBACK TO insert_case";
    case Sql::find_contact:
      return select(kContactColumns, "contacts WHERE pseudonym = ?1");
    case Sql::insert_contact:
      // Two instances may take her first messages at once: the second finds the row the first
      // made (upsert_contact reads it) instead of failing on the duplicate key.
      return returning(
          "INSERT INTO contacts (pseudonym, created_at, updated_at) VALUES (?1, ?2, ?2) "
          "ON CONFLICT (pseudonym) DO NOTHING",
          kContactColumns);
    case Sql::set_contact_language:
      return "UPDATE contacts SET language = ?1, updated_at = ?2 WHERE id = ?3";
    case Sql::set_contact_quiet_until:
      return "UPDATE contacts SET quiet_until = ?1, updated_at = ?2 WHERE id = ?3";
    case Sql::find_session:
    case Sql::find_session_locked:
      return "SELECT id, provider, provider_session_id, contact_id, channel, state, "
             "last_input_path, last_reply, hop_count, status, end_reason, started_at, updated_at, "
             "ended_at FROM sessions WHERE provider = ?1 AND provider_session_id = ?2" +
             // The writer's lookup takes the session's row lock: hops of one session that reach
             // two instances apply one after the other (a phone sends the next hop only after the
             // reply, so they meet only for a duplicate, or a hop retried on another instance
             // while the first one's dying batch still holds the row). The wait is bounded by
             // the connection's lock_timeout (postgres/connection.cpp), then the hop gets a 503.
             locked(Sql::find_session_locked, " FOR UPDATE");
    case Sql::find_resumable_session:
      return "SELECT id, provider, provider_session_id, contact_id, channel, state, "
             "last_input_path, last_reply, hop_count, status, end_reason, started_at, updated_at, "
             "ended_at FROM sessions WHERE contact_id = ?1 AND channel = ?2 "
             "AND status IN ('active', 'incomplete') AND updated_at >= ?3 "
             "ORDER BY updated_at DESC, id DESC LIMIT 1";
    case Sql::next_session_id:
      // The writer holds the write lock (BEGIN IMMEDIATE): the id SQLite would pick itself, known
      // before the row is written so that its sealed columns go in with it (one write, not two).
      if (pg) return "SELECT nextval(pg_get_serial_sequence('sessions', 'id'))";
      return "SELECT COALESCE(MAX(id), 0) + 1 FROM sessions";
    case Sql::bind_answers_to_case:
      return "UPDATE answers SET case_id = ?2 WHERE session_id = ?1 AND case_id IS NULL";
    case Sql::bind_consents_to_case:
      return "UPDATE consents SET case_id = ?2 WHERE session_id = ?1 AND case_id IS NULL";
    // Retention (SAFETY D4), each in the order of its index so that LIMIT stops the read (#13):
    // a pass looks at a bounded number of rows per step however many the database keeps. INDEXED
    // BY: without statistics SQLite prefers an equality on status (every closed case, every sent
    // message) to these ranges; with it, a schema without the index fails to prepare.
    case Sql::purge_closed_cases:
      return "SELECT id FROM cases INDEXED BY cases_closed_at WHERE status = 'closed' AND "
             "closed_at > 0 AND closed_at < ?1 "
             "ORDER BY closed_at, id LIMIT ?2";
    case Sql::purge_ended_sessions:
      // Sessions after the cursor in id order (by the primary key: many may share one updated_at,
      // as those one idle sweep ended); whether each must stay (a case came of it, or answers
      // tied to a case) is read, not filtered, so kept ones advance the cursor too.
      return "SELECT s.id, EXISTS (SELECT 1 FROM cases c WHERE c.session_id = s.id) OR EXISTS "
             "(SELECT 1 FROM answers a WHERE a.session_id = s.id AND a.case_id IS NOT NULL) FROM "
             "sessions s WHERE s.id > ?2 AND s.status != 'active' AND s.updated_at < ?1 ORDER BY "
             "s.id LIMIT ?3";
    case Sql::purge_loose_answers:
      return "SELECT id FROM answers INDEXED BY answers_loose_created WHERE session_id IS NULL "
             "AND case_id IS NULL AND "
             "created_at < ?1 ORDER BY created_at, id LIMIT ?2";
    case Sql::purge_finished_outbox:
      return "SELECT id FROM outbox INDEXED BY outbox_finished_created WHERE status IN ('sent', "
             "'dead', 'expired', 'unconfirmed', "
             "'cancelled') AND created_at < ?1 ORDER BY created_at, id LIMIT ?2";
    case Sql::purge_inbound:
      return "SELECT id FROM inbound INDEXED BY inbound_received WHERE received_at < ?1 "
             "ORDER BY received_at, id LIMIT ?2";
    case Sql::purge_finished_checkins:
      return "SELECT id FROM checkins INDEXED BY checkins_finished_sent WHERE status NOT IN "
             "('sent', 'reminded') AND sent_at < ?1 "
             "ORDER BY sent_at, id LIMIT ?2";
    case Sql::insert_session:
      return "INSERT INTO sessions (provider, provider_session_id, contact_id, channel, state, "
             "last_input_path, last_reply, hop_count, status, end_reason, started_at, updated_at, "
             "ended_at, id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";
    case Sql::update_session:
      // Only what a hop changes (#13): SQLite rewrites an index only when the SET names one of
      // its columns, so a hop leaves (provider, provider_session_id) and (contact_id, channel)
      // alone and touches only the small index of live sessions.
      return "UPDATE sessions SET state = ?5, last_input_path = ?6, last_reply = ?7, "
             "hop_count = ?8, status = ?9, end_reason = ?10, updated_at = ?12, ended_at = ?13 "
             "WHERE id = ?14";
    case Sql::heartbeat:
      if (pg) {
        // A row per writer connection: instances' health probes never wait for one another's
        // batches on one shared row. Rows of connections gone for a day (?2, the same 13-digit
        // epoch ms as text) go in the same statement.
        return "WITH gone AS (DELETE FROM meta WHERE key LIKE 'heartbeat:%' AND key <> "
               "'heartbeat:' || pg_backend_pid() AND value < ?2) "
               "INSERT INTO meta (key, value) VALUES ('heartbeat:' || pg_backend_pid(), ?1) "
               "ON CONFLICT (key) DO UPDATE SET value = excluded.value";
      }
      return "INSERT INTO meta (key, value) VALUES ('heartbeat', ?1) "
             "ON CONFLICT(key) DO UPDATE SET value = excluded.value";
    case Sql::insert_case:
      return "INSERT INTO cases (reference, contact_id, session_id, flow, category, severity, "
             "status, created_at, district, team, rung, next_alert_at, acknowledged_at, "
             "acknowledged_by, claimed_by, closed_at, outcome, ack_due_at, pending_outcome, "
             "pending_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
             "?15, ?16, ?17, ?18, ?19, ?20) RETURNING id";
    case Sql::find_case:
    case Sql::find_case_locked:
      return select(kCaseColumns, "cases WHERE reference = ?1") +
             locked(Sql::find_case_locked, " FOR UPDATE");
    case Sql::next_answer_id:  // as next_session_id: sealed under its id in its one INSERT
      if (pg) return "SELECT nextval(pg_get_serial_sequence('answers', 'id'))";
      return "SELECT COALESCE(MAX(id), 0) + 1 FROM answers";
    case Sql::insert_answer:
      return "INSERT INTO answers (session_id, contact_id, key, value, created_at, case_id, id) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
    case Sql::insert_consent:
      return "INSERT INTO consents (contact_id, session_id, purpose, granted, created_at, case_id) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    case Sql::insert_outbox:
      return "INSERT INTO outbox (kind, dedupe_key, payload, cause, status, attempts, created_at, "
             "not_before, expires_at, last_error, contact_id, channel, lease_until, sent_at, "
             "provider_message_id, delivery_status, encoding, segments) VALUES (?1, ?2, ?3, ?4, "
             "?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18) "
             "ON CONFLICT (dedupe_key) DO NOTHING";

    case Sql::find_contact_by_id:
      return select(kContactColumns, "contacts WHERE id = ?1");
    case Sql::enrol_contact:
      // quiet_until and missed_in_row are not enrolment fields: a new contact gets the defaults,
      // an existing one keeps hers.
      return "INSERT INTO contacts (pseudonym, language, created_at, updated_at, status, "
             "phone_enc, district, checkin_weekday, window_start_hour, window_end_hour, channel, "
             "sms_ok, confirm_ok) VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
             "ON CONFLICT (pseudonym) DO UPDATE SET language = excluded.language, "
             "updated_at = excluded.updated_at, status = excluded.status, "
             "phone_enc = excluded.phone_enc, district = excluded.district, "
             "checkin_weekday = excluded.checkin_weekday, "
             "window_start_hour = excluded.window_start_hour, "
             "window_end_hour = excluded.window_end_hour, channel = excluded.channel, "
             "sms_ok = excluded.sms_ok, confirm_ok = excluded.confirm_ok RETURNING id";
    case Sql::set_contact_status:
      return "UPDATE contacts SET status = ?1, updated_at = ?2 WHERE id = ?3";
    case Sql::set_contact_phone:
      return "UPDATE contacts SET phone_enc = ?1, updated_at = ?2 WHERE id = ?3";
    case Sql::set_contact_missed:
      return "UPDATE contacts SET missed_in_row = ?1, updated_at = ?2 WHERE id = ?3";
    case Sql::list_contacts:
      return select(kContactColumns, "contacts WHERE id > ?1 ORDER BY id LIMIT ?2");

    case Sql::insert_inbound:
      return "INSERT INTO inbound (provider, provider_message_id, contact_id, text_hash, reply, "
             "received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
             "ON CONFLICT (provider, provider_message_id) DO NOTHING RETURNING id";
    case Sql::find_inbound:
      return select(kInboundColumns, "inbound WHERE provider = ?1 AND provider_message_id = ?2");
    case Sql::set_inbound_reply:
      return "UPDATE inbound SET reply = ?1 WHERE id = ?2";
    case Sql::count_inbound_since:
      return "SELECT COUNT(*) FROM inbound WHERE contact_id = ?1 AND received_at >= ?2";
    case Sql::count_inbound_text_since:
      return "SELECT COUNT(*) FROM inbound WHERE contact_id = ?1 AND received_at >= ?2 "
             "AND text_hash = ?3";

    case Sql::expire_outbox:
      return "UPDATE outbox SET status = 'expired', lease_until = 0 WHERE status = 'pending' "
             "AND expires_at != 0 AND expires_at <= ?1 AND " +
             kind_has_prefix("?2");
    case Sql::claim_outbox:
      return returning(
          "UPDATE outbox SET status = 'sending', lease_until = ?2, attempts = attempts + 1 "
          "WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND not_before <= ?1 "
          "AND " +
              kind_has_prefix("?3") + " ORDER BY not_before, id LIMIT ?4" + skip_locked + ")",
          kOutboxColumns);
    case Sql::claim_outbox_exact:
      return returning(
          "UPDATE outbox SET status = 'sending', lease_until = ?2, attempts = attempts + 1 "
          "WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND not_before <= ?1 "
          "AND kind = ?3 ORDER BY not_before, id LIMIT ?4" +
              skip_locked + ")",
          kOutboxColumns);
    case Sql::release_stale_outbox:
      return "UPDATE outbox SET status = 'pending', lease_until = 0 "
             "WHERE status = 'sending' AND lease_until < ?1 AND " +
             kind_has_prefix("?2");
    // SQLite: at a dispatcher's start every row still "sending" was the dead process's. Several
    // instances on PostgreSQL: only a row whose lease ran out (?2 = now) is no live instance's.
    case Sql::in_doubt_to_pending:
      return "UPDATE outbox SET status = 'pending', lease_until = 0 "
             "WHERE status = 'sending' AND contact_id = 0 AND " +
             kind_has_prefix("?1") + (pg ? " AND lease_until < ?2" : "");
    case Sql::in_doubt_unconfirmed:
      return "UPDATE outbox SET status = 'unconfirmed', lease_until = 0, last_error = "
             "'in doubt: rabta stopped while sending; not sent again' "
             "WHERE status = 'sending' AND contact_id != 0 AND " +
             kind_has_prefix("?1") + (pg ? " AND lease_until < ?2" : "");
    case Sql::outbox_sent:
      return "UPDATE outbox SET status = 'sent', sent_at = ?2, provider_message_id = ?3, "
             "lease_until = 0 WHERE id = ?1";
    case Sql::outbox_retry:
      return "UPDATE outbox SET status = 'pending', not_before = ?2, last_error = ?3, "
             "lease_until = 0 WHERE id = ?1";
    case Sql::outbox_dead:
      return "UPDATE outbox SET status = 'dead', last_error = ?2, lease_until = 0 WHERE id = ?1";
    case Sql::find_outbox:
      return select(kOutboxColumns, "outbox WHERE id = ?1");
    case Sql::list_outbox:
      return select(kOutboxColumns, "outbox WHERE status = ?1 ORDER BY id DESC LIMIT ?2");
    case Sql::list_outbox_all:
      return select(kOutboxColumns, "outbox ORDER BY id DESC LIMIT ?1");
    // Reports arrive in any order (Kannel sends "delivered" before "sent" at times): a final
    // status (delivered, failed) is never replaced by a later non-final one.
    case Sql::update_delivery:
      return "UPDATE outbox SET delivery_status = CASE WHEN delivery_status IN ('delivered', "
             "'failed') "
             "AND ?3 NOT IN ('delivered', 'failed') THEN delivery_status ELSE ?3 END "
             "WHERE channel = ?1 AND provider_message_id = ?2 AND provider_message_id != ''";
    case Sql::update_delivery_by_id:
      return "UPDATE outbox SET delivery_status = CASE WHEN delivery_status IN ('delivered', "
             "'failed') "
             "AND ?2 NOT IN ('delivered', 'failed') THEN delivery_status ELSE ?2 END WHERE id = ?1";
    case Sql::outbox_status_counts:
      return "SELECT status, COUNT(*) FROM outbox GROUP BY status ORDER BY status";
    case Sql::outbox_oldest_pending:
      return "SELECT COALESCE(MIN(created_at), 0) FROM outbox WHERE status = 'pending'";

    case Sql::due_checkins:
      // One index seek per start hour 0..hour (the recursive CTE lists them), so that
      // id > ?4 AND id <= ?6 bound each seek: a plain window_start_hour <= ?3 would make the id
      // only a filter, and every page would read every candidate again. Only the window's rows
      // are sorted. The week's row is a lookup in checkins' UNIQUE (contact_id, week) index.
      return select(kContactColumns,
                    "contacts WHERE status = 'active' AND checkin_weekday = ?2 "
                    "AND window_start_hour IN (WITH RECURSIVE h(x) AS (SELECT 0 UNION ALL "
                    "SELECT x + 1 FROM h WHERE x < ?3) SELECT x FROM h) "
                    "AND window_end_hour > ?3 AND id > ?4 AND id <= ?6 "
                    "AND NOT EXISTS (SELECT 1 FROM checkins WHERE checkins.contact_id = "
                    "contacts.id AND checkins.week = ?1) ORDER BY id LIMIT ?5");
    case Sql::max_contact_id:
      return "SELECT COALESCE(MAX(id), 0) FROM contacts";
    case Sql::insert_checkin:
      return "INSERT INTO checkins (contact_id, week, status, sent_at, remind_at, deadline_at, "
             "answered_at, answer, case_reference) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
             "ON CONFLICT (contact_id, week) DO NOTHING RETURNING id";
    case Sql::open_checkin:
    case Sql::open_checkin_locked:
      return select(kCheckinColumns,
                    "checkins WHERE contact_id = ?1 AND status IN ('sent', 'reminded') "
                    "ORDER BY week DESC LIMIT 1") +
             locked(Sql::open_checkin_locked, " FOR UPDATE");
    case Sql::update_checkin:
      return "UPDATE checkins SET contact_id = ?1, week = ?2, status = ?3, sent_at = ?4, "
             "remind_at = ?5, deadline_at = ?6, answered_at = ?7, answer = ?8, "
             "case_reference = ?9 WHERE id = ?10";
    case Sql::checkins_to_remind:
    case Sql::checkins_to_remind_locked:
      return select(kCheckinColumns,
                    "checkins WHERE status = 'sent' AND remind_at > 0 AND remind_at <= ?1 "
                    "ORDER BY remind_at, id LIMIT ?2") +
             locked(Sql::checkins_to_remind_locked, " FOR UPDATE SKIP LOCKED");
    case Sql::checkins_overdue:
    case Sql::checkins_overdue_locked:
      return select(kCheckinColumns,
                    "checkins WHERE status IN ('sent', 'reminded') AND deadline_at <= ?1 "
                    "ORDER BY deadline_at, id LIMIT ?2") +
             locked(Sql::checkins_overdue_locked, " FOR UPDATE SKIP LOCKED");
    case Sql::previous_checkin:
      return select(kCheckinColumns,
                    "checkins WHERE contact_id = ?1 AND week < ?2 ORDER BY week DESC LIMIT 1");

    case Sql::find_case_by_id:
    case Sql::find_case_by_id_locked:
      return select(kCaseColumns, "cases WHERE id = ?1") +
             locked(Sql::find_case_by_id_locked, " FOR UPDATE");
    case Sql::update_case:
      // Status and the schema-3 fields; what she reported (flow, category, ...) never changes.
      return "UPDATE cases SET status = ?1, district = ?2, team = ?3, rung = ?4, "
             "next_alert_at = ?5, acknowledged_at = ?6, acknowledged_by = ?7, claimed_by = ?8, "
             "closed_at = ?9, outcome = ?10, ack_due_at = ?12, pending_outcome = ?13, "
             "pending_by = ?14 WHERE id = ?11";
    case Sql::cases_due_for_alert:
    case Sql::cases_due_for_alert_locked:
      return select(kCaseColumns,
                    "cases WHERE status = 'open' AND next_alert_at > 0 AND next_alert_at <= ?1 "
                    "ORDER BY next_alert_at, id LIMIT ?2") +
             locked(Sql::cases_due_for_alert_locked, " FOR UPDATE SKIP LOCKED");
    case Sql::cases_to_route:
      return select(kCaseColumns, "cases WHERE team = '' AND status = 'open' ORDER BY id LIMIT ?1");
    case Sql::session_answer:
      return "SELECT value, id FROM answers WHERE session_id = ?1 AND key = ?2 "
             "ORDER BY id DESC LIMIT 1";
    case Sql::latest_consent:
      return "SELECT granted FROM consents WHERE contact_id = ?1 AND purpose = ?2 "
             "ORDER BY id DESC LIMIT 1";
    case Sql::upsert_responder:
      // The roster file carries no tokens: they are issued and revoked separately
      // (set_responder_token), so an upsert never touches one.
      return "INSERT INTO responders (name, team, role, can_export, phone_pseudonym, phone_enc, "
             "active, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
             "ON CONFLICT (name) DO UPDATE SET team = excluded.team, role = excluded.role, "
             "can_export = excluded.can_export, phone_pseudonym = excluded.phone_pseudonym, "
             "phone_enc = excluded.phone_enc, active = excluded.active, "
             "updated_at = excluded.updated_at RETURNING id";
    case Sql::list_responders:
      return select(kResponderColumns, "responders ORDER BY name");
    case Sql::find_responder_by_token:
      // Only tokens issued before schema 7 are found by their hash alone (the others by id).
      return select(kResponderColumns,
                    "responders WHERE token_hash = ?1 AND token_hash != '' AND token_issued_at = 0 "
                    "ORDER BY id LIMIT 1");
    case Sql::find_responder_by_phone:
      return select(kResponderColumns,
                    "responders WHERE phone_pseudonym = ?1 AND phone_pseudonym != '' "
                    "AND active = 1 ORDER BY id LIMIT 1");
    case Sql::find_responder:
      return select(kResponderColumns, "responders WHERE id = ?1");
    case Sql::set_responder_token:
      return "UPDATE responders SET token_hash = ?1, token_issued_at = ?2, token_expires_at = ?3, "
             "updated_at = ?4 WHERE id = ?5";
    case Sql::insert_note:
      return "INSERT INTO notes (case_id, responder_id, text_enc, created_at, kind) "
             "VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id";
    case Sql::list_notes:
      return select(kNoteColumns, "notes WHERE case_id = ?1 ORDER BY id");
    case Sql::last_audit_hash:
      return "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1";
    case Sql::insert_audit:
      return "INSERT INTO audit (id, at, actor, action, case_reference, detail, prev_hash, hash) "
             "VALUES (?8, ?1, ?2, ?3, ?4, ?5, ?6, ?7)";
    case Sql::list_audit:
      return select(kAuditColumns, "audit WHERE id > ?1 ORDER BY id LIMIT ?2");
    case Sql::count:
      break;
  }
  throw std::logic_error("store: unknown statement id");
}

std::string numbered(std::string_view prefix, std::size_t i) {
  std::string name(prefix);
  name += std::to_string(i);
  return name;
}

std::string parameter_list(std::string_view prefix, std::size_t n) {
  std::string list;
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) list += ", ";
    list += numbered(prefix, i);
  }
  return list;
}

std::string list_cases_text(const CaseFilter& filter) {
  std::vector<std::string> conditions;
  if (!filter.teams.empty()) {
    conditions.push_back("team IN (" + parameter_list(":t", filter.teams.size()) + ")");
  }
  if (!filter.status.empty()) conditions.emplace_back("status = :status");
  if (!filter.severity.empty()) conditions.emplace_back("severity = :severity");
  if (filter.open_only) conditions.push_back("status IN " + std::string(kOpenStatuses));
  if (filter.after_id > 0) conditions.emplace_back("id < :after");
  if (!filter.reference.empty()) conditions.emplace_back("reference = :reference");
  if (!filter.category.empty()) conditions.emplace_back("category = :category");
  if (!filter.district.empty()) conditions.emplace_back("district = :district");
  if (filter.claimed_by) conditions.emplace_back("claimed_by = :claimed_by");
  if (filter.not_closed) conditions.emplace_back("status != 'closed'");
  if (filter.created_from > 0) conditions.emplace_back("created_at >= :created_from");
  if (filter.created_to > 0) conditions.emplace_back("created_at < :created_to");
  if (filter.overdue_at > 0)
    conditions.emplace_back("status = 'open' AND ack_due_at > 0 AND ack_due_at < :overdue_at");
  std::string rest = "cases";
  for (std::size_t i = 0; i < conditions.size(); ++i) {
    rest += i == 0 ? " WHERE " : " AND ";
    rest += conditions[i];
  }
  rest += " ORDER BY id DESC LIMIT :limit";
  return select(kCaseColumns, rest);
}

std::string deactivate_responders_text(std::size_t kept) {
  std::string sql = "UPDATE responders SET active = 0, updated_at = :now WHERE active = 1";
  if (kept > 0) sql += " AND name NOT IN (" + parameter_list(":n", kept) + ")";
  return sql;
}

}  // namespace rabta::store::sql
