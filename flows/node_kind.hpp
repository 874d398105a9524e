// A node kind: how one type of screen renders, validates and answers. Each kind lives in its own
// file under flows/nodes/, registered by one line in flows/nodes/registry.cpp, with a fixture in
// tests/fixtures/nodes/<kind>.scenario (the registry test fails for a kind without one).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "flows/flow.hpp"

namespace rabta::flows {

using Vars = std::map<std::string, std::string>;

struct Screen {
  std::string text;     // the question or message
  std::string choices;  // numbered lines ("1. ...\n2. ..."), may be empty
  bool end = false;     // END (true) or CON (false)
  std::string full() const { return choices.empty() ? text : text + "\n" + choices; }
};

struct Answer {
  enum class Kind { invalid, next, page } kind = Kind::invalid;
  std::string next;                                        // Kind::next: node reference
  std::uint32_t page = 0;                                  // Kind::page: the page to show
  std::vector<EffectSpec> effects;                         // run before moving on
  std::vector<std::pair<std::string, std::string>> saves;  // answers to record
};

class NodeKind {
 public:
  virtual ~NodeKind() = default;
  virtual std::string_view name() const = 0;
  // Kind-specific checks: required fields, references; append problems to `errors`.
  virtual void check(const Node& node, const FlowSet& set,
                     std::vector<Diagnostic>& errors) const = 0;
  // How many pages the node has in `language` (1 for unpaged kinds).
  virtual std::uint32_t pages(const Node& node, const FlowSet& set,
                              const std::string& language) const {
    (void)node, (void)set, (void)language;
    return 1;
  }
  virtual Screen render(const Node& node, const FlowSet& set, const std::string& language,
                        std::uint32_t page, const Vars& vars) const = 0;
  // `input` is normalised (see normalise_input); `raw` is what she typed, trimmed, for free text.
  virtual Answer answer(const Node& node, const FlowSet& set, const std::string& input,
                        const std::string& raw, std::uint32_t page) const = 0;
};

const NodeKind* find_node_kind(std::string_view name);
std::vector<const NodeKind*> node_kinds();

// Shared helpers for kinds.
std::string numbered(std::uint32_t number, const std::string& label);
// Substitutes {ref} and {answer-name} placeholders.
std::string fill(const std::string& text, const Vars& vars);
// "1".."n" → 1..n; 0 when not a plain positive number.
std::uint32_t choice_number(const std::string& input);

}  // namespace rabta::flows
