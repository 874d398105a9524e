// One interface per SMS aggregator (Africa's Talking, Twilio, Kannel, ...). An adapter is pure:
// it decodes and authenticates what the aggregator sends, encodes the in-band reply, builds the
// HTTP request that sends a message and classifies the aggregator's answer. The gateway owns the
// sockets (inbound) and libcurl (outbound).
//
// Adding an aggregator = its folder under adapters/, its fixture table under tests/fixtures/sms/,
// one line in adapters/sms/registry.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace rabta::adapters::sms {

// An HTTP request as the adapter sees it.
struct InboundHttp {
  std::string method;
  std::string public_url;  // the URL exactly as the aggregator called it (signatures cover it)
  std::string path;
  std::string query;                                         // raw, percent-encoded
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;

  std::string_view header(std::string_view lower_name) const {
    for (const auto& [n, v] : headers)
      if (n == lower_name) return v;
    return {};
  }
};

// Why a request is refused: an HTTP status and a reason safe to send back and to log
// (it never contains a phone number, a message text or a secret).
struct Rejection {
  int status = 400;
  std::string reason;
};

struct InboundSms {
  std::string provider_message_id;  // unique per provider; duplicates are harmless
  std::string from;                 // her number, raw: pseudonymised at once by the caller
  std::string to;                   // the short code
  std::string text;                 // UTF-8
};

// Delivery status normalised across aggregators.
enum class Delivery { queued, sent, delivered, failed, unknown };
const char* to_string(Delivery d);

struct DeliveryReport {
  std::string provider_message_id;  // the aggregator's id for the message, if it gives one
  std::int64_t outbox_id = 0;       // our id, when it comes back in the callback URL (Kannel)
  Delivery status = Delivery::unknown;
  bool final = false;  // no further report will follow
  std::string error;   // the aggregator's failure code/reason, if any
};

// What came in on an adapter's endpoint.
using Inbound = std::variant<InboundSms, DeliveryReport>;

// An in-band reply: what the HTTP response carries back (Kannel: the SMS text; Twilio: TwiML).
struct HttpReply {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct OutboundSms {
  std::int64_t outbox_id = 0;  // ours: echoed in callback URLs where the aggregator allows
  std::string to;              // E.164 with '+'
  std::string text;            // UTF-8
  bool ucs2 = false;           // the text needs UCS-2 (Urdu script, curly quotes, ...)
};

struct HttpCall {
  std::string method = "POST";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string basic_user;  // HTTP Basic auth when non-empty
  std::string basic_password;
};

enum class SendOutcome {
  sent,       // accepted: provider_message_id set when the aggregator gives one
  retry,      // temporary: connection error, 5xx, 429, queue full
  permanent,  // will never succeed: invalid or blacklisted number, bad credentials
};

struct SendResult {
  SendOutcome outcome = SendOutcome::retry;
  std::string provider_message_id;
  std::string error;  // short, no number or text
};

// Settings of one configured channel, from rabta.toml [channels.<name>] (strings as written;
// secrets already resolved from their env var or file).
using Settings = std::map<std::string, std::string>;

class SmsAdapter {
 public:
  virtual ~SmsAdapter() = default;
  virtual std::string_view name() const = 0;

  // Authenticates (secret in the URL, or a signature) BEFORE decoding; a message or a delivery
  // report, or a Rejection (403 when authentication fails).
  virtual std::variant<Inbound, Rejection> decode(const InboundHttp& request) const = 0;

  // Whether a reply to an inbound message goes back in the HTTP response (Kannel, Twilio) or
  // must be sent as a new message through the API (Africa's Talking).
  virtual bool replies_in_band() const = 0;
  // The HTTP response for an inbound message; `text` empty = no reply. For a delivery report,
  // `text` is always empty.
  virtual HttpReply encode_reply(std::string_view text, bool ucs2) const = 0;

  virtual HttpCall build_send(const OutboundSms& message) const = 0;
  // `status` 0 = transport error (connection refused, timeout): `body` holds curl's message.
  virtual SendResult parse_send(long status, std::string_view body) const = 0;
};

// Builds the named adapter from its settings; throws std::invalid_argument naming the missing
// or bad setting (never its value).
std::unique_ptr<SmsAdapter> make_adapter(const std::string& kind, const Settings& settings);
// Every registered adapter kind.
std::vector<std::string> adapter_kinds();

}  // namespace rabta::adapters::sms
