#include "flows/toml_reader.hpp"

#include <algorithm>

namespace rabta::flows {

std::string in_place(const std::string& where, const std::string& reason) {
  return where.empty() ? reason : where + ": " + reason;
}

TomlReader::TomlReader(std::string file, std::vector<Diagnostic>& errors)
    : file_(std::move(file)), errors_(errors) {}

std::optional<toml::table> TomlReader::parse(std::string_view text) {
  try {
    return toml::parse(text, file_);
  } catch (const toml::parse_error& e) {
    error(SourcePos{file_, e.source().begin.line},
          std::string("not valid TOML: ") + std::string(e.description()));
    return std::nullopt;
  }
}

SourcePos TomlReader::pos(const toml::node& n) const {
  return {file_, n.source().begin.line};
}

void TomlReader::error(const toml::node& n, std::string reason) {
  error(pos(n), std::move(reason));
}

void TomlReader::error(SourcePos p, std::string reason) {
  // Field by field: GCC 12 warns (wrongly) about brace-initialised temporaries here.
  Diagnostic d;
  d.pos = std::move(p);
  d.reason = std::move(reason);
  errors_.push_back(std::move(d));
  ++count_;
}

void TomlReader::known(const toml::table& t, std::initializer_list<std::string_view> allowed,
                       const std::string& where) {
  for (const auto& [k, v] : t)
    if (std::find(allowed.begin(), allowed.end(), k.str()) == allowed.end())
      error(v, in_place(where, "unknown key '" + std::string(k.str()) + "'"));
}

std::optional<std::string> TomlReader::str(const toml::table& t, std::string_view key,
                                           const std::string& where, bool required) {
  const toml::node* n = t.get(key);
  if (!n) {
    if (required) error(t, in_place(where, "missing '" + std::string(key) + "'"));
    return std::nullopt;
  }
  auto v = n->value<std::string>();
  if (!v) error(*n, in_place(where, "'" + std::string(key) + "' must be a string"));
  return v;
}

std::optional<bool> TomlReader::boolean(const toml::table& t, std::string_view key,
                                        const std::string& where) {
  const toml::node* n = t.get(key);
  if (!n) return std::nullopt;
  auto v = n->value<bool>();
  if (!v) error(*n, in_place(where, "'" + std::string(key) + "' must be true or false"));
  return v;
}

std::optional<std::int64_t> TomlReader::integer(const toml::table& t, std::string_view key,
                                                const std::string& where, std::int64_t lo,
                                                std::int64_t hi) {
  const toml::node* n = t.get(key);
  if (!n) return std::nullopt;
  // Only a TOML integer: a float or a string is a mistake worth saying, not a value to convert.
  if (!n->is_integer()) {
    error(*n, in_place(where, "'" + std::string(key) + "' must be an integer"));
    return std::nullopt;
  }
  const std::int64_t v = *n->value<std::int64_t>();
  if (v < lo || v > hi) {
    error(*n, in_place(where, "'" + std::string(key) + "' must be between " + std::to_string(lo) +
                                  " and " + std::to_string(hi)));
    return std::nullopt;
  }
  return v;
}

std::optional<double> TomlReader::number(const toml::table& t, std::string_view key,
                                         const std::string& where) {
  const toml::node* n = t.get(key);
  if (!n) return std::nullopt;
  auto v = n->value<double>();  // an integer or a float
  if (!v) error(*n, in_place(where, "'" + std::string(key) + "' must be a number"));
  return v;
}

const toml::table* TomlReader::table(const toml::table& t, std::string_view key,
                                     const std::string& where) {
  const toml::node* n = t.get(key);
  if (!n) return nullptr;
  if (!n->is_table()) error(*n, in_place(where, "'" + std::string(key) + "' must be a table"));
  return n->as_table();
}

std::vector<const toml::table*> TomlReader::tables(const toml::table& t, std::string_view key,
                                                   const std::string& where) {
  std::vector<const toml::table*> out;
  const toml::node* n = t.get(key);
  if (!n) return out;
  const toml::array* arr = n->as_array();
  if (!arr) {
    error(*n, in_place(where, "'" + std::string(key) + "' must be an array of tables"));
    return out;
  }
  for (const auto& e : *arr) {
    if (const toml::table* tab = e.as_table())
      out.push_back(tab);
    else
      error(e, in_place(where, "each entry of '" + std::string(key) + "' must be a table"));
  }
  return out;
}

std::vector<std::string> TomlReader::strings(const toml::node& n, const std::string& where) {
  std::vector<std::string> out;
  const toml::array* arr = n.as_array();
  if (!arr) {
    error(n, where + " must be a list of strings");
    return out;
  }
  for (const auto& e : *arr) {
    if (auto v = e.value<std::string>())
      out.push_back(*std::move(v));
    else
      error(e, where + ": each entry must be a string");
  }
  return out;
}

}  // namespace rabta::flows
