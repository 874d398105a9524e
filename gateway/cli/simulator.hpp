// Terminal phone simulator behind `rabta simulate`: plays a handset talking Africa's Talking
// USSD (or, with --config and --channel, any gateway a [ussd.<name>] table of kind "http"
// describes) to a running gateway, so flows can be tried by hand or replayed from a script.
#pragma once

#include <iosfwd>
#include <string>

#include "adapters/generic/emulator.hpp"

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

struct PresetSimulatorOptions {
  std::string base_url;    // where rabta listens, e.g. http://127.0.0.1:8080
  std::string phone;       // as the gateway writes it ("+92...", "92...", "tel:92...")
  std::string code;        // what she dials, e.g. *786#
  std::string session_id;  // "" = generate "SIM" + random hex
  // Asynchronous gateways: the address the simulator listens on as the gateway's send API,
  // e.g. "127.0.0.1:7000" (the channel's send.url must point there).
  std::string send_listen;
  long timeout_ms = 15000;  // per hop, and per screen awaited from the send API
};

// The same phone for any gateway a [ussd.<name>] table of kind "http" describes: the requests
// are the gateway's (adapters/generic/emulator.hpp), built from the same settings rabta reads,
// and the screens are read from rabta's reply or, for an asynchronous gateway, from the calls
// rabta makes to the send API the simulator plays. Exit codes as run_simulator; "/end" sends
// the gateway's hang-up notice when it has one.
int run_preset_simulator(const adapters::generic::GatewayEmulator& emulator,
                         const PresetSimulatorOptions& options, std::istream& in, std::ostream& out,
                         std::ostream& err);

// `rabta simulate --config FILE --channel NAME --url BASE`: the [ussd.NAME] table of the config,
// built as serve builds it, played by run_preset_simulator. 2 when the table cannot be used.
int simulate_channel(const std::string& config, const std::string& channel,
                     const PresetSimulatorOptions& options, std::istream& in, std::ostream& out,
                     std::ostream& err);

}  // namespace rabta::gateway
