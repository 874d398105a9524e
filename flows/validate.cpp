#include "flows/validate.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>

#include "flows/node_kind.hpp"
#include "flows/text.hpp"

namespace rabta::flows {

namespace {

const std::set<std::string> severities = {"low", "normal", "high", "critical"};

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

void validate_flow_set(const FlowSet& set, std::vector<Diagnostic>& errors,
                       std::vector<Diagnostic>& warnings) {
  Validator(set, errors, warnings).run();
}

}  // namespace rabta::flows
