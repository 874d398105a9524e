// Rows of rabta's database as plain values. Times are Unix epoch milliseconds (UTC).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace rabta::store {

using Millis = std::int64_t;

struct ContactRecord {
  std::int64_t id = 0;
  std::string pseudonym;   // HMAC of the normalised phone number; never the number itself
  std::string language;    // "" until she picks one
  Millis quiet_until = 0;  // after a quick exit nothing is sent to her before this time
  Millis created_at = 0;
  Millis updated_at = 0;
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
};

struct AnswerRecord {
  std::int64_t session_id = 0;
  std::int64_t contact_id = 0;
  std::string key;
  std::string value;
  Millis created_at = 0;
};

struct ConsentRecord {
  std::int64_t contact_id = 0;
  std::int64_t session_id = 0;
  std::string purpose;  // "referral_ngo", "referral_police", "callback", "sms"
  bool granted = false;
  Millis created_at = 0;
};

struct OutboxRecord {
  std::int64_t id = 0;
  std::string kind;        // e.g. "case_alert"
  std::string dedupe_key;  // unique: a second insert with the same key is a no-op
  std::string payload;     // JSON
  std::string cause;       // what produced it, e.g. "case:K7P2QX"
  std::string status = "pending";
  int attempts = 0;
  Millis created_at = 0;
  Millis not_before = 0;
  Millis expires_at = 0;  // 0 = never
};

}  // namespace rabta::store
