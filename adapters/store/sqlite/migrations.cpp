#include "adapters/store/sqlite/migrations.hpp"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <spdlog/spdlog.h>

#include <array>
#include <stdexcept>

#include "adapters/store/store.hpp"

namespace rabta::store {
namespace detail {
namespace {

// Plain SQL that ports to PostgreSQL: there INTEGER PRIMARY KEY becomes
// BIGINT GENERATED ALWAYS AS IDENTITY and the INTEGER times become BIGINT.
// Times are epoch milliseconds. session_id columns of cases/answers/consents are NULL when the row
// did not come from a session (records carry 0 for that).
constexpr std::string_view kVersion1 = R"sql(
CREATE TABLE contacts (
  id INTEGER PRIMARY KEY,
  pseudonym TEXT NOT NULL UNIQUE,
  language TEXT NOT NULL DEFAULT '',
  quiet_until INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE sessions (
  id INTEGER PRIMARY KEY,
  provider TEXT NOT NULL,
  provider_session_id TEXT NOT NULL,
  contact_id INTEGER NOT NULL REFERENCES contacts(id),
  channel TEXT NOT NULL,
  state TEXT NOT NULL,
  last_input_path TEXT NOT NULL DEFAULT '',
  last_reply TEXT NOT NULL DEFAULT '',
  hop_count INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL,
  end_reason TEXT NOT NULL DEFAULT '',
  started_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  ended_at INTEGER NOT NULL DEFAULT 0,
  UNIQUE (provider, provider_session_id)
);
CREATE INDEX sessions_contact_channel_updated ON sessions (contact_id, channel, updated_at);
CREATE INDEX sessions_status_updated ON sessions (status, updated_at);

CREATE TABLE cases (
  id INTEGER PRIMARY KEY,
  reference TEXT NOT NULL UNIQUE,
  contact_id INTEGER NOT NULL REFERENCES contacts(id),
  session_id INTEGER REFERENCES sessions(id),
  flow TEXT NOT NULL,
  category TEXT NOT NULL,
  severity TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX cases_contact ON cases (contact_id);

CREATE TABLE answers (
  id INTEGER PRIMARY KEY,
  session_id INTEGER REFERENCES sessions(id),
  contact_id INTEGER NOT NULL REFERENCES contacts(id),
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX answers_session ON answers (session_id);

-- Append-only: the newest row per (contact_id, purpose) is her current choice.
CREATE TABLE consents (
  id INTEGER PRIMARY KEY,
  contact_id INTEGER NOT NULL REFERENCES contacts(id),
  session_id INTEGER REFERENCES sessions(id),
  purpose TEXT NOT NULL,
  granted INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX consents_contact_purpose ON consents (contact_id, purpose, id);

CREATE TABLE outbox (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  dedupe_key TEXT NOT NULL UNIQUE,
  payload TEXT NOT NULL,
  cause TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'pending',
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  not_before INTEGER NOT NULL DEFAULT 0,
  expires_at INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX outbox_status_not_before ON outbox (status, not_before);

CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
)sql";

// Enrolment, SMS dispatch, inbound messages and weekly check-ins. Columns added to existing tables
// carry defaults, so a version 1 file keeps its rows: a contact who only ever dialled in is a
// 'caller' with no check-in (weekday 0), and an existing outbox row goes to nobody in particular.
// phone_enc is ciphertext and so a BLOB (BYTEA in PostgreSQL).
constexpr std::string_view kVersion2 = R"sql(
ALTER TABLE contacts ADD COLUMN status TEXT NOT NULL DEFAULT 'caller';
ALTER TABLE contacts ADD COLUMN phone_enc BLOB NOT NULL DEFAULT x'';
ALTER TABLE contacts ADD COLUMN district TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN checkin_weekday INTEGER NOT NULL DEFAULT 0;
ALTER TABLE contacts ADD COLUMN window_start_hour INTEGER NOT NULL DEFAULT 0;
ALTER TABLE contacts ADD COLUMN window_end_hour INTEGER NOT NULL DEFAULT 0;
ALTER TABLE contacts ADD COLUMN channel TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN sms_ok INTEGER NOT NULL DEFAULT 0;
ALTER TABLE contacts ADD COLUMN confirm_ok INTEGER NOT NULL DEFAULT 0;
ALTER TABLE contacts ADD COLUMN missed_in_row INTEGER NOT NULL DEFAULT 0;
-- The check-in scheduler: status = 'active' AND checkin_weekday = ? AND window_start_hour <= ?.
CREATE INDEX contacts_checkin_schedule ON contacts (status, checkin_weekday, window_start_hour, id);

ALTER TABLE outbox ADD COLUMN contact_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN channel TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN sent_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN provider_message_id TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN delivery_status TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN encoding TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN segments INTEGER NOT NULL DEFAULT 0;
-- Delivery reports name the message by the provider's id.
CREATE INDEX outbox_channel_provider_message ON outbox (channel, provider_message_id);

-- Every inbound SMS once: a provider's redelivery hits the UNIQUE constraint. text_hash, never
-- the text.
CREATE TABLE inbound (
  id INTEGER PRIMARY KEY,
  provider TEXT NOT NULL,
  provider_message_id TEXT NOT NULL,
  contact_id INTEGER NOT NULL,
  text_hash TEXT NOT NULL,
  reply TEXT NOT NULL DEFAULT '',
  received_at INTEGER NOT NULL,
  UNIQUE (provider, provider_message_id)
);
CREATE INDEX inbound_contact_received ON inbound (contact_id, received_at);

-- One row per contact and ISO week ("2026-W48", which sorts as text).
CREATE TABLE checkins (
  id INTEGER PRIMARY KEY,
  contact_id INTEGER NOT NULL REFERENCES contacts(id),
  week TEXT NOT NULL,
  status TEXT NOT NULL,
  sent_at INTEGER NOT NULL DEFAULT 0,
  remind_at INTEGER NOT NULL DEFAULT 0,
  deadline_at INTEGER NOT NULL DEFAULT 0,
  answered_at INTEGER NOT NULL DEFAULT 0,
  answer TEXT NOT NULL DEFAULT '',
  case_reference TEXT NOT NULL DEFAULT '',
  UNIQUE (contact_id, week)
);
CREATE INDEX checkins_status_remind ON checkins (status, remind_at);
CREATE INDEX checkins_status_deadline ON checkins (status, deadline_at);
)sql";

// The responder queue: cases gain routing, the escalation ladder and their outcome; responders
// (the roster), encrypted case notes and the hash-chained audit log are new. Columns added to cases
// carry defaults, so a version 2 case reads as open, not routed (team ''), with no ladder running
// (next_alert_at 0): the router picks it up. Responder ids in cases are 0 for "nobody"; that is not
// a row, so those columns carry no REFERENCES (SQLite also refuses to add a REFERENCES column
// with a non-NULL default while foreign keys are on).
constexpr std::string_view kVersion3 = R"sql(
ALTER TABLE cases ADD COLUMN district TEXT NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN team TEXT NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN rung INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN next_alert_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN acknowledged_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN acknowledged_by INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN claimed_by INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN closed_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
-- The ladder: status = 'open' AND next_alert_at <= now, oldest first.
CREATE INDEX cases_status_next_alert ON cases (status, next_alert_at);
-- A team's queue, newest first; and the router's team = '' AND status = 'open' (id order).
CREATE INDEX cases_team_id ON cases (team, id);
CREATE INDEX cases_team_status ON cases (team, status);

-- The roster (config/responders.toml), synced by name. Rows are never deleted, only made
-- inactive, so notes and the audit log keep naming someone. token_hash is a SHA-256 hex, never
-- the token; phone_enc is ciphertext.
CREATE TABLE responders (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  team TEXT NOT NULL,
  role TEXT NOT NULL,
  can_export INTEGER NOT NULL DEFAULT 0,
  phone_pseudonym TEXT NOT NULL DEFAULT '',
  phone_enc BLOB NOT NULL DEFAULT x'',
  token_hash TEXT NOT NULL DEFAULT '',
  active INTEGER NOT NULL DEFAULT 1,
  updated_at INTEGER NOT NULL
);
CREATE INDEX responders_token_hash ON responders (token_hash);
CREATE INDEX responders_phone_pseudonym ON responders (phone_pseudonym);

-- Free text is ciphertext (BYTEA in PostgreSQL).
CREATE TABLE notes (
  id INTEGER PRIMARY KEY,
  case_id INTEGER NOT NULL REFERENCES cases(id),
  responder_id INTEGER NOT NULL,
  text_enc BLOB NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX notes_case ON notes (case_id, id);

-- Append-only. Each row's hash covers the previous row's hash, so editing or deleting a row
-- breaks every later link (see Tx::append_audit for the exact hash input).
CREATE TABLE audit (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  case_reference TEXT NOT NULL DEFAULT '',
  detail TEXT NOT NULL DEFAULT '',
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
)sql";

// SAFETY W2: an answer or a consent belongs to the case it was given for. Existing rows are tied
// to the case their session opened; her SMS choices and answers of sessions without a case stay
// untied (NULL), so no case shows them.
constexpr std::string_view kVersion4 = R"sql(
ALTER TABLE answers ADD COLUMN case_id INTEGER;
ALTER TABLE consents ADD COLUMN case_id INTEGER;
UPDATE answers SET case_id = (SELECT c.id FROM cases c WHERE c.session_id = answers.session_id
  ORDER BY c.category = 'duress', c.id LIMIT 1) WHERE session_id IS NOT NULL;
UPDATE consents SET case_id = (SELECT c.id FROM cases c WHERE c.session_id = consents.session_id
  ORDER BY c.category = 'duress', c.id LIMIT 1) WHERE session_id IS NOT NULL;
CREATE INDEX answers_case ON answers (case_id, key);
CREATE INDEX consents_case ON consents (case_id, purpose);
-- Who was alerted for a case may acknowledge it (SAFETY W6): looked up by reference and action.
CREATE INDEX audit_case_action ON audit (case_reference, action);
)sql";

// SECURITY #11: a responder's optional PIN for SMS commands (a keyed hash, never the PIN), and
// the audit log looked up by who acted and when (failed PINs and sign-ins are counted there).
constexpr std::string_view kVersion5 = R"sql(
ALTER TABLE responders ADD COLUMN pin_hash TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_actor_at ON audit (actor, at);
)sql";

// SECURITY #11: inbound.text_hash was an unkeyed SHA-256 of the text, so a word list recovered
// what each contact texted. New rows carry a keyed hash; the old ones only fed the loop detector
// and are dropped.
constexpr std::string_view kVersion6 = R"sql(
UPDATE inbound SET text_hash = '';
)sql";

// SECURITY #11: API tokens expire. A token issued before this version (issued_at 0, its hash
// looked up by hash alone) keeps working for 30 days after the upgrade, then its holder needs a
// new one from `rabta responders token`.
constexpr std::string_view kVersion7 = R"sql(
ALTER TABLE responders ADD COLUMN token_issued_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE responders ADD COLUMN token_expires_at INTEGER NOT NULL DEFAULT 0;
UPDATE responders SET token_expires_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000 + 2592000000
  WHERE token_hash != '';
)sql";

// #13: every hop rewrote both session indexes that end in updated_at. The idle sweep needs only
// the live sessions (a small partial index, the only one a hop still touches), retention reads
// sessions in id order (schema 9), and the resume lookups only a contact's few sessions per
// channel.
constexpr std::string_view kVersion8 = R"sql(
DROP INDEX sessions_contact_channel_updated;
DROP INDEX sessions_status_updated;
CREATE INDEX sessions_contact_channel ON sessions (contact_id, channel);
CREATE INDEX sessions_live_updated ON sessions (updated_at) WHERE status = 'active';
-- Retention asks, for each ended session, whether a case came of it (without this index, a scan
-- of every case per session). Opening a case ties the session's consents to it: without an index
-- on session_id, SQLite searched every consent not tied to a case (her SMS choices among them,
-- which only grow).
CREATE INDEX cases_session ON cases (session_id);
CREATE INDEX consents_session ON consents (session_id);
)sql";

// #13: retention reads what is older than its cut in the order of these, so that each step of a
// pass stops after its limit instead of reading every row the database keeps (a closed case is
// kept 180 days: a pass read every one of them at each step).
constexpr std::string_view kVersion9 = R"sql(
CREATE INDEX cases_closed_at ON cases (closed_at) WHERE status = 'closed';
CREATE INDEX answers_loose_created ON answers (created_at) WHERE session_id IS NULL AND
  case_id IS NULL;
CREATE INDEX outbox_finished_created ON outbox (created_at)
  WHERE status IN ('sent', 'dead', 'expired', 'unconfirmed', 'cancelled');
CREATE INDEX inbound_received ON inbound (received_at);
CREATE INDEX checkins_finished_sent ON checkins (sent_at) WHERE status NOT IN ('sent', 'reminded');
)sql";

// #15: the caseworker's case file. A case keeps when it should have been acknowledged (her report
// plus the first SLA; the router sets it, and fills it in for cases routed before this version),
// and a closing that waits for a supervisor's approval; a responder, her console's language. A note gains its kind: the reason given
// with closing, reopening or declining a closing is a sealed note like any other. The timeline
// reads the outbox rows a case caused (alerts, webhook events) through a small partial index
// (its audit rows through audit_case_action).
constexpr std::string_view kVersion10 = R"sql(
ALTER TABLE cases ADD COLUMN ack_due_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN pending_outcome TEXT NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN pending_by INTEGER NOT NULL DEFAULT 0;
ALTER TABLE notes ADD COLUMN kind TEXT NOT NULL DEFAULT 'note';
ALTER TABLE responders ADD COLUMN language TEXT NOT NULL DEFAULT '';
CREATE INDEX outbox_case_cause ON outbox (cause) WHERE substr(cause, 1, 5) = 'case:';
)sql";

constexpr std::array kMigrations{
    Migration{1, kVersion1},   Migration{2, kVersion2}, Migration{3, kVersion3},
    Migration{4, kVersion4},   Migration{5, kVersion5}, Migration{6, kVersion6},
    Migration{7, kVersion7},   Migration{8, kVersion8}, Migration{9, kVersion9},
    Migration{10, kVersion10},
};

}  // namespace

std::span<const Migration> migrations() {
  return kMigrations;
}

int read_user_version(SQLite::Database& db) {
  return db.execAndGet("PRAGMA user_version").getInt();
}

int migrate(SQLite::Database& db, const std::string& path) {
  int version = read_user_version(db);
  const int from = version;
  for (const Migration& m : kMigrations) {
    if (m.version <= version) continue;
    // Versions without gaps: a skipped script would leave a schema no code expects.
    if (m.version != version + 1) {
      throw std::logic_error("store migrations are not numbered consecutively");
    }
    try {
      // IMMEDIATE takes the write lock first, so a second process migrating the same file waits
      // and then sees the new user_version instead of applying the script twice.
      db.exec("BEGIN IMMEDIATE");
      try {
        if (read_user_version(db) < m.version) {
          db.exec(std::string(m.sql));
          // user_version lives in the file header and is part of this transaction.
          db.exec("PRAGMA user_version = " + std::to_string(m.version));
        }
        db.exec("COMMIT");
      } catch (...) {
        db.tryExec("ROLLBACK");
        throw;
      }
    } catch (const SQLite::Exception& e) {
      throw std::runtime_error("database " + path + ": migration to schema version " +
                               std::to_string(m.version) + " failed: " + e.what());
    }
    version = read_user_version(db);
  }
  if (version != from) {
    spdlog::info("store: migrated {} from schema version {} to {}", path, from, version);
  }
  return version;
}

}  // namespace detail

int latest_schema_version() {
  return detail::kMigrations.back().version;
}

}  // namespace rabta::store
