// What a responder can do with a case, whichever way she comes (SMS reply, API, console):
// list, read, acknowledge, claim, note, close. Every call checks her role and team and appends a
// hash-chained audit row in the same transaction (SAFETY C1, C2). Runs inside a store job.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "adapters/common/cipher.hpp"
#include "adapters/common/clock.hpp"
#include "adapters/common/crypto.hpp"
#include "adapters/store/audit_chain.hpp"
#include "adapters/store/store.hpp"
#include "gateway/outbound/consent.hpp"
#include "gateway/responders/responders.hpp"

namespace rabta::gateway {

struct Actor {
  std::int64_t responder_id = 0;
  std::string name;
  std::string role;  // "caseworker" or "supervisor"
  std::string team;
  bool can_export = false;
  std::string via;  // "api", "console", "sms"
  // By SMS: the channel it came through and the aggregator's message id (audited with it).
  std::string channel;
  std::string message_id;
};

// An SMS action's audit detail: what happened, the channel and the aggregator's message id
// (SECURITY #11: every SMS action can be traced to the message that asked for it).
std::string sms_audit_detail(std::string_view detail, const Actor& actor);

enum class CaseResult { ok, not_found, forbidden, invalid };

struct CaseDetail {
  store::CaseRecord record;
  std::vector<std::pair<std::string, std::string>> answers;  // her answers in the case's session
  std::vector<std::pair<std::string, bool>> consents;        // purpose -> her latest choice
  std::vector<store::NoteRecord> notes;                      // text decrypted into text_enc's place
  std::string phone;  // her number, only with callback consent and only for an authorised reader
};

class CaseService {
 public:
  CaseService(std::shared_ptr<const Roster> roster, const common::FieldCipher& cipher,
              const common::Clock& clock, std::vector<std::string> outcomes);

  // A caseworker sees her team's cases; a supervisor sees all.
  bool may_see(const Actor& actor, const store::CaseRecord& c) const;
  // may_see, or she was alerted for this case (it may have moved to the always-on team since).
  bool may_act(store::Tx& tx, const Actor& actor, const store::CaseRecord& c) const;

  // Restricted to what `actor` may see (her team unless supervisor). Audited as "case.list".
  std::vector<store::CaseRecord> list(store::Tx& tx, const Actor& actor,
                                      store::CaseFilter filter) const;
  // Audited as "case.read". not_found also when she may not see it (no leak of existence).
  CaseResult detail(store::Tx& tx, const Actor& actor, const std::string& reference,
                    CaseDetail& out) const;
  // Stops the escalation ladder. Idempotent: acknowledging twice is ok.
  CaseResult acknowledge(store::Tx& tx, const Actor& actor, const std::string& reference) const;
  CaseResult claim(store::Tx& tx, const Actor& actor, const std::string& reference) const;
  // The note's text is stored encrypted (associated data "notes.text_enc:<case id>").
  CaseResult add_note(store::Tx& tx, const Actor& actor, const std::string& reference,
                      const std::string& text) const;
  // `outcome` must be one of the configured outcome codes (else invalid).
  CaseResult close(store::Tx& tx, const Actor& actor, const std::string& reference,
                   const std::string& outcome) const;

  const std::vector<std::string>& outcomes() const { return outcomes_; }

 private:
  std::shared_ptr<const Roster> roster_;
  const common::FieldCipher& cipher_;
  const common::Clock& clock_;
  std::vector<std::string> outcomes_;
};

// The audit chain's MAC key (SECURITY #11): derived from the pseudonym key, so it lives where
// that key lives (outside the database and its backups) and needs no file of its own.
std::string audit_key(const common::Pseudonymizer& pseudonymizer);

// Checks the whole audit chain from row 1 against its key (SECURITY #11).
store::AuditCheck verify_audit_chain(store::Tx& tx, std::string_view key);

// A chain written before the key (schema 3's unkeyed hashes) is checked as it was and sealed with
// the key, once, in one transaction (rabta serve at start); an "audit.sealed" row records how
// many rows and whether the old chain held. Nothing happens when every row carries a MAC.
struct AuditSeal {
  std::int64_t rows = 0;
  std::optional<std::int64_t> old_broken_at;
};
AuditSeal seal_audit_chain(store::Store& store, std::string_view key, std::int64_t now);

}  // namespace rabta::gateway
