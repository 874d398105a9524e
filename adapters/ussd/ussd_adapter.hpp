// One interface per USSD aggregator, as adapters/sms/sms_adapter.hpp is for SMS. An adapter is
// pure: it authenticates and decodes what the aggregator sends on its endpoints (a hop of a
// session, or the end of one) and encodes the reply. The gateway owns the socket, turns her
// number into a pseudonym at once, and runs the hop in the store's transaction
// (gateway/inbound/ussd_service.hpp): the session, resume, quick-exit and duress rules are the
// same for every USSD adapter.
//
// Adding a USSD aggregator = a preset file for the configurable adapter (config/presets/ussd/,
// kind = "http", adapters/generic/) and its fixture table under tests/fixtures/ussd/; or, when
// no configuration can describe it, a folder under adapters/ with a class implementing
// UssdAdapter, its fixture table, and one line in adapters/ussd/registry.cpp. Either way the
// gateway serves it from a [ussd.<name>] table of rabta.toml (docs/AGGREGATORS.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "adapters/sms/sms_adapter.hpp"

namespace rabta::adapters::ussd {

// The request and reply values are the SMS adapters' (one HTTP shape for every adapter).
using InboundHttp = sms::InboundHttp;
using HttpReply = sms::HttpReply;
using Rejection = sms::Rejection;

// One hop: what she typed, within a session.
struct Hop {
  std::string session_id;
  std::string service_code;
  std::string phone;  // her number, raw: the caller pseudonymises it at once
  std::string text;   // every input so far joined by '*' ("" on the first hop), or only the
                      // newest input when `text_is_path` is false
  bool text_is_path = true;
  // The aggregator's hop counter made 1-based (1 = the hop that opened the session), 0 when it
  // sends none. With only the newest input, it is what tells a retried hop from the same key
  // pressed again.
  std::int64_t sequence = 0;
  // The gateway says this hop opens the session (its begin operation): for a session already
  // open it can only be the first hop delivered again.
  bool begins = false;
};

// What a reply may name besides the screen (some aggregators want the session id echoed).
struct ReplyTo {
  std::string session_id;
  std::string service_code;
};

// A screen an asynchronous gateway takes by a separate call (its send API), built from the
// outbox row the hop's transaction queued. Not the dialled code: it could be the duress code,
// kept nowhere in clear.
struct AsyncReply {
  std::string session_id;
  std::string to;  // her number, E.164: only where the gateway's send call requires it
  std::string text;
  bool end = false;
};

// The aggregator says a session ended (she hung up, the network timed out, or it finished).
struct SessionEnd {
  std::string session_id;
  std::string status;  // the aggregator's word for how it ended, for the log
  std::string phone;   // raw, may be empty
};

using Inbound = std::variant<Hop, SessionEnd>;

class UssdAdapter {
 public:
  virtual ~UssdAdapter() = default;

  // Stored with every session of this adapter (sessions are keyed by provider and session id).
  virtual std::string_view provider() const = 0;
  // A fixed label for the endpoint at `path` ("ussd_africastalking", for the request metrics),
  // or "" when the path is not this adapter's. The gateway routes the paths with a label here.
  virtual std::string_view route(std::string_view path) const = 0;
  // Authenticates BEFORE decoding (403, nothing decoded), then a hop, a session end, or why the
  // request is refused (405 for a method the endpoint does not take, 400/415 for a bad body).
  virtual std::variant<Inbound, Rejection> decode(const InboundHttp& request) const = 0;
  // The reply to a hop: the next screen, or the last one when `end`.
  virtual HttpReply encode_reply(const ReplyTo& to, bool end, std::string_view text) const = 0;
  // The reply when the hop could not be stored: she sees a neutral end, nothing was kept.
  virtual HttpReply busy_reply(const ReplyTo& to) const = 0;

  // Asynchronous gateways (replies_in_band() false) take the screen by a separate call: the
  // response to a hop is only ack_reply(), and the screen is queued in the hop's transaction and
  // sent by the outbox (build_send, parse_send) within send_deadline() of the hop, or dropped.
  virtual bool replies_in_band() const { return true; }
  virtual HttpReply ack_reply(const ReplyTo&) const { return {}; }
  virtual sms::HttpCall build_send(const AsyncReply&) const {
    throw std::logic_error("this USSD adapter answers in the HTTP response");
  }
  // `status` 0 = transport error (`body` holds curl's message).
  virtual sms::SendResult parse_send(long /*status*/, std::string_view /*body*/) const {
    throw std::logic_error("this USSD adapter answers in the HTTP response");
  }
  virtual std::chrono::milliseconds send_deadline() const { return std::chrono::milliseconds(0); }
};

// Builds a [ussd.<name>] adapter of `kind` from its settings (secrets already resolved).
// Throws std::invalid_argument naming the setting (generic::SettingError carries its key), never
// its value.
std::unique_ptr<UssdAdapter> make_adapter(const std::string& kind, const std::string& name,
                                          const sms::Settings& settings);
// Every registered kind.
std::vector<std::string> adapter_kinds();

}  // namespace rabta::adapters::ussd
