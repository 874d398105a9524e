#include "adapters/store/postgres/dialect.hpp"

#include <cctype>
#include <string>
#include <string_view>
#include <vector>

namespace rabta::store::postgres {
namespace {

bool word_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
}

// Case-insensitive: does `text` at `i` start the keyword `word` (as a whole word)?
bool keyword_at(std::string_view text, std::size_t i, std::string_view word) {
  if (i + word.size() > text.size()) return false;
  if (i > 0 && word_char(text[i - 1])) return false;
  for (std::size_t k = 0; k < word.size(); ++k) {
    if (std::toupper(static_cast<unsigned char>(text[i + k])) != word[k]) return false;
  }
  return i + word.size() == text.size() || !word_char(text[i + word.size()]);
}

// One pass over a statement's text, with what it finds handed to `sink`.
template <typename Sink>
void scan(std::string_view in, Sink& sink) {
  std::size_t i = 0;
  while (i < in.size()) {
    const char c = in[i];
    if (c == '\'' || c == '"') {  // a quoted string or name, doubled quotes inside
      const std::size_t start = i++;
      while (i < in.size()) {
        if (in[i] == c) {
          if (i + 1 < in.size() && in[i + 1] == c) {
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        ++i;
      }
      sink.copy(in.substr(start, i - start));
      continue;
    }
    if (c == '-' && i + 1 < in.size() && in[i + 1] == '-') {  // a comment to the end of the line
      const std::size_t end = in.find('\n', i);
      const std::size_t stop = end == std::string_view::npos ? in.size() : end;
      sink.copy(in.substr(i, stop - i));
      i = stop;
      continue;
    }
    if (c == '?' && i + 1 < in.size() && std::isdigit(static_cast<unsigned char>(in[i + 1]))) {
      std::size_t j = i + 1;
      std::size_t n = 0;
      while (j < in.size() && std::isdigit(static_cast<unsigned char>(in[j]))) {
        n = n * 10 + static_cast<std::size_t>(in[j] - '0');
        ++j;
      }
      sink.numbered(n);
      i = j;
      continue;
    }
    if (c == ':' && i + 1 < in.size() &&
        (std::isalpha(static_cast<unsigned char>(in[i + 1])) != 0 || in[i + 1] == '_') &&
        (i == 0 || in[i - 1] != ':')) {
      std::size_t j = i + 1;
      while (j < in.size() && word_char(in[j])) ++j;
      sink.named(in.substr(i, j - i));
      i = j;
      continue;
    }
    if (keyword_at(in, i, "INDEXED")) {
      // "INDEXED BY name ": SQLite's hint; PostgreSQL's planner has statistics.
      std::size_t j = i + 7;
      while (j < in.size() && in[j] == ' ') ++j;
      if (keyword_at(in, j, "BY")) {
        j += 2;
        while (j < in.size() && in[j] == ' ') ++j;
        while (j < in.size() && word_char(in[j])) ++j;
        while (j < in.size() && in[j] == ' ') ++j;
        i = j;
        continue;
      }
    }
    sink.copy(in.substr(i, 1));
    ++i;
  }
}

// The first pass: which ?N the text uses.
struct Uses {
  std::vector<bool> used;
  void copy(std::string_view) {}
  void named(std::string_view) {}
  void numbered(std::size_t n) {
    if (used.size() <= n) used.resize(n + 1);
    used[n] = true;
  }
};

// The second: the text with $ numbers.
struct Emit {
  Translated& out;
  void copy(std::string_view s) { out.text.append(s); }
  void named(std::string_view name) {
    auto [it, added] = out.names.try_emplace(std::string(name), out.parameters + 1);
    if (added) ++out.parameters;
    out.text += '$';
    out.text += std::to_string(it->second);
  }
  void numbered(std::size_t n) {
    out.text += '$';
    out.text += std::to_string(out.slots[n]);
  }
};

}  // namespace

Translated translate(std::string_view in) {
  Translated out;
  Uses uses;
  scan(in, uses);
  out.slots.assign(uses.used.size(), 0);
  for (std::size_t n = 0; n < uses.used.size(); ++n) {
    if (uses.used[n]) out.slots[n] = ++out.parameters;
  }
  out.text.reserve(in.size() + 16);
  Emit emit{out};
  scan(in, emit);
  return out;
}

Translated statement(sql::Sql id) {
  return translate(sql::sql_text(id, sql::Dialect::postgres));
}

}  // namespace rabta::store::postgres
