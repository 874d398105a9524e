#include "flows/parse.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <set>
#include <sstream>

#include "flows/node_kind.hpp"
#include "flows/text.hpp"
#include "flows/toml_reader.hpp"

namespace rabta::flows {

namespace {

// Engine messages every settings file must translate.
const std::vector<std::string> required_messages = {
    "invalid", "too_many_invalid", "quick_exit", "resume", "resume_yes", "resume_restart", "more"};

class Parser {
 public:
  explicit Parser(std::vector<Diagnostic>& errors) : errors_(errors) {}

  // Every typed read goes through the one TOML reader (toml_reader.hpp), one per file.
  TomlReader reader(const std::string& file) { return TomlReader(file, errors_); }
  SourcePos pos(const std::string& file, const toml::node& n) const {
    return {file, n.source().begin.line};
  }
  void error(SourcePos p, std::string reason) {
    reader(p.file).error(std::move(p), std::move(reason));
  }

  std::optional<toml::table> parse(const SourceText& src) {
    return reader(src.name).parse(src.text);
  }

  // Only the keys in `allowed` may appear (catches misspellings early).
  // `exit_case = { category = "...", severity = "..." }` of a flow or a node.
  std::optional<EffectSpec> exit_case(const std::string& f, const toml::node& ec,
                                      const std::string& where) {
    const toml::table* t = ec.as_table();
    if (!t) {
      error(pos(f, ec), where + ": 'exit_case' must be a table with category and severity");
      return std::nullopt;
    }
    known_keys(f, *t, {"category", "severity"}, where + " exit_case");
    EffectSpec e;
    e.kind = EffectKind::open_case;
    e.category = str(f, *t, "category", where + " exit_case", true);
    e.severity = str(f, *t, "severity", where + " exit_case", true);
    e.pos = pos(f, ec);
    return e;
  }

  void known_keys(const std::string& file, const toml::table& t,
                  std::initializer_list<std::string_view> allowed, const std::string& where) {
    reader(file).known(t, allowed, where);
  }

  std::string str(const std::string& file, const toml::table& t, const char* key,
                  const std::string& where, bool required) {
    return reader(file).str(t, key, where, required).value_or("");
  }

  std::optional<std::int64_t> integer(const std::string& file, const toml::table& t,
                                      const char* key, const std::string& where,
                                      std::int64_t lo = INT64_MIN, std::int64_t hi = INT64_MAX) {
    return reader(file).integer(t, key, where, lo, hi);
  }

  Translated translated(const std::string& file, const toml::node& n, const std::string& where) {
    Translated t;
    t.pos = pos(file, n);
    const toml::table* tab = n.as_table();
    if (!tab) {
      error(t.pos, where + ": must be a table of translations (en = \"...\", ur = \"...\", ...)");
      return t;
    }
    for (const auto& [k, v] : *tab) {
      if (auto s = v.value<std::string>())
        t.by_language[std::string(k.str())] = *s;
      else
        error(pos(file, v),
              where + ": translation '" + std::string(k.str()) + "' must be a string");
    }
    return t;
  }

  std::vector<EffectSpec> effects(const std::string& file, const toml::node* n,
                                  const std::string& where) {
    std::vector<EffectSpec> out;
    if (!n) return out;
    const toml::array* arr = n->as_array();
    if (!arr) {
      error(pos(file, *n), where + ": 'effects' must be an array of tables");
      return out;
    }
    for (const toml::node& item : *arr) {
      const toml::table* t = item.as_table();
      if (!t || t->size() != 1) {
        error(pos(file, item),
              where + ": each effect is a table with exactly one of save, open_case, consent");
        continue;
      }
      const auto first = t->begin();
      const std::string name(first->first.str());
      const toml::node& body = first->second;
      const toml::table* b = body.as_table();
      const std::string w = where + ": effect '" + name + "'";
      if (!b) {
        error(pos(file, body), w + " must be a table");
        continue;
      }
      EffectSpec e;
      e.pos = pos(file, item);
      if (name == "save") {
        known_keys(file, *b, {"key", "value"}, w);
        e.kind = EffectKind::save_answer;
        e.key = str(file, *b, "key", w, true);
        e.value = str(file, *b, "value", w, true);
      } else if (name == "open_case") {
        known_keys(file, *b, {"category", "severity"}, w);
        e.kind = EffectKind::open_case;
        e.category = str(file, *b, "category", w, true);
        e.severity = str(file, *b, "severity", w, true);
      } else if (name == "consent") {
        known_keys(file, *b, {"purpose", "granted"}, w);
        e.kind = EffectKind::consent;
        e.key = str(file, *b, "purpose", w, true);
        const toml::node* g = b->get("granted");
        if (!g || !g->is_boolean())
          error(e.pos, w + ": 'granted' must be true or false");
        else
          e.value = g->value<bool>().value_or(false) ? "granted" : "declined";
      } else {
        error(e.pos, where + ": unknown effect '" + name + "' (use save, open_case or consent)");
        continue;
      }
      out.push_back(std::move(e));
    }
    return out;
  }

  void settings(const SourceText& src, Settings& s) {
    auto doc = parse(src);
    if (!doc) return;
    const std::string& f = src.name;
    s.pos = {f, 1};
    known_keys(f, *doc, {"languages", "engine", "messages"}, "settings");
    if (const toml::table* l = (*doc)["languages"].as_table()) {
      known_keys(f, *l, {"order", "default", "names"}, "[languages]");
      if (const toml::array* order = (*l)["order"].as_array()) {
        for (const auto& v : *order)
          if (auto code = v.value<std::string>()) s.languages.push_back(*code);
      }
      if (s.languages.empty())
        error(pos(f, *l), "[languages]: 'order' must list at least one language code");
      s.default_language = str(f, *l, "default", "[languages]", true);
      if (!s.default_language.empty() && std::find(s.languages.begin(), s.languages.end(),
                                                   s.default_language) == s.languages.end())
        error(pos(f, *l), "[languages]: default '" + s.default_language + "' is not in 'order'");
      if (const toml::node* names = l->get("names")) {
        Translated t = translated(f, *names, "[languages] names");
        s.language_names = t.by_language;
      }
      for (const auto& code : s.languages)
        if (!s.language_names.count(code))
          error(pos(f, *l), "[languages]: no name for language '" + code + "' in 'names'");
    } else {
      error({f, 1}, "missing [languages] table");
    }
    if (const toml::table* e = (*doc)["engine"].as_table()) {
      known_keys(f, *e,
                 {"entry", "language_screen", "quick_exit", "max_invalid", "reference_length"},
                 "[engine]");
      s.entry = str(f, *e, "entry", "[engine]", true);
      // With one language there is nothing to choose: no language screen is needed.
      s.language_node = str(f, *e, "language_screen", "[engine]", s.languages.size() != 1);
      if (e->get("quick_exit"))
        s.quick_exit = normalise_input(str(f, *e, "quick_exit", "[engine]", true));
      if (s.quick_exit.empty()) error(pos(f, *e), "[engine]: 'quick_exit' must not be empty");
      if (auto m = integer(f, *e, "max_invalid", "[engine]", 1, 10))
        s.max_invalid = static_cast<std::uint32_t>(*m);
      if (auto r = integer(f, *e, "reference_length", "[engine]", 5, 12))
        s.reference_length = static_cast<std::uint32_t>(*r);
    } else {
      error({f, 1}, "missing [engine] table");
    }
    if (const toml::table* m = (*doc)["messages"].as_table()) {
      for (const auto& [k, v] : *m)
        s.messages[std::string(k.str())] =
            translated(f, v, "[messages." + std::string(k.str()) + "]");
      for (const auto& key : required_messages)
        if (!s.messages.count(key)) error(pos(f, *m), "[messages]: missing message '" + key + "'");
    } else {
      error({f, 1}, "missing [messages] table");
    }
  }

  void lists(const SourceText& src, std::map<std::string, std::vector<ListItem>>& out) {
    auto doc = parse(src);
    if (!doc) return;
    for (const auto& [name, v] : *doc) {
      const std::string list(name.str());
      const toml::array* arr = v.as_array();
      if (!arr) {
        error(pos(src.name, v),
              "list '" + list + "' must be an array of tables ([[" + list + "]])");
        continue;
      }
      std::set<std::string> keys;
      for (const auto& item : *arr) {
        const toml::table* t = item.as_table();
        const std::string w = "list '" + list + "'";
        if (!t) {
          error(pos(src.name, item), w + ": each item must be a table with key and label");
          continue;
        }
        known_keys(src.name, *t, {"key", "label"}, w);
        ListItem li;
        li.key = str(src.name, *t, "key", w, true);
        if (!keys.insert(li.key).second)
          error(pos(src.name, item), w + ": duplicate key '" + li.key + "'");
        if (const toml::node* l = t->get("label"))
          li.label = translated(src.name, *l, w + " item '" + li.key + "' label");
        else
          error(pos(src.name, item), w + " item '" + li.key + "': missing 'label'");
        out[list].push_back(std::move(li));
      }
    }
  }

  void directory(const SourceText& src, std::vector<DirectoryEntry>& out) {
    auto doc = parse(src);
    if (!doc) return;
    known_keys(src.name, *doc, {"entry"}, "directory");
    const toml::array* arr = (*doc)["entry"].as_array();
    if (!arr) {
      error({src.name, 1}, "directory: expected [[entry]] tables");
      return;
    }
    for (const auto& item : *arr) {
      const toml::table* t = item.as_table();
      if (!t) continue;
      const std::string w = "directory entry";
      known_keys(src.name, *t, {"key", "name", "number", "recheck", "source"}, w);
      DirectoryEntry d;
      d.key = str(src.name, *t, "key", w, true);
      d.number = str(src.name, *t, "number", w + " '" + d.key + "'", true);
      if (const toml::node* n = t->get("name"))
        d.name = translated(src.name, *n, w + " '" + d.key + "' name");
      else
        error(pos(src.name, item), w + " '" + d.key + "': missing 'name'");
      d.recheck = t->get("recheck") && t->get("recheck")->value<bool>().value_or(false);
      d.name.pos = pos(src.name, item);
      out.push_back(std::move(d));
    }
  }

  void flow(const SourceText& src, FlowSet& set) {
    auto doc = parse(src);
    if (!doc) return;
    const std::string& f = src.name;
    Flow fl;
    fl.pos = {f, 1};
    fl.id = std::filesystem::path(f).stem().string();
    known_keys(f, *doc, {"flow", "nodes"}, "flow file");
    if (const toml::table* head = (*doc)["flow"].as_table()) {
      known_keys(f, *head, {"id", "start", "exit_case"}, "[flow]");
      if (head->get("id")) fl.id = str(f, *head, "id", "[flow]", true);
      fl.start = str(f, *head, "start", "[flow]", true);
      fl.pos = pos(f, *head);
      if (const toml::node* ec = head->get("exit_case")) fl.exit_case = exit_case(f, *ec, "[flow]");
    } else {
      error({f, 1}, "missing [flow] table with 'start'");
    }
    if (set.flows.count(fl.id)) {
      error(fl.pos, "flow id '" + fl.id + "' is defined twice");
      return;
    }
    const toml::table* nodes = (*doc)["nodes"].as_table();
    if (!nodes || nodes->empty()) {
      error({f, 1}, "flow '" + fl.id + "' has no [nodes.<id>] tables");
      return;
    }
    for (const auto& [k, v] : *nodes) {
      Node n;
      n.flow = fl.id;
      n.id = std::string(k.str());
      n.pos = pos(f, v);
      const std::string w = "node '" + n.id + "'";
      if (n.id.find(':') != std::string::npos) error(n.pos, w + ": ids must not contain ':'");
      const toml::table* t = v.as_table();
      if (!t) {
        error(n.pos, w + " must be a table");
        continue;
      }
      known_keys(f, *t,
                 {"kind", "text", "options", "next", "save", "format", "min_length", "max_length",
                  "list", "effects", "exit_case"},
                 w);
      if (const toml::node* ec = t->get("exit_case")) n.exit_case = exit_case(f, *ec, w);
      n.kind = str(f, *t, "kind", w, true);
      if (const toml::node* tx = t->get("text")) n.text = translated(f, *tx, w + " text");
      n.next = str(f, *t, "next", w, false);
      n.save = str(f, *t, "save", w, false);
      n.format = str(f, *t, "format", w, false);
      n.list = str(f, *t, "list", w, false);
      if (auto v2 = integer(f, *t, "min_length", w))
        n.min_length = static_cast<std::uint32_t>(std::max<std::int64_t>(0, *v2));
      if (auto v2 = integer(f, *t, "max_length", w))
        n.max_length = static_cast<std::uint32_t>(std::max<std::int64_t>(0, *v2));
      n.effects = effects(f, t->get("effects"), w);
      if (const toml::node* opts = t->get("options")) {
        const toml::array* arr = opts->as_array();
        if (!arr)
          error(pos(f, *opts),
                w + ": 'options' must be an array of tables ([[nodes." + n.id + ".options]])");
        std::uint32_t number = 0;
        static const toml::array no_options;
        for (const auto& o : arr ? *arr : no_options) {  // by reference: a copy loses positions
          ++number;
          const std::string ow = w + " option " + std::to_string(number);
          const toml::table* ot = o.as_table();
          if (!ot) {
            error(pos(f, o), ow + " must be a table");
            continue;
          }
          known_keys(f, *ot, {"label", "value", "next", "effects"}, ow);
          Option opt;
          // Tables inside [[arrays]] carry no position of their own in toml++: use a key's.
          const toml::node* anchor = ot->get("next") ? ot->get("next") : ot->get("label");
          opt.pos = pos(f, anchor ? *anchor : o);
          if (const toml::node* l = ot->get("label"))
            opt.label = translated(f, *l, ow + " label");
          else
            error(opt.pos, ow + ": missing 'label'");
          opt.value = str(f, *ot, "value", ow, false);
          opt.next = str(f, *ot, "next", ow, true);
          opt.effects = effects(f, ot->get("effects"), ow);
          n.options.push_back(std::move(opt));
        }
      }
      fl.nodes.emplace(n.id, std::move(n));
    }
    set.flows.emplace(fl.id, std::move(fl));
  }

 private:
  std::vector<Diagnostic>& errors_;
};

}  // namespace

void parse_flow_sources(const FlowSources& sources, FlowSet& set, std::vector<Diagnostic>& errors) {
  Parser parser(errors);
  parser.settings(sources.settings, set.settings);
  if (sources.lists) parser.lists(*sources.lists, set.lists);
  if (sources.directory) parser.directory(*sources.directory, set.directory);
  for (const auto& f : sources.flows) parser.flow(f, set);
}

}  // namespace rabta::flows
