// Flows as data: the menus she walks through, parsed from TOML text and validated.
//
// A FlowSet is built from source texts (the caller reads the files; this code does no I/O):
// one settings text (languages and the engine's own messages), optional lists (e.g. districts)
// and a directory of help lines, and one text per flow. Nodes refer to each other by id within a
// flow, or as "flow:node" across flows. Everything a screen can show is checked against the USSD
// limit in every language before the set is accepted.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rabta::flows {

struct SourceText {
  std::string name;  // file path, for error messages
  std::string text;
};

struct SourcePos {
  std::string file;
  std::uint32_t line = 0;
};

// A text in every configured language.
struct Translated {
  std::map<std::string, std::string> by_language;
  SourcePos pos;
  bool empty() const { return by_language.empty(); }
  // The text in `language`; falls back to `fallback`, then to any text.
  const std::string& in(const std::string& language, const std::string& fallback) const;
};

enum class EffectKind {
  save_answer,   // key = answer name, value = the answer
  open_case,     // category, severity (each may be "$var" or "$var|default")
  consent,       // key = purpose, value = "granted" or "declined"
  set_language,  // value = language code
  quick_exit,    // she used the quick-exit input
};

struct EffectSpec {
  EffectKind kind = EffectKind::save_answer;
  std::string key;
  std::string value;
  std::string category;
  std::string severity;
  SourcePos pos;
};

struct Option {
  Translated label;
  std::string value;  // saved under the node's `save` name when chosen ("" = label number)
  std::string next;   // "" = stay in the flow's end (not allowed: validated)
  std::vector<EffectSpec> effects;
  SourcePos pos;
};

struct ListItem {
  std::string key;  // stored value, e.g. "bhakkar"
  Translated label;
};

struct DirectoryEntry {
  std::string key;
  Translated name;
  std::string number;
  bool recheck = false;  // the number must be re-checked before launch
};

struct Node {
  std::string flow;
  std::string id;
  std::string kind;  // a registered node kind: language, menu, input, list, end, directory
  Translated text;
  std::vector<Option> options;      // menu
  std::string next;                 // language, input, list: where to go after a valid answer
  std::string save;                 // answer name for menu, input, list
  std::string format;               // input: "digits" or "text"
  std::uint32_t min_length = 1;     // input
  std::uint32_t max_length = 0;     // input (0 = unset: validation error)
  std::string list;                 // list: the list's name
  std::vector<EffectSpec> effects;  // run when the node is entered
  // A case raised if she leaves at this screen (quick exit or hanging up); overrides the flow's.
  std::optional<EffectSpec> exit_case;
  SourcePos pos;
  std::string qualified() const { return flow + ":" + id; }
};

struct Flow {
  std::string id;
  std::string start;
  std::optional<EffectSpec> exit_case;  // a case raised if she leaves inside this flow
  std::map<std::string, Node> nodes;
  SourcePos pos;
};

struct Settings {
  std::vector<std::string> languages;                 // codes, in menu order
  std::map<std::string, std::string> language_names;  // code -> name in its own script
  std::string default_language;
  std::string entry;              // "flow:node" of the first screen
  std::string language_node;      // "flow:node" shown first to a caller with no language yet
  std::string quick_exit = "00";  // normalised input that ends the session at once
  std::uint32_t max_invalid = 3;  // invalid answers at one screen before a polite END
  std::uint32_t reference_length = 6;
  SourcePos pos;  // the settings file
  // Engine messages (each translated): invalid, too_many_invalid, quick_exit, resume,
  // resume_yes, resume_restart, more.
  std::map<std::string, Translated> messages;
};

struct FlowSet {
  Settings settings;
  std::map<std::string, Flow> flows;
  std::map<std::string, std::vector<ListItem>> lists;
  std::vector<DirectoryEntry> directory;

  // Resolves "node" relative to `from_flow`, or "flow:node". Null when missing.
  const Node* find(const std::string& from_flow, const std::string& ref) const;
  const Node* find(const std::string& qualified) const;
  const Translated& message(const std::string& key) const;
};

struct Diagnostic {
  SourcePos pos;
  std::string reason;
  std::string to_string() const;  // "file:line: reason"
};

struct LoadResult {
  std::shared_ptr<const FlowSet> flows;  // null when there are errors
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> warnings;  // e.g. directory numbers marked for re-checking
};

struct FlowSources {
  SourceText settings;
  std::optional<SourceText> lists;
  std::optional<SourceText> directory;
  std::vector<SourceText> flows;  // one per flow; the flow id defaults to the file's stem
};

// Parses and validates. Never throws on bad input: every problem is a Diagnostic.
LoadResult load_flow_set(const FlowSources& sources);

}  // namespace rabta::flows
