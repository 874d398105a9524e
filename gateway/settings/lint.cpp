#include "gateway/settings/lint.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>

#include "flows/engine.hpp"
#include "flows/toml_reader.hpp"
#include "gateway/settings/toml_file.hpp"

namespace rabta::gateway {

namespace {

bool ascii(std::string_view s) {
  for (const unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

// Lower-case ASCII words separated by single spaces, with a space at each end: " a b c ".
std::string latin_words(std::string_view text) {
  std::string out = " ";
  for (const unsigned char c : text) {
    if (std::isalnum(c)) {
      out += static_cast<char>(std::tolower(c));
    } else if (out.back() != ' ') {
      out += ' ';
    }
  }
  if (out.back() != ' ') out += ' ';
  return out;
}

// Words of any script: split at ASCII spaces and punctuation and at Urdu punctuation
// (، ؛ ؟ ۔). Urdu-script words are compared as they are written.
std::vector<std::string> script_words(std::string_view text) {
  static const std::string_view separators[] = {"\u060C", "\u061B", "\u061F", "\u06D4"};
  std::vector<std::string> out;
  std::string word;
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    bool split = c < 0x80 && !std::isalnum(c);
    std::size_t len = 1;
    if (!split) {
      for (const auto sep : separators)
        if (text.substr(i, sep.size()) == sep) {
          split = true;
          len = sep.size();
        }
    }
    if (split) {
      if (!word.empty()) out.push_back(std::move(word));
      word.clear();
    } else {
      word += static_cast<char>(std::tolower(c));
    }
    i += len;
  }
  if (!word.empty()) out.push_back(std::move(word));
  return out;
}

// Built field by field: GCC 12 warns (wrongly) about brace-initialised temporaries here.
flows::Diagnostic diag(const std::string& file, std::uint32_t line, std::string reason) {
  flows::Diagnostic d;
  d.pos.file = file;
  d.pos.line = line;
  d.reason = std::move(reason);
  return d;
}

}  // namespace

BannedWords load_banned_words(const std::string& path, std::vector<flows::Diagnostic>& errors) {
  BannedWords b;
  b.file = path;
  const auto doc = parse_toml_file(path, errors);
  if (!doc) return b;
  flows::TomlReader reader(path, errors);
  for (const auto& [lang, node] : *doc) {
    const std::string where = "'" + std::string(lang.str()) + "'";
    if (!node.is_array()) {
      reader.error(node, where + " must be a list of words");
      continue;
    }
    auto& list = b.by_language[std::string(lang.str())];
    for (const toml::node& w : *node.as_array()) {
      const auto v = w.value<std::string>();
      if (!v || v->empty())
        reader.error(w, "a banned word must be a non-empty string");
      else
        list.push_back(*v);
    }
  }
  if (b.by_language.empty())
    errors.push_back(diag(path, 1, "no banned words: the lint would pass anything"));
  return b;
}

std::optional<std::string> find_banned(std::string_view text, const BannedWords& banned) {
  const std::string words = latin_words(text);
  const std::vector<std::string> tokens = script_words(text);
  for (const auto& [lang, list] : banned.by_language) {
    for (const auto& w : list) {
      if (ascii(w)) {
        const std::string phrase = latin_words(w);
        if (phrase.size() > 2 && words.find(phrase) != std::string::npos) return w;
      } else if (std::find(tokens.begin(), tokens.end(), w) != tokens.end()) {
        return w;
      }
    }
  }
  return std::nullopt;
}

std::vector<flows::Diagnostic> lint_wording(const SmsTexts& texts,
                                            const std::shared_ptr<const flows::FlowSet>& flow_set,
                                            const BannedWords& banned) {
  const flows::FlowSet& flows = *flow_set;
  std::vector<flows::Diagnostic> out;
  for (const auto& [name, t] : texts.templates) {
    for (const auto& [lang, text] : t.by_language) {
      if (auto w = find_banned(text, banned))
        out.push_back(diag(t.pos.file, t.pos.line,
                           "template '" + name + "' [" + lang + "] contains the banned word '" +
                               *w + "' (" + banned.file + "): SMS to her must stay neutral"));
    }
  }
  // The first screens: what anyone holding her phone sees when the code is dialled.
  const flows::Engine engine(flow_set);
  flows::SeededIds ids(1);
  std::vector<std::string> languages{""};
  for (const auto& l : flows.settings.languages) languages.push_back(l);
  for (const auto& lang : languages) {
    const std::string screen = engine.start(lang, ids).screen;
    if (auto w = find_banned(screen, banned))
      out.push_back(diag(flows.settings.pos.file, flows.settings.pos.line,
                         "the first screen" + (lang.empty() ? std::string() : " [" + lang + "]") +
                             " contains the banned word '" + *w + "' (" + banned.file +
                             "): it must read as a general well-being service"));
  }
  return out;
}

}  // namespace rabta::gateway
