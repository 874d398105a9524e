// Where one caller is in the flows: everything the engine needs to take the next step.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace rabta::flows {

struct SessionState {
  std::string flow;
  std::string node;
  std::string language;                     // "" until known
  std::map<std::string, std::string> vars;  // her answers in this session, by answer name
  std::uint32_t invalid = 0;                // invalid answers in a row at this screen
  std::uint32_t page = 0;                   // current page of a paged screen
  std::string case_reference;               // the case opened in this session, if any
  bool resume_pending = false;              // showing "continue where you left off?"
  std::string restart_at;  // "flow:node" that "Start again" enters ("" = the first screen)
  bool ended = false;

  std::string to_json() const;
  // Null when the text is not a state written by to_json().
  static std::optional<SessionState> from_json(std::string_view json);
  bool operator==(const SessionState&) const = default;
};

}  // namespace rabta::flows
