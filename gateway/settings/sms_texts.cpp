#include "gateway/settings/sms_texts.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "flows/text.hpp"
#include "gateway/settings/toml_file.hpp"

namespace rabta::gateway {

namespace {

bool starts_with_word(const std::string& text, const std::string& word) {
  if (word.empty() || text.compare(0, word.size(), word) != 0) return false;
  return text.size() == word.size() || text[word.size()] == ' ';
}

void add(std::vector<flows::Diagnostic>& errors, const std::string& file, const toml::node& n,
         std::string reason) {
  flows::TomlReader(file, errors).error(n, std::move(reason));
}

std::vector<std::string> words_of(const std::string& file, const toml::node& n,
                                  const std::string& where,
                                  std::vector<flows::Diagnostic>& errors) {
  std::vector<std::string> out;
  const toml::array* arr = n.as_array();
  if (!arr) {
    add(errors, file, n, where + " must be an array of words");
    return out;
  }
  for (const auto& w : *arr) {
    auto v = w.value<std::string>();
    if (!v || flows::normalise_input(*v).empty()) {
      add(errors, file, w, where + ": each word must be a non-empty string");
      continue;
    }
    out.push_back(flows::normalise_input(*v));
  }
  return out;
}

}  // namespace

KeywordMatch SmsTexts::match_keyword(const std::string& normalised) const {
  for (const auto& k : keywords)
    for (const auto& [lang, words] : k.words)
      for (const auto& w : words)
        if (starts_with_word(normalised, w)) return {&k, lang};
  return {};
}

std::vector<std::string> answer_tokens(const std::string& normalised) {
  std::vector<std::string> out;
  std::u32string word;
  auto flush = [&] {
    if (!word.empty()) out.push_back(flows::utf8_encode(word));
    word.clear();
  };
  for (const char32_t c : flows::utf8_decode(normalised)) {
    const bool latin = c >= U'a' && c <= U'z';
    const bool digit = c >= U'0' && c <= U'9';
    // Urdu and Arabic letters (not punctuation such as ، ؛ ؟ ۔), and their combining marks.
    const bool arabic = (c >= U'\u0621' && c <= U'\u064A') || (c >= U'\u064B' && c <= U'\u065F') ||
                        c == U'\u0670' || (c >= U'\u0671' && c <= U'\u06D3') || c == U'\u06D5' ||
                        (c >= U'\u06EE' && c <= U'\u06EF') || (c >= U'\u06FA' && c <= U'\u06FF');
    if (c == U'\'' || c == U'\u2019') continue;  // "don't" -> "dont"
    if (latin) {
      if (!word.empty() && word.back() == c) continue;  // "theeek" -> "thek"
      word.push_back(c);
    } else if (digit || arabic) {
      word.push_back(c);
    } else {
      flush();
    }
  }
  flush();
  return out;
}

namespace {

// True when `phrase` (its tokens) occurs as consecutive tokens of `tokens`.
bool has_phrase(const std::vector<std::string>& tokens, const std::vector<std::string>& phrase) {
  if (phrase.empty() || phrase.size() > tokens.size()) return false;
  for (std::size_t i = 0; i + phrase.size() <= tokens.size(); ++i)
    if (std::equal(phrase.begin(), phrase.end(), tokens.begin() + static_cast<long>(i)))
      return true;
  return false;
}

bool has_any(const std::vector<std::string>& tokens, const std::vector<std::string>& phrases) {
  return std::any_of(phrases.begin(), phrases.end(),
                     [&](const std::string& p) { return has_phrase(tokens, answer_tokens(p)); });
}

}  // namespace

namespace {

// Her message cut into clauses: at punctuation (, . ! ? ; : and the Urdu ، ؛ ؟ ۔) and at "but"
// (but, lekin, magar, لیکن, مگر), so that "main theek nahi, madad chahiye" negates the first
// clause only.
std::vector<std::vector<std::string>> clauses_of(const std::string& normalised) {
  std::vector<std::vector<std::string>> out(1);
  std::u32string piece;
  auto flush = [&] {
    for (auto& t : answer_tokens(flows::utf8_encode(piece))) {
      if (t == "but" || t == "lekin" || t == "magar" || t == "لیکن" || t == "مگر") {
        if (!out.back().empty()) out.emplace_back();
        continue;
      }
      out.back().push_back(std::move(t));
    }
    piece.clear();
    if (!out.back().empty()) out.emplace_back();
  };
  for (const char32_t c : flows::utf8_decode(normalised)) {
    if (c == U',' || c == U'.' || c == U'!' || c == U'?' || c == U';' || c == U':' || c == U'\n' ||
        c == U'\u060C' || c == U'\u061B' || c == U'\u061F' || c == U'\u06D4')
      flush();
    else
      piece.push_back(c);
  }
  flush();
  if (out.back().empty()) out.pop_back();
  return out;
}

}  // namespace

CheckinReading SmsTexts::read_checkin_answer(const std::string& normalised) const {
  const std::vector<std::string> tokens = answer_tokens(normalised);
  CheckinReading r;
  if (tokens.empty()) {
    r.unclear = true;
    return r;
  }
  std::set<int> meant;
  std::vector<bool> covered(tokens.size(), false);  // by a word of option 1, its digit or filler
  for (const auto& [option, words] : checkin_answers) {
    const std::string digit = std::to_string(option);
    for (std::size_t i = 0; i < tokens.size(); ++i)
      if (tokens[i] == digit) {
        meant.insert(option);
        if (option == 1) covered[i] = true;
      }
    for (const auto& w : words) {
      const std::vector<std::string> phrase = answer_tokens(w);
      if (phrase.empty() || phrase.size() > tokens.size()) continue;
      for (std::size_t i = 0; i + phrase.size() <= tokens.size(); ++i)
        if (std::equal(phrase.begin(), phrase.end(), tokens.begin() + static_cast<long>(i))) {
          meant.insert(option);
          if (option == 1)
            for (std::size_t k = i; k < i + phrase.size(); ++k) covered[k] = true;
        }
    }
  }
  for (const auto& f : filler_words)
    for (const auto& ft : answer_tokens(f))  // spelt as the message is ("allah" = "alah")
      for (std::size_t i = 0; i < tokens.size(); ++i)
        if (tokens[i] == ft) covered[i] = true;
  // Other numbers ("4", "12", a phone number) are not an option: unclear, not ignored.
  const bool other_number = std::any_of(tokens.begin(), tokens.end(), [&](const std::string& t) {
    if (!flows::all_digits(t)) return false;
    int n = 0;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
    return ec != std::errc() || end != t.data() + t.size() || !checkin_answers.count(n);
  });
  const bool negated = has_any(tokens, negations);
  r.urgent = meant.count(urgent_option) > 0;
  // "fine, but I need you now", "main theek nahi, madad chahiye", "help, call 0300...": the
  // urgent choice wins when a clause asks for it without a negation in that clause ("madad nahi
  // chahiye" does not).
  if (r.urgent) {
    const auto it = checkin_answers.find(urgent_option);
    for (const auto& clause : clauses_of(normalised)) {
      const bool asks =
          std::find(clause.begin(), clause.end(), std::to_string(urgent_option)) != clause.end() ||
          (it != checkin_answers.end() && has_any(clause, it->second));
      if (asks && !has_any(clause, negations)) {
        r.option = urgent_option;
        return r;
      }
    }
  }
  // "theek nahi", "not ok", "ٹھیک نہیں": a negation turns any answer around, wherever it stands.
  if (negated || has_any(tokens, unclear_words) || other_number || meant.size() != 1) {
    r.unclear = true;
    return r;
  }
  r.option = *meant.begin();
  if (r.option == 1 && std::find(covered.begin(), covered.end(), false) != covered.end()) {
    r.option = 0;  // a fine word inside a sentence about something else
    r.unclear = true;
  }
  return r;
}

const std::string& SmsTexts::text(const std::string& name, const std::string& language,
                                  const std::string& fallback) const {
  static const std::string none;
  const auto it = templates.find(name);
  return it == templates.end() ? none : it->second.in(language, fallback);
}

SmsTexts load_sms_texts(const std::string& keywords_path, const std::string& templates_path,
                        const flows::FlowSet& flows, std::vector<flows::Diagnostic>& errors) {
  SmsTexts t;
  const auto& languages = flows.settings.languages;
  const std::set<std::string> known_languages(languages.begin(), languages.end());
  if (auto doc = parse_toml_file(keywords_path, errors)) {
    const std::string& f = keywords_path;
    std::map<std::string, std::string> seen;  // word -> keyword, to refuse ambiguity
    for (const auto& [key, node] : *doc) {
      const std::string name(key.str());
      const toml::table* tab = node.as_table();
      if (!tab) {
        add(errors, f, node, "[" + name + "] must be a table");
        continue;
      }
      if (name == "checkin_answers") {
        t.checkin_node = tab->get("node") ? tab->get("node")->value_or(std::string()) : "";
        t.answer_key =
            tab->get("answer_key") ? tab->get("answer_key")->value_or(std::string()) : "";
        const flows::Node* n = flows.find(t.checkin_node);
        if (!n || n->kind != "menu")
          add(errors, f, node,
              "[checkin_answers] node '" + t.checkin_node + "' is not a menu node");
        if (n && n->save != t.answer_key)
          add(errors, f, node,
              "[checkin_answers] answer_key '" + t.answer_key + "' is not what node '" +
                  t.checkin_node + "' saves");
        for (const auto& [k, v] : *tab) {
          const std::string ks(k.str());
          if (ks == "node" || ks == "answer_key") continue;
          if (ks == "negations" || ks == "unclear" || ks == "filler") {
            (ks == "negations" ? t.negations
             : ks == "unclear" ? t.unclear_words
                               : t.filler_words) =
                words_of(f, v, "[checkin_answers] " + ks, errors);
            continue;
          }
          if (ks == "urgent") {
            const auto u = v.value<std::int64_t>();
            if (!u || *u < 1 || (n && static_cast<std::size_t>(*u) > n->options.size()))
              add(errors, f, v,
                  "[checkin_answers] urgent must be an option number of '" + t.checkin_node + "'");
            else
              t.urgent_option = static_cast<int>(*u);
            continue;
          }
          int option = 0;
          try {
            option = std::stoi(ks);
          } catch (const std::exception&) {
          }
          if (option < 1 || (n && static_cast<std::size_t>(option) > n->options.size())) {
            add(errors, f, v,
                "[checkin_answers] '" + ks + "' is not an option number of '" + t.checkin_node +
                    "'");
            continue;
          }
          t.checkin_answers[option] = words_of(f, v, "[checkin_answers] " + ks, errors);
        }
        continue;
      }
      Keyword k;
      k.name = name;
      if (name == "stop")
        k.action = KeywordAction::stop;
      else if (name == "start")
        k.action = KeywordAction::start;
      for (const auto& [lk, v] : *tab) {
        const std::string lang(lk.str());
        if (lang == "target") {
          k.target = v.value_or(std::string());
          continue;
        }
        if (!known_languages.count(lang)) {
          add(errors, f, v, "[" + name + "]: '" + lang + "' is not a configured language");
          continue;
        }
        k.words[lang] = words_of(f, v, "[" + name + "] " + lang, errors);
        for (const auto& w : k.words[lang]) {
          auto [it, fresh] = seen.emplace(w, name);
          if (!fresh && it->second != name)
            add(errors, f, v,
                "[" + name + "]: '" + w + "' is also a keyword of [" + it->second + "]");
        }
      }
      if (k.action == KeywordAction::flow && !flows.find(k.target))
        add(errors, f, node,
            "[" + name + "]: target '" + k.target + "' is not a node (use \"flow:node\")");
      if (k.action != KeywordAction::flow && !k.target.empty())
        add(errors, f, node, "[" + name + "]: stop and start take no target");
      t.keywords.push_back(std::move(k));
    }
    for (const char* required : {"stop", "start"}) {
      bool found = false;
      for (const auto& k : t.keywords) found |= k.name == required;
      if (!found) {
        flows::Diagnostic d;
        d.pos.file = f;
        d.reason = std::string("missing [") + required + "] keywords (opting out must always work)";
        errors.push_back(std::move(d));
      }
    }
    if (t.checkin_node.empty()) {
      flows::Diagnostic d;
      d.pos.file = f;
      d.reason = "missing [checkin_answers]";
      errors.push_back(std::move(d));
    }
  }
  if (auto doc = parse_toml_file(templates_path, errors)) {
    const std::string& f = templates_path;
    for (const auto& [key, node] : *doc) {
      const std::string name(key.str());
      flows::Translated tr;
      tr.pos = {f, node.source().begin.line};
      const toml::table* tab = node.as_table();
      if (!tab) {
        add(errors, f, node, "[" + name + "] must be a table of translations");
        continue;
      }
      for (const auto& [lk, v] : *tab) {
        auto s = v.value<std::string>();
        if (!s)
          add(errors, f, v, "[" + name + "] " + std::string(lk.str()) + " must be a string");
        else
          tr.by_language[std::string(lk.str())] = *s;
      }
      for (const auto& lang : languages)
        if (tr.by_language[lang].empty())
          add(errors, f, node, "[" + name + "]: missing translation '" + lang + "'");
      t.templates[name] = std::move(tr);
    }
    for (const auto& required : required_templates)
      if (!t.templates.count(required)) {
        flows::Diagnostic d;
        d.pos.file = f;
        d.reason = "missing template [" + required + "]";
        errors.push_back(std::move(d));
      }
  }
  return t;
}

}  // namespace rabta::gateway
