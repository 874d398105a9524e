// The one TOML reader of rabta: every file the operator edits (rabta.toml, the flows and their
// settings, responders.toml, keywords, templates, banned words) is read through it, so that every
// problem is a Diagnostic at file:line with the same wording, and none stops the reading: `rabta
// check` lists them all at once. It reads values, never echoes them: a value may be a number.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flows/flow.hpp"

namespace rabta::flows {

class TomlReader {
 public:
  // Diagnostics are appended to `errors`, which outlives the reader.
  TomlReader(std::string file, std::vector<Diagnostic>& errors);

  // The document, or nullopt with "not valid TOML: ..." at the line of the problem.
  std::optional<toml::table> parse(std::string_view text);

  const std::string& file() const { return file_; }
  SourcePos pos(const toml::node& n) const;
  void error(const toml::node& n, std::string reason);
  void error(SourcePos pos, std::string reason);
  // At a line of this file; line 0 = the file as a whole ("file: reason").
  void error(std::uint32_t line, std::string reason) {
    error(SourcePos{file_, line}, std::move(reason));
  }
  // Diagnostics reported through this reader so far.
  std::size_t errors() const { return count_; }

  // Every key of `t` must be one of `allowed` (a misspelt key is reported, not ignored).
  void known(const toml::table& t, std::initializer_list<std::string_view> allowed,
             const std::string& where);

  // Typed values at `key` of `t`: nullopt when absent (reported when `required`) or of the wrong
  // type (always reported). `where` names the table in the message ("[server]").
  std::optional<std::string> str(const toml::table& t, std::string_view key,
                                 const std::string& where, bool required = false);
  std::optional<bool> boolean(const toml::table& t, std::string_view key, const std::string& where);
  // An integer, reported when outside [lo, hi].
  std::optional<std::int64_t> integer(const toml::table& t, std::string_view key,
                                      const std::string& where, std::int64_t lo = INT64_MIN,
                                      std::int64_t hi = INT64_MAX);
  std::optional<double> number(const toml::table& t, std::string_view key,
                               const std::string& where);

  // The sub-table at `key`; nullptr when absent or not a table (reported).
  const toml::table* table(const toml::table& t, std::string_view key, const std::string& where);
  // The tables of an array of tables ([[teams]]); any other entry is reported.
  std::vector<const toml::table*> tables(const toml::table& t, std::string_view key,
                                         const std::string& where);
  // A list of strings (`where` names it in full: "[flows] 'files'"); other entries are reported.
  std::vector<std::string> strings(const toml::node& n, const std::string& where);

 private:
  std::string file_;
  std::vector<Diagnostic>& errors_;
  std::size_t count_ = 0;
};

// "where: reason", or the reason alone when `where` is empty.
std::string in_place(const std::string& where, const std::string& reason);

}  // namespace rabta::flows
