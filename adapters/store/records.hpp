// Rows of rabta's database as plain values. Times are Unix epoch milliseconds (UTC).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rabta::store {

using Millis = std::int64_t;

// The associated data that binds an SMS outbox row's sealed number and text to the row
// ("outbox.to:" / "outbox.text:" + dedupe key): written by gateway/outbound/outbound_sms.cpp,
// re-encrypted by the store's key rotation, so both read this one definition.
inline std::string outbox_to_associated_data(std::string_view dedupe_key) {
  return "outbox.to:" + std::string(dedupe_key);
}
inline std::string outbox_text_associated_data(std::string_view dedupe_key) {
  return "outbox.text:" + std::string(dedupe_key);
}

// Contact status values (contacts.status).
namespace contact_status {
inline constexpr const char* caller = "caller";        // reached us herself, not enrolled
inline constexpr const char* active = "active";        // enrolled: weekly check-ins
inline constexpr const char* paused = "paused";        // enrolled, check-ins paused by the operator
inline constexpr const char* opted_out = "opted_out";  // she sent STOP: nothing unsolicited
inline constexpr const char* removed = "removed";      // removed by the operator; number erased
}  // namespace contact_status

struct ContactRecord {
  std::int64_t id = 0;
  std::string pseudonym;   // HMAC of the normalised phone number; never the number itself
  std::string language;    // "" until she picks one
  Millis quiet_until = 0;  // after a quick exit nothing is sent to her before this time
  Millis created_at = 0;
  Millis updated_at = 0;
  // Enrolment (schema 2). A contact who only ever dialled in keeps the defaults.
  std::string status = contact_status::caller;
  std::string phone_enc;      // her number, AEAD-encrypted (binary); "" when not needed
  std::string district;       // a key of the districts list, or ""
  int checkin_weekday = 0;    // 1 = Monday .. 7 = Sunday; 0 = no weekly check-in
  int window_start_hour = 0;  // local hours [start, end) in which she may be contacted
  int window_end_hour = 0;
  std::string channel;      // "sms" (prompt by SMS) or "ussd" (a reminder to dial in)
  bool sms_ok = false;      // consent to unsolicited SMS (SAFETY S1)
  bool confirm_ok = false;  // consent to an SMS confirming a report (SAFETY S5)
  int missed_in_row = 0;    // weekly check-ins missed in a row
};

// Session status values (sessions.status).
namespace session_status {
inline constexpr const char* active = "active";          // waiting for her next input
inline constexpr const char* finished = "finished";      // reached an END screen
inline constexpr const char* quick_exit = "quick_exit";  // she used the quick-exit input
inline constexpr const char* incomplete = "incomplete";  // dropped mid-way (aggregator or idle)
inline constexpr const char* resumed = "resumed";        // continued by a later session
}  // namespace session_status

struct SessionRecord {
  std::int64_t id = 0;
  std::string provider;             // adapter name, e.g. "africastalking"
  std::string provider_session_id;  // the aggregator's session id
  std::int64_t contact_id = 0;
  std::string channel;          // "ussd" or "sms"
  std::string state;            // flows::SessionState, serialised (JSON)
  std::string last_input_path;  // USSD: the aggregator's accumulated `text` of the last hop
  std::string last_reply;       // the last reply sent, to answer a retried hop identically
  int hop_count = 0;
  std::string status = session_status::active;
  std::string end_reason;  // e.g. "Incomplete", "idle", "quick_exit"
  Millis started_at = 0;
  Millis updated_at = 0;
  Millis ended_at = 0;
};

// Case status values (cases.status).
namespace case_status {
inline constexpr const char* open = "open";  // raised, nobody has acknowledged it
inline constexpr const char* acknowledged =
    "acknowledged";                                // a responder acknowledged: the ladder stops
inline constexpr const char* claimed = "claimed";  // a responder took it on
inline constexpr const char* closed = "closed";    // closed with an outcome code
}  // namespace case_status

struct CaseRecord {
  std::int64_t id = 0;
  std::string reference;  // short code shown to her, unique
  std::int64_t contact_id = 0;
  std::int64_t session_id = 0;
  std::string flow;
  std::string category;
  std::string severity;  // "low", "normal", "high", "critical"
  std::string status = "open";
  Millis created_at = 0;
  // Schema 3: the responder queue.
  std::string district;      // from her answers or enrolment, for routing ("" = unknown)
  std::string team;          // the team it was routed to ("" = not routed yet)
  int rung = 0;              // escalation ladder position alerted last (0 = none yet)
  Millis next_alert_at = 0;  // when the ladder climbs if nobody acknowledges (0 = stopped)
  Millis acknowledged_at = 0;
  std::int64_t acknowledged_by = 0;  // responder id
  std::int64_t claimed_by = 0;
  Millis closed_at = 0;
  std::string outcome;  // outcome code when closed
  // Schema 10: the caseworker's case file (#15).
  Millis ack_due_at = 0;  // when it should have been acknowledged (her report + the first SLA)
  std::string pending_outcome;  // a closing that waits for a supervisor's approval ("" = none)
  std::int64_t pending_by = 0;  // who asked for it
};

// A caseworker, NGO desk or police women's desk member (from config/responders.toml).
struct ResponderRecord {
  std::int64_t id = 0;
  std::string name;  // unique, as in the roster
  std::string team;
  std::string role;  // "caseworker" or "supervisor"
  bool can_export = false;
  std::string phone_pseudonym;  // to recognise her SMS ACK
  std::string phone_enc;        // encrypted number for SMS alerts (binary)
  std::string token_hash;       // SHA-256 hex of her API token ("" = no API access)
  Millis token_issued_at = 0;   // 0 with a token: issued before schema 7 (a legacy token)
  Millis token_expires_at = 0;  // the token stops working at this instant
  std::string pin_hash;         // keyed hash of her SMS PIN ("" = no PIN asked)
  bool active = true;           // false once removed from the roster
  std::string language;         // schema 10: her console's language, "en" or "ur" ("" = not set)
  Millis updated_at = 0;
};

struct NoteRecord {
  std::int64_t id = 0;
  std::int64_t case_id = 0;
  std::int64_t responder_id = 0;
  std::string text_enc;  // encrypted free text (binary)
  Millis created_at = 0;
  // Schema 10: "note", or the reason given with a step: "closing", "reopening", "declining".
  std::string kind = "note";
};

// One row of the hash-chained audit log: every read or change of case data (SAFETY C2).
struct AuditRecord {
  std::int64_t id = 0;
  Millis at = 0;
  std::string actor;           // "responder:<id>", "sms:<responder id>", "system"
  std::string action;          // e.g. "case.list", "case.read", "case.ack", "case.note"
  std::string case_reference;  // "" for list views
  std::string detail;          // short, no sensitive values (e.g. filter names, outcome code)
  std::string prev_hash;       // hash of the previous row ("" for the first)
  std::string hash;            // SHA-256 hex over prev_hash and this row's fields
};

struct CaseFilter {
  std::vector<std::string> teams;  // empty = every team
  std::string status;              // "" = any
  std::string severity;            // "" = any
  bool open_only = false;          // status open, acknowledged or claimed
  std::int64_t after_id = 0;       // paging: ids below this when > 0 (newest first)
  int limit = 50;
  // Schema 10 (#15): search and views.
  std::string reference;                   // exact, upper-case ("" = any)
  std::string category;                    // "" = any
  std::string district;                    // "" = any
  std::optional<std::int64_t> claimed_by;  // the assignee; 0 = nobody
  bool not_closed = false;                 // status other than closed
  Millis created_from = 0;                 // created_at >= this when > 0
  Millis created_to = 0;                   // created_at < this when > 0
  Millis overdue_at = 0;  // when > 0: open (unacknowledged) with ack_due_at before this
};

// One fact for the aggregate statistics (SAFETY D6): a case or a weekly check-in, with only
// what may be counted. Never an id, a number or a text.
struct StatFact {
  std::string measure;   // "case" or "checkin"
  Millis at = 0;         // case: created_at
  std::string week;      // checkin: its ISO week
  std::string district;  // case: its district; checkin: her enrolment district
  std::string category;  // case: its category; checkin: its status
};

struct AnswerRecord {
  std::int64_t session_id = 0;
  std::int64_t contact_id = 0;
  std::string key;
  std::string value;
  Millis created_at = 0;
  std::int64_t case_id = 0;  // schema 4: the case it was given for (0 = none yet)
};

struct ConsentRecord {
  std::int64_t contact_id = 0;
  std::int64_t session_id = 0;
  std::string purpose;  // "referral_ngo", "referral_police", "callback", "sms"
  bool granted = false;
  Millis created_at = 0;
  std::int64_t case_id =
      0;  // schema 4: the case it was given for (0 = none yet, or her SMS choice)
};

// Outbox status values (outbox.status).
namespace outbox_status {
inline constexpr const char* pending = "pending";  // waiting for not_before
inline constexpr const char* sending = "sending";  // claimed by the dispatcher until lease_until
inline constexpr const char* sent = "sent";        // accepted by the provider
inline constexpr const char* dead = "dead";        // permanent failure or attempts exhausted
inline constexpr const char* expired = "expired";  // past expires_at before it could be sent
// In doubt after a crash: it was being sent to a woman when the process stopped, so the
// provider may have it. Never sent again automatically (a second SMS on her phone is the worse
// failure); the operator sees it in `rabta outbox list` and /metrics.
inline constexpr const char* unconfirmed = "unconfirmed";
// Not needed any more: a case alert once someone acknowledged the case, or a repeat superseded
// by a newer one to the same rung (SAFETY W6). Not a failure: no dead letter.
inline constexpr const char* cancelled = "cancelled";
}  // namespace outbox_status

struct OutboxRecord {
  std::int64_t id = 0;
  std::string kind;        // e.g. "case_alert", "sms"
  std::string dedupe_key;  // unique: a second insert with the same key is a no-op
  std::string payload;     // JSON
  std::string cause;       // what produced it, e.g. "case:K7P2QX"
  std::string status = outbox_status::pending;
  int attempts = 0;
  Millis created_at = 0;
  Millis not_before = 0;
  Millis expires_at = 0;  // 0 = never
  std::string last_error;
  // Schema 2: outbound messages.
  std::int64_t contact_id = 0;  // the woman it goes to, 0 = not a woman (e.g. a responder)
  std::string channel;          // adapter name that sends it, "" for non-SMS kinds
  Millis lease_until = 0;       // while status = sending
  Millis sent_at = 0;
  std::string provider_message_id;  // the provider's id once sent
  std::string
      delivery_status;   // from delivery reports: "", "queued", "sent", "delivered", "failed", ...
  std::string encoding;  // "gsm7" or "ucs2"
  int segments = 0;
};

struct InboundRecord {
  std::int64_t id = 0;
  std::string provider;
  std::string provider_message_id;  // unique per provider: a second delivery is a duplicate
  std::int64_t contact_id = 0;
  std::string text_hash;  // SHA-256 of the normalised text (loop detection), never the text
  std::string reply;      // what was answered in-band, to answer a duplicate identically
  Millis received_at = 0;
};

// Check-in status values (checkins.status).
namespace checkin_status {
inline constexpr const char* sent = "sent";          // prompt queued
inline constexpr const char* reminded = "reminded";  // reminder queued
inline constexpr const char* answered = "answered";
inline constexpr const char* missed = "missed";  // deadline passed without an answer
}  // namespace checkin_status

struct CheckinRecord {
  std::int64_t id = 0;
  std::int64_t contact_id = 0;
  std::string week;  // ISO week of her local time, e.g. "2026-W48"; unique per contact
  std::string status = checkin_status::sent;
  Millis sent_at = 0;
  Millis remind_at = 0;  // 0 = no reminder due
  Millis deadline_at = 0;
  Millis answered_at = 0;
  std::string answer;          // "fine", "talk", "help_now"
  std::string case_reference;  // the case a missed check-in opened
};

}  // namespace rabta::store
