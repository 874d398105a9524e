// Case webhooks: a case's lifecycle ("opened", "escalated", "acknowledged", "assigned",
// "referred", "closed", "reopened") POSTed as signed JSON to the case-management system
// ([webhook] in config/responders.toml) and, once a caseworker referred the case with her
// consent, to that referral partner ([[partners]]): "referred" and every later event.
//
// Body (application/json, keys always in this order):
//   {"event", "reference", "severity", "category", "status", "team",
//    "created_at",        // when the case was raised, Unix epoch ms
//    "sent_at",           // when rabta raised this event, Unix epoch ms
//    "idempotency_key",   // "<event>:<reference>" for opened and escalated (once per case);
//                         // "<event>:<reference>:<step>" for the others, which can happen
//                         // again (<step> grows with each step); as in the Idempotency-Key
//    "district", "call_time",  // ONLY with her consent for the sink's purpose ("referral_ngo",
//                              // or "referral_police" for a police partner)
//    "phone"}                  // ONLY with referral AND callback consent, E.164
// Consent is fail-closed (SAFETY D3): a consent never asked (nullopt) is a no. Never any free
// text: no report text, no notes.
//
// Signature (the scheme of Stripe's webhooks):
//   X-Rabta-Signature: t=<unix seconds>,v1=<lowercase hex HMAC-SHA256(secret, "<t>.<body>")>
//   Idempotency-Key: <event>:<reference>[:<step>]
//   Content-Type: application/json
// The body is signed when it is sent, so t is the time of that attempt. A receiver recomputes
// the HMAC over "<t>." followed by the raw body bytes exactly as received, compares in constant
// time, and refuses a t further than its tolerance (e.g. 300 s) from its own clock, which bounds
// replays. The header may carry several v1 entries (e.g. while a secret rotates); one match
// suffices; unknown schemes are ignored. Delivery is at least once: the receiver must dedupe
// by Idempotency-Key.
//
// Outbox rows: kind "webhook:<sink name>", dedupe key "webhook:<sink>:<idempotency key>" (one
// row per occurrence of an event of a case), cause "case:<reference>", never expiring. The row's
// payload is the body except that her number is stored encrypted ("phone_enc": hex of an
// XChaCha20-Poly1305 blob, key derived from the sink secret, associated data bound to the row's
// dedupe key) so it is never in clear in the database (SAFETY D1). Changing the secret makes queued
// rows that carry a number unreadable: they are dead-lettered, visibly.
//
// The dispatcher checks her consent again when it sends (SAFETY D3): if she withdrew referral
// consent since the row was queued, district, call time and number are left out; if she
// withdrew callback consent, the number is (a case no longer found counts as no consent).
// Responses: 2xx = delivered; 408, 429, 5xx and transport errors are retried with capped
// exponential backoff and full jitter; any other status (other 4xx, 3xx: redirects are not
// followed) is dead at once, as are rows whose attempts are exhausted. Logs name the outbox id,
// the event, the case reference and the HTTP status; never the body, the number or the URL
// (only its host, at debug level).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "adapters/store/records.hpp"

namespace rabta::adapters::webhook {

struct WebhookSink {
  bool enabled = false;
  std::string url;     // the case-management system's endpoint
  std::string secret;  // HMAC-SHA256 key (from secret_env / secret_file)
  std::string name = "case_management";
  // The consent that lets district, call time (and with callback consent, her number) go to this
  // sink: "referral_ngo" for the case-management system and NGO partners, "referral_police" for
  // a police women's desk (#15 referral partners).
  std::string consent_purpose = "referral_ngo";
  std::string label;  // a partner's name as caseworkers read it ("" for the case system)
  // A referral partner: nothing at all is sent without her consent for consent_purpose (the
  // case system gets its events without the identifying fields instead).
  bool requires_consent = false;
};

// "" when the URL may be used, else why not: it must be https, or http to a loopback host
// (a local relay or a test). Never names the URL's query. Checked where responders.toml is read,
// so `rabta check` and `rabta serve` refuse the same URLs.
std::string webhook_url_problem(const std::string& url);

// What the payload may carry beyond the case itself, read by whoever queues the event.
struct WebhookFacts {
  std::optional<bool> referral_consent;  // her consent for the sink's consent_purpose
  std::optional<bool> callback_consent;  // her latest "callback" consent
  std::string district;
  std::string call_time;  // her answer "call_time"
  std::string phone;      // E.164, decrypted; "" when none
};

inline constexpr std::string_view webhook_kind_prefix = "webhook:";
inline constexpr const char* webhook_signature_header = "X-Rabta-Signature";

// True for "opened", "escalated", "acknowledged", "assigned", "referred", "closed", "reopened".
bool is_webhook_event(std::string_view event);

// "webhook:" + sink name.
std::string webhook_kind(std::string_view sink_name);

// The JSON body (pure, deterministic). Throws std::invalid_argument for an unknown event.
// `step`: for an event that can happen again to a case (assigned, closed after a reopening, ...),
// a number that names this occurrence (rabta uses the id of the audit row of the step that
// caused it); the idempotency key then ends in ":<step>". 0 = the event happens once per case.
std::string case_webhook_payload(const store::CaseRecord& c, const std::string& event,
                                 const WebhookFacts& facts, std::int64_t now_ms,
                                 std::int64_t step = 0);

// The X-Rabta-Signature value: "t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>".
std::string sign(const std::string& secret, std::int64_t t, const std::string& body);

// For receivers (and our tests): true when some v1 entry of the header matches the body signed
// at the header's t (constant-time comparison) and |now_s - t| <= tolerance_s. False for an
// empty secret, a malformed header, or a header without t or v1.
bool verify_signature(const std::string& secret, std::string_view header_value,
                      const std::string& body, std::int64_t now_s, std::int64_t tolerance_s);

// A pending row for the event (see the top of this file). Throws std::invalid_argument for an
// unknown event, a sink without a name or secret, or a case without a reference.
store::OutboxRecord make_webhook_outbox(const WebhookSink& sink, const store::CaseRecord& c,
                                        const std::string& event, const WebhookFacts& facts,
                                        std::int64_t now_ms, std::int64_t step = 0);

// What a row sends, with her current consent applied (nullopt = never asked = no): the body of
// the row's payload, or nullopt when the payload is unreadable (not JSON, or a number that does
// not decrypt with this sink's secret and row).
struct WebhookDelivery {
  std::string body;
  std::string event;
  std::string reference;
  std::string idempotency_key;  // as in the body
};
std::optional<WebhookDelivery> read_webhook_payload(const WebhookSink& sink,
                                                    const store::OutboxRecord& row,
                                                    std::optional<bool> referral_consent,
                                                    std::optional<bool> callback_consent);

// The case reference a row is about, from its cause ("case:<reference>"), or "".
std::string webhook_reference(const store::OutboxRecord& row);

// How an HTTP answer is handled: 2xx sent; 0 (transport error), 408, 429, 5xx retry; else dead.
enum class WebhookOutcome { sent, retry, dead };
WebhookOutcome classify_webhook_status(long status);

}  // namespace rabta::adapters::webhook
