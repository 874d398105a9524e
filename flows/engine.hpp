// The flow engine: pure. Given the flows, a state and her input it returns the next state, the
// screen to show and the effects to store. No clock, no files, no sockets: case references come
// from an injected IdSource, so the same inputs give the same result (golden scenario tests).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "flows/flow.hpp"
#include "flows/state.hpp"

namespace rabta::flows {

class IdSource {
 public:
  virtual ~IdSource() = default;
  // A new case reference of `length` characters from reference_alphabet.
  virtual std::string case_reference(std::size_t length) = 0;
};

// Letters and digits that cannot be mistaken for one another on a small screen or read aloud
// (no 0/O, 1/I/L, 2/Z, 5/S, 8/B).
inline constexpr std::string_view reference_alphabet = "ACDEFGHJKMNPQRTUVWXY34679";

// Deterministic references for tests and golden files.
class SeededIds final : public IdSource {
 public:
  explicit SeededIds(std::uint64_t seed) : state_(seed ? seed : 0x9E3779B97F4A7C15ULL) {}
  std::string case_reference(std::size_t length) override;

 private:
  std::uint64_t state_;
};

struct Effect {
  EffectKind kind = EffectKind::save_answer;
  std::string key;        // save_answer: answer name; consent: purpose
  std::string value;      // save_answer: answer; consent: "granted"/"declined"; set_language: code
  std::string category;   // open_case
  std::string severity;   // open_case
  std::string reference;  // open_case
  bool operator==(const Effect&) const = default;
};

enum class Outcome { shown, invalid, ended, too_many_invalid, quick_exit };

struct StepResult {
  SessionState state;
  std::string screen;  // the text to show, without the CON/END prefix
  bool end = false;
  Outcome outcome = Outcome::shown;
  std::vector<Effect> effects;  // in the order they happened
};

class Engine {
 public:
  explicit Engine(std::shared_ptr<const FlowSet> flows);

  // A new session. `language` is the one she chose before ("" = unknown: show the language
  // screen first).
  StepResult start(const std::string& language, IdSource& ids) const;
  // A new session at a given node ("flow:node"), e.g. from an SMS keyword. Throws
  // std::invalid_argument when there is no such node.
  StepResult start_at(const std::string& node, const std::string& language, IdSource& ids) const;
  // Her next input at the current screen.
  StepResult step(const SessionState& state, std::string_view raw_input, IdSource& ids) const;
  // A new session offered to continue an unfinished one (state copied from it). "Start again"
  // enters `restart_at` ("flow:node"; "" = the first screen).
  StepResult offer_resume(const SessionState& unfinished, const std::string& restart_at = "") const;
  // She left without finishing: the call dropped, she hung up, or she stopped answering (SAFETY
  // W4). Hanging up is an exit: inside a flow with exit_case the case a quick exit raises is
  // raised (once per session), and, when this session raised or holds a case, the quick-exit
  // effect (her quiet period) follows. No screen; the state is left not ended, so a later
  // resume continues the same case. Consents not given are not given (fail closed).
  StepResult abandon(const SessionState& unfinished, IdSource& ids) const;
  // The current screen again, unchanged (a repeated hop).
  std::string screen(const SessionState& state) const;

  const FlowSet& flows() const { return *flows_; }
  // The case leaving at this state raises (the node's exit_case, else its flow's), or null.
  const EffectSpec* exit_case_at(const SessionState& state) const;

 private:
  struct Run;
  std::shared_ptr<const FlowSet> flows_;
};

const char* to_string(Outcome o);

}  // namespace rabta::flows
