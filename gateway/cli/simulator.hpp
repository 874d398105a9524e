// Terminal phone simulator behind `rabta simulate`: plays a handset talking Africa's Talking
// USSD to a running gateway, so flows can be tried by hand or replayed from a script.
#pragma once

#include <iosfwd>
#include <string>

namespace rabta::gateway {

struct SimulatorOptions {
  std::string url;    // the gateway's USSD callback, e.g. http://127.0.0.1:8080/ussd/at
  std::string phone;  // phoneNumber sent on every hop
  std::string code;   // serviceCode, e.g. *384*1#
  std::string network_code = "99999";
  std::string session_id;   // "" = generate "SIM" + random hex
  long timeout_ms = 15000;  // per hop, connect included
};

// Plays a phone speaking Africa's Talking USSD to a running gateway. Reads the user's inputs
// line by line from `in` (interactive terminal or a script), prints each screen to `out`.
// Returns 0 when the session ended with END, 1 on input EOF before END or when the user types
// "/end" (hangs up; nothing is sent), 2 on HTTP/transport error (message on `err`).
//
// Each hop POSTs sessionId, serviceCode, phoneNumber, networkCode and text (the inputs so far
// joined by '*', "" on the first hop) as application/x-www-form-urlencoded. A reply must be
// HTTP 200 with a body starting "CON " (show, ask for input) or "END " (show, finish).
// When `in` is std::cin on a terminal the screen is framed and prompted; otherwise it is
// printed plainly and each input is echoed after "> " so transcripts read well.
int run_simulator(const SimulatorOptions& options, std::istream& in, std::ostream& out,
                  std::ostream& err);

}  // namespace rabta::gateway
