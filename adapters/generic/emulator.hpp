// The gateway's side of a kind = "http" table: from the same settings the adapter reads, the
// requests the gateway would send for a phone that dials, presses keys, is delivered twice or
// hangs up, and the reading of what rabta answers (the reply, or for an asynchronous gateway the
// call to its send API). Used by `rabta emulate` and by the end-to-end tests, so that every
// preset can run a whole check-in and a whole report against the real gateway. Pure: the caller
// makes the HTTP calls.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "adapters/generic/ussd.hpp"

namespace rabta::adapters::generic {

struct EmulatedRequest {
  std::string method;
  std::string path_and_query;  // to put after the gateway's base URL
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// One phone's session as the gateway keeps it.
struct EmulatedSession {
  std::string session_id;
  std::string phone;         // as the gateway writes it ("+92...", "92...", "tel:92...")
  std::string service_code;  // what she dialled, e.g. "*786#"
  std::string path;          // every input so far, joined by '*'
  int hops = 0;              // hops sent so far (the gateway's counter)
  EmulatedRequest last;      // the last hop sent, for a duplicate delivery
};

struct EmulatedScreen {
  bool end = false;
  std::string text;
  std::string session_id;  // what a send call named ("" for a reply in the response)
};

class GatewayEmulator {
 public:
  explicit GatewayEmulator(const HttpUssd& adapter) : a_(adapter) {}

  // The first hop of a new session; the next one with `input`; the last one again.
  EmulatedRequest dial(EmulatedSession& s) const;
  EmulatedRequest press(EmulatedSession& s, const std::string& input) const;
  // The gateway's notice that she hung up, when it sends one (an end operation or an events
  // URL); nullopt when it sends none (rabta's idle timeout ends the session then).
  std::optional<EmulatedRequest> hang_up(const EmulatedSession& s) const;
  // `r` with the credentials the gateway would send replaced by wrong ones.
  EmulatedRequest with_wrong_credentials(const EmulatedSession& s, bool begin) const;

  bool asynchronous() const { return !a_.replies_in_band(); }
  // Whether rabta can tell any hop delivered twice from the same key pressed again: the gateway
  // sends the whole path or a hop counter (else only a second "begin" is told).
  bool tells_retries() const { return a_.input_is_path_ || a_.sequence_.has_value(); }
  // The screen in rabta's reply to a hop (synchronous gateways); nullopt when the reply is not
  // one the gateway would understand.
  std::optional<EmulatedScreen> read_reply(
      int status, const std::vector<std::pair<std::string, std::string>>& headers,
      const std::string& body) const;
  // The screen in a call rabta made to the send API (asynchronous gateways).
  std::optional<EmulatedScreen> read_send(const std::string& body) const;
  // What the gateway's send API answers a call it accepts (its success field set, or "{}").
  std::string send_answer() const;
  // Whether rabta's answer to a hop of an asynchronous gateway is its acknowledgement.
  bool is_ack(int status, const std::string& body, const EmulatedSession& s) const;

 private:
  enum class Op { begin, more, end };
  EmulatedRequest build(const EmulatedSession& s, Op op, const std::string& input,
                        bool wrong_credentials) const;

  const HttpUssd& a_;
};

}  // namespace rabta::adapters::generic
