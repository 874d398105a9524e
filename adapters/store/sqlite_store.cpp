// SQLite implementation of the store: one writer thread with group commit, one read connection.

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

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
#include "adapters/store/migrations.hpp"
#include "adapters/store/queries.hpp"
#include "adapters/store/store.hpp"

namespace rabta::store {
namespace {

// Every statement the store runs, prepared once per connection on first use.
enum class Sql : std::size_t {
  begin,
  begin_immediate,
  commit,
  rollback,
  savepoint,
  release,
  rollback_to,
  find_contact,
  insert_contact,
  set_contact_language,
  set_contact_quiet_until,
  find_session,
  find_resumable_session,
  insert_session,
  update_session,
  insert_case,
  find_case,
  insert_answer,
  seal_answer,
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
    "closed_at, outcome";
constexpr std::string_view kResponderColumns =
    "id, name, team, role, can_export, phone_pseudonym, phone_enc, token_hash, active, updated_at, "
    "pin_hash, token_issued_at, token_expires_at";
constexpr std::string_view kNoteColumns = "id, case_id, responder_id, text_enc, created_at";
constexpr std::string_view kAuditColumns =
    "id, at, actor, action, case_reference, detail, prev_hash, hash";

// The statuses of a case someone still has to act on (CaseFilter::open_only).
constexpr std::string_view kOpenStatuses = "('open', 'acknowledged', 'claimed')";

// "SELECT <columns> FROM <rest>"
std::string select(std::string_view columns, std::string_view rest) {
  std::string sql = "SELECT ";
  sql += columns;
  sql += " FROM ";
  sql += rest;
  return sql;
}

// "<head> RETURNING <columns>"
std::string returning(std::string_view head, std::string_view columns) {
  std::string sql(head);
  sql += " RETURNING ";
  sql += columns;
  return sql;
}

// The outbox rows of a kind: an exact, case-sensitive prefix match. (LIKE would take the '_' of
// "case_alert" for a wildcard and ignore case.) An empty prefix matches every kind.
std::string kind_has_prefix(std::string_view param) {
  const std::string p(param);
  return "substr(kind, 1, length(" + p + ")) = " + p;
}

std::string sql_text(Sql id) {
  switch (id) {
    case Sql::begin:
      return "BEGIN";
    case Sql::begin_immediate:
      return "BEGIN IMMEDIATE";
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
    case Sql::find_contact:
      return select(kContactColumns, "contacts WHERE pseudonym = ?1");
    case Sql::insert_contact:
      return returning(
          "INSERT INTO contacts (pseudonym, created_at, updated_at) VALUES (?1, ?2, ?2)",
          kContactColumns);
    case Sql::set_contact_language:
      return "UPDATE contacts SET language = ?1, updated_at = ?2 WHERE id = ?3";
    case Sql::set_contact_quiet_until:
      return "UPDATE contacts SET quiet_until = ?1, updated_at = ?2 WHERE id = ?3";
    case Sql::find_session:
      return "SELECT id, provider, provider_session_id, contact_id, channel, state, "
             "last_input_path, last_reply, hop_count, status, end_reason, started_at, updated_at, "
             "ended_at FROM sessions WHERE provider = ?1 AND provider_session_id = ?2";
    case Sql::find_resumable_session:
      return "SELECT id, provider, provider_session_id, contact_id, channel, state, "
             "last_input_path, last_reply, hop_count, status, end_reason, started_at, updated_at, "
             "ended_at FROM sessions WHERE contact_id = ?1 AND channel = ?2 "
             "AND status IN ('active', 'incomplete') AND updated_at >= ?3 "
             "ORDER BY updated_at DESC, id DESC LIMIT 1";
    case Sql::insert_session:
      return "INSERT INTO sessions (provider, provider_session_id, contact_id, channel, state, "
             "last_input_path, last_reply, hop_count, status, end_reason, started_at, updated_at, "
             "ended_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
    case Sql::update_session:
      return "UPDATE sessions SET provider = ?1, provider_session_id = ?2, contact_id = ?3, "
             "channel = ?4, state = ?5, last_input_path = ?6, last_reply = ?7, hop_count = ?8, "
             "status = ?9, end_reason = ?10, started_at = ?11, updated_at = ?12, ended_at = ?13 "
             "WHERE id = ?14";
    case Sql::heartbeat:
      return "INSERT INTO meta (key, value) VALUES ('heartbeat', ?1) "
             "ON CONFLICT(key) DO UPDATE SET value = excluded.value";
    case Sql::insert_case:
      return "INSERT INTO cases (reference, contact_id, session_id, flow, category, severity, "
             "status, created_at, district, team, rung, next_alert_at, acknowledged_at, "
             "acknowledged_by, claimed_by, closed_at, outcome) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
             "?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";
    case Sql::find_case:
      return select(kCaseColumns, "cases WHERE reference = ?1");
    case Sql::seal_answer:
      return "UPDATE answers SET value = ?1 WHERE id = ?2";
    case Sql::insert_answer:
      return "INSERT INTO answers (session_id, contact_id, key, value, created_at, case_id) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
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
             "ON CONFLICT (provider, provider_message_id) DO NOTHING";
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
              kind_has_prefix("?3") + " ORDER BY not_before, id LIMIT ?4)",
          kOutboxColumns);
    case Sql::release_stale_outbox:
      return "UPDATE outbox SET status = 'pending', lease_until = 0 "
             "WHERE status = 'sending' AND lease_until < ?1";
    case Sql::in_doubt_to_pending:
      return "UPDATE outbox SET status = 'pending', lease_until = 0 "
             "WHERE status = 'sending' AND contact_id = 0 AND " +
             kind_has_prefix("?1");
    case Sql::in_doubt_unconfirmed:
      return "UPDATE outbox SET status = 'unconfirmed', lease_until = 0, last_error = "
             "'in doubt: rabta stopped while sending; not sent again' "
             "WHERE status = 'sending' AND contact_id != 0 AND " +
             kind_has_prefix("?1");
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
             "ON CONFLICT (contact_id, week) DO NOTHING";
    case Sql::open_checkin:
      return select(kCheckinColumns,
                    "checkins WHERE contact_id = ?1 AND status IN ('sent', 'reminded') "
                    "ORDER BY week DESC LIMIT 1");
    case Sql::update_checkin:
      return "UPDATE checkins SET contact_id = ?1, week = ?2, status = ?3, sent_at = ?4, "
             "remind_at = ?5, deadline_at = ?6, answered_at = ?7, answer = ?8, "
             "case_reference = ?9 WHERE id = ?10";
    case Sql::checkins_to_remind:
      return select(kCheckinColumns,
                    "checkins WHERE status = 'sent' AND remind_at > 0 AND remind_at <= ?1 "
                    "ORDER BY remind_at, id LIMIT ?2");
    case Sql::checkins_overdue:
      return select(kCheckinColumns,
                    "checkins WHERE status IN ('sent', 'reminded') AND deadline_at <= ?1 "
                    "ORDER BY deadline_at, id LIMIT ?2");
    case Sql::previous_checkin:
      return select(kCheckinColumns,
                    "checkins WHERE contact_id = ?1 AND week < ?2 ORDER BY week DESC LIMIT 1");

    case Sql::find_case_by_id:
      return select(kCaseColumns, "cases WHERE id = ?1");
    case Sql::update_case:
      // Status and the schema-3 fields; what she reported (flow, category, ...) never changes.
      return "UPDATE cases SET status = ?1, district = ?2, team = ?3, rung = ?4, "
             "next_alert_at = ?5, acknowledged_at = ?6, acknowledged_by = ?7, claimed_by = ?8, "
             "closed_at = ?9, outcome = ?10 WHERE id = ?11";
    case Sql::cases_due_for_alert:
      return select(kCaseColumns,
                    "cases WHERE status = 'open' AND next_alert_at > 0 AND next_alert_at <= ?1 "
                    "ORDER BY next_alert_at, id LIMIT ?2");
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
      return "INSERT INTO notes (case_id, responder_id, text_enc, created_at) "
             "VALUES (?1, ?2, ?3, ?4)";
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

// Named parameters of the statements built per call, so that binding does not depend on which
// conditions the text has.
std::string numbered(std::string_view prefix, std::size_t i) {
  std::string name(prefix);
  name += std::to_string(i);
  return name;
}

// ":p0, :p1, ..." for n values.
std::string parameter_list(std::string_view prefix, std::size_t n) {
  std::string list;
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) list += ", ";
    list += numbered(prefix, i);
  }
  return list;
}

constexpr int kListCasesMaxLimit = 500;

// The statement behind Tx::list_cases: only the filter's shape goes into the text, every value is
// a parameter (:t0.. teams, :status, :severity, :after, :limit).
std::string list_cases_text(const CaseFilter& filter) {
  std::vector<std::string> conditions;
  if (!filter.teams.empty()) {
    conditions.push_back("team IN (" + parameter_list(":t", filter.teams.size()) + ")");
  }
  if (!filter.status.empty()) conditions.emplace_back("status = :status");
  if (!filter.severity.empty()) conditions.emplace_back("severity = :severity");
  if (filter.open_only) conditions.push_back("status IN " + std::string(kOpenStatuses));
  if (filter.after_id > 0) conditions.emplace_back("id < :after");
  std::string rest = "cases";
  for (std::size_t i = 0; i < conditions.size(); ++i) {
    rest += i == 0 ? " WHERE " : " AND ";
    rest += conditions[i];
  }
  rest += " ORDER BY id DESC LIMIT :limit";
  return select(kCaseColumns, rest);
}

// The statement behind Tx::deactivate_responders_except: :now, and :n0.. the names kept.
std::string deactivate_responders_text(std::size_t kept) {
  std::string sql = "UPDATE responders SET active = 0, updated_at = :now WHERE active = 1";
  if (kept > 0) sql += " AND name NOT IN (" + parameter_list(":n", kept) + ")";
  return sql;
}

// A database handle and its prepared statements. Used by one thread at a time.
class Connection {
 public:
  Connection(const std::string& path, int flags, std::chrono::milliseconds busy_timeout)
      // NOMUTEX: each connection is confined to one thread at a time (the writer, or callers
      // serialised by the read mutex), so SQLite's own per-call locking would be pure overhead.
      : db_(std::make_unique<SQLite::Database>(path, flags | SQLite::OPEN_NOMUTEX,
                                               static_cast<int>(busy_timeout.count()))) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() {
    // Statements first: sqlite3_close refuses a handle that still has live statements.
    for (auto& s : statements_) s.reset();
    db_.reset();
  }

  SQLite::Database& db() { return *db_; }
  bool in_transaction() const { return sqlite3_get_autocommit(db_->getHandle()) == 0; }

  SQLite::Statement& statement(Sql id) {
    auto& slot = statements_[static_cast<std::size_t>(id)];
    if (!slot) slot = std::make_unique<SQLite::Statement>(*db_, sql_text(id));
    return *slot;
  }

 private:
  std::unique_ptr<SQLite::Database> db_;
  std::array<std::unique_ptr<SQLite::Statement>, kSqlCount> statements_;
};

// Borrows a cached statement for one use. Resetting on scope exit ends any read it started (an
// unreset SELECT would pin its snapshot and block WAL checkpoints); clearing the bindings drops
// the pointers bindNoCopy left into the caller's strings.
class Stmt {
 public:
  Stmt(Connection& conn, Sql id) : st_(conn.statement(id)) {}
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() {
    st_.tryReset();
    try {
      st_.clearBindings();
    } catch (...) {
      // sqlite3_clear_bindings cannot fail; the wrapper's signature just allows it.
    }
  }
  SQLite::Statement* operator->() { return &st_; }
  SQLite::Statement& operator*() { return st_; }
  const SQLite::Statement& get() const { return st_; }

 private:
  SQLite::Statement& st_;
};

[[noreturn]] void throw_with_context(const char* operation, const SQLite::Exception& e) {
  // SQLite's messages name tables and columns, never bound values.
  throw std::runtime_error(std::string("store: ") + operation + " failed: " + e.what());
}

// Runs f, turning SQLite's exceptions into runtime_error naming the operation.
template <typename F>
decltype(auto) guarded(const char* operation, F&& f) {
  try {
    return f();
  } catch (const SQLite::Exception& e) {
    throw_with_context(operation, e);
  }
}

// --- Sealed columns (SAFETY D2)
// Her inputs, the screens she was shown, her answers and the replies to her SMS are stored
// encrypted with the field key (XChaCha20-Poly1305, associated data "table.column:row-id"), as a
// BLOB. A TEXT value in such a column is from before encryption (or a store opened without a
// key): it is read as it is, and `rabta keys rotate` / the server's re-encryption pass seal it.
using common::FieldCipher;

bool sealing(const FieldCipher* cipher, std::string_view plain) {
  return cipher != nullptr && !plain.empty();
}

// Binds `plain` sealed for table.column of row `id` (a BLOB), or as TEXT without a key / when
// empty (nothing to hide; keeps '' comparable).
void bind_sealed(SQLite::Statement& st, int index, const FieldCipher* cipher,
                 std::string_view plain, const char* table, const char* column, std::int64_t id) {
  if (!sealing(cipher, plain)) {
    st.bind(index, std::string(plain));
    return;
  }
  const std::string blob = cipher->encrypt(plain, FieldCipher::associated_data(table, column, id));
  st.bind(index, blob.data(), static_cast<int>(blob.size()));
}

std::string read_sealed(const SQLite::Column& col, const FieldCipher* cipher, const char* table,
                        const char* column, std::int64_t id) {
  if (col.getType() != SQLITE_BLOB) return col.getString();
  const std::string blob(static_cast<const char*>(col.getBlob()),
                         static_cast<std::size_t>(col.getBytes()));
  const std::string where = std::string(table) + "." + column + " of row " + std::to_string(id);
  if (cipher == nullptr) {
    throw std::runtime_error("store: " + where + " is encrypted and the store has no field key");
  }
  auto plain = cipher->decrypt(blob, FieldCipher::associated_data(table, column, id));
  if (!plain) {
    throw std::runtime_error("store: " + where +
                             " does not decrypt (a field key missing from the key file, or an "
                             "altered row)");
  }
  return *std::move(plain);
}

// Every encrypted column, in the order a re-encryption pass visits them (ResealCursor::column);
// the outbox's numbers (inside its JSON payload) come after these.
struct SealedColumn {
  const char* table;
  const char* column;
  const char* ad_row;  // the column holding the row id of the associated data
  bool may_be_clear;   // a non-empty TEXT value is a value in clear, to be sealed
};
constexpr std::array<SealedColumn, 9> kSealedColumns{{
    {"sessions", "state", "id", true},
    {"sessions", "last_input_path", "id", true},
    {"sessions", "last_reply", "id", true},
    {"answers", "value", "id", true},
    {"inbound", "reply", "id", true},
    {"contacts", "phone_enc", "id", false},
    {"responders", "phone_enc", "id", false},
    {"notes", "text_enc", "case_id", false},  // notes are bound to their case
    {"checkins", "answer", "id", true},       // SECURITY #11
}};

// Records carry 0 for "no session"; the column holds NULL then, so the foreign key allows it.
void bind_session_id(SQLite::Statement& st, int index, std::int64_t session_id) {
  if (session_id == 0) {
    st.bind(index);
  } else {
    st.bind(index, session_id);
  }
}

// Binds bytes as a BLOB (ciphertext is not text). No copy: `bytes` must outlive the step.
void bind_blob(SQLite::Statement& st, int index, const std::string& bytes) {
  if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw std::length_error("store: a value is too large");
  }
  st.bindNoCopy(index, static_cast<const void*>(bytes.data()), static_cast<int>(bytes.size()));
}

std::string blob_from(const SQLite::Column& column) {
  // sqlite3_column_blob first, then _bytes (the order SQLite asks for); a zero-length BLOB reads
  // as a null pointer.
  const void* data = column.getBlob();
  const int size = column.getBytes();
  if (data == nullptr || size <= 0) return {};
  return std::string(static_cast<const char*>(data), static_cast<std::size_t>(size));
}

// Reads a row of kContactColumns.
ContactRecord contact_from(const SQLite::Statement& st) {
  ContactRecord c;
  c.id = st.getColumn(0).getInt64();
  c.pseudonym = st.getColumn(1).getString();
  c.language = st.getColumn(2).getString();
  c.quiet_until = st.getColumn(3).getInt64();
  c.created_at = st.getColumn(4).getInt64();
  c.updated_at = st.getColumn(5).getInt64();
  c.status = st.getColumn(6).getString();
  c.phone_enc = blob_from(st.getColumn(7));
  c.district = st.getColumn(8).getString();
  c.checkin_weekday = st.getColumn(9).getInt();
  c.window_start_hour = st.getColumn(10).getInt();
  c.window_end_hour = st.getColumn(11).getInt();
  c.channel = st.getColumn(12).getString();
  c.sms_ok = st.getColumn(13).getInt() != 0;
  c.confirm_ok = st.getColumn(14).getInt() != 0;
  c.missed_in_row = st.getColumn(15).getInt();
  return c;
}

// Reads a row of kOutboxColumns.
OutboxRecord outbox_from(const SQLite::Statement& st) {
  OutboxRecord o;
  o.id = st.getColumn(0).getInt64();
  o.kind = st.getColumn(1).getString();
  o.dedupe_key = st.getColumn(2).getString();
  o.payload = st.getColumn(3).getString();
  o.cause = st.getColumn(4).getString();
  o.status = st.getColumn(5).getString();
  o.attempts = st.getColumn(6).getInt();
  o.created_at = st.getColumn(7).getInt64();
  o.not_before = st.getColumn(8).getInt64();
  o.expires_at = st.getColumn(9).getInt64();
  o.last_error = st.getColumn(10).getString();
  o.contact_id = st.getColumn(11).getInt64();
  o.channel = st.getColumn(12).getString();
  o.lease_until = st.getColumn(13).getInt64();
  o.sent_at = st.getColumn(14).getInt64();
  o.provider_message_id = st.getColumn(15).getString();
  o.delivery_status = st.getColumn(16).getString();
  o.encoding = st.getColumn(17).getString();
  o.segments = st.getColumn(18).getInt();
  return o;
}

// Reads a row of kInboundColumns.
InboundRecord inbound_from(const SQLite::Statement& st, const FieldCipher* cipher) {
  InboundRecord m;
  m.id = st.getColumn(0).getInt64();
  m.provider = st.getColumn(1).getString();
  m.provider_message_id = st.getColumn(2).getString();
  m.contact_id = st.getColumn(3).getInt64();
  m.text_hash = st.getColumn(4).getString();
  m.reply = read_sealed(st.getColumn(5), cipher, "inbound", "reply", m.id);
  m.received_at = st.getColumn(6).getInt64();
  return m;
}

// Reads a row of kCheckinColumns.
CheckinRecord checkin_from(const SQLite::Statement& st, const FieldCipher* cipher) {
  CheckinRecord c;
  c.id = st.getColumn(0).getInt64();
  c.contact_id = st.getColumn(1).getInt64();
  c.week = st.getColumn(2).getString();
  c.status = st.getColumn(3).getString();
  c.sent_at = st.getColumn(4).getInt64();
  c.remind_at = st.getColumn(5).getInt64();
  c.deadline_at = st.getColumn(6).getInt64();
  c.answered_at = st.getColumn(7).getInt64();
  c.answer = read_sealed(st.getColumn(8), cipher, "checkins", "answer", c.id);
  c.case_reference = st.getColumn(9).getString();
  return c;
}

// Steps through every row, reading each with `from`.
template <typename From>
auto all_rows(SQLite::Statement& st, From from) {
  std::vector<decltype(from(st))> rows;
  while (st.executeStep()) rows.push_back(from(st));
  return rows;
}

// Binds the check-in columns in the order of insert_checkin/update_checkin (?1..?9).
// The answer is sealed (SECURITY #11) for row c.id; an insert (no id yet) binds it empty.
void bind_checkin(SQLite::Statement& st, const CheckinRecord& c, const FieldCipher* cipher) {
  st.bind(1, c.contact_id);
  st.bindNoCopy(2, c.week);
  st.bindNoCopy(3, c.status);
  st.bind(4, c.sent_at);
  st.bind(5, c.remind_at);
  st.bind(6, c.deadline_at);
  st.bind(7, c.answered_at);
  if (c.id > 0)
    bind_sealed(st, 8, cipher, c.answer, "checkins", "answer", c.id);
  else
    st.bind(8, std::string());
  st.bindNoCopy(9, c.case_reference);
}

SessionRecord session_from(const SQLite::Statement& st, const FieldCipher* cipher) {
  SessionRecord s;
  s.id = st.getColumn(0).getInt64();
  s.provider = st.getColumn(1).getString();
  s.provider_session_id = st.getColumn(2).getString();
  s.contact_id = st.getColumn(3).getInt64();
  s.channel = st.getColumn(4).getString();
  s.state = read_sealed(st.getColumn(5), cipher, "sessions", "state", s.id);
  s.last_input_path = read_sealed(st.getColumn(6), cipher, "sessions", "last_input_path", s.id);
  s.last_reply = read_sealed(st.getColumn(7), cipher, "sessions", "last_reply", s.id);
  s.hop_count = st.getColumn(8).getInt();
  s.status = st.getColumn(9).getString();
  s.end_reason = st.getColumn(10).getString();
  s.started_at = st.getColumn(11).getInt64();
  s.updated_at = st.getColumn(12).getInt64();
  s.ended_at = st.getColumn(13).getInt64();
  return s;
}

CaseRecord case_from(const SQLite::Statement& st) {
  CaseRecord c;
  c.id = st.getColumn(0).getInt64();
  c.reference = st.getColumn(1).getString();
  c.contact_id = st.getColumn(2).getInt64();
  c.session_id = st.getColumn(3).getInt64();  // NULL reads as 0
  c.flow = st.getColumn(4).getString();
  c.category = st.getColumn(5).getString();
  c.severity = st.getColumn(6).getString();
  c.status = st.getColumn(7).getString();
  c.created_at = st.getColumn(8).getInt64();
  c.district = st.getColumn(9).getString();
  c.team = st.getColumn(10).getString();
  c.rung = st.getColumn(11).getInt();
  c.next_alert_at = st.getColumn(12).getInt64();
  c.acknowledged_at = st.getColumn(13).getInt64();
  c.acknowledged_by = st.getColumn(14).getInt64();
  c.claimed_by = st.getColumn(15).getInt64();
  c.closed_at = st.getColumn(16).getInt64();
  c.outcome = st.getColumn(17).getString();
  return c;
}

// Reads a row of kResponderColumns.
ResponderRecord responder_from(const SQLite::Statement& st) {
  ResponderRecord r;
  r.id = st.getColumn(0).getInt64();
  r.name = st.getColumn(1).getString();
  r.team = st.getColumn(2).getString();
  r.role = st.getColumn(3).getString();
  r.can_export = st.getColumn(4).getInt() != 0;
  r.phone_pseudonym = st.getColumn(5).getString();
  r.phone_enc = blob_from(st.getColumn(6));
  r.token_hash = st.getColumn(7).getString();
  r.active = st.getColumn(8).getInt() != 0;
  r.updated_at = st.getColumn(9).getInt64();
  r.pin_hash = st.getColumn(10).getString();
  r.token_issued_at = st.getColumn(11).getInt64();
  r.token_expires_at = st.getColumn(12).getInt64();
  return r;
}

// Reads a row of kNoteColumns.
NoteRecord note_from(const SQLite::Statement& st) {
  NoteRecord n;
  n.id = st.getColumn(0).getInt64();
  n.case_id = st.getColumn(1).getInt64();
  n.responder_id = st.getColumn(2).getInt64();
  n.text_enc = blob_from(st.getColumn(3));
  n.created_at = st.getColumn(4).getInt64();
  return n;
}

// Reads a row of kAuditColumns.
AuditRecord audit_from(const SQLite::Statement& st) {
  AuditRecord a;
  a.id = st.getColumn(0).getInt64();
  a.at = st.getColumn(1).getInt64();
  a.actor = st.getColumn(2).getString();
  a.action = st.getColumn(3).getString();
  a.case_reference = st.getColumn(4).getString();
  a.detail = st.getColumn(5).getString();
  a.prev_hash = st.getColumn(6).getString();
  a.hash = st.getColumn(7).getString();
  return a;
}

// Binds the session columns in the order of insert_session/update_session (?1..?13). The sealed
// columns need the row id: an insert binds them empty and is followed by an update.
void bind_session(SQLite::Statement& st, const SessionRecord& s, const FieldCipher* cipher,
                  std::int64_t id) {
  st.bindNoCopy(1, s.provider);
  st.bindNoCopy(2, s.provider_session_id);
  st.bind(3, s.contact_id);
  st.bindNoCopy(4, s.channel);
  if (id == 0 && cipher != nullptr) {
    for (int i = 5; i <= 7; ++i) st.bind(i, std::string());
  } else {
    bind_sealed(st, 5, cipher, s.state, "sessions", "state", id);
    bind_sealed(st, 6, cipher, s.last_input_path, "sessions", "last_input_path", id);
    bind_sealed(st, 7, cipher, s.last_reply, "sessions", "last_reply", id);
  }
  st.bind(8, s.hop_count);
  st.bindNoCopy(9, s.status);
  st.bindNoCopy(10, s.end_reason);
  st.bind(11, s.started_at);
  st.bind(12, s.updated_at);
  st.bind(13, s.ended_at);
}

class SqliteTx final : public Tx {
 public:
  SqliteTx(Connection& conn, const FieldCipher* cipher, const std::string& audit_key)
      : conn_(conn), cipher_(cipher), audit_key_(audit_key) {}

  std::optional<ContactRecord> find_contact(std::string_view pseudonym) override {
    return guarded("find_contact", [&]() -> std::optional<ContactRecord> {
      const std::string key(pseudonym);
      Stmt st = use(Sql::find_contact);
      st->bindNoCopy(1, key);
      if (!st->executeStep()) return std::nullopt;
      return contact_from(st.get());
    });
  }

  ContactRecord upsert_contact(std::string_view pseudonym, Millis now) override {
    if (auto found = find_contact(pseudonym)) return *std::move(found);
    return guarded("upsert_contact", [&] {
      const std::string key(pseudonym);
      Stmt st = use(Sql::insert_contact);
      st->bindNoCopy(1, key);
      st->bind(2, now);
      // RETURNING: the row as stored, with every column's default.
      if (!st->executeStep()) throw std::runtime_error("store: upsert_contact: no row returned");
      return contact_from(st.get());
    });
  }

  void set_contact_language(std::int64_t contact_id, std::string_view language,
                            Millis now) override {
    guarded("set_contact_language", [&] {
      const std::string value(language);
      Stmt st = use(Sql::set_contact_language);
      st->bindNoCopy(1, value);
      st->bind(2, now);
      st->bind(3, contact_id);
      if (st->exec() == 0) throw std::runtime_error("store: set_contact_language: no such contact");
    });
  }

  void set_contact_quiet_until(std::int64_t contact_id, Millis until, Millis now) override {
    guarded("set_contact_quiet_until", [&] {
      Stmt st = use(Sql::set_contact_quiet_until);
      st->bind(1, until);
      st->bind(2, now);
      st->bind(3, contact_id);
      if (st->exec() == 0) {
        throw std::runtime_error("store: set_contact_quiet_until: no such contact");
      }
    });
  }

  std::optional<SessionRecord> find_session(std::string_view provider,
                                            std::string_view provider_session_id) override {
    return guarded("find_session", [&]() -> std::optional<SessionRecord> {
      const std::string p(provider);
      const std::string id(provider_session_id);
      Stmt st = use(Sql::find_session);
      st->bindNoCopy(1, p);
      st->bindNoCopy(2, id);
      if (!st->executeStep()) return std::nullopt;
      return session_from(st.get(), cipher_);
    });
  }

  std::optional<SessionRecord> find_resumable_session(std::int64_t contact_id,
                                                      std::string_view channel,
                                                      Millis since) override {
    return guarded("find_resumable_session", [&]() -> std::optional<SessionRecord> {
      const std::string ch(channel);
      Stmt st = use(Sql::find_resumable_session);
      st->bind(1, contact_id);
      st->bindNoCopy(2, ch);
      st->bind(3, since);
      if (!st->executeStep()) return std::nullopt;
      return session_from(st.get(), cipher_);
    });
  }

  std::int64_t insert_session(const SessionRecord& session) override {
    return guarded("insert_session", [&] {
      std::int64_t id = 0;
      {
        Stmt st = use(Sql::insert_session);
        bind_session(*st, session, cipher_, 0);
        st->exec();
        id = conn_.db().getLastInsertRowid();
      }
      if (cipher_ != nullptr) {
        SessionRecord sealed = session;
        sealed.id = id;
        update_session(sealed);
      }
      return id;
    });
  }

  void update_session(const SessionRecord& session) override {
    guarded("update_session", [&] {
      Stmt st = use(Sql::update_session);
      bind_session(*st, session, cipher_, session.id);
      st->bind(14, session.id);
      if (st->exec() == 0) throw std::runtime_error("store: update_session: no such session");
    });
  }

  void heartbeat(Millis now) override {
    guarded("heartbeat", [&] {
      Stmt st = use(Sql::heartbeat);
      st->bind(1, std::to_string(now));
      st->exec();
    });
  }

  std::int64_t insert_case(const CaseRecord& c) override {
    try {
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
      st->exec();
      return conn_.db().getLastInsertRowid();
    } catch (const SQLite::Exception& e) {
      // reference is the only UNIQUE column of cases besides the rowid, which is never bound.
      if (e.getExtendedErrorCode() == SQLITE_CONSTRAINT_UNIQUE) {
        throw DuplicateReference("store: insert_case: case reference exists already");
      }
      throw_with_context("insert_case", e);
    }
  }

  std::optional<CaseRecord> find_case(std::string_view reference) override {
    return guarded("find_case", [&]() -> std::optional<CaseRecord> {
      const std::string ref(reference);
      Stmt st = use(Sql::find_case);
      st->bindNoCopy(1, ref);
      if (!st->executeStep()) return std::nullopt;
      return case_from(st.get());
    });
  }

  void insert_answer(const AnswerRecord& a) override {
    guarded("insert_answer", [&] {
      std::int64_t id = 0;
      {
        Stmt st = use(Sql::insert_answer);
        bind_session_id(*st, 1, a.session_id);
        st->bind(2, a.contact_id);
        st->bindNoCopy(3, a.key);
        if (sealing(cipher_, a.value)) {
          st->bind(4, std::string());
        } else {
          st->bindNoCopy(4, a.value);
        }
        st->bind(5, a.created_at);
        bind_session_id(*st, 6, a.case_id);
        st->exec();
        id = conn_.db().getLastInsertRowid();
      }
      if (sealing(cipher_, a.value)) {
        Stmt st = use(Sql::seal_answer);
        bind_sealed(*st, 1, cipher_, a.value, "answers", "value", id);
        st->bind(2, id);
        st->exec();
      }
    });
  }

  void insert_consent(const ConsentRecord& c) override {
    guarded("insert_consent", [&] {
      Stmt st = use(Sql::insert_consent);
      st->bind(1, c.contact_id);
      bind_session_id(*st, 2, c.session_id);
      st->bindNoCopy(3, c.purpose);
      st->bind(4, c.granted ? 1 : 0);
      st->bind(5, c.created_at);
      bind_session_id(*st, 6, c.case_id);
      st->exec();
    });
  }

  int reseal(ResealCursor& cursor, int limit) override {
    if (cipher_ == nullptr) throw std::runtime_error("store: reseal: the store has no field key");
    if (cursor.done) return 0;
    limit = std::max(1, limit);
    return guarded("reseal", [&] {
      const bool outbox = cursor.column >= kSealedColumns.size();
      const std::uint8_t current = cipher_->current_key_id();
      std::string sql;
      if (outbox) {
        sql = "SELECT id, dedupe_key, payload FROM outbox WHERE id > ?1 ORDER BY id LIMIT ?2";
      } else {
        const SealedColumn& c = kSealedColumns[cursor.column];
        sql = std::string("SELECT id, ") + c.ad_row + ", " + c.column + " FROM " + c.table +
              " WHERE id > ?1 ORDER BY id LIMIT ?2";
      }
      struct Change {
        std::int64_t id;
        std::string value;
      };
      std::vector<Change> changes;
      int seen = 0;
      std::int64_t last = cursor.after_id;
      {
        SQLite::Statement sel(conn_.db(), sql);
        sel.bind(1, cursor.after_id);
        sel.bind(2, limit);
        while (sel.executeStep()) {
          ++seen;
          last = sel.getColumn(0).getInt64();
          auto changed = outbox ? reseal_outbox_row(sel, current)
                                : reseal_value(kSealedColumns[cursor.column], sel, current);
          if (changed) changes.push_back({last, *std::move(changed)});
        }
      }
      if (!changes.empty()) {
        const std::string upd =
            outbox ? std::string("UPDATE outbox SET payload = ?1 WHERE id = ?2")
                   : std::string("UPDATE ") + kSealedColumns[cursor.column].table + " SET " +
                         kSealedColumns[cursor.column].column + " = ?1 WHERE id = ?2";
        SQLite::Statement st(conn_.db(), upd);
        for (const Change& ch : changes) {
          if (outbox) {
            st.bind(1, ch.value);
          } else {
            st.bind(1, ch.value.data(), static_cast<int>(ch.value.size()));
          }
          st.bind(2, ch.id);
          st.exec();
          st.reset();
        }
      }
      if (seen < limit) {
        ++cursor.column;
        cursor.after_id = 0;
        cursor.done = cursor.column > kSealedColumns.size();
      } else {
        cursor.after_id = last;
      }
      return static_cast<int>(changes.size());
    });
  }

  PurgeCounts purge(const PurgeCutoffs& cut, int limit) override {
    return guarded("purge", [&] { return purge_or_count(cut, std::max(1, limit), true); });
  }

  PurgeCounts purgeable(const PurgeCutoffs& cut) override {
    return guarded("purgeable",
                   [&] { return purge_or_count(cut, std::numeric_limits<int>::max(), false); });
  }

  std::vector<StatFact> stat_facts(Millis from, Millis to) override {
    return guarded("stat_facts", [&] {
      std::vector<StatFact> out;
      SQLite::Statement cases(conn_.db(),
                              "SELECT created_at, district, category FROM cases "
                              "WHERE created_at >= ?1 AND created_at < ?2");
      cases.bind(1, from);
      cases.bind(2, to);
      while (cases.executeStep()) {
        StatFact f;
        f.measure = "case";
        f.at = cases.getColumn(0).getInt64();
        f.district = cases.getColumn(1).getString();
        f.category = cases.getColumn(2).getString();
        out.push_back(std::move(f));
      }
      SQLite::Statement checkins(conn_.db(),
                                 "SELECT k.sent_at, k.week, c.district, k.status FROM checkins k "
                                 "JOIN contacts c ON c.id = k.contact_id "
                                 "WHERE k.sent_at >= ?1 AND k.sent_at < ?2");
      checkins.bind(1, from);
      checkins.bind(2, to);
      while (checkins.executeStep()) {
        StatFact f;
        f.measure = "checkin";
        f.at = checkins.getColumn(0).getInt64();
        f.week = checkins.getColumn(1).getString();
        f.district = checkins.getColumn(2).getString();
        f.category = checkins.getColumn(3).getString();
        out.push_back(std::move(f));
      }
      return out;
    });
  }

  // --- SAFETY W1-W6 (schema 4)

  std::vector<SessionRecord> idle_sessions(std::string_view channel, Millis idle_before,
                                           int limit) override {
    return guarded("idle_sessions", [&] {
      std::vector<SessionRecord> out;
      if (limit <= 0) return out;
      SQLite::Statement st(conn_.db(),
                           "SELECT id, provider, provider_session_id, contact_id, channel, state, "
                           "last_input_path, last_reply, hop_count, status, end_reason, "
                           "started_at, updated_at, ended_at FROM sessions WHERE status = "
                           "'active' AND channel = ?1 AND updated_at < ?2 ORDER BY id LIMIT ?3");
      st.bind(1, std::string(channel));
      st.bind(2, idle_before);
      st.bind(3, limit);
      while (st.executeStep()) out.push_back(session_from(st, cipher_));
      return out;
    });
  }

  std::optional<SessionRecord> find_dropped_session(std::int64_t contact_id,
                                                    std::string_view channel,
                                                    Millis since) override {
    return guarded("find_dropped_session", [&]() -> std::optional<SessionRecord> {
      SQLite::Statement st(conn_.db(),
                           "SELECT id, provider, provider_session_id, contact_id, channel, state, "
                           "last_input_path, last_reply, hop_count, status, end_reason, "
                           "started_at, updated_at, ended_at FROM sessions WHERE contact_id = ?1 "
                           "AND channel = ?2 AND status = 'incomplete' AND updated_at >= ?3 "
                           "ORDER BY updated_at DESC, id DESC LIMIT 1");
      st.bind(1, contact_id);
      st.bind(2, std::string(channel));
      st.bind(3, since);
      if (!st.executeStep()) return std::nullopt;
      return session_from(st, cipher_);
    });
  }

  void bind_session_to_case(std::int64_t session_id, std::int64_t case_id) override {
    guarded("bind_session_to_case", [&] {
      for (const char* sql : {"UPDATE answers SET case_id = ?2 WHERE session_id = ?1 AND case_id "
                              "IS NULL",
                              "UPDATE consents SET case_id = ?2 WHERE session_id = ?1 AND "
                              "case_id IS NULL"}) {
        SQLite::Statement st(conn_.db(), sql);
        st.bind(1, session_id);
        st.bind(2, case_id);
        st.exec();
      }
    });
  }

  std::optional<bool> case_consent(std::int64_t case_id, std::string_view purpose,
                                   bool later_refusal_counts) override {
    return guarded("case_consent", [&]() -> std::optional<bool> {
      // The most restrictive answer given for this case wins (SAFETY W2).
      SQLite::Statement st(conn_.db(),
                           "SELECT COUNT(*), MIN(granted), MAX(id), MAX(contact_id) FROM consents "
                           "WHERE case_id = ?1 AND purpose = ?2");
      st.bind(1, case_id);
      st.bind(2, std::string(purpose));
      if (!st.executeStep() || st.getColumn(0).getInt64() == 0) return std::nullopt;
      if (st.getColumn(1).getInt() == 0) return false;
      if (!later_refusal_counts) return true;
      SQLite::Statement later(conn_.db(),
                              "SELECT 1 FROM consents WHERE contact_id = ?1 AND purpose = ?2 AND "
                              "granted = 0 AND id > ?3 LIMIT 1");
      later.bind(1, st.getColumn(3).getInt64());
      later.bind(2, std::string(purpose));
      later.bind(3, st.getColumn(2).getInt64());
      return !later.executeStep();
    });
  }

  std::string case_answer(std::int64_t case_id, std::string_view key) override {
    return guarded("case_answer", [&] {
      SQLite::Statement st(conn_.db(),
                           "SELECT value, id FROM answers WHERE case_id = ?1 AND key = ?2 "
                           "ORDER BY id DESC LIMIT 1");
      st.bind(1, case_id);
      st.bind(2, std::string(key));
      if (!st.executeStep()) return std::string();
      return read_sealed(st.getColumn(0), cipher_, "answers", "value", st.getColumn(1).getInt64());
    });
  }

  void set_contact_pseudonym(std::int64_t contact_id, std::string_view pseudonym,
                             Millis now) override {
    guarded("set_contact_pseudonym", [&] {
      SQLite::Statement st(conn_.db(),
                           "UPDATE contacts SET pseudonym = ?2, updated_at = ?3 WHERE id = ?1");
      st.bind(1, contact_id);
      st.bind(2, std::string(pseudonym));
      st.bind(3, now);
      st.exec();
    });
  }

  void merge_contact_into(std::int64_t keep, std::int64_t drop, Millis now) override {
    guarded("merge_contact_into", [&] {
      if (keep == drop) return;
      auto exec = [&](const char* sql) {
        SQLite::Statement st(conn_.db(), sql);
        st.bind(1, keep);
        st.bind(2, drop);
        st.exec();
      };
      // An opt-out always wins; the later quiet period wins; her enrolment is kept.
      {
        SQLite::Statement st(conn_.db(),
                             "UPDATE contacts SET "
                             "status = CASE WHEN (SELECT status FROM contacts WHERE id = ?2) = "
                             "'opted_out' THEN 'opted_out' ELSE status END, "
                             "quiet_until = MAX(quiet_until, (SELECT quiet_until FROM contacts "
                             "WHERE id = ?2)), "
                             "language = CASE WHEN language = '' THEN (SELECT language FROM "
                             "contacts WHERE id = ?2) ELSE language END, "
                             "updated_at = ?3 WHERE id = ?1");
        st.bind(1, keep);
        st.bind(2, drop);
        st.bind(3, now);
        st.exec();
      }
      exec("UPDATE sessions SET contact_id = ?1 WHERE contact_id = ?2");
      exec("UPDATE cases SET contact_id = ?1 WHERE contact_id = ?2");
      exec("UPDATE answers SET contact_id = ?1 WHERE contact_id = ?2");
      exec("UPDATE consents SET contact_id = ?1 WHERE contact_id = ?2");
      exec("UPDATE inbound SET contact_id = ?1 WHERE contact_id = ?2");
      exec("UPDATE outbox SET contact_id = ?1 WHERE contact_id = ?2");
      exec("UPDATE OR IGNORE checkins SET contact_id = ?1 WHERE contact_id = ?2");
      exec("DELETE FROM checkins WHERE contact_id = ?2 AND ?1 = ?1");
      exec("DELETE FROM contacts WHERE id = ?2 AND ?1 = ?1");
      // An opt-out recorded on the merged contact stays her current SMS choice.
      {
        SQLite::Statement st(conn_.db(), "SELECT status FROM contacts WHERE id = ?1");
        st.bind(1, keep);
        if (st.executeStep() && st.getColumn(0).getString() == "opted_out") {
          SQLite::Statement c(conn_.db(),
                              "INSERT INTO consents (contact_id, session_id, purpose, granted, "
                              "created_at) VALUES (?1, NULL, 'sms', 0, ?2)");
          c.bind(1, keep);
          c.bind(2, now);
          c.exec();
        }
      }
    });
  }

  std::vector<CaseRecord> cases_with_failing_alert(int limit) override {
    return guarded("cases_with_failing_alert", [&] {
      std::vector<CaseRecord> out;
      if (limit <= 0) return out;
      // Open cases whose current rung's alert has failed at least once (a transport error, a
      // refusal, a dead letter, a failed delivery report) and has not been sent since.
      SQLite::Statement st(conn_.db(),
                           "SELECT " + std::string(kCaseColumns) +
                               " FROM cases WHERE status = 'open' AND rung > 0 AND EXISTS "
                               "(SELECT 1 FROM outbox o WHERE o.dedupe_key = 'alert:' || "
                               "cases.reference || ':' || cases.rung AND ((o.status IN "
                               "('pending', 'dead', 'expired') AND o.last_error != '') OR "
                               "o.delivery_status IN ('failed', 'rejected', 'undelivered'))) "
                               "ORDER BY rung, id LIMIT ?1");
      st.bind(1, limit);
      while (st.executeStep()) out.push_back(case_from(st));
      return out;
    });
  }

  bool outbox_cancel(std::int64_t id, std::string_view reason, Millis /*now*/) override {
    return guarded("outbox_cancel", [&] {
      SQLite::Statement st(conn_.db(),
                           "UPDATE outbox SET status = 'cancelled', last_error = ?2, "
                           "lease_until = 0 WHERE id = ?1 AND status IN ('pending', 'sending')");
      st.bind(1, id);
      st.bind(2, std::string(reason));
      return st.exec() > 0;
    });
  }

  int count_audit_since(std::string_view actor, std::string_view detail_prefix,
                        Millis since) override {
    return guarded("count_audit_since", [&] {
      SQLite::Statement st(conn_.db(),
                           "SELECT count(*) FROM audit WHERE actor = ?1 AND at >= ?2 AND "
                           "substr(detail, 1, length(?3)) = ?3");
      st.bind(1, std::string(actor));
      st.bind(2, since);
      st.bind(3, std::string(detail_prefix));
      st.executeStep();
      return st.getColumn(0).getInt();
    });
  }

  void set_responder_pin(std::int64_t id, std::string_view pin_hash, Millis now) override {
    guarded("set_responder_pin", [&] {
      SQLite::Statement st(conn_.db(),
                           "UPDATE responders SET pin_hash = ?1, updated_at = ?2 WHERE id = ?3");
      st.bind(1, std::string(pin_hash));
      st.bind(2, now);
      st.bind(3, id);
      if (st.exec() == 0) throw std::runtime_error("store: set_responder_pin: no such responder");
    });
  }

  bool audit_has(std::string_view case_reference, std::string_view action,
                 std::string_view detail) override {
    return guarded("audit_has", [&] {
      SQLite::Statement st(conn_.db(),
                           "SELECT 1 FROM audit WHERE case_reference = ?1 AND action = ?2 AND "
                           "detail = ?3 LIMIT 1");
      st.bind(1, std::string(case_reference));
      st.bind(2, std::string(action));
      st.bind(3, std::string(detail));
      return st.executeStep();
    });
  }

  bool outbox_cancel_key(std::string_view dedupe_key, std::string_view reason) override {
    return guarded("outbox_cancel_key", [&] {
      SQLite::Statement st(conn_.db(),
                           "UPDATE outbox SET status = 'cancelled', last_error = ?2, "
                           "lease_until = 0 WHERE dedupe_key = ?1 AND status = 'pending'");
      st.bind(1, std::string(dedupe_key));
      st.bind(2, std::string(reason));
      return st.exec() > 0;
    });
  }

  bool outbox_resend(std::int64_t id, Millis now) override {
    return guarded("outbox_resend", [&] {
      SQLite::Statement st(conn_.db(),
                           "UPDATE outbox SET status = 'pending', attempts = 0, not_before = ?2, "
                           "expires_at = 0, lease_until = 0, last_error = '' "
                           "WHERE id = ?1 AND status IN ('dead', 'expired', 'unconfirmed')");
      st.bind(1, id);
      st.bind(2, now);
      return st.exec() > 0;
    });
  }

  MetricsSnapshot metrics_snapshot() override {
    return guarded("metrics_snapshot", [&] {
      MetricsSnapshot m;
      for (auto& [status, n] : outbox_counts()) {
        if (status == "oldest_pending_created_at") {
          m.oldest_pending_at = n;
          continue;
        }
        if (status == "dead") m.dead_letters = n;
        if (status == "unconfirmed") m.unconfirmed = n;
        m.outbox_by_status.emplace_back(status, n);
      }
      m.failing_alerts = static_cast<std::int64_t>(cases_with_failing_alert(1'000'000).size());
      m.delivery_failures = conn_.db()
                                .execAndGet(
                                    "SELECT COUNT(*) FROM outbox WHERE delivery_status IN "
                                    "('failed', 'rejected', 'undelivered')")
                                .getInt64();
      SQLite::Statement st(conn_.db(),
                           "SELECT severity, COUNT(*), MIN(created_at) FROM cases "
                           "WHERE status = 'open' GROUP BY severity");
      while (st.executeStep()) {
        m.open_cases[st.getColumn(0).getString()] = st.getColumn(1).getInt64();
        const Millis at = st.getColumn(2).getInt64();
        if (m.oldest_open_case_at == 0 || at < m.oldest_open_case_at) m.oldest_open_case_at = at;
      }
      return m;
    });
  }

  std::string meta(std::string_view key) override {
    return guarded("meta", [&] {
      SQLite::Statement st(conn_.db(), "SELECT value FROM meta WHERE key = ?1");
      st.bind(1, std::string(key));
      return st.executeStep() ? st.getColumn(0).getString() : std::string();
    });
  }

  void set_meta(std::string_view key, std::string_view value) override {
    guarded("set_meta", [&] {
      SQLite::Statement st(conn_.db(),
                           "INSERT INTO meta (key, value) VALUES (?1, ?2) "
                           "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
      st.bind(1, std::string(key));
      st.bind(2, std::string(value));
      st.exec();
    });
  }

  KeyUsage sealed_key_usage() override {
    return guarded("sealed_key_usage", [&] {
      KeyUsage usage;
      for (const SealedColumn& c : kSealedColumns) {
        const std::string col = c.column;
        SQLite::Statement st(
            conn_.db(), "SELECT CASE WHEN typeof(" + col + ") = 'blob' THEN hex(substr(" + col +
                            ", 2, 1)) ELSE '' END, COUNT(*) FROM " + c.table + " WHERE (typeof(" +
                            col + ") = 'blob' AND length(" + col + ") > 0) OR (typeof(" + col +
                            ") = 'text' AND " + col + " <> '') GROUP BY 1");
        while (st.executeStep()) {
          const std::string hex = st.getColumn(0).getString();
          const int id = hex.empty() ? 0 : std::stoi(hex, nullptr, 16);
          usage[id] += st.getColumn(1).getInt64();
        }
      }
      SQLite::Statement st(conn_.db(), "SELECT payload FROM outbox");
      while (st.executeStep()) {
        const auto j = nlohmann::json::parse(st.getColumn(0).getString(), nullptr, false);
        if (!j.is_object() || !j.contains("to_enc") || !j["to_enc"].is_string()) continue;
        const auto blob = common::base64_decode(j["to_enc"].get<std::string>());
        const auto id = blob ? FieldCipher::key_id_of(*blob) : std::nullopt;
        if (id) usage[*id] += 1;
      }
      return usage;
    });
  }

  bool insert_outbox(const OutboxRecord& o) override {
    return guarded("insert_outbox", [&] {
      Stmt st = use(Sql::insert_outbox);
      st->bindNoCopy(1, o.kind);
      st->bindNoCopy(2, o.dedupe_key);
      st->bindNoCopy(3, o.payload);
      st->bindNoCopy(4, o.cause);
      st->bindNoCopy(5, o.status);
      st->bind(6, o.attempts);
      st->bind(7, o.created_at);
      st->bind(8, o.not_before);
      st->bind(9, o.expires_at);
      st->bindNoCopy(10, o.last_error);
      st->bind(11, o.contact_id);
      st->bindNoCopy(12, o.channel);
      st->bind(13, o.lease_until);
      st->bind(14, o.sent_at);
      st->bindNoCopy(15, o.provider_message_id);
      st->bindNoCopy(16, o.delivery_status);
      st->bindNoCopy(17, o.encoding);
      st->bind(18, o.segments);
      return st->exec() > 0;  // 0 changes: DO NOTHING took the conflict
    });
  }

  // --- Enrolment

  std::optional<ContactRecord> find_contact_by_id(std::int64_t id) override {
    return guarded("find_contact_by_id", [&]() -> std::optional<ContactRecord> {
      Stmt st = use(Sql::find_contact_by_id);
      st->bind(1, id);
      if (!st->executeStep()) return std::nullopt;
      return contact_from(st.get());
    });
  }

  std::int64_t enrol_contact(const ContactRecord& c, Millis now) override {
    return guarded("enrol_contact", [&] {
      Stmt st = use(Sql::enrol_contact);
      st->bindNoCopy(1, c.pseudonym);
      st->bindNoCopy(2, c.language);
      st->bind(3, now);
      st->bindNoCopy(4, c.status);
      bind_blob(*st, 5, c.phone_enc);
      st->bindNoCopy(6, c.district);
      st->bind(7, c.checkin_weekday);
      st->bind(8, c.window_start_hour);
      st->bind(9, c.window_end_hour);
      st->bindNoCopy(10, c.channel);
      st->bind(11, c.sms_ok ? 1 : 0);
      st->bind(12, c.confirm_ok ? 1 : 0);
      if (!st->executeStep()) throw std::runtime_error("store: enrol_contact: no row returned");
      return st->getColumn(0).getInt64();
    });
  }

  void set_contact_status(std::int64_t contact_id, std::string_view status, Millis now) override {
    guarded("set_contact_status", [&] {
      const std::string value(status);
      Stmt st = use(Sql::set_contact_status);
      st->bindNoCopy(1, value);
      st->bind(2, now);
      st->bind(3, contact_id);
      if (st->exec() == 0) throw std::runtime_error("store: set_contact_status: no such contact");
    });
  }

  void set_contact_phone(std::int64_t contact_id, std::string_view phone_enc, Millis now) override {
    guarded("set_contact_phone", [&] {
      const std::string value(phone_enc);
      Stmt st = use(Sql::set_contact_phone);
      bind_blob(*st, 1, value);
      st->bind(2, now);
      st->bind(3, contact_id);
      if (st->exec() == 0) throw std::runtime_error("store: set_contact_phone: no such contact");
    });
  }

  void set_contact_missed(std::int64_t contact_id, int missed_in_row, Millis now) override {
    guarded("set_contact_missed", [&] {
      Stmt st = use(Sql::set_contact_missed);
      st->bind(1, missed_in_row);
      st->bind(2, now);
      st->bind(3, contact_id);
      if (st->exec() == 0) throw std::runtime_error("store: set_contact_missed: no such contact");
    });
  }

  std::vector<ContactRecord> list_contacts(std::int64_t after_id, int limit) override {
    return guarded("list_contacts", [&] {
      Stmt st = use(Sql::list_contacts);
      st->bind(1, after_id);
      st->bind(2, limit);
      return all_rows(*st, contact_from);
    });
  }

  // --- Inbound messages

  bool insert_inbound(const InboundRecord& m) override {
    return guarded("insert_inbound", [&] {
      Stmt st = use(Sql::insert_inbound);
      st->bindNoCopy(1, m.provider);
      st->bindNoCopy(2, m.provider_message_id);
      st->bind(3, m.contact_id);
      st->bindNoCopy(4, m.text_hash);
      st->bind(5, std::string());
      st->bind(6, m.received_at);
      if (st->exec() == 0) return false;  // a redelivery
      if (!m.reply.empty()) set_inbound_reply(conn_.db().getLastInsertRowid(), m.reply);
      return true;
    });
  }

  std::optional<InboundRecord> find_inbound(std::string_view provider,
                                            std::string_view provider_message_id) override {
    return guarded("find_inbound", [&]() -> std::optional<InboundRecord> {
      const std::string p(provider);
      const std::string id(provider_message_id);
      Stmt st = use(Sql::find_inbound);
      st->bindNoCopy(1, p);
      st->bindNoCopy(2, id);
      if (!st->executeStep()) return std::nullopt;
      return inbound_from(st.get(), cipher_);
    });
  }

  void set_inbound_reply(std::int64_t inbound_id, std::string_view reply) override {
    guarded("set_inbound_reply", [&] {
      const std::string value(reply);
      Stmt st = use(Sql::set_inbound_reply);
      bind_sealed(*st, 1, cipher_, value, "inbound", "reply", inbound_id);
      st->bind(2, inbound_id);
      if (st->exec() == 0) throw std::runtime_error("store: set_inbound_reply: no such message");
    });
  }

  int count_inbound_since(std::int64_t contact_id, Millis since) override {
    return guarded("count_inbound_since", [&] {
      Stmt st = use(Sql::count_inbound_since);
      st->bind(1, contact_id);
      st->bind(2, since);
      st->executeStep();
      return st->getColumn(0).getInt();
    });
  }

  int count_inbound_text_since(std::int64_t contact_id, std::string_view text_hash,
                               Millis since) override {
    return guarded("count_inbound_text_since", [&] {
      const std::string hash(text_hash);
      Stmt st = use(Sql::count_inbound_text_since);
      st->bind(1, contact_id);
      st->bind(2, since);
      st->bindNoCopy(3, hash);
      st->executeStep();
      return st->getColumn(0).getInt();
    });
  }

  // --- Outbox dispatch

  std::vector<OutboxRecord> claim_outbox(Millis now, Millis lease_until, int limit,
                                         std::string_view kind_prefix) override {
    return guarded("claim_outbox", [&] {
      const std::string prefix(kind_prefix);
      {
        Stmt st = use(Sql::expire_outbox);
        st->bind(1, now);
        st->bindNoCopy(2, prefix);
        st->exec();
      }
      std::vector<OutboxRecord> claimed;
      if (limit <= 0) return claimed;  // SQLite would read a negative LIMIT as "no limit"
      {
        Stmt st = use(Sql::claim_outbox);
        st->bind(1, now);
        st->bind(2, lease_until);
        st->bindNoCopy(3, prefix);
        st->bind(4, limit);
        claimed = all_rows(*st, outbox_from);
      }
      // RETURNING yields rows in no promised order.
      std::sort(claimed.begin(), claimed.end(), [](const OutboxRecord& a, const OutboxRecord& b) {
        return a.not_before != b.not_before ? a.not_before < b.not_before : a.id < b.id;
      });
      return claimed;
    });
  }

  std::pair<int, int> settle_in_doubt_outbox(std::string_view kind_prefix, Millis) override {
    return guarded("settle_in_doubt_outbox", [&] {
      const std::string prefix(kind_prefix);
      int to_pending = 0;
      {
        Stmt st = use(Sql::in_doubt_to_pending);
        st->bindNoCopy(1, prefix);
        to_pending = st->exec();
      }
      Stmt st = use(Sql::in_doubt_unconfirmed);
      st->bindNoCopy(1, prefix);
      return std::pair<int, int>(to_pending, st->exec());
    });
  }

  int release_stale_outbox(Millis now) override {
    return guarded("release_stale_outbox", [&] {
      Stmt st = use(Sql::release_stale_outbox);
      st->bind(1, now);
      return st->exec();
    });
  }

  void outbox_sent(std::int64_t id, std::string_view provider_message_id, Millis now) override {
    guarded("outbox_sent", [&] {
      const std::string message_id(provider_message_id);
      Stmt st = use(Sql::outbox_sent);
      st->bind(1, id);
      st->bind(2, now);
      st->bindNoCopy(3, message_id);
      if (st->exec() == 0) throw std::runtime_error("store: outbox_sent: no such outbox row");
    });
  }

  // `now` is part of the interface for symmetry; the outbox keeps no updated_at.
  void outbox_retry(std::int64_t id, Millis not_before, std::string_view error,
                    Millis /*now*/) override {
    guarded("outbox_retry", [&] {
      const std::string reason(error);
      Stmt st = use(Sql::outbox_retry);
      st->bind(1, id);
      st->bind(2, not_before);
      st->bindNoCopy(3, reason);
      if (st->exec() == 0) throw std::runtime_error("store: outbox_retry: no such outbox row");
    });
  }

  void outbox_dead(std::int64_t id, std::string_view error, Millis /*now*/) override {
    guarded("outbox_dead", [&] {
      const std::string reason(error);
      Stmt st = use(Sql::outbox_dead);
      st->bind(1, id);
      st->bindNoCopy(2, reason);
      if (st->exec() == 0) throw std::runtime_error("store: outbox_dead: no such outbox row");
    });
  }

  std::optional<OutboxRecord> find_outbox(std::int64_t id) override {
    return guarded("find_outbox", [&]() -> std::optional<OutboxRecord> {
      Stmt st = use(Sql::find_outbox);
      st->bind(1, id);
      if (!st->executeStep()) return std::nullopt;
      return outbox_from(st.get());
    });
  }

  std::vector<OutboxRecord> list_outbox(std::string_view status, int limit) override {
    return guarded("list_outbox", [&] {
      if (status.empty()) {
        Stmt st = use(Sql::list_outbox_all);
        st->bind(1, limit);
        return all_rows(*st, outbox_from);
      }
      const std::string value(status);
      Stmt st = use(Sql::list_outbox);
      st->bindNoCopy(1, value);
      st->bind(2, limit);
      return all_rows(*st, outbox_from);
    });
  }

  bool update_delivery(std::string_view channel, std::string_view provider_message_id,
                       std::string_view delivery_status, Millis /*now*/) override {
    if (provider_message_id.empty()) return false;  // unsent rows all have ""
    return guarded("update_delivery", [&] {
      const std::string ch(channel);
      const std::string message_id(provider_message_id);
      const std::string value(delivery_status);
      Stmt st = use(Sql::update_delivery);
      st->bindNoCopy(1, ch);
      st->bindNoCopy(2, message_id);
      st->bindNoCopy(3, value);
      return st->exec() > 0;
    });
  }

  bool update_delivery_by_id(std::int64_t outbox_id, std::string_view delivery_status,
                             Millis /*now*/) override {
    return guarded("update_delivery_by_id", [&] {
      const std::string value(delivery_status);
      Stmt st = use(Sql::update_delivery_by_id);
      st->bind(1, outbox_id);
      st->bindNoCopy(2, value);
      return st->exec() > 0;
    });
  }

  std::vector<std::pair<std::string, std::int64_t>> outbox_counts() override {
    return guarded("outbox_counts", [&] {
      std::vector<std::pair<std::string, std::int64_t>> counts;
      {
        Stmt st = use(Sql::outbox_status_counts);
        while (st->executeStep()) {
          counts.emplace_back(st->getColumn(0).getString(), st->getColumn(1).getInt64());
        }
      }
      Stmt st = use(Sql::outbox_oldest_pending);
      st->executeStep();
      counts.emplace_back("oldest_pending_created_at", st->getColumn(0).getInt64());
      return counts;
    });
  }

  // --- Weekly check-ins

  // The statement reads the id range (lo, hi] only; the range doubles until `limit` rows are
  // found or the ids run out. Each page so costs about the rows it returns (plus up to as many
  // again), where one unbounded query per page would read every candidate after after_id: a
  // scheduler paging through 1,000,000 contacts would read them quadratically often.
  std::vector<ContactRecord> due_checkins(std::string_view week, int weekday, int hour,
                                          std::int64_t after_id, int limit) override {
    return guarded("due_checkins", [&] {
      std::vector<ContactRecord> due;
      if (limit <= 0 || hour < 0) return due;  // hours are 0..23: nothing starts before 0
      std::int64_t max_id = 0;
      {
        Stmt st = use(Sql::max_contact_id);
        st->executeStep();
        max_id = st->getColumn(0).getInt64();
      }
      const std::string w(week);
      std::int64_t lo = after_id;
      std::int64_t span = std::max<std::int64_t>(limit, 64) * 16;
      while (lo < max_id && std::cmp_less(due.size(), limit)) {
        const std::int64_t hi = max_id - lo <= span ? max_id : lo + span;
        Stmt st = use(Sql::due_checkins);
        st->bindNoCopy(1, w);
        st->bind(2, weekday);
        st->bind(3, hour);
        st->bind(4, lo);
        st->bind(5, limit - static_cast<int>(due.size()));
        st->bind(6, hi);
        while (st->executeStep()) due.push_back(contact_from(st.get()));
        lo = hi;
        if (span <= std::numeric_limits<std::int64_t>::max() / 2) span *= 2;
      }
      return due;
    });
  }

  bool insert_checkin(const CheckinRecord& c) override {
    return guarded("insert_checkin", [&] {
      CheckinRecord row = c;
      row.id = 0;
      Stmt st = use(Sql::insert_checkin);
      bind_checkin(*st, row, cipher_);
      if (st->exec() == 0) return false;  // she has that week's row already
      if (!c.answer.empty()) {
        const std::int64_t id = conn_.db().getLastInsertRowid();
        SQLite::Statement up(conn_.db(), "UPDATE checkins SET answer = ?1 WHERE id = ?2");
        bind_sealed(up, 1, cipher_, c.answer, "checkins", "answer", id);
        up.bind(2, id);
        up.exec();
      }
      return true;
    });
  }

  std::optional<CheckinRecord> open_checkin(std::int64_t contact_id) override {
    return guarded("open_checkin", [&]() -> std::optional<CheckinRecord> {
      Stmt st = use(Sql::open_checkin);
      st->bind(1, contact_id);
      if (!st->executeStep()) return std::nullopt;
      return checkin_from(st.get(), cipher_);
    });
  }

  void update_checkin(const CheckinRecord& c) override {
    guarded("update_checkin", [&] {
      Stmt st = use(Sql::update_checkin);
      bind_checkin(*st, c, cipher_);
      st->bind(10, c.id);
      if (st->exec() == 0) throw std::runtime_error("store: update_checkin: no such check-in");
    });
  }

  std::vector<CheckinRecord> checkins_to_remind(Millis now, int limit) override {
    return guarded("checkins_to_remind", [&] {
      Stmt st = use(Sql::checkins_to_remind);
      st->bind(1, now);
      st->bind(2, limit);
      return all_rows(*st,
                      [&](const SQLite::Statement& row) { return checkin_from(row, cipher_); });
    });
  }

  std::vector<CheckinRecord> checkins_overdue(Millis now, int limit) override {
    return guarded("checkins_overdue", [&] {
      Stmt st = use(Sql::checkins_overdue);
      st->bind(1, now);
      st->bind(2, limit);
      return all_rows(*st,
                      [&](const SQLite::Statement& row) { return checkin_from(row, cipher_); });
    });
  }

  std::optional<CheckinRecord> previous_checkin(std::int64_t contact_id,
                                                std::string_view week) override {
    return guarded("previous_checkin", [&]() -> std::optional<CheckinRecord> {
      const std::string w(week);
      Stmt st = use(Sql::previous_checkin);
      st->bind(1, contact_id);
      st->bindNoCopy(2, w);
      if (!st->executeStep()) return std::nullopt;
      return checkin_from(st.get(), cipher_);
    });
  }

  // --- Responder queue

  std::optional<CaseRecord> find_case_by_id(std::int64_t id) override {
    return guarded("find_case_by_id", [&]() -> std::optional<CaseRecord> {
      Stmt st = use(Sql::find_case_by_id);
      st->bind(1, id);
      if (!st->executeStep()) return std::nullopt;
      return case_from(st.get());
    });
  }

  void update_case(const CaseRecord& c) override {
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
      if (st->exec() == 0) throw std::runtime_error("store: update_case: no such case");
    });
  }

  // Not a hot path (a responder's list view), so the statement is built for the filter's shape
  // and prepared per call; values are only ever bound.
  std::vector<CaseRecord> list_cases(const CaseFilter& filter) override {
    return guarded("list_cases", [&] {
      check_transaction();
      SQLite::Statement st(conn_.db(), list_cases_text(filter));
      for (std::size_t i = 0; i < filter.teams.size(); ++i) {
        st.bindNoCopy(numbered(":t", i), filter.teams[i]);
      }
      if (!filter.status.empty()) st.bindNoCopy(":status", filter.status);
      if (!filter.severity.empty()) st.bindNoCopy(":severity", filter.severity);
      if (filter.after_id > 0) st.bind(":after", filter.after_id);
      st.bind(":limit", std::clamp(filter.limit, 1, kListCasesMaxLimit));
      return all_rows(st, case_from);
    });
  }

  std::vector<CaseRecord> cases_due_for_alert(Millis now, int limit) override {
    return guarded("cases_due_for_alert", [&] {
      // SQLite would read a negative LIMIT as "no limit".
      if (limit <= 0) return std::vector<CaseRecord>();
      Stmt st = use(Sql::cases_due_for_alert);
      st->bind(1, now);
      st->bind(2, limit);
      return all_rows(*st, case_from);
    });
  }

  std::vector<CaseRecord> cases_to_route(int limit) override {
    return guarded("cases_to_route", [&] {
      if (limit <= 0) return std::vector<CaseRecord>();
      Stmt st = use(Sql::cases_to_route);
      st->bind(1, limit);
      return all_rows(*st, case_from);
    });
  }

  std::string session_answer(std::int64_t session_id, std::string_view key) override {
    if (session_id == 0) return {};  // answers outside a session have session_id NULL
    return guarded("session_answer", [&] {
      const std::string k(key);
      Stmt st = use(Sql::session_answer);
      st->bind(1, session_id);
      st->bindNoCopy(2, k);
      if (!st->executeStep()) return std::string();
      return read_sealed(st->getColumn(0), cipher_, "answers", "value",
                         st->getColumn(1).getInt64());
    });
  }

  std::optional<bool> latest_consent(std::int64_t contact_id, std::string_view purpose) override {
    return guarded("latest_consent", [&]() -> std::optional<bool> {
      const std::string p(purpose);
      Stmt st = use(Sql::latest_consent);
      st->bind(1, contact_id);
      st->bindNoCopy(2, p);
      if (!st->executeStep()) return std::nullopt;
      return st->getColumn(0).getInt() != 0;
    });
  }

  std::int64_t upsert_responder(const ResponderRecord& r) override {
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

  void deactivate_responders_except(const std::vector<std::string>& names, Millis now) override {
    guarded("deactivate_responders_except", [&] {
      check_transaction();
      SQLite::Statement st(conn_.db(), deactivate_responders_text(names.size()));
      st.bind(":now", now);
      for (std::size_t i = 0; i < names.size(); ++i) st.bindNoCopy(numbered(":n", i), names[i]);
      st.exec();
    });
  }

  std::vector<ResponderRecord> list_responders() override {
    return guarded("list_responders", [&] {
      Stmt st = use(Sql::list_responders);
      return all_rows(*st, responder_from);
    });
  }

  std::optional<ResponderRecord> find_responder_by_token(std::string_view token_hash) override {
    if (token_hash.empty()) return std::nullopt;  // "" means "no API access", never a match
    return guarded("find_responder_by_token", [&]() -> std::optional<ResponderRecord> {
      const std::string hash(token_hash);
      Stmt st = use(Sql::find_responder_by_token);
      st->bindNoCopy(1, hash);
      if (!st->executeStep()) return std::nullopt;
      return responder_from(st.get());
    });
  }

  std::optional<ResponderRecord> find_responder_by_phone(
      std::string_view phone_pseudonym) override {
    if (phone_pseudonym.empty()) return std::nullopt;
    return guarded("find_responder_by_phone", [&]() -> std::optional<ResponderRecord> {
      const std::string pseudonym(phone_pseudonym);
      Stmt st = use(Sql::find_responder_by_phone);
      st->bindNoCopy(1, pseudonym);
      if (!st->executeStep()) return std::nullopt;
      return responder_from(st.get());
    });
  }

  std::optional<ResponderRecord> find_responder(std::int64_t id) override {
    return guarded("find_responder", [&]() -> std::optional<ResponderRecord> {
      Stmt st = use(Sql::find_responder);
      st->bind(1, id);
      if (!st->executeStep()) return std::nullopt;
      return responder_from(st.get());
    });
  }

  void set_responder_token(std::int64_t id, std::string_view token_hash, Millis now,
                           Millis expires_at) override {
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

  std::int64_t insert_note(const NoteRecord& n) override {
    return guarded("insert_note", [&] {
      Stmt st = use(Sql::insert_note);
      st->bind(1, n.case_id);
      st->bind(2, n.responder_id);
      bind_blob(*st, 3, n.text_enc);
      st->bind(4, n.created_at);
      st->exec();
      return conn_.db().getLastInsertRowid();
    });
  }

  std::vector<NoteRecord> list_notes(std::int64_t case_id) override {
    return guarded("list_notes", [&] {
      Stmt st = use(Sql::list_notes);
      st->bind(1, case_id);
      return all_rows(*st, note_from);
    });
  }

  // The last row is read inside the job's transaction, and only the writer thread writes, so no
  // other append can slip in between: the chain has no forks and its ids no gaps.
  AuditRecord append_audit(Millis at, std::string_view actor, std::string_view action,
                           std::string_view case_reference, std::string_view detail) override {
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

  void reseal_audit_row(std::int64_t id, std::string_view prev_hash,
                        std::string_view hash) override {
    guarded("reseal_audit_row", [&] {
      SQLite::Statement st(conn_.db(), "UPDATE audit SET prev_hash = ?1, hash = ?2 WHERE id = ?3");
      st.bind(1, std::string(prev_hash));
      st.bind(2, std::string(hash));
      st.bind(3, id);
      st.exec();
    });
  }

  std::vector<AuditRecord> list_audit(std::int64_t after_id, int limit) override {
    return guarded("list_audit", [&] {
      if (limit <= 0) return std::vector<AuditRecord>();
      Stmt st = use(Sql::list_audit);
      st->bind(1, after_id);
      st->bind(2, limit);
      return all_rows(*st, audit_from);
    });
  }

 private:
  // Every Tx runs inside a transaction. If SQLite rolled it back (I/O error, disk full) and the
  // job carried on, its next statements would autocommit on their own, outside the batch.
  void check_transaction() const {
    if (!conn_.in_transaction()) {
      throw std::runtime_error("store: the transaction was rolled back by an earlier error");
    }
  }

  Stmt use(Sql id) {
    check_transaction();
    return Stmt(conn_, id);
  }

  std::vector<std::int64_t> ids(const std::string& sql, Millis before, int limit) {
    std::vector<std::int64_t> out;
    SQLite::Statement st(conn_.db(), sql);
    st.bind(1, before);
    st.bind(2, limit);
    while (st.executeStep()) out.push_back(st.getColumn(0).getInt64());
    return out;
  }

  // Runs `sql` (one "?1" = the id) for every id; returns the rows changed.
  std::int64_t for_each_id(const std::string& sql, const std::vector<std::int64_t>& list) {
    std::int64_t changed = 0;
    SQLite::Statement st(conn_.db(), sql);
    for (const auto id : list) {
      st.bind(1, id);
      changed += st.exec();
      st.reset();
    }
    return changed;
  }

  std::int64_t count_of(const std::string& sql, const std::vector<std::int64_t>& list) {
    std::int64_t n = 0;
    SQLite::Statement st(conn_.db(), sql);
    for (const auto id : list) {
      st.bind(1, id);
      if (st.executeStep()) n += st.getColumn(0).getInt64();
      st.reset();
    }
    return n;
  }

  PurgeCounts purge_or_count(const PurgeCutoffs& cut, int limit, bool remove) {
    PurgeCounts n;
    // Sessions first are those no case points to; a closed case takes its session along.
    if (cut.closed_cases > 0) {
      const auto cases =
          ids("SELECT id FROM cases WHERE status = 'closed' AND closed_at > 0 AND closed_at < ?1 "
              "ORDER BY id LIMIT ?2",
              cut.closed_cases, limit);
      n.cases = static_cast<std::int64_t>(cases.size());
      n.notes = count_of("SELECT COUNT(*) FROM notes WHERE case_id = ?1", cases);
      std::vector<std::int64_t> sessions;
      {
        SQLite::Statement st(conn_.db(),
                             "SELECT session_id FROM cases WHERE id = ?1 AND session_id IS NOT "
                             "NULL AND NOT EXISTS (SELECT 1 FROM cases o WHERE o.session_id = "
                             "cases.session_id AND o.id != cases.id)");
        for (const auto id : cases) {
          st.bind(1, id);
          if (st.executeStep()) sessions.push_back(st.getColumn(0).getInt64());
          st.reset();
        }
      }
      n.answers += count_of("SELECT COUNT(*) FROM answers WHERE session_id = ?1", sessions);
      n.sessions += static_cast<std::int64_t>(sessions.size());
      if (remove) {
        for_each_id("DELETE FROM notes WHERE case_id = ?1", cases);
        for_each_id("UPDATE consents SET case_id = NULL WHERE case_id = ?1", cases);
        for_each_id("DELETE FROM answers WHERE case_id = ?1", cases);
        for_each_id("DELETE FROM cases WHERE id = ?1", cases);
        drop_sessions(sessions);
      }
    }
    if (cut.sessions > 0) {
      const auto sessions = ids(
          "SELECT s.id FROM sessions s WHERE s.status != 'active' AND s.updated_at < ?1 AND NOT "
          "EXISTS (SELECT 1 FROM cases c WHERE c.session_id = s.id) AND NOT EXISTS (SELECT 1 "
          "FROM answers a WHERE a.session_id = s.id AND a.case_id IS NOT NULL) "
          "ORDER BY s.id LIMIT ?2",
          cut.sessions, limit);
      n.answers += count_of("SELECT COUNT(*) FROM answers WHERE session_id = ?1", sessions);
      n.sessions += static_cast<std::int64_t>(sessions.size());
      if (remove) drop_sessions(sessions);
      const auto loose =
          ids("SELECT id FROM answers WHERE session_id IS NULL AND case_id IS NULL AND "
              "created_at < ?1 ORDER BY id LIMIT ?2",
              cut.sessions, limit);
      n.answers += static_cast<std::int64_t>(loose.size());
      if (remove) for_each_id("DELETE FROM answers WHERE id = ?1", loose);
    }
    const auto simple = [&](Millis before, const char* select, const char* del,
                            std::int64_t& count) {
      if (before <= 0) return;
      const auto rows = ids(select, before, limit);
      count += static_cast<std::int64_t>(rows.size());
      if (remove) for_each_id(del, rows);
    };
    simple(cut.outbox,
           "SELECT id FROM outbox WHERE status IN ('sent', 'dead', 'expired', 'unconfirmed', "
           "'cancelled') AND "
           "created_at < ?1 ORDER BY id LIMIT ?2",
           "DELETE FROM outbox WHERE id = ?1", n.outbox);
    simple(cut.inbound, "SELECT id FROM inbound WHERE received_at < ?1 ORDER BY id LIMIT ?2",
           "DELETE FROM inbound WHERE id = ?1", n.inbound);
    simple(cut.checkins,
           "SELECT id FROM checkins WHERE status NOT IN ('sent', 'reminded') AND sent_at < ?1 "
           "ORDER BY id LIMIT ?2",
           "DELETE FROM checkins WHERE id = ?1", n.checkins);
    return n;
  }

  void drop_sessions(const std::vector<std::int64_t>& sessions) {
    for_each_id("UPDATE consents SET session_id = NULL WHERE session_id = ?1", sessions);
    for_each_id("DELETE FROM answers WHERE session_id = ?1", sessions);
    for_each_id("DELETE FROM sessions WHERE id = ?1", sessions);
  }

  // A sealed column's value re-encrypted with the current key, or nullopt when it is current
  // (or empty, or a clear value in a column that holds only ciphertext).
  std::optional<std::string> reseal_value(const SealedColumn& c, const SQLite::Statement& sel,
                                          std::uint8_t current) const {
    const SQLite::Column value = sel.getColumn(2);
    const std::string ad =
        FieldCipher::associated_data(c.table, c.column, sel.getColumn(1).getInt64());
    std::string plain;
    if (value.getType() == SQLITE_BLOB) {
      const std::string blob(static_cast<const char*>(value.getBlob()),
                             static_cast<std::size_t>(value.getBytes()));
      if (blob.empty()) return std::nullopt;
      if (!stale(blob, current)) return std::nullopt;
      auto opened = cipher_->decrypt(blob, ad);
      if (!opened) {
        throw std::runtime_error(std::string("store: ") + c.table + "." + c.column + " of row " +
                                 std::to_string(sel.getColumn(0).getInt64()) +
                                 " does not decrypt with any key of the key file");
      }
      plain = *std::move(opened);
    } else {
      if (!c.may_be_clear) return std::nullopt;
      plain = value.getString();
      if (plain.empty()) return std::nullopt;
    }
    return cipher_->encrypt(plain, ad);
  }

  // Written with another key or before padding (SECURITY #11): to be re-encrypted.
  static bool stale(std::string_view blob, std::uint8_t current) {
    return FieldCipher::key_id_of(blob) != current ||
           static_cast<std::uint8_t>(blob[0]) != FieldCipher::kVersion;
  }

  // An outbox row's payload with its number and text re-encrypted (a text still in clear is
  // sealed), or nullopt when nothing changes.
  std::optional<std::string> reseal_outbox_row(const SQLite::Statement& sel,
                                               std::uint8_t current) const {
    auto j = nlohmann::json::parse(sel.getColumn(2).getString(), nullptr, false);
    if (!j.is_object() || !j.contains("to_enc") || !j["to_enc"].is_string()) return std::nullopt;
    const std::string key = sel.getColumn(1).getString();
    const auto where = [&] { return std::to_string(sel.getColumn(0).getInt64()); };
    bool changed = false;
    const auto reseal = [&](const char* name, const std::string& ad) {
      if (!j.contains(name) || !j[name].is_string()) return;
      const auto blob = common::base64_decode(j[name].get<std::string>());
      if (!blob || !stale(*blob, current)) return;
      auto plain = cipher_->decrypt(*blob, ad);
      if (!plain) {
        throw std::runtime_error("store: the " + std::string(name) + " of outbox row " + where() +
                                 " does not decrypt with any key of the key file");
      }
      j[name] = common::base64_encode(cipher_->encrypt(*plain, ad));
      changed = true;
    };
    reseal("to_enc", outbox_to_associated_data(key));
    reseal("text_enc", outbox_text_associated_data(key));
    if (j.contains("text") && j["text"].is_string()) {
      j["text_enc"] = common::base64_encode(
          cipher_->encrypt(j["text"].get<std::string>(), outbox_text_associated_data(key)));
      j.erase("text");
      changed = true;
    }
    if (!changed) return std::nullopt;
    return j.dump();
  }

  Connection& conn_;
  const FieldCipher* cipher_;     // null: sealed columns are written in clear (tests only)
  const std::string& audit_key_;  // the store's, which outlives every Tx
};

// Keeps job errors fit for one log line.
std::string short_reason(const char* what) {
  constexpr std::size_t kMax = 300;
  std::string s = (what != nullptr && *what != '\0') ? what : "job failed";
  if (s.size() > kMax) {
    std::size_t cut = kMax;
    // Do not split a UTF-8 sequence.
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0U) == 0x80U) --cut;
    s.resize(cut);
    s += "...";
  }
  return s;
}

// The first line of a quick_check report that says something: SQLite heads the report with
// "*** in database main ***", which names no problem.
std::string first_finding(const std::string& report) {
  std::size_t begin = 0;
  while (begin < report.size()) {
    std::size_t end = report.find('\n', begin);
    if (end == std::string::npos) end = report.size();
    const std::string_view line(report.data() + begin, end - begin);
    if (!line.empty() && !line.starts_with("*** ")) return std::string(line);
    begin = end + 1;
  }
  return report;
}

void call_done(const Done& done, const JobResult& result) {
  if (!done) return;
  try {
    done(result);
  } catch (const std::exception& e) {
    spdlog::error("store: a done callback threw: {}", short_reason(e.what()));
  } catch (...) {
    spdlog::error("store: a done callback threw a non-standard exception");
  }
}

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(const StoreOptions& options);
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;
  ~SqliteStore() override { close(); }

  void submit(Job job, Done done) override;
  JobResult run(Job job) override;
  void read(const std::function<void(Tx&)>& query) override;
  JobResult checkpoint_wal() override;
  void close() override;
  StoreStats stats() const override;
  int schema_version() const override { return schema_version_; }

 private:
  struct Pending {
    Job job;
    Done done;
    bool checkpoint = false;  // a wal_checkpoint(TRUNCATE) after the batch commits
  };
  JobResult checkpoint_now();

  void open_write_connection(const StoreOptions& options);
  void writer_loop();
  void checkpointer_loop();
  void run_batch(std::vector<Pending>& batch, std::vector<JobResult>& results);
  JobResult run_job(Job& job);
  void undo_job() noexcept;
  void exec_write(Sql id) {
    Stmt st(*write_, id);
    st->exec();
  }
  void record_batch(const std::vector<JobResult>& results);

  const std::string path_;
  const std::size_t max_batch_;
  const std::shared_ptr<const common::FieldCipher> cipher_;
  int schema_version_ = 0;

  std::optional<Connection> write_;  // the writer thread's alone once it runs
  std::mutex read_mu_;
  std::optional<Connection> read_;  // guarded by read_mu_; empty after close()

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Pending> queue_;  // guarded by queue_mu_
  bool accepting_ = true;      // guarded by queue_mu_

  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> jobs_{0};
  std::atomic<std::uint64_t> failed_jobs_{0};
  std::atomic<std::uint64_t> largest_batch_{0};
  std::array<std::atomic<std::uint64_t>, StoreStats::kBatchBounds.size()> batch_buckets_{};
  std::atomic<std::uint64_t> batches_{0};

  std::mutex close_mu_;
  bool closed_ = false;  // guarded by close_mu_
  std::thread writer_;
  std::thread::id writer_id_;
  std::optional<Connection> checkpointer_conn_;  // the checkpointer thread's alone
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_stop_ = false;  // guarded by checkpoint_mu_
  std::thread checkpointer_;
  const std::string audit_key_;
};

SqliteStore::SqliteStore(const StoreOptions& options)
    : path_(options.path),
      max_batch_(std::max<std::size_t>(1, options.max_batch)),
      cipher_(options.cipher),
      audit_key_(options.audit_key) {
  open_write_connection(options);
  schema_version_ = detail::migrate(write_->db(), path_);
  try {
    read_.emplace(path_, SQLite::OPEN_READONLY, options.busy_timeout);
  } catch (const SQLite::Exception& e) {
    throw std::runtime_error("database " + path_ + " could not be opened for reading: " + e.what());
  }
  spdlog::info("store: opened {} (schema version {}, synchronous={})", path_, schema_version_,
               options.synchronous_full ? "FULL" : "NORMAL");
  try {
    checkpointer_conn_.emplace(path_, SQLite::OPEN_READWRITE, options.busy_timeout);
  } catch (const SQLite::Exception& e) {
    throw std::runtime_error("database " + path_ +
                             " could not be opened for checkpoints: " + e.what());
  }
  // Last: nothing after this may throw, or the joinable threads would terminate the process.
  writer_ = std::thread([this] { writer_loop(); });
  writer_id_ = writer_.get_id();
  checkpointer_ = std::thread([this] { checkpointer_loop(); });
}

// Copies committed WAL frames into the database file in the background (PASSIVE: it never
// blocks the writer or readers, and takes what it can). Commits then only append to the WAL,
// whose space SQLite reuses from the start once everything in it is checkpointed. Durability
// is untouched: a commit is on disk once its WAL frames are synced.
void SqliteStore::checkpointer_loop() {
  std::unique_lock lock(checkpoint_mu_);
  while (!checkpoint_stop_) {
    checkpoint_cv_.wait_for(lock, std::chrono::milliseconds(200));
    if (checkpoint_stop_) break;
    try {
      checkpointer_conn_->db().exec("PRAGMA wal_checkpoint(PASSIVE)");
    } catch (const SQLite::Exception& e) {
      spdlog::warn("store: background checkpoint of {} failed: {}", path_, e.what());
    }
  }
}

void SqliteStore::open_write_connection(const StoreOptions& options) {
  namespace fs = std::filesystem;
  if (path_.empty()) throw std::runtime_error("database path is empty");
  const fs::path file(path_);
  const fs::path dir = file.has_parent_path() ? file.parent_path() : fs::path(".");
  std::error_code ec;
  // Creating directories is the operator's call (ownership, permissions, mount): refuse instead.
  if (!fs::is_directory(dir, ec)) {
    throw std::runtime_error("database " + path_ + ": directory " + dir.string() +
                             " does not exist");
  }
  const bool existed = fs::exists(file, ec) && fs::file_size(file, ec) > 0;

  try {
    write_.emplace(path_, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE, options.busy_timeout);
  } catch (const SQLite::Exception& e) {
    throw std::runtime_error("database " + path_ + " could not be opened: " + e.what());
  }
  SQLite::Database& db = write_->db();

  // Checked before any PRAGMA that writes (journal_mode): a damaged file is left as found.
  if (existed) {
    std::string verdict;
    try {
      SQLite::Statement check(db, "PRAGMA quick_check");
      verdict = check.executeStep() ? check.getColumn(0).getString() : "no result";
    } catch (const SQLite::Exception& e) {
      verdict = e.what();  // e.g. "file is not a database"
    }
    if (verdict != "ok") {
      throw std::runtime_error("database " + path_ +
                               " failed quick_check: " + first_finding(verdict));
    }
  }

  try {
    const int version = detail::read_user_version(db);
    if (version > latest_schema_version()) {
      throw std::runtime_error("database " + path_ + " has schema version " +
                               std::to_string(version) + ", newer than this rabta (" +
                               std::to_string(latest_schema_version()) + ")");
    }
    const std::string mode = db.execAndGet("PRAGMA journal_mode=WAL").getString();
    if (mode != "wal") {
      throw std::runtime_error("database " + path_ + ": could not enable WAL (journal_mode is " +
                               mode + ")");
    }
    db.exec(options.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    db.exec("PRAGMA foreign_keys=ON");
    db.exec(options.secure_delete ? "PRAGMA secure_delete=ON" : "PRAGMA secure_delete=OFF");
    // Checkpoints run beside the writer (checkpointer_loop), so that commits never wait for
    // one; this only bounds the WAL should that thread fall far behind.
    db.exec("PRAGMA wal_autocheckpoint=50000");
    db.exec("PRAGMA temp_store=MEMORY");
  } catch (const SQLite::Exception& e) {
    throw std::runtime_error("database " + path_ + " could not be opened: " + e.what());
  }
}

void SqliteStore::submit(Job job, Done done) {
  {
    std::lock_guard lock(queue_mu_);
    if (accepting_) {
      queue_.push_back(Pending{std::move(job), std::move(done)});
      // Notify under the lock: once unlocked, the job may run and its Done may let another
      // thread destroy the store before a late notify touched the condition variable.
      queue_cv_.notify_one();
      return;
    }
  }
  // Counted as failed: the caller's change is lost just as if the writer had failed it.
  jobs_.fetch_add(1, std::memory_order_relaxed);
  failed_jobs_.fetch_add(1, std::memory_order_relaxed);
  call_done(done, JobResult{false, "store closed"});
}

JobResult SqliteStore::checkpoint_now() {
  // The store's own reader must not hold a snapshot meanwhile (a TRUNCATE waits for readers),
  // and the background checkpointer must not be in the middle of one.
  std::lock_guard read_lock(read_mu_);
  std::lock_guard checkpoint_lock(checkpoint_mu_);
  try {
    SQLite::Statement st(write_->db(), "PRAGMA wal_checkpoint(TRUNCATE)");
    if (!st.executeStep()) return JobResult{false, "store: wal_checkpoint returned nothing"};
    if (st.getColumn(0).getInt() != 0) {
      return JobResult{false, "store: wal_checkpoint was blocked by another connection's read"};
    }
    return JobResult{true, {}};
  } catch (const SQLite::Exception& e) {
    return JobResult{false, std::string("store: wal_checkpoint failed: ") + e.what()};
  }
}

JobResult SqliteStore::checkpoint_wal() {
  if (std::this_thread::get_id() == writer_id_) {
    return JobResult{false, "store: checkpoint_wal() called on the writer thread"};
  }
  auto promise = std::make_shared<std::promise<JobResult>>();
  auto result = promise->get_future();
  {
    std::lock_guard lock(queue_mu_);
    if (!accepting_) return JobResult{false, "store closed"};
    queue_.push_back(
        Pending{[](Tx&) {}, [promise](const JobResult& r) { promise->set_value(r); }, true});
    queue_cv_.notify_one();
  }
  return result.get();
}

JobResult SqliteStore::run(Job job) {
  // The writer would wait for itself.
  if (std::this_thread::get_id() == writer_id_) {
    return JobResult{false, "store: run() called on the writer thread"};
  }
  // The Done owns the promise: it stays valid until set_value has fully returned.
  auto promise = std::make_shared<std::promise<JobResult>>();
  auto result = promise->get_future();
  submit(std::move(job), [promise](const JobResult& r) { promise->set_value(r); });
  return result.get();
}

void SqliteStore::read(const std::function<void(Tx&)>& query) {
  std::lock_guard lock(read_mu_);
  if (!read_) throw std::runtime_error("store closed");
  // One transaction, so every query in the callback sees the same snapshot.
  try {
    Stmt st(*read_, Sql::begin);
    st->exec();
  } catch (const SQLite::Exception& e) {
    throw_with_context("read (begin)", e);
  }
  try {
    SqliteTx tx(*read_, cipher_.get(), audit_key_);
    query(tx);
  } catch (...) {
    if (read_->in_transaction()) read_->db().tryExec("ROLLBACK");
    throw;
  }
  try {
    Stmt st(*read_, Sql::commit);
    st->exec();
  } catch (const SQLite::Exception& e) {
    if (read_->in_transaction()) read_->db().tryExec("ROLLBACK");
    throw_with_context("read (end)", e);
  }
}

void SqliteStore::close() {
  {
    std::lock_guard lock(queue_mu_);
    accepting_ = false;
    queue_cv_.notify_all();
  }
  // From a Done (on the writer) we cannot join ourselves: the writer drains and exits on its
  // own, and the destructor or a later close() from another thread finishes the rest.
  if (std::this_thread::get_id() == writer_id_) return;

  std::lock_guard close_lock(close_mu_);
  if (closed_) return;
  closed_ = true;
  if (writer_.joinable()) writer_.join();
  {
    std::lock_guard lock(checkpoint_mu_);
    checkpoint_stop_ = true;
  }
  checkpoint_cv_.notify_all();
  if (checkpointer_.joinable()) checkpointer_.join();
  checkpointer_conn_.reset();
  {
    std::lock_guard read_lock(read_mu_);
    read_.reset();
  }
  if (write_) {
    try {
      // Fold the WAL into the main file so the database is one self-contained file at rest.
      SQLite::Statement checkpoint(write_->db(), "PRAGMA wal_checkpoint(TRUNCATE)");
      if (checkpoint.executeStep() && checkpoint.getColumn(0).getInt() != 0) {
        spdlog::warn("store: WAL checkpoint on close of {} was blocked by another connection",
                     path_);
      }
    } catch (const SQLite::Exception& e) {
      spdlog::warn("store: WAL checkpoint on close of {} failed: {}", path_, e.what());
    }
    write_.reset();
  }
  spdlog::info("store: closed {} ({} commits, {} jobs, {} failed)", path_, commits_.load(),
               jobs_.load(), failed_jobs_.load());
}

StoreStats SqliteStore::stats() const {
  StoreStats s;
  s.commits = commits_.load(std::memory_order_relaxed);
  s.jobs = jobs_.load(std::memory_order_relaxed);
  s.failed_jobs = failed_jobs_.load(std::memory_order_relaxed);
  s.largest_batch = largest_batch_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < s.batch_buckets.size(); ++i)
    s.batch_buckets[i] = batch_buckets_[i].load(std::memory_order_relaxed);
  s.batches = batches_.load(std::memory_order_relaxed);
  return s;
}

void SqliteStore::writer_loop() {
  std::vector<Pending> batch;
  std::vector<JobResult> results;
  batch.reserve(max_batch_);
  for (;;) {
    {
      std::unique_lock lock(queue_mu_);
      queue_cv_.wait(lock, [this] { return !queue_.empty() || !accepting_; });
      if (queue_.empty()) return;  // closed and drained
      // Everything that queued while the previous batch committed forms this batch.
      const std::size_t n = std::min(queue_.size(), max_batch_);
      for (std::size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    results.assign(batch.size(), JobResult{});
    run_batch(batch, results);
    for (std::size_t i = 0; i < batch.size(); ++i)
      if (batch[i].checkpoint && results[i].ok) results[i] = checkpoint_now();
    // Stats first: a Done that wakes a waiter must find them up to date.
    record_batch(results);
    for (std::size_t i = 0; i < batch.size(); ++i) call_done(batch[i].done, results[i]);
    batch.clear();
  }
}

void SqliteStore::run_batch(std::vector<Pending>& batch, std::vector<JobResult>& results) {
  // Jobs [first_in_tx, i) have their changes in the open transaction.
  std::size_t first_in_tx = 0;
  bool open = false;
  // Marks jobs [from, to) failed; a job that failed on its own keeps its own reason.
  const auto fail = [&results](std::size_t from, std::size_t to, const std::string& reason) {
    for (std::size_t k = from; k < to; ++k) {
      if (results[k].ok || results[k].error.empty()) results[k] = JobResult{false, reason};
    }
  };
  try {
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (!open) {
        try {
          exec_write(Sql::begin_immediate);
        } catch (const SQLite::Exception& e) {
          fail(i, batch.size(), std::string("store: begin failed: ") + e.what());
          return;
        }
        open = true;
        first_in_tx = i;
      }
      results[i] = run_job(batch[i].job);
      if (!write_->in_transaction()) {
        // SQLite rolled the whole transaction back (I/O error, disk full, ...), taking the
        // earlier jobs of this batch with it. The rest of the batch gets a fresh transaction.
        spdlog::error("store: transaction rolled back by SQLite: {}", results[i].error);
        fail(first_in_tx, i + 1, "store: transaction rolled back: " + results[i].error);
        open = false;
      }
    }
    if (!open) return;
    try {
      exec_write(Sql::commit);
      commits_.fetch_add(1, std::memory_order_relaxed);
    } catch (const SQLite::Exception& e) {
      const std::string reason = std::string("store: commit failed: ") + e.what();
      spdlog::error("{} ({} jobs rolled back)", reason, batch.size() - first_in_tx);
      if (write_->in_transaction()) write_->db().tryExec("ROLLBACK");
      // Jobs that failed on their own keep their reason; the others lost their changes here.
      for (std::size_t k = first_in_tx; k < batch.size(); ++k) {
        if (results[k].ok) results[k] = JobResult{false, reason};
      }
    }
  } catch (const std::exception& e) {
    // Only allocation failures get here; nothing of this batch may be reported as durable.
    if (write_->in_transaction()) write_->db().tryExec("ROLLBACK");
    for (auto& r : results) r = JobResult{false, std::string("store: batch failed: ") + e.what()};
  }
}

JobResult SqliteStore::run_job(Job& job) {
  try {
    exec_write(Sql::savepoint);
  } catch (const SQLite::Exception& e) {
    return JobResult{false, std::string("store: savepoint failed: ") + e.what()};
  }
  try {
    SqliteTx tx(*write_, cipher_.get(), audit_key_);
    job(tx);
    exec_write(Sql::release);
    return JobResult{true, {}};
  } catch (const std::exception& e) {
    undo_job();
    return JobResult{false, short_reason(e.what())};
  } catch (...) {
    undo_job();
    return JobResult{false, "job threw a non-standard exception"};
  }
}

void SqliteStore::undo_job() noexcept {
  if (!write_->in_transaction()) return;  // SQLite already rolled everything back
  try {
    exec_write(Sql::rollback_to);
    exec_write(Sql::release);
  } catch (const std::exception& e) {
    // The failed job's changes can no longer be told apart from the batch's: drop the whole
    // transaction rather than commit them. run_batch sees it and fails the earlier jobs too.
    spdlog::error("store: could not roll back a failed job, dropping its batch: {}", e.what());
    write_->db().tryExec("ROLLBACK");
  }
}

void SqliteStore::record_batch(const std::vector<JobResult>& results) {
  const auto failed = static_cast<std::uint64_t>(
      std::count_if(results.begin(), results.end(), [](const JobResult& r) { return !r.ok; }));
  const auto n = static_cast<std::uint64_t>(results.size());
  jobs_.fetch_add(n, std::memory_order_relaxed);
  for (std::size_t i = 0; i < StoreStats::kBatchBounds.size(); ++i)
    if (n <= StoreStats::kBatchBounds[i]) {
      batch_buckets_[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  batches_.fetch_add(1, std::memory_order_relaxed);
  failed_jobs_.fetch_add(failed, std::memory_order_relaxed);
  // Only the writer raises it, so load-then-store cannot lose an update.
  if (n > largest_batch_.load(std::memory_order_relaxed)) {
    largest_batch_.store(n, std::memory_order_relaxed);
  }
  if (failed > 0) {
    const auto first =
        std::find_if(results.begin(), results.end(), [](const JobResult& r) { return !r.ok; });
    spdlog::warn("store: {} of {} jobs in a batch failed; first reason: {}", failed, n,
                 first->error);
  }
}

}  // namespace

namespace detail {

std::string due_checkins_sql() {
  return sql_text(Sql::due_checkins);
}

std::string cases_due_for_alert_sql() {
  return sql_text(Sql::cases_due_for_alert);
}

std::string cases_to_route_sql() {
  return sql_text(Sql::cases_to_route);
}

std::string list_cases_sql(const CaseFilter& filter) {
  return list_cases_text(filter);
}

}  // namespace detail

std::unique_ptr<Store> open_sqlite_store(const StoreOptions& options) {
  return std::make_unique<SqliteStore>(options);
}

}  // namespace rabta::store
