// The store: rabta's durable state behind an interface, with a single writer that commits
// waiting jobs together (group commit).
//
// Every change runs as a Job on the writer thread inside a transaction. The writer takes all
// jobs that are waiting, runs each inside its own SAVEPOINT (a job that throws is rolled back
// alone and reported failed), commits the batch once (WAL, synchronous=FULL), and only then calls
// each job's Done. So a Done(ok=true) means the job's changes are on disk: reply to the
// aggregator from Done, never earlier.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/store/records.hpp"

namespace rabta::common {
class FieldCipher;
}

namespace rabta::store {

// Thrown by Tx::insert_case when the reference already exists (caller retries with a new one).
struct DuplicateReference : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Where a re-encryption pass (field key rotation) has got to: which sealed column, after which
// row id. A pass is complete when `done`.
struct ResealCursor {
  std::size_t column = 0;
  std::int64_t after_id = 0;
  bool done = false;
};

// How many stored encrypted values each field key id holds; key id 0 counts values of sealed
// columns still in clear (written before encryption or without a key).
using KeyUsage = std::map<int, std::int64_t>;

// Retention (SAFETY D4): rows older than these times (epoch ms) go; 0 = keep forever.
struct PurgeCutoffs {
  Millis sessions = 0;      // finished sessions (and their answers) last updated before this
  Millis closed_cases = 0;  // closed cases (with their notes and session) closed before this
  Millis outbox = 0;        // sent, dead, expired and unconfirmed outbox rows created before this
  Millis inbound = 0;       // inbound SMS records received before this
  Millis checkins = 0;      // finished weekly check-ins sent before this
};

// Where a purge pass is (#13): each purge() call reads a bounded number of rows, so a pass over
// millions of kept rows never holds the writer for long; a pass calls purge() until `done`.
struct PurgeCursor {
  std::int64_t session_id = 0;  // the sessions looked at so far, in id order
  bool done = false;
};

struct PurgeCounts {
  std::int64_t sessions = 0, answers = 0, cases = 0, notes = 0, outbox = 0, inbound = 0,
               checkins = 0;
  std::int64_t total() const {
    return sessions + answers + cases + notes + outbox + inbound + checkins;
  }
  PurgeCounts& operator+=(const PurgeCounts& o) {
    sessions += o.sessions, answers += o.answers, cases += o.cases, notes += o.notes;
    outbox += o.outbox, inbound += o.inbound, checkins += o.checkins;
    return *this;
  }
};

// The database's gauges for GET /metrics: counts and times only.
struct MetricsSnapshot {
  std::vector<std::pair<std::string, std::int64_t>> outbox_by_status;
  Millis oldest_pending_at = 0;  // created_at of the oldest pending outbox row, 0 = none
  std::int64_t dead_letters = 0;
  std::int64_t unconfirmed = 0;
  std::int64_t delivery_failures = 0;  // outbox rows whose delivery report failed or rejected
  std::map<std::string, std::int64_t> open_cases;  // status open, by severity
  Millis oldest_open_case_at = 0;                  // 0 = none
  std::int64_t failing_alerts = 0;  // open cases whose current alert is failing (SAFETY W6)
};

// Operations available to a job inside its transaction. Only valid during Job's call.
class Tx {
 public:
  virtual ~Tx() = default;

  virtual std::optional<ContactRecord> find_contact(std::string_view pseudonym) = 0;
  // Creates the contact if missing; returns it either way.
  virtual ContactRecord upsert_contact(std::string_view pseudonym, Millis now) = 0;
  virtual void set_contact_language(std::int64_t contact_id, std::string_view language,
                                    Millis now) = 0;
  virtual void set_contact_quiet_until(std::int64_t contact_id, Millis until, Millis now) = 0;

  virtual std::optional<SessionRecord> find_session(std::string_view provider,
                                                    std::string_view provider_session_id) = 0;
  // Her newest session with status active or incomplete, updated at or after `since`.
  virtual std::optional<SessionRecord> find_resumable_session(std::int64_t contact_id,
                                                              std::string_view channel,
                                                              Millis since) = 0;
  virtual std::int64_t insert_session(const SessionRecord& session) = 0;  // returns the new id
  virtual void update_session(const SessionRecord& session) = 0;          // by id
  // (Sessions left idle: idle_sessions, ended by UssdService/SmsService::expire_idle, SAFETY W4.)

  // --- Enrolment (schema 2)
  virtual std::optional<ContactRecord> find_contact_by_id(std::int64_t id) = 0;
  // Creates or updates the contact with every enrolment field of `c` (matched by pseudonym);
  // keeps quiet_until and missed_in_row. Returns the id.
  virtual std::int64_t enrol_contact(const ContactRecord& c, Millis now) = 0;
  virtual void set_contact_status(std::int64_t contact_id, std::string_view status, Millis now) = 0;
  virtual void set_contact_phone(std::int64_t contact_id, std::string_view phone_enc,
                                 Millis now) = 0;
  virtual void set_contact_missed(std::int64_t contact_id, int missed_in_row, Millis now) = 0;
  // Ordered by id, after `after_id`.
  virtual std::vector<ContactRecord> list_contacts(std::int64_t after_id, int limit) = 0;

  // --- Inbound messages (schema 2)
  // Returns false (and changes nothing) when (provider, provider_message_id) was seen before.
  virtual bool insert_inbound(const InboundRecord& m) = 0;
  virtual std::optional<InboundRecord> find_inbound(std::string_view provider,
                                                    std::string_view provider_message_id) = 0;
  virtual void set_inbound_reply(std::int64_t inbound_id, std::string_view reply) = 0;
  // Messages from her since `since`, and how many of them had this text hash.
  virtual int count_inbound_since(std::int64_t contact_id, Millis since) = 0;
  virtual int count_inbound_text_since(std::int64_t contact_id, std::string_view text_hash,
                                       Millis since) = 0;

  // --- Outbox dispatch (schema 2)
  // Marks up to `limit` pending rows with not_before <= now as sending until lease_until and
  // returns them, oldest first. Rows past expires_at are marked expired instead (not returned).
  virtual std::vector<OutboxRecord> claim_outbox(Millis now, Millis lease_until, int limit,
                                                 std::string_view kind_prefix) = 0;
  // claim_outbox for exactly one kind ("sms:at" claims no "sms:at2" row): what an outbox
  // consumer's lane claims, so that each row counts against its own lane's rate.
  virtual std::vector<OutboxRecord> claim_outbox_exact(Millis now, Millis lease_until, int limit,
                                                       std::string_view kind) = 0;
  // Rows of kinds starting with `kind_prefix` still "sending" whose lease ran out (the process
  // died mid-send) go back to pending. Only for rows that may be sent twice (SMS rows to a woman
  // are settled by settle_in_doubt_outbox, never released).
  virtual int release_stale_outbox(Millis now, std::string_view kind_prefix) = 0;
  // At a dispatcher's start: its rows (kind starting with `kind_prefix`) still "sending" were
  // claimed by a process that is gone, so each is in doubt (the provider may have accepted it).
  // Rows to a woman (contact_id != 0) become "unconfirmed" (see outbox_status); the others go
  // back to pending and are sent again (at least once). Returns {to pending, unconfirmed}.
  virtual std::pair<int, int> settle_in_doubt_outbox(std::string_view kind_prefix, Millis now) = 0;
  virtual void outbox_sent(std::int64_t id, std::string_view provider_message_id, Millis now) = 0;
  virtual void outbox_retry(std::int64_t id, Millis not_before, std::string_view error,
                            Millis now) = 0;
  virtual void outbox_dead(std::int64_t id, std::string_view error, Millis now) = 0;
  virtual std::optional<OutboxRecord> find_outbox(std::int64_t id) = 0;
  // Status "" = every status. Newest first.
  virtual std::vector<OutboxRecord> list_outbox(std::string_view status, int limit) = 0;
  // A delivery report: by the provider's id, or by our outbox id when the provider echoes it
  // (Kannel's dlr-url). Returns false when no such message exists.
  virtual bool update_delivery(std::string_view channel, std::string_view provider_message_id,
                               std::string_view delivery_status, Millis now) = 0;
  virtual bool update_delivery_by_id(std::int64_t outbox_id, std::string_view delivery_status,
                                     Millis now) = 0;
  // How many rows in each status, and the oldest pending row's created_at (0 = none).
  virtual std::vector<std::pair<std::string, std::int64_t>> outbox_counts() = 0;

  // --- Weekly check-ins (schema 2)
  // Active enrolled contacts whose check-in weekday is `weekday` and whose window contains
  // `hour`, with no check-in row for `week`; at most `limit`, after contact id `after_id`.
  virtual std::vector<ContactRecord> due_checkins(std::string_view week, int weekday, int hour,
                                                  std::int64_t after_id, int limit) = 0;
  // Returns false when she already has a row for that week.
  virtual bool insert_checkin(const CheckinRecord& c) = 0;
  // Her newest check-in with status sent or reminded.
  virtual std::optional<CheckinRecord> open_checkin(std::int64_t contact_id) = 0;
  virtual void update_checkin(const CheckinRecord& c) = 0;  // by id
  // Open check-ins with remind_at in (0, now], and those past deadline_at.
  virtual std::vector<CheckinRecord> checkins_to_remind(Millis now, int limit) = 0;
  virtual std::vector<CheckinRecord> checkins_overdue(Millis now, int limit) = 0;
  // Her previous check-in before `week` (to count missed weeks in a row).
  virtual std::optional<CheckinRecord> previous_checkin(std::int64_t contact_id,
                                                        std::string_view week) = 0;

  // --- Responder queue (schema 3)
  // Cases as stored; update_case writes every schema-3 field and status by id.
  virtual std::optional<CaseRecord> find_case_by_id(std::int64_t id) = 0;
  virtual void update_case(const CaseRecord& c) = 0;
  // Ordered newest first (id descending), honouring every field of the filter.
  virtual std::vector<CaseRecord> list_cases(const CaseFilter& filter) = 0;
  // Open cases whose ladder is due: status open, next_alert_at in (0, now].
  virtual std::vector<CaseRecord> cases_due_for_alert(Millis now, int limit) = 0;
  // Cases not yet routed (team "" and status open), oldest first.
  virtual std::vector<CaseRecord> cases_to_route(int limit) = 0;
  // An answer saved in the case's session (e.g. "district"), or "".
  virtual std::string session_answer(std::int64_t session_id, std::string_view key) = 0;
  // Her newest consent for a purpose: true/false, or nullopt when never asked.
  virtual std::optional<bool> latest_consent(std::int64_t contact_id, std::string_view purpose) = 0;

  // Responders: upsert by name (every field but the token, which only set_responder_token
  // changes); the roster sync marks the rest inactive.
  virtual std::int64_t upsert_responder(const ResponderRecord& r) = 0;
  virtual void deactivate_responders_except(const std::vector<std::string>& names, Millis now) = 0;
  virtual std::vector<ResponderRecord> list_responders() = 0;
  // A token issued before schema 7 (token_issued_at 0), active or not, found by its hash alone;
  // newer tokens name their responder and are found with find_responder.
  virtual std::optional<ResponderRecord> find_responder_by_token(std::string_view token_hash) = 0;
  virtual std::optional<ResponderRecord> find_responder_by_phone(
      std::string_view phone_pseudonym) = 0;
  virtual std::optional<ResponderRecord> find_responder(std::int64_t id) = 0;
  // Issues (issued at `now`, working until `expires_at`) or, with an empty hash, revokes her token.
  virtual void set_responder_token(std::int64_t id, std::string_view token_hash, Millis now,
                                   Millis expires_at) = 0;
  virtual void set_responder_pin(std::int64_t id, std::string_view pin_hash, Millis now) = 0;
  // Her console's language ("en" or "ur"), as she chose it (#15).
  virtual void set_responder_language(std::int64_t id, std::string_view language, Millis now) = 0;

  virtual std::int64_t insert_note(const NoteRecord& n) = 0;
  virtual std::vector<NoteRecord> list_notes(std::int64_t case_id) = 0;

  // Appends an audit row with the next id, prev_hash the last row's MAC and its own MAC
  // (adapters/store/audit_chain.hpp) under StoreOptions::audit_key; throws without the key.
  virtual AuditRecord append_audit(Millis at, std::string_view actor, std::string_view action,
                                   std::string_view case_reference, std::string_view detail) = 0;
  // In id order, after `after_id`.
  virtual std::vector<AuditRecord> list_audit(std::int64_t after_id, int limit) = 0;
  // Rewrites one row's chain fields (sealing a chain of schema 3 with the key, once).
  virtual void reseal_audit_row(std::int64_t id, std::string_view prev_hash,
                                std::string_view hash) = 0;

  // Writes a heartbeat row: proves the database takes writes (GET /healthz).
  virtual void heartbeat(Millis now) = 0;

  // Throws DuplicateReference when the reference exists. Returns the new id.
  virtual std::int64_t insert_case(const CaseRecord& c) = 0;
  virtual std::optional<CaseRecord> find_case(std::string_view reference) = 0;
  virtual void insert_answer(const AnswerRecord& a) = 0;
  virtual void insert_consent(const ConsentRecord& c) = 0;
  // --- Field key rotation (SAFETY D2)
  // Re-encrypts with the store's current field key every encrypted value under another key id,
  // and seals values of sealed columns still in clear, looking at up to `limit` rows of one
  // column from `cursor` and advancing it. Returns how many values were rewritten. Covers
  // sessions, answers, inbound replies, contacts' and responders' numbers, notes and the
  // outbox's numbers. Throws (naming table, column and row) when a value does not decrypt.
  virtual int reseal(ResealCursor& cursor, int limit) = 0;
  // Counts over every encrypted column (see KeyUsage). Scans every row: for the operator's
  // `rabta keys status`, not the hot path.
  virtual KeyUsage sealed_key_usage() = 0;
  // --- Retention (SAFETY D4)
  // Deletes what the cutoffs allow, at most `limit` parent rows of each kind (a case takes its
  // notes, its session and that session's answers along). Never an open, acknowledged or
  // claimed case, an active session, or a session a remaining case points to or holds answers
  // for (a resumed report, schema 4); a purged case takes the answers given for it; consents stay
  // (her choices outlive the session they were given in) with their session link cleared; the
  // audit log stays whole (its rows name references, never her story). Returns what went.
  // One step of a pass: at most `limit` rows of each kind looked at (#13: ended sessions that
  // must stay are stepped over by the cursor, not read again at every step); call again with the
  // same cursor until cursor.done.
  virtual PurgeCounts purge(const PurgeCutoffs& cutoffs, int limit, PurgeCursor& cursor) = 0;
  // What purge would delete now, without deleting (`rabta purge --dry-run`).
  virtual PurgeCounts purgeable(const PurgeCutoffs& cutoffs) = 0;

  // Every case and weekly check-in as a StatFact (for `rabta stats`), cases created in
  // [from, to) and check-ins sent in it.
  virtual std::vector<StatFact> stat_facts(Millis from, Millis to) = 0;

  virtual MetricsSnapshot metrics_snapshot() = 0;

  // --- SAFETY W1-W6 (schema 4)
  // Active sessions of a channel with no hop since `idle_before`, oldest first.
  virtual std::vector<SessionRecord> idle_sessions(std::string_view channel, Millis idle_before,
                                                   int limit) = 0;
  // Her newest session of the channel that ended unfinished ("incomplete"), updated at or after
  // `since` (the one a USSD resume may offer back).
  virtual std::optional<SessionRecord> find_dropped_session(std::int64_t contact_id,
                                                            std::string_view channel,
                                                            Millis since) = 0;
  // Answers and consents of the session not yet tied to a case become the case's (SAFETY W2).
  virtual void bind_session_to_case(std::int64_t session_id, std::int64_t case_id) = 0;
  // Her consent for a purpose as given FOR THIS CASE: nullopt when never asked there; when she
  // answered more than once, the most restrictive answer (SAFETY W2). With
  // `later_refusal_counts`, a refusal of the purpose she gave anywhere after this case's answer
  // also makes it false (a later "not safe to call" holds for every earlier case).
  virtual std::optional<bool> case_consent(std::int64_t case_id, std::string_view purpose,
                                           bool later_refusal_counts = false) = 0;
  // The newest answer given for this case (e.g. "district", "call_time"), or "".
  virtual std::string case_answer(std::int64_t case_id, std::string_view key) = 0;
  // Re-keys a contact (a number stored under a non-canonical form, SAFETY W1).
  virtual void set_contact_pseudonym(std::int64_t contact_id, std::string_view pseudonym,
                                     Millis now) = 0;
  // Moves everything of contact `drop` to `keep` and deletes `drop`; an opt-out of either wins,
  // the later quiet period wins.
  virtual void merge_contact_into(std::int64_t keep, std::int64_t drop, Millis now) = 0;
  // Open cases whose current rung's SMS alert has failed and not been sent since (SAFETY W6).
  virtual std::vector<CaseRecord> cases_with_failing_alert(int limit) = 0;
  // Whether the audit log holds a row with exactly this case reference, action and detail,
  // written at `since` or later (a reference can be given again once retention removed its
  // case: rows about the earlier case are not this one's).
  virtual bool audit_has(std::string_view case_reference, std::string_view action,
                         std::string_view detail, Millis since = 0) = 0;
  // A case's timeline (#15): the newest `limit` audit rows of its steps (route, alert,
  // alert_failed, fallback, ack, claim, assign, note, close, approve, decline, reopen, refer;
  // never reads) in id order, and the outbox rows it caused (cause "case:<reference>": SMS
  // alerts, webhook events) in id order, at most `limit`.
  virtual std::vector<AuditRecord> list_case_audit(std::string_view case_reference, int limit) = 0;
  virtual std::vector<OutboxRecord> list_case_outbox(std::string_view case_reference,
                                                     int limit) = 0;
  // Her context on a case (#15): her cases, newest first, and the channel a session came on
  // ("<channel>:<provider>", e.g. "ussd:africastalking"; "" once the session is gone).
  virtual std::vector<CaseRecord> list_contact_cases(std::int64_t contact_id, int limit) = 0;
  virtual std::string session_channel(std::int64_t session_id) = 0;
  // Audit rows of this actor since `since` whose detail starts with `detail_prefix` (the rest of
  // a detail may carry what an aggregator wrote, e.g. its message id).
  virtual int count_audit_since(std::string_view actor, std::string_view detail_prefix,
                                Millis since) = 0;
  // A pending row that is no longer needed becomes "cancelled" with the reason (SAFETY W6).
  // Returns false when the row is not pending (or not there).
  virtual bool outbox_cancel(std::int64_t id, std::string_view reason, Millis now) = 0;
  // The same, for the row with this dedupe key.
  virtual bool outbox_cancel_key(std::string_view dedupe_key, std::string_view reason) = 0;
  // `rabta outbox resend ID`: a dead, expired or unconfirmed row goes back to pending now with
  // its attempts reset. False when there is no such row in one of those states.
  virtual bool outbox_resend(std::int64_t id, Millis now) = 0;

  // Whether this transaction is the one, among every instance sharing the database, that runs
  // the periodic pass `name` now (a lock held until the transaction ends; others get false and
  // skip this tick). Always true for SQLite, whose one writer runs every pass.
  virtual bool try_lock(std::string_view name) = 0;

  // Small settings of rabta's own in the meta table (e.g. "sealed_key_id"); "" when unset.
  virtual std::string meta(std::string_view key) = 0;
  virtual void set_meta(std::string_view key, std::string_view value) = 0;
  // Removes the rows whose key starts with `prefix` and whose value sorts before `below`
  // (values that start with a fixed-width time, e.g. the USSD responder menu's); "" = all of
  // them. Returns how many went.
  virtual int delete_meta(std::string_view prefix, std::string_view below) = 0;

  // Returns false (and changes nothing) when dedupe_key exists already. Stores every field
  // including the schema-2 ones (contact_id, channel, encoding, segments).
  virtual bool insert_outbox(const OutboxRecord& o) = 0;
};

struct JobResult {
  bool ok = false;
  std::string error;  // why it failed: no sensitive values, fit for a log line
  bool busy = false;  // refused before it ran: StoreOptions::max_queue jobs were waiting
};

using Job = std::function<void(Tx&)>;
// Called on the writer thread after the batch committed (or failed). Must not block.
using Done = std::function<void(const JobResult&)>;

struct StoreOptions {
  std::string path;  // SQLite file; created when missing
  // A PostgreSQL server instead (#14): libpq's URL, "postgresql://user@host:port/db" (a
  // password comes from ~/.pgpass or PGPASSWORD, never from rabta's config). Set: `path` is unused.
  std::string url;
  bool synchronous_full = true;  // false = synchronous=NORMAL (benchmark comparison only)
  std::size_t max_batch = 512;   // jobs per commit at most
  // Jobs that may wait for the writer before submit_bounded refuses more (0 = no bound): under
  // an overload a request gets a fast "busy" rather than a reply that comes ever later.
  std::size_t max_queue = 0;
  std::chrono::milliseconds busy_timeout{5000};
  // The field key ring (SAFETY D2): sessions' state, inputs and screens, answers' values and
  // SMS replies are written encrypted with it. Every rabta command sets it; null (values in
  // clear) is for tests of unrelated parts only.
  std::shared_ptr<const common::FieldCipher> cipher;
  // PRAGMA secure_delete: deleted content is overwritten in the file, not left in free pages
  // (SAFETY D4). Off only in the test that proves the retention test can fail.
  bool secure_delete = true;
  // The audit chain's MAC key (SECURITY #11), kept outside the database: every rabta command that
  // writes audit rows sets it (gateway/ops/command_context.hpp derives it from the pseudonym key).
  std::string audit_key;
};

struct StoreStats {
  // Batch sizes (jobs committed together), counted in buckets of "at most" these bounds.
  static constexpr std::array<std::uint64_t, 10> kBatchBounds{1,  2,  4,   8,   16,
                                                              32, 64, 128, 256, 512};
  std::array<std::uint64_t, 10> batch_buckets{};
  std::uint64_t batches = 0;
  std::uint64_t commits = 0;    // transactions committed (each one a WAL write and an fsync)
  std::uint64_t unchanged = 0;  // batches whose jobs changed nothing: ended without a commit
  std::uint64_t shed = 0;       // jobs submit_bounded refused because the queue was full
  std::uint64_t jobs = 0;
  std::uint64_t failed_jobs = 0;
  std::uint64_t largest_batch = 0;
};

class Store {
 public:
  virtual ~Store() = default;
  // Queue a job for the writer. Thread-safe. After close() the job fails at once.
  virtual void submit(Job job, Done done) = 0;
  // submit, unless StoreOptions::max_queue jobs already wait: then `done` is called at once, on
  // the caller's thread, with a failed result marked `busy`, and nothing runs. For requests from
  // outside, which their sender may retry; never for rabta's own work (a recorded outcome must
  // not be dropped).
  virtual void submit_bounded(Job job, Done done) = 0;
  // Runs a job and waits for its commit (CLI commands, tests). Not for the event loop thread.
  virtual JobResult run(Job job) = 0;
  // Read-only query on a separate connection (never blocks the writer); for CLI/tests/healthz.
  virtual void read(const std::function<void(Tx&)>& query) = 0;
  // Folds the WAL into the database and truncates it to zero bytes (wal_checkpoint(TRUNCATE)),
  // on the writer between batches, so that old page images do not linger in the WAL (SAFETY
  // D4). Fails when another connection's read kept the WAL in use. Blocking, like run().
  virtual JobResult checkpoint_wal() = 0;
  // Finishes queued jobs, stops the writer, checkpoints the WAL and closes the database.
  virtual void close() = 0;
  virtual StoreStats stats() const = 0;
  virtual int schema_version() const = 0;
  // Other processes may write this store at the same time (rabta instances sharing a PostgreSQL
  // database, #14): a row "sending" may be a live instance's, so in-doubt rows are settled by
  // their lease at every pass, not all at start; a periodic pass takes its lock (Tx::try_lock).
  virtual bool shared() const { return false; }
};

// Opens (creating and migrating as needed) the SQLite store. Refuses a file that fails
// PRAGMA quick_check, or whose schema is newer than this binary knows, with a reason naming
// the file. Throws std::runtime_error.
std::unique_ptr<Store> open_sqlite_store(const StoreOptions& options);

// Opens the PostgreSQL store of options.url, creating and migrating its schema as needed (any
// number of instances may open one database at once). Refuses a schema newer than this binary
// knows. Sealed columns are bytea and hold only ciphertext: without options.cipher, a job that
// would write one in clear fails. Throws std::runtime_error naming the server and database, never
// a password.
std::unique_ptr<Store> open_postgres_store(const StoreOptions& options);

// The one a config names: PostgreSQL when options.url is set, else the SQLite file.
std::unique_ptr<Store> open_store(const StoreOptions& options);

// `rabta migrate-store` (#14): rows per table, in the order copied.
struct CopyReport {
  std::vector<std::pair<std::string, std::int64_t>> copied, source, target;
};

// Copies every row of the SQLite store `source.path` into the PostgreSQL database `target.url`,
// which must hold none: both brought to the latest schema first, then one snapshot of the source
// into one transaction of the target (nothing written if anything fails), ids, times and sealed
// values as they are (sealed under their row ids, they stay valid under the same field key); the
// id sequences continue after the copied ids. A sealed column still in clear in the source (an
// older rabta's) is refused: `rabta keys rotate` seals it first. Calls progress(table, rows).
CopyReport copy_sqlite_to_postgres(
    const StoreOptions& source, const StoreOptions& target,
    const std::function<void(const std::string&, std::int64_t)>& progress);

// "postgresql HOST:PORT/DB" for logs and errors: a URL without its user and password.
std::string describe_database(const std::string& url);

// The schema version this binary migrates to.
int latest_schema_version();

}  // namespace rabta::store
