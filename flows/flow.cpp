#include "flows/flow.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>

#include "flows/node_kind.hpp"
#include "flows/text.hpp"

namespace rabta::flows {

const std::string& Translated::in(const std::string& language, const std::string& fallback) const {
  static const std::string empty;
  if (auto it = by_language.find(language); it != by_language.end()) return it->second;
  if (auto it = by_language.find(fallback); it != by_language.end()) return it->second;
  return by_language.empty() ? empty : by_language.begin()->second;
}

const Node* FlowSet::find(const std::string& from_flow, const std::string& ref) const {
  const auto colon = ref.find(':');
  const std::string flow_id = colon == std::string::npos ? from_flow : ref.substr(0, colon);
  const std::string node_id = colon == std::string::npos ? ref : ref.substr(colon + 1);
  const auto f = flows.find(flow_id);
  if (f == flows.end()) return nullptr;
  const auto n = f->second.nodes.find(node_id);
  return n == f->second.nodes.end() ? nullptr : &n->second;
}

const Node* FlowSet::find(const std::string& qualified) const {
  if (qualified.find(':') == std::string::npos) return nullptr;
  return find("", qualified);
}

const Translated& FlowSet::message(const std::string& key) const {
  static const Translated none;
  const auto it = settings.messages.find(key);
  return it == settings.messages.end() ? none : it->second;
}

std::string Diagnostic::to_string() const {
  std::ostringstream out;
  out << pos.file;
  if (pos.line) out << ":" << pos.line;
  out << ": " << reason;
  return out.str();
}

namespace {

// Engine messages every settings file must translate.
const std::vector<std::string> required_messages = {
    "invalid", "too_many_invalid", "quick_exit", "resume", "resume_yes", "resume_restart", "more"};
const std::set<std::string> severities = {"low", "normal", "high", "critical"};

class Parser {
 public:
  explicit Parser(std::vector<Diagnostic>& errors) : errors_(errors) {}

  SourcePos pos(const std::string& file, const toml::node& n) const {
    return {file, n.source().begin.line};
  }
  void error(SourcePos p, std::string reason) {
    errors_.push_back({std::move(p), std::move(reason)});
  }

  std::optional<toml::table> parse(const SourceText& src) {
    try {
      return toml::parse(src.text, src.name);
    } catch (const toml::parse_error& e) {
      error({src.name, e.source().begin.line},
            std::string("not valid TOML: ") + std::string(e.description()));
      return std::nullopt;
    }
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
                  const std::set<std::string>& allowed, const std::string& where) {
    for (const auto& [k, v] : t) {
      if (!allowed.count(std::string(k.str())))
        error(pos(file, v), where + ": unknown key '" + std::string(k.str()) + "'");
    }
  }

  std::string str(const std::string& file, const toml::table& t, const char* key,
                  const std::string& where, bool required) {
    const toml::node* n = t.get(key);
    if (!n) {
      if (required) error(pos(file, t), where + ": missing '" + key + "'");
      return {};
    }
    if (auto v = n->value<std::string>()) return *v;
    error(pos(file, *n), where + ": '" + key + "' must be a string");
    return {};
  }

  std::optional<std::int64_t> integer(const std::string& file, const toml::table& t,
                                      const char* key, const std::string& where) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    if (auto v = n->value<std::int64_t>()) return *v;
    error(pos(file, *n), where + ": '" + key + "' must be an integer");
    return std::nullopt;
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
      if (auto m = integer(f, *e, "max_invalid", "[engine]")) {
        if (*m < 1 || *m > 10)
          error(pos(f, *e), "[engine]: 'max_invalid' must be between 1 and 10");
        else
          s.max_invalid = static_cast<std::uint32_t>(*m);
      }
      if (auto r = integer(f, *e, "reference_length", "[engine]")) {
        if (*r < 5 || *r > 12)
          error(pos(f, *e), "[engine]: 'reference_length' must be between 5 and 12");
        else
          s.reference_length = static_cast<std::uint32_t>(*r);
      }
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

class Validator {
 public:
  Validator(const FlowSet& set, std::vector<Diagnostic>& errors, std::vector<Diagnostic>& warnings)
      : set_(set), errors_(errors), warnings_(warnings) {}

  void error(const SourcePos& p, std::string reason) { errors_.push_back({p, std::move(reason)}); }

  void translations(const Translated& t, const std::string& where) {
    for (const auto& lang : set_.settings.languages) {
      auto it = t.by_language.find(lang);
      if (it == t.by_language.end() || it->second.empty())
        error(t.pos, where + ": missing translation '" + lang + "'");
    }
    for (const auto& [lang, text] : t.by_language) {
      if (std::find(set_.settings.languages.begin(), set_.settings.languages.end(), lang) ==
          set_.settings.languages.end())
        error(t.pos, where + ": translation for unknown language '" + lang + "'");
    }
  }

  void reference(const std::string& from_flow, const std::string& ref, const SourcePos& p,
                 const std::string& where) {
    if (ref.empty()) return;
    if (!set_.find(from_flow, ref))
      error(p, where + ": transition to unknown node '" + ref + "'");
    else
      reached_.insert(set_.find(from_flow, ref)->qualified());
  }

  void effect(const EffectSpec& e, const std::string& where) {
    if (e.kind == EffectKind::open_case && !e.severity.empty() && e.severity[0] != '$' &&
        !severities.count(e.severity))
      error(e.pos,
            where + ": severity '" + e.severity + "' is not one of low, normal, high, critical");
    if (e.kind == EffectKind::open_case && e.severity.rfind('$', 0) == 0) {
      const auto bar = e.severity.find('|');
      if (bar == std::string::npos || !severities.count(e.severity.substr(bar + 1)))
        error(
            e.pos,
            where + ": a severity taken from an answer needs a default, e.g. \"$severity|normal\"");
    }
  }

  void screen_fits(const std::string& text, const SourcePos& p, const std::string& where,
                   const std::string& lang) {
    const TextLength len = measure(text);
    const std::size_t limit = ussd_limit(len.encoding);
    if (len.units > limit) {
      std::string why =
          where + " in '" + lang + "' is " + std::to_string(len.units) +
          (len.encoding == Encoding::gsm7 ? " GSM-7 characters" : " UCS-2 characters") +
          ", over the USSD limit of " + std::to_string(limit);
      if (len.encoding == Encoding::ucs2) {
        const auto chars = non_gsm7_characters(text);
        if (lang != "ur" && !chars.empty()) {
          why += " (UCS-2 because of";
          for (const auto& c : chars) why += " '" + c + "'";
          why += ")";
        }
      }
      error(p, why);
    }
  }

  void run() {
    const Settings& s = set_.settings;
    for (const auto& [key, msg] : s.messages) translations(msg, "message '" + key + "'");
    const Node* entry = set_.find(s.entry);
    if (!entry)
      error(s.pos, "[engine] entry '" + s.entry + "' is not a node (use \"flow:node\")");
    else
      reached_.insert(entry->qualified());
    const Node* lang_node = set_.find(s.language_node);
    if (s.language_node.empty() && s.languages.size() == 1) {
      // one language: new callers start at the entry in it
    } else if (!lang_node)
      error(s.pos, "[engine] language_screen '" + s.language_node + "' is not a node");
    else {
      reached_.insert(lang_node->qualified());
      if (lang_node->kind != "language")
        error(lang_node->pos, "node '" + lang_node->id +
                                  "' is the language screen but its kind is '" + lang_node->kind +
                                  "', not 'language'");
    }
    for (const auto& [lname, items] : set_.lists)
      for (const auto& item : items)
        translations(item.label, "list '" + lname + "' item '" + item.key + "'");
    for (const auto& d : set_.directory) {
      translations(d.name, "directory entry '" + d.key + "'");
      if (d.recheck)
        warnings_.push_back(
            {d.name.pos, "directory entry '" + d.key + "' (" + d.number +
                             ") is marked recheck: confirm the number before launch"});
    }

    std::string ref_sample(s.reference_length, 'W');
    for (const auto& [fid, fl] : set_.flows) {
      if (!fl.start.empty()) reference(fid, fl.start, fl.pos, "flow '" + fid + "' start");
      if (fl.exit_case) effect(*fl.exit_case, "flow '" + fid + "' exit_case");
      for (const auto& [nid, n] : fl.nodes) {
        const std::string where = n.pos.file.empty() ? nid : "node '" + nid + "'";
        if (n.exit_case) effect(*n.exit_case, where + " exit_case");
        const NodeKind* kind = find_node_kind(n.kind);
        if (!kind) {
          std::string known;
          for (const auto* k : node_kinds())
            known += (known.empty() ? "" : ", ") + std::string(k->name());
          error(n.pos, where + ": unknown kind '" + n.kind + "' (known: " + known + ")");
          continue;
        }
        if (!n.text.empty()) translations(n.text, where + " text");
        for (std::size_t i = 0; i < n.options.size(); ++i) {
          const Option& o = n.options[i];
          translations(o.label, where + " option " + std::to_string(i + 1) + " label");
          reference(fid, o.next, o.pos, where + " option " + std::to_string(i + 1));
          for (const auto& e : o.effects) effect(e, where + " option " + std::to_string(i + 1));
        }
        reference(fid, n.next, n.pos, where);
        for (const auto& e : n.effects) effect(e, where);
        const std::size_t before = errors_.size();
        kind->check(n, set_, errors_);
        if (errors_.size() != before) continue;  // don't measure a screen that can't render
        Vars vars = {{"ref", ref_sample}};
        const Translated& invalid = set_.message("invalid");
        for (const auto& lang : s.languages) {
          const std::uint32_t pages = kind->pages(n, set_, lang);
          for (std::uint32_t p = 0; p < pages; ++p) {
            const Screen sc = kind->render(n, set_, lang, p, vars);
            const std::string page_note = pages > 1 ? " page " + std::to_string(p + 1) : "";
            screen_fits(sc.full(), n.pos, where + page_note + " screen", lang);
            if (!sc.end) {
              const std::string& err = invalid.in(lang, s.default_language);
              const std::string reprompt =
                  err + "\n" +
                  (fits_ussd_screen(err + "\n" + sc.full()) || sc.choices.empty() ? sc.full()
                                                                                  : sc.choices);
              screen_fits(reprompt, n.pos, where + page_note + " re-prompt after an invalid answer",
                          lang);
            }
          }
        }
      }
    }
    // Resume prompt.
    for (const auto& lang : s.languages) {
      const std::string resume =
          set_.message("resume").in(lang, s.default_language) + "\n" +
          numbered(1, set_.message("resume_yes").in(lang, s.default_language)) + "\n" +
          numbered(2, set_.message("resume_restart").in(lang, s.default_language));
      screen_fits(resume, set_.message("resume").pos, "message 'resume' screen", lang);
    }
    for (const auto& [fid, fl] : set_.flows)
      for (const auto& [nid, n] : fl.nodes)
        if (!reached_.count(n.qualified()))
          warnings_.push_back({n.pos, "node '" + nid + "' is never reached"});
  }

 private:
  const FlowSet& set_;
  std::vector<Diagnostic>& errors_;
  std::vector<Diagnostic>& warnings_;
  std::set<std::string> reached_;
};

}  // namespace

LoadResult load_flow_set(const FlowSources& sources) {
  LoadResult result;
  auto set = std::make_shared<FlowSet>();
  Parser parser(result.errors);
  parser.settings(sources.settings, set->settings);
  if (sources.lists) parser.lists(*sources.lists, set->lists);
  if (sources.directory) parser.directory(*sources.directory, set->directory);
  for (const auto& f : sources.flows) parser.flow(f, *set);
  if (sources.flows.empty()) {
    Diagnostic none;
    none.pos.file = sources.settings.name;
    none.reason = "no flow files were given";
    result.errors.push_back(std::move(none));
  }
  if (result.errors.empty()) {
    Validator(*set, result.errors, result.warnings).run();
  }
  std::stable_sort(result.errors.begin(), result.errors.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     return std::tie(a.pos.file, a.pos.line) < std::tie(b.pos.file, b.pos.line);
                   });
  if (result.errors.empty()) result.flows = std::move(set);
  return result;
}

}  // namespace rabta::flows
