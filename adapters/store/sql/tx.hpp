// The transaction behind store::Tx for every SQL backend (SQLite, PostgreSQL), declared once; its
// methods are defined one file per aggregate (tx_contacts.cpp, tx_sessions.cpp, tx_cases.cpp,
// tx_outbox.cpp, tx_checkins.cpp, tx_upkeep.cpp), in the order of store.hpp. Internal to
// adapters/store/.
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

#include "adapters/store/sql/rows.hpp"
#include "adapters/store/store.hpp"

namespace rabta::store::sql {

class SqlTx final : public Tx {
 public:
  // `writer`: the transaction of the writer's batch, which takes row locks where instances
  // meet (a read-only snapshot takes none).
  SqlTx(Connection& conn, const FieldCipher* cipher, const std::string& audit_key,
        bool writer = true)
      : conn_(conn), cipher_(cipher), audit_key_(audit_key), writer_(writer) {}

  // --- contacts (tx_contacts.cpp)
  std::optional<ContactRecord> find_contact(std::string_view pseudonym) override;
  ContactRecord upsert_contact(std::string_view pseudonym, Millis now) override;
  void set_contact_language(std::int64_t contact_id, std::string_view language,
                            Millis now) override;
  void set_contact_quiet_until(std::int64_t contact_id, Millis until, Millis now) override;
  void set_contact_pseudonym(std::int64_t contact_id, std::string_view pseudonym,
                             Millis now) override;
  void merge_contact_into(std::int64_t keep, std::int64_t drop, Millis now) override;
  std::optional<ContactRecord> find_contact_by_id(std::int64_t id) override;
  std::int64_t enrol_contact(const ContactRecord& c, Millis now) override;
  void set_contact_status(std::int64_t contact_id, std::string_view status, Millis now) override;
  void set_contact_phone(std::int64_t contact_id, std::string_view phone_enc, Millis now) override;
  void set_contact_missed(std::int64_t contact_id, int missed_in_row, Millis now) override;
  std::vector<ContactRecord> list_contacts(std::int64_t after_id, int limit) override;

  // --- sessions, answers and consents (tx_sessions.cpp)
  std::optional<SessionRecord> find_session(std::string_view provider,
                                            std::string_view provider_session_id) override;
  std::optional<SessionRecord> find_resumable_session(std::int64_t contact_id,
                                                      std::string_view channel,
                                                      Millis since) override;
  std::int64_t insert_session(const SessionRecord& session) override;
  void update_session(const SessionRecord& session) override;
  void insert_answer(const AnswerRecord& a) override;
  void insert_consent(const ConsentRecord& c) override;
  std::vector<SessionRecord> idle_sessions(std::string_view channel, Millis idle_before,
                                           int limit) override;
  std::optional<SessionRecord> find_dropped_session(std::int64_t contact_id,
                                                    std::string_view channel,
                                                    Millis since) override;
  void bind_session_to_case(std::int64_t session_id, std::int64_t case_id) override;
  std::optional<bool> case_consent(std::int64_t case_id, std::string_view purpose,
                                   bool later_refusal_counts) override;
  std::string case_answer(std::int64_t case_id, std::string_view key) override;
  std::string session_answer(std::int64_t session_id, std::string_view key) override;
  std::optional<bool> latest_consent(std::int64_t contact_id, std::string_view purpose) override;

  // --- cases, responders, notes and the audit chain (tx_cases.cpp)
  std::int64_t insert_case(const CaseRecord& c) override;
  std::optional<CaseRecord> find_case(std::string_view reference) override;
  std::vector<CaseRecord> cases_with_failing_alert(int limit) override;
  int count_audit_since(std::string_view actor, std::string_view detail_prefix,
                        Millis since) override;
  void set_responder_pin(std::int64_t id, std::string_view pin_hash, Millis now) override;
  void set_responder_language(std::int64_t id, std::string_view language, Millis now) override;
  bool audit_has(std::string_view case_reference, std::string_view action, std::string_view detail,
                 Millis since = 0) override;
  std::vector<AuditRecord> list_case_audit(std::string_view case_reference, int limit) override;
  std::vector<OutboxRecord> list_case_outbox(std::string_view case_reference, int limit) override;
  std::vector<CaseRecord> list_contact_cases(std::int64_t contact_id, int limit) override;
  std::string session_channel(std::int64_t session_id) override;
  std::optional<CaseRecord> find_case_by_id(std::int64_t id) override;
  void update_case(const CaseRecord& c) override;
  // Not a hot path (a responder's list view), so the statement is built for the filter's shape
  // and prepared per call; values are only ever bound.
  std::vector<CaseRecord> list_cases(const CaseFilter& filter) override;
  std::vector<CaseRecord> cases_due_for_alert(Millis now, int limit) override;
  std::vector<CaseRecord> cases_to_route(int limit) override;
  std::int64_t upsert_responder(const ResponderRecord& r) override;
  void deactivate_responders_except(const std::vector<std::string>& names, Millis now) override;
  std::vector<ResponderRecord> list_responders() override;
  std::optional<ResponderRecord> find_responder_by_token(std::string_view token_hash) override;
  std::optional<ResponderRecord> find_responder_by_phone(std::string_view phone_pseudonym) override;
  std::optional<ResponderRecord> find_responder(std::int64_t id) override;
  void set_responder_token(std::int64_t id, std::string_view token_hash, Millis now,
                           Millis expires_at) override;
  std::int64_t insert_note(const NoteRecord& n) override;
  std::vector<NoteRecord> list_notes(std::int64_t case_id) override;
  // The last row is read inside the job's transaction, and only the writer thread writes, so no
  // other append can slip in between: the chain has no forks and its ids no gaps.
  AuditRecord append_audit(Millis at, std::string_view actor, std::string_view action,
                           std::string_view case_reference, std::string_view detail) override;
  void reseal_audit_row(std::int64_t id, std::string_view prev_hash,
                        std::string_view hash) override;
  std::vector<AuditRecord> list_audit(std::int64_t after_id, int limit) override;

  // --- outbox, inbound SMS and delivery reports (tx_outbox.cpp)
  bool outbox_cancel(std::int64_t id, std::string_view reason, Millis /*now*/) override;
  bool outbox_cancel_key(std::string_view dedupe_key, std::string_view reason) override;
  bool outbox_resend(std::int64_t id, Millis now) override;
  bool insert_outbox(const OutboxRecord& o) override;
  bool insert_inbound(const InboundRecord& m) override;
  std::optional<InboundRecord> find_inbound(std::string_view provider,
                                            std::string_view provider_message_id) override;
  void set_inbound_reply(std::int64_t inbound_id, std::string_view reply) override;
  int count_inbound_since(std::int64_t contact_id, Millis since) override;
  int count_inbound_text_since(std::int64_t contact_id, std::string_view text_hash,
                               Millis since) override;
  std::vector<OutboxRecord> claim_outbox(Millis now, Millis lease_until, int limit,
                                         std::string_view kind_prefix) override;
  std::vector<OutboxRecord> claim_outbox_exact(Millis now, Millis lease_until, int limit,
                                               std::string_view kind) override;
  std::pair<int, int> settle_in_doubt_outbox(std::string_view kind_prefix, Millis now) override;
  int release_stale_outbox(Millis now, std::string_view kind_prefix) override;
  void outbox_sent(std::int64_t id, std::string_view provider_message_id, Millis now) override;
  // `now` is part of the interface for symmetry; the outbox keeps no updated_at.
  void outbox_retry(std::int64_t id, Millis not_before, std::string_view error,
                    Millis /*now*/) override;
  void outbox_dead(std::int64_t id, std::string_view error, Millis /*now*/) override;
  std::optional<OutboxRecord> find_outbox(std::int64_t id) override;
  std::vector<OutboxRecord> list_outbox(std::string_view status, int limit) override;
  bool update_delivery(std::string_view channel, std::string_view provider_message_id,
                       std::string_view delivery_status, Millis /*now*/) override;
  bool update_delivery_by_id(std::int64_t outbox_id, std::string_view delivery_status,
                             Millis /*now*/) override;
  std::vector<std::pair<std::string, std::int64_t>> outbox_counts() override;

  // --- check-ins (tx_checkins.cpp)
  // The statement reads the id range (lo, hi] only; the range doubles until `limit` rows are
  // found or the ids run out. Each page so costs about the rows it returns (plus up to as many
  // again), where one unbounded query per page would read every candidate after after_id: a
  // scheduler paging through 1,000,000 contacts would read them quadratically often.
  std::vector<ContactRecord> due_checkins(std::string_view week, int weekday, int hour,
                                          std::int64_t after_id, int limit) override;
  bool insert_checkin(const CheckinRecord& c) override;
  std::optional<CheckinRecord> open_checkin(std::int64_t contact_id) override;
  void update_checkin(const CheckinRecord& c) override;
  std::vector<CheckinRecord> checkins_to_remind(Millis now, int limit) override;
  std::vector<CheckinRecord> checkins_overdue(Millis now, int limit) override;
  std::optional<CheckinRecord> previous_checkin(std::int64_t contact_id,
                                                std::string_view week) override;

  // --- upkeep: heartbeat, re-encryption, key usage, purge, statistics, metrics, meta
  // (tx_upkeep.cpp)
  void heartbeat(Millis now) override;
  bool try_lock(std::string_view name) override;
  int reseal(ResealCursor& cursor, int limit) override;
  PurgeCounts purge(const PurgeCutoffs& cut, int limit, PurgeCursor& cursor) override;
  PurgeCounts purgeable(const PurgeCutoffs& cut) override;
  std::vector<StatFact> stat_facts(Millis from, Millis to) override;
  MetricsSnapshot metrics_snapshot() override;
  std::string meta(std::string_view key) override;
  void set_meta(std::string_view key, std::string_view value) override;
  int delete_meta(std::string_view prefix, std::string_view below) override;
  KeyUsage sealed_key_usage() override;

 private:
  // claim_outbox and claim_outbox_exact, by their statement (tx_outbox.cpp).
  std::vector<OutboxRecord> claim(Sql claim_sql, Millis now, Millis lease_until, int limit,
                                  std::string_view kind);
  // Every Tx runs inside a transaction. If the database rolled it back (I/O error, disk full)
  // and the job carried on, its next statements would autocommit on their own, outside the batch.
  void check_transaction() const {
    if (!conn_.in_transaction()) {
      throw std::runtime_error("store: the transaction was rolled back by an earlier error");
    }
  }

  Stmt use(Sql id) {
    check_transaction();
    return Stmt(conn_, id);
  }

  // upkeep's helpers (tx_upkeep.cpp)
  std::vector<std::int64_t> ids(Sql sql, Millis before, int limit);
  // Runs `sql` (one "?1" = the id) for every id; returns the rows changed.
  std::int64_t for_each_id(const std::string& sql, const std::vector<std::int64_t>& list);
  std::int64_t count_of(const std::string& sql, const std::vector<std::int64_t>& list);
  PurgeCounts purge_or_count(const PurgeCutoffs& cut, int limit, bool remove, PurgeCursor& cursor);
  void drop_sessions(const std::vector<std::int64_t>& sessions);
  // A sealed column's value re-encrypted with the current key, or nullopt when it is current
  // (or empty, or a clear value in a column that holds only ciphertext).
  std::optional<std::string> reseal_value(const SealedColumn& c, const Statement& sel,
                                          std::uint8_t current) const;
  // Written with another key or before padding (SECURITY #11): to be re-encrypted.
  static bool stale(std::string_view blob, std::uint8_t current);
  // An outbox row's payload with its number and text re-encrypted (a text still in clear is
  // sealed), or nullopt when nothing changes.
  std::optional<std::string> reseal_outbox_row(const Statement& sel, std::uint8_t current) const;

  Connection& conn_;
  const FieldCipher* cipher_;     // null: sealed columns are written in clear (tests only)
  const std::string& audit_key_;  // the store's, which outlives every Tx
  const bool writer_;
};

}  // namespace rabta::store::sql
