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
  std::string via;  // "api", "console", "sms", "ussd" (the responder menu)
  // By SMS or USSD: the channel it came through and the aggregator's message or session id
  // (audited with it).
  std::string channel;
  std::string message_id;
};

// An SMS action's audit detail: what happened, the channel and the aggregator's message id
// (SECURITY #11: every SMS action can be traced to the message that asked for it).
std::string sms_audit_detail(std::string_view detail, const Actor& actor);

// By SMS or the USSD responder menu: the number alone says who she is, and whoever holds the
// aggregator's credentials can send from any number. Such an actor is limited to her own team
// (and cases she was alerted for), to acknowledging and claiming, and her PIN when she has one.
inline bool by_phone(const Actor& a) {
  return a.via == "sms" || a.via == "ussd";
}

// ok; accepted (a closing that waits for a supervisor's approval); not_found (also when she may
// not see it); forbidden (she sees it but the step is a supervisor's); invalid (bad input);
// conflict (the case is not in a state that allows the step, e.g. closing a closed case).
// no_consent: a referral she has not agreed to in this case.
enum class CaseResult { ok, accepted, not_found, forbidden, invalid, conflict, no_consent };

// The queue as asked for (GET /api/v1/cases): a store filter plus what only the service can
// resolve against who asks. Views: "mine" (assigned to her, not closed), "unassigned" (nobody's,
// not closed), "team" (not closed), "closed"; "" = every status.
struct CaseQuery {
  store::CaseFilter filter;
  std::string view;
  std::string team;      // "" = every team she may see
  std::string assignee;  // a responder's name, "none" for nobody, "" = anyone
  bool overdue = false;
};

// One entry of a case's timeline, built from the audit log and the outbox (never a second copy).
struct TimelineEvent {
  std::int64_t at = 0;
  std::string event;     // opened, routed, alerted (its delivery: what became of that alert),
                         // alert_sent, alert_failed (the ladder moved on), moved, acknowledged,
                         // claimed, assigned, note, closing_requested, closed, approved,
                         // declined, reopened, referred, webhook ("<sink>:<event>")
  std::string by;        // a responder's name, "rabta" for the system; "" when nobody acted
  std::string via;       // "console/api", "sms" or ""
  std::string detail;    // e.g. "team_a", "rung 2 to Bina", "resolved"; never her words
  std::string delivery;  // an alert's or webhook's delivery: sent, delivered, failed, ...
  std::optional<std::string> text;  // a note or reason, decrypted for whoever may read the case
};

struct CaseDetail {
  store::CaseRecord record;
  std::vector<std::pair<std::string, std::string>> answers;  // her answers in the case's session
  std::vector<std::pair<std::string, bool>> consents;        // purpose -> her latest choice
  std::vector<store::NoteRecord> notes;                      // text decrypted into text_enc's place
  std::string phone;  // her number, only with callback consent and only for an authorised reader
  // Her context (#15): what helps a caseworker call her safely, never more than that.
  std::string language;  // "ur", "roman", "en" or "" when she never chose
  std::string channel;   // "ussd:<provider>" or "sms:<provider>" the report came on; "" unknown
  std::vector<store::CaseRecord> earlier;  // her earlier cases the reader may see
  int earlier_elsewhere = 0;  // her earlier cases of teams the reader does not see (a count only)
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
  // `outcome` must be one of the configured outcome codes and `reason` 1..2000 characters (else
  // invalid); the reason is kept as a sealed note of kind "closing". A caseworker's closing with
  // an outcome that needs approval waits for a supervisor (accepted); a supervisor's closes.
  // Closing a closed case, or one already waiting for approval, is a conflict.
  CaseResult close(store::Tx& tx, const Actor& actor, const std::string& reference,
                   const std::string& outcome, const std::string& reason) const;
  // A supervisor approves the closing that waits (closed with its outcome) or declines it with a
  // reason (the case stays open for work). Conflict when nothing waits; forbidden to others.
  CaseResult approve(store::Tx& tx, const Actor& actor, const std::string& reference) const;
  CaseResult decline(store::Tx& tx, const Actor& actor, const std::string& reference,
                     const std::string& reason) const;
  // A supervisor reopens a closed case, with a reason; it goes back to its assignee, if any.
  CaseResult reopen(store::Tx& tx, const Actor& actor, const std::string& reference,
                    const std::string& reason) const;
  // Assigns the case to `to`: an active member of the case's team or a supervisor. Whoever may
  // work the case may hand it on; invalid when `to` is nobody it can go to; conflict when closed.
  CaseResult assign(store::Tx& tx, const Actor& actor, const std::string& reference,
                    const std::string& to) const;
  // Refers the case to a configured partner: only with her consent for the partner's purpose
  // given in this case (else no_consent); invalid for an unknown partner; conflict when closed or
  // referred there already. The partner then receives the case's events by signed webhook.
  CaseResult refer(store::Tx& tx, const Actor& actor, const std::string& reference,
                   const std::string& partner) const;
  // Every event of the case in time order; audited as "case.timeline".
  CaseResult timeline(store::Tx& tx, const Actor& actor, const std::string& reference,
                      std::vector<TimelineEvent>& out) const;
  // list() with views, assignee and team resolved for `actor`; invalid when the assignee names
  // nobody. Audited as "case.list" with the names of the filters used.
  CaseResult search(store::Tx& tx, const Actor& actor, const CaseQuery& query,
                    std::vector<store::CaseRecord>& out) const;

  const std::vector<std::string>& outcomes() const { return outcomes_; }
  const std::vector<adapters::webhook::WebhookSink>& partners() const { return roster_->partners; }
  const Roster& roster() const { return *roster_; }
  bool needs_approval(std::string_view outcome) const;

 private:
  std::shared_ptr<const Roster> roster_;
  const common::FieldCipher& cipher_;
  const common::Clock& clock_;
  std::vector<std::string> outcomes_;
};

// Code points in valid UTF-8 (continuation bytes are not counted).
std::size_t utf8_length(std::string_view s);

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
