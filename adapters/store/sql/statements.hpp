// Every statement the store runs: the ids, their text (one switch, grouped by table, in SQLite's
// dialect with ?N parameters, which PostgreSQL's connection translates: postgres/dialect.hpp) and
// the few statements built per call. Internal to adapters/store/.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/store/records.hpp"
#include "adapters/store/store.hpp"

namespace rabta::store::sql {

// Every statement the store runs, prepared once per connection on first use.
enum class Sql : std::size_t {
  begin,
  begin_immediate,
  begin_read,
  commit,
  rollback,
  savepoint,
  release,
  rollback_to,
  savepoint_insert_case,
  release_insert_case,
  rollback_to_insert_case,
  find_contact,
  insert_contact,
  set_contact_language,
  set_contact_quiet_until,
  find_session,
  find_session_locked,
  // The writer's variants of lookups whose row it then rewrites: on PostgreSQL they lock the row
  // (FOR UPDATE) or, for a list, take only rows no other instance holds (SKIP LOCKED), so that two
  // instances never write one row from two stale reads (#14). SQLite: the same text.
  find_case_locked,
  find_case_by_id_locked,
  cases_due_for_alert_locked,
  open_checkin_locked,
  checkins_to_remind_locked,
  checkins_overdue_locked,
  find_resumable_session,
  next_session_id,
  bind_answers_to_case,
  bind_consents_to_case,
  purge_closed_cases,
  purge_ended_sessions,
  purge_loose_answers,
  purge_finished_outbox,
  purge_inbound,
  purge_finished_checkins,
  insert_session,
  update_session,
  insert_case,
  find_case,
  insert_answer,
  next_answer_id,
  insert_consent,
  insert_outbox,
  heartbeat,
  // schema 2
  find_contact_by_id,
  enrol_contact,
  set_contact_status,
  set_contact_phone,
  set_contact_missed,
  list_contacts,
  insert_inbound,
  find_inbound,
  set_inbound_reply,
  count_inbound_since,
  count_inbound_text_since,
  expire_outbox,
  claim_outbox,
  claim_outbox_exact,
  release_stale_outbox,
  in_doubt_to_pending,
  in_doubt_unconfirmed,
  outbox_sent,
  outbox_retry,
  outbox_dead,
  find_outbox,
  list_outbox,
  list_outbox_all,
  update_delivery,
  update_delivery_by_id,
  outbox_status_counts,
  outbox_oldest_pending,
  due_checkins,
  max_contact_id,
  insert_checkin,
  open_checkin,
  update_checkin,
  checkins_to_remind,
  checkins_overdue,
  previous_checkin,
  // schema 3
  find_case_by_id,
  update_case,
  cases_due_for_alert,
  cases_to_route,
  session_answer,
  latest_consent,
  upsert_responder,
  list_responders,
  find_responder_by_token,
  find_responder_by_phone,
  find_responder,
  set_responder_token,
  insert_note,
  list_notes,
  last_audit_hash,
  insert_audit,
  list_audit,
  count,
};

constexpr std::size_t kSqlCount = static_cast<std::size_t>(Sql::count);

// Column lists in the order contact_from/outbox_from/inbound_from/checkin_from read them.
constexpr std::string_view kContactColumns =
    "id, pseudonym, language, quiet_until, created_at, updated_at, status, phone_enc, district, "
    "checkin_weekday, window_start_hour, window_end_hour, channel, sms_ok, confirm_ok, "
    "missed_in_row";

constexpr std::string_view kOutboxColumns =
    "id, kind, dedupe_key, payload, cause, status, attempts, created_at, not_before, expires_at, "
    "last_error, contact_id, channel, lease_until, sent_at, provider_message_id, delivery_status, "
    "encoding, segments";

constexpr std::string_view kInboundColumns =
    "id, provider, provider_message_id, contact_id, text_hash, reply, received_at";

constexpr std::string_view kCheckinColumns =
    "id, contact_id, week, status, sent_at, remind_at, deadline_at, answered_at, answer, "
    "case_reference";

// ... and case_from/responder_from/note_from/audit_from.
constexpr std::string_view kCaseColumns =
    "id, reference, contact_id, session_id, flow, category, severity, status, created_at, "
    "district, team, rung, next_alert_at, acknowledged_at, acknowledged_by, claimed_by, "
    "closed_at, outcome, ack_due_at, pending_outcome, pending_by";

constexpr std::string_view kResponderColumns =
    "id, name, team, role, can_export, phone_pseudonym, phone_enc, token_hash, active, updated_at, "
    "pin_hash, token_issued_at, token_expires_at, language";

constexpr std::string_view kNoteColumns = "id, case_id, responder_id, text_enc, created_at, kind";

constexpr std::string_view kAuditColumns =
    "id, at, actor, action, case_reference, detail, prev_hash, hash";

// The statuses of a case someone still has to act on (CaseFilter::open_only).
constexpr std::string_view kOpenStatuses = "('open', 'acknowledged', 'claimed')";

// "SELECT <columns> FROM <rest>"
std::string select(std::string_view columns, std::string_view rest);

// "<head> RETURNING <columns>"
std::string returning(std::string_view head, std::string_view columns);

// The outbox rows of a kind: an exact, case-sensitive prefix match. (LIKE would take the '_' of
// "case_alert" for a wildcard and ignore case.) An empty prefix matches every kind.
std::string kind_has_prefix(std::string_view param);

// The two SQL dialects the statements are written for.
enum class Dialect { sqlite, postgres };

// The text of statement `id`, in SQLite's dialect with ?N parameters. For PostgreSQL (which
// translates ?N when it prepares, postgres/dialect.hpp) a few differ: ids from the sequences,
// row locks where several instances may take the same rows (#14).
std::string sql_text(Sql id, Dialect dialect = Dialect::sqlite);

// Named parameters of the statements built per call, so that binding does not depend on which
// conditions the text has.
std::string numbered(std::string_view prefix, std::size_t i);

// ":p0, :p1, ..." for n values.
std::string parameter_list(std::string_view prefix, std::size_t n);

constexpr int kListCasesMaxLimit = 500;

// The statement behind Tx::list_cases: only the filter's shape goes into the text, every value is
// a parameter (:t0.. teams, :status, :severity, :after, :limit).
std::string list_cases_text(const CaseFilter& filter);

// The statement behind Tx::deactivate_responders_except: :now, and :n0.. the names kept.
std::string deactivate_responders_text(std::size_t kept);

}  // namespace rabta::store::sql
