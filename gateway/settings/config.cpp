#include "gateway/settings/config.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>
#include <string_view>

#include "adapters/common/phone.hpp"
#include "gateway/settings/secrets.hpp"
#include "gateway/settings/toml_file.hpp"

namespace rabta::gateway {

namespace fs = std::filesystem;

namespace {

// rabta.toml through the one TOML reader (flows/toml_reader.hpp): every problem is collected at
// file:line, and load_config throws them all together at the end, so that the operator fixes
// them in one go. After a problem the setting keeps its default and the reading goes on.
class Reader {
 public:
  Reader(std::string file, fs::path base, std::vector<flows::Diagnostic>& errors)
      : toml_(std::move(file), errors), base_(std::move(base)) {}

  flows::TomlReader& toml() { return toml_; }

  // An optional `allow_from` list of addresses / CIDR blocks (SAFETY T1).
  void allow_from(const toml::table& t, const std::string& where, AllowList& out,
                  const std::string& key = "allow_from") {
    const toml::node* n = t.get(key);
    if (n == nullptr) return;
    if (!n->is_array()) {
      fail(*n, where + ": '" + key + "' must be a list of addresses or CIDR blocks");
      return;
    }
    const std::size_t before = toml_.errors();
    const auto entries = toml_.strings(*n, where + ": '" + key + "'");
    if (toml_.errors() != before) return;
    std::string error;
    auto parsed = AllowList::parse(entries, error);
    if (!parsed)
      fail(*n, where + ": " + key + ": " + error);
    else
      out = *std::move(parsed);
  }

  void fail(const toml::node& n, const std::string& reason) { toml_.error(n, reason); }
  void fail(const std::string& reason) { toml_.error(0u, reason); }

  void known(const toml::table& t, std::initializer_list<std::string_view> keys,
             const std::string& where) {
    toml_.known(t, keys, where);
  }

  void str(const toml::table& t, const char* key, std::string& out) {
    if (auto v = toml_.str(t, key, "")) out = *std::move(v);
  }
  void path(const toml::table& t, const char* key, std::string& out) {
    if (auto v = toml_.str(t, key, "")) out = resolve(*v);
  }
  std::string resolve(const std::string& p) const {
    if (p.empty() || fs::path(p).is_absolute()) return p;
    return (base_ / p).lexically_normal().string();
  }
  template <typename Int>
  void integer(const toml::table& t, const char* key, Int& out, std::int64_t lo, std::int64_t hi) {
    if (auto v = toml_.integer(t, key, "", lo, hi)) out = static_cast<Int>(*v);
  }
  void millis(const toml::table& t, const char* key, std::chrono::milliseconds& out,
              std::int64_t lo, std::int64_t hi) {
    if (auto v = toml_.integer(t, key, "", lo, hi)) out = std::chrono::milliseconds(*v);
  }
  void boolean(const toml::table& t, const char* key, bool& out) {
    if (auto v = toml_.boolean(t, key, "")) out = *v;
  }
  // `where` names the parent table in the message ("[adapters]: 'africastalking' must be a ...").
  const toml::table* table(const toml::table& doc, const char* key, const std::string& where = "") {
    return toml_.table(doc, key, where);
  }

 private:
  flows::TomlReader toml_;
  fs::path base_;
};

void record_lines(const toml::table& t, const std::string& prefix,
                  std::map<std::string, std::uint32_t>& out) {
  for (const auto& [k, v] : t) {
    const std::string name = prefix + std::string(k.str());
    out[name] = v.source().begin.line;
    if (const toml::table* sub = v.as_table()) record_lines(*sub, name + ".", out);
  }
}

std::string read_file(const std::string& path) {
  auto text = read_text_file(path);
  if (!text) throw ConfigError(path + ": cannot read the file");
  return *std::move(text);
}

// One leaf of a [ussd.X] table or its preset, before `x_env` / `x_file` are resolved.
struct RawSetting {
  std::string value;
  flows::SourcePos pos;
  fs::path base;  // the folder of the file it was written in (x_file is relative to it)
};

// Flattens `t` into `out` ("request.session_id" = "json:/SessionId"): strings as written, whole
// numbers and booleans as text, lists of strings joined by ", ". `skip` are the table's own keys.
void flatten(const toml::table& t, const std::string& prefix, const std::string& file,
             const fs::path& base, const std::set<std::string>& skip,
             std::map<std::string, RawSetting>& out, std::vector<flows::Diagnostic>& errors) {
  for (const auto& [k, v] : t) {
    const std::string key = prefix + std::string(k.str());
    const flows::SourcePos pos{file, v.source().begin.line};
    if (prefix.empty() && skip.count(key)) continue;
    if (const toml::table* sub = v.as_table()) {
      flatten(*sub, key + ".", file, base, skip, out, errors);
      continue;
    }
    std::string value;
    if (auto str = v.value_exact<std::string>()) {
      value = *str;
    } else if (auto i = v.value_exact<std::int64_t>()) {
      value = std::to_string(*i);
    } else if (auto b = v.value_exact<bool>()) {
      value = *b ? "true" : "false";
    } else if (const toml::array* a = v.as_array()) {
      bool ok = true;
      for (const auto& item : *a) {
        auto e = item.value_exact<std::string>();
        if (!e)
          ok = false;
        else
          value += (value.empty() ? "" : ", ") + *e;
      }
      if (!ok) {
        errors.push_back({pos, "'" + key + "' must be a list of strings"});
        continue;
      }
    } else {
      errors.push_back({pos, "'" + key +
                                 "' must be a string, a whole number, true/false or a "
                                 "list of strings"});
      continue;
    }
    out[key] = {std::move(value), pos, base};
  }
}

// The settings from raw leaves: `x_env` (when that variable is set) wins over `x_file` (its
// first line), which wins over a plain `x`.
template <class Channel>
void resolve_settings(const std::map<std::string, RawSetting>& raw, Channel& ch) {
  auto ends = [](const std::string& key, const std::string& suffix) {
    return key.size() > suffix.size() &&
           key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  for (const auto& [key, r] : raw) {
    if (ends(key, "_env") || ends(key, "_file")) continue;
    ch.settings[key] = r.value;
    ch.where[key] = r.pos;
  }
  for (const auto& [key, r] : raw) {
    if (!ends(key, "_file")) continue;
    const std::string target = key.substr(0, key.size() - 5);
    const std::string file = r.value.empty() || fs::path(r.value).is_absolute()
                                 ? r.value
                                 : (r.base / r.value).lexically_normal().string();
    ch.files[target] = file;
    ch.where[target] = r.pos;
    ch.settings.erase(target);
    if (auto line = secret_file_line(file)) ch.settings[target] = *std::move(line);
  }
  for (const auto& [key, r] : raw) {
    if (!ends(key, "_env")) continue;
    const std::string target = key.substr(0, key.size() - 4);
    if (!ch.where.count(target)) ch.where[target] = r.pos;
    if (const char* e = std::getenv(r.value.c_str()); e && *e) ch.settings[target] = e;
  }
}

// Where a [ussd.X] table's preset file is: "hubtel" is presets/ussd/hubtel.toml beside
// rabta.toml; a value ending in .toml is a file (relative to rabta.toml's folder).
std::string preset_file(const fs::path& base, const std::string& preset,
                        const std::string& folder = "ussd") {
  if (preset.size() > 5 && preset.compare(preset.size() - 5, 5, ".toml") == 0)
    return fs::path(preset).is_absolute() ? preset : (base / preset).lexically_normal().string();
  return (base / "presets" / folder / (preset + ".toml")).lexically_normal().string();
}

// A table's settings on top of its preset's: the preset's kind is the table's when it names
// none. Problems go to `errors` at the file and line they were written.
template <class Channel>
void read_settings(const toml::table& t, const std::string& where, const std::string& file,
                   const fs::path& base, const std::string& folder,
                   const std::set<std::string>& own, Channel& ch,
                   std::vector<flows::Diagnostic>& errors) {
  std::map<std::string, RawSetting> raw;
  if (!ch.preset.empty()) {
    ch.preset = preset_file(base, ch.preset, folder);
    const auto preset = parse_toml_file(ch.preset, errors);
    if (!preset) {
      errors.push_back({{file, t.get("preset")->source().begin.line},
                        where + ": preset '" + ch.preset + "' cannot be read"});
    } else {
      flatten(*preset, "", ch.preset, fs::path(ch.preset).parent_path(), {}, raw, errors);
      if (const auto k = raw.find("kind"); k != raw.end()) {
        if (ch.kind.empty()) ch.kind = k->second.value;
        raw.erase(k);
      }
    }
  }
  // What the table gives for a setting replaces all the preset gave for it, in whatever form
  // (x, x_file or x_env): rabta.toml's `send.secret` wins over the preset's `send.secret_file`.
  std::map<std::string, RawSetting> table;
  flatten(t, "", file, base, own, table, errors);
  const auto target = [](const std::string& key) {
    for (const std::string suffix : {"_env", "_file"})
      if (key.size() > suffix.size() &&
          key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0)
        return key.substr(0, key.size() - suffix.size());
    return key;
  };
  for (const auto& [key, value] : table) {
    const std::string x = target(key);
    for (const std::string& form : {x, x + "_file", x + "_env"}) raw.erase(form);
  }
  for (auto& [key, value] : table) raw[key] = std::move(value);
  resolve_settings(raw, ch);
}

// SAFETY S4: a table's duress_code_sha256, read and checked ("" = none).
void read_duress(Reader& r, const toml::table& t, const std::string& where, std::string& out) {
  r.str(t, "duress_code_sha256", out);
  if (!out.empty() &&
      (out.size() != 64 || out.find_first_not_of("0123456789abcdef") != std::string::npos))
    r.fail(*t.get("duress_code_sha256"),
           where +
               " duress_code_sha256 must be 64 lowercase hex characters "
               "(printf '%s' '*786*9#' | sha256sum)");
}

// Every path a USSD channel answers on (its hops, and its end-of-session notifications).
std::vector<std::string> ussd_paths(const UssdChannelConfig& u) {
  std::vector<std::string> out{u.path};
  if (u.kind == "africastalking") out.push_back(u.path + "/events");
  if (const auto e = u.settings.find("events.path"); e != u.settings.end() && !e->second.empty())
    out.push_back(e->second[0] == '/' ? e->second : u.path + "/" + e->second);
  return out;
}

}  // namespace

flows::SourcePos UssdChannelConfig::at(const std::string& key) const {
  if (const auto it = where.find(key); it != where.end()) return it->second;
  return pos;
}

flows::SourcePos ChannelConfig::at(const std::string& key) const {
  if (const auto it = where.find(key); it != where.end()) return it->second;
  return pos;
}

Config load_config(const std::string& path) {
  Config c;
  c.source = path;
  std::vector<flows::Diagnostic> errors;
  const auto parsed = parse_toml_file(path, errors);
  if (!parsed) throw ConfigError(errors.front().to_string());
  const toml::table& doc = *parsed;
  record_lines(doc, "", c.lines);
  const fs::path base = fs::absolute(path).parent_path();
  Reader r(path, base, errors);
  r.known(doc,
          {"server", "database", "keys", "flows", "sessions", "log", "adapters", "sms", "checkins",
           "outbox", "channels", "responders", "retention", "metrics", "numbers", "ussd"},
          "rabta.toml");
  c.database = r.resolve(c.database);
  c.pseudonym_key_file = r.resolve(c.pseudonym_key_file);
  c.field_key_file = r.resolve(c.field_key_file);
  c.sms.keywords = r.resolve(c.sms.keywords);
  c.sms.templates = r.resolve(c.sms.templates);
  c.sms.banned_words = r.resolve(c.sms.banned_words);
  if (const auto* t = r.table(doc, "server")) {
    r.known(*t,
            {"host", "port", "body_limit", "header_limit", "read_timeout_ms", "idle_timeout_ms",
             "max_connections_per_peer", "threads", "public_url", "trusted_proxies"},
            "[server]");
    r.allow_from(*t, "[server]", c.trusted_proxies, "trusted_proxies");
    r.str(*t, "host", c.host);
    r.integer(*t, "port", c.port, 0, 65535);
    r.integer(*t, "body_limit", c.body_limit, 512, 1 << 20);
    r.integer(*t, "header_limit", c.header_limit, 512, 1 << 20);
    r.millis(*t, "read_timeout_ms", c.read_timeout, 100, 120'000);
    r.millis(*t, "idle_timeout_ms", c.idle_timeout, 100, 600'000);
    r.integer(*t, "max_connections_per_peer", c.max_connections_per_peer, 1, 100'000);
    r.integer(*t, "threads", c.threads, 1, 64);
    r.str(*t, "public_url", c.public_url);
  }
  if (const auto* t = r.table(doc, "database")) {
    r.known(*t, {"path", "url", "synchronous", "max_queue"}, "[database]");
    r.integer(*t, "max_queue", c.max_queue, 0, 1'000'000);
    r.path(*t, "path", c.database);
    r.str(*t, "url", c.database_url);
    if (!c.database_url.empty()) {
      // The reasons never repeat the URL: it may hold a password.
      const std::string& u = c.database_url;
      const auto scheme = u.find("://");
      const std::string authority =
          scheme == std::string::npos
              ? ""
              : u.substr(scheme + 3, u.find_first_of("/?", scheme + 3) - scheme - 3);
      const auto at = authority.rfind('@');
      if (!u.starts_with("postgresql://") && !u.starts_with("postgres://")) {
        r.fail(*t->get("url"),
               "'url' must be a PostgreSQL URL: postgresql://USER@HOST:PORT/DATABASE");
      } else if ((at != std::string::npos &&
                  authority.substr(0, at).find(':') != std::string::npos) ||
                 u.find("password=") != std::string::npos) {
        r.fail(*t->get("url"),
               "'url' holds a password: keep it out of rabta.toml, in ~/.pgpass (mode 0600) or "
               "PGPASSWORD");
      } else if (t->contains("path")) {
        r.fail(*t->get("url"), "set one of [database] 'path' (SQLite) or 'url' (PostgreSQL)");
      }
    }
    std::string sync = "full";
    r.str(*t, "synchronous", sync);
    if (sync != "full" && sync != "normal")
      r.fail(*t->get("synchronous"), "'synchronous' must be \"full\" or \"normal\"");
    else
      c.synchronous_full = sync == "full";
  }
  if (const auto* t = r.table(doc, "keys")) {
    r.known(*t, {"pseudonym_key_file", "pseudonym_key_env", "field_key_file", "field_key_env"},
            "[keys]");
    r.path(*t, "pseudonym_key_file", c.pseudonym_key_file);
    r.str(*t, "pseudonym_key_env", c.pseudonym_key_env);
    r.path(*t, "field_key_file", c.field_key_file);
    r.str(*t, "field_key_env", c.field_key_env);
  }
  std::string flow_dir = "flows";
  bool have_files = false;
  c.flows_settings = r.resolve(c.flows_settings);
  c.flows_lists = r.resolve(c.flows_lists);
  c.flows_directory = r.resolve(c.flows_directory);
  if (const auto* t = r.table(doc, "flows")) {
    r.known(*t, {"settings", "lists", "directory", "dir", "files"}, "[flows]");
    r.path(*t, "settings", c.flows_settings);
    r.path(*t, "lists", c.flows_lists);
    r.path(*t, "directory", c.flows_directory);
    r.str(*t, "dir", flow_dir);
    if (const toml::node* files = t->get("files")) {
      for (const auto& f : r.toml().strings(*files, "[flows] 'files'"))
        c.flow_files.push_back(r.resolve(f));
      have_files = true;
    }
  }
  if (!have_files) {
    const fs::path dir = r.resolve(flow_dir);
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      r.fail("[flows] dir '" + dir.string() + "' is not a folder");
    } else {
      for (const auto& e : fs::directory_iterator(dir))
        if (e.is_regular_file() && e.path().extension() == ".toml")
          c.flow_files.push_back(e.path().string());
      std::sort(c.flow_files.begin(), c.flow_files.end());
      if (c.flow_files.empty())
        r.fail("[flows] dir '" + dir.string() + "' has no .toml flow files");
    }
  }
  if (const auto* t = r.table(doc, "sessions")) {
    r.known(*t, {"idle_timeout_ms", "resume_window_ms", "quiet_period_ms"}, "[sessions]");
    r.millis(*t, "idle_timeout_ms", c.session_idle, 1'000, 3'600'000);
    r.millis(*t, "resume_window_ms", c.resume_window, 0, 7 * 86'400'000LL);
    r.millis(*t, "quiet_period_ms", c.quiet_period, 0, 30 * 86'400'000LL);
  }
  if (const auto* t = r.table(doc, "numbers")) {
    r.known(*t, {"default_country"}, "[numbers]");
    r.str(*t, "default_country", c.default_country);
    if (!common::number_plan(c.default_country)) {
      std::string known;
      for (const auto& k : common::known_number_plan_countries())
        known += (known.empty() ? "" : ", ") + k;
      r.fail(t->get("default_country") ? *t->get("default_country")
                                       : static_cast<const toml::node&>(*t),
             "[numbers] default_country must be one of " + known);
    }
  }
  if (const auto plan = common::number_plan(c.default_country))
    common::set_default_number_plan(*plan);
  if (const auto* t = r.table(doc, "log")) {
    r.known(*t, {"level"}, "[log]");
    r.str(*t, "level", c.log_level);
    static const std::set<std::string> levels = {"trace", "debug", "info", "warn", "error", "off"};
    if (!levels.count(c.log_level)) {
      r.fail(*t->get("level"), "'level' must be one of trace, debug, info, warn, error, off");
      c.log_level = "info";
    }
  }
  // The older form: [adapters.africastalking] (on unless enabled = false, and on by default
  // when no [ussd.X] table exists), read as [ussd.africastalking] of kind "africastalking".
  bool legacy_at = !doc.contains("ussd");
  UssdChannelConfig at;
  at.name = "africastalking";
  at.kind = "africastalking";
  at.path = "/ussd/africastalking";
  at.pos = {path, 0};
  std::string at_secret_env = "RABTA_AT_SECRET", at_secret_file;
  if (const auto* adapters = r.table(doc, "adapters")) {
    r.known(*adapters, {"africastalking"}, "[adapters]");
    if (const auto* t = r.table(*adapters, "africastalking", "[adapters]")) {
      legacy_at = true;
      at.pos.line = t->source().begin.line;
      r.known(*t,
              {"enabled", "path", "secret_env", "secret_file", "allow_from", "duress_code_sha256"},
              "[adapters.africastalking]");
      r.allow_from(*t, "[adapters.africastalking]", at.allow_from);
      read_duress(r, *t, "[adapters.africastalking]", at.duress_code_sha256);
      r.boolean(*t, "enabled", legacy_at);
      r.str(*t, "path", at.path);
      r.str(*t, "secret_env", at_secret_env);
      r.path(*t, "secret_file", at_secret_file);
      if (at.path.empty() || at.path[0] != '/')
        r.fail(*t, "[adapters.africastalking] 'path' must start with '/'");
      for (const char* key : {"secret_file", "secret_env", "path"})
        if (const toml::node* n = t->get(key))
          at.where[std::string(key) == "path" ? "path" : "secret"] = {path, n->source().begin.line};
    }
  }
  if (legacy_at) {
    at.settings["path"] = at.path;
    if (!at_secret_file.empty()) {
      at.files["secret"] = at_secret_file;
      if (auto line = secret_file_line(at_secret_file)) at.settings["secret"] = *std::move(line);
    }
    if (const char* e = std::getenv(at_secret_env.c_str()); !at_secret_env.empty() && e && *e)
      at.settings["secret"] = e;
    c.ussd.push_back(std::move(at));
  }
  if (const auto* ussd = r.table(doc, "ussd")) {
    for (const auto& [name, node] : *ussd) {
      const toml::table* t = node.as_table();
      const std::string where = "[ussd." + std::string(name.str()) + "]";
      if (!t) {
        r.fail(node, where + " must be a table");
        continue;
      }
      UssdChannelConfig u;
      u.name = std::string(name.str());
      u.pos = {path, t->source().begin.line};
      if (u.name.empty() ||
          u.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos)
        r.fail(*t, where + ": the name must be lower-case letters, digits and '_'");
      r.str(*t, "kind", u.kind);
      r.str(*t, "preset", u.preset);
      r.allow_from(*t, where, u.allow_from);
      read_duress(r, *t, where, u.duress_code_sha256);
      read_settings(*t, where, path, base, "ussd",
                    {"kind", "preset", "allow_from", "duress_code_sha256"}, u, errors);
      if (u.kind.empty()) r.fail(*t, where + ": missing 'kind' (africastalking or http)");
      u.path = u.settings.count("path") ? u.settings["path"] : "";
      if (u.path.empty() || u.path[0] != '/')
        errors.push_back({u.at("path"), where + ": 'path' must start with '/'"});
      if (u.settings.count("auth.mode") && u.settings["auth.mode"] == "none" &&
          u.allow_from.empty())
        errors.push_back(
            {u.at("auth.mode"), where + ": auth.mode \"none\" needs allow_from (the aggregator's "
                                        "addresses), or anyone could post hops"});
      c.ussd.push_back(std::move(u));
    }
  }
  for (std::size_t i = 0; i < c.ussd.size(); ++i)
    for (const auto& p : ussd_paths(c.ussd[i]))
      for (std::size_t j = 0; j < i; ++j)
        for (const auto& q : ussd_paths(c.ussd[j]))
          if (p == q)
            errors.push_back({c.ussd[i].at("path"), "[ussd." + c.ussd[i].name + "]: path '" + p +
                                                        "' is already used by [ussd." +
                                                        c.ussd[j].name + "]"});
  if (const auto* t = r.table(doc, "sms")) {
    r.known(*t,
            {"keywords", "templates", "conversation_timeout_ms", "throttle_window_ms",
             "throttle_max_messages", "loop_window_ms", "loop_max_repeats", "reply_ttl_ms",
             "banned_words"},
            "[sms]");
    r.path(*t, "keywords", c.sms.keywords);
    r.path(*t, "templates", c.sms.templates);
    r.path(*t, "banned_words", c.sms.banned_words);
    r.millis(*t, "conversation_timeout_ms", c.sms.conversation_timeout, 60'000, 7 * 86'400'000LL);
    r.millis(*t, "throttle_window_ms", c.sms.throttle_window, 1'000, 86'400'000);
    r.integer(*t, "throttle_max_messages", c.sms.throttle_max_messages, 1, 10'000);
    r.millis(*t, "loop_window_ms", c.sms.loop_window, 1'000, 86'400'000);
    r.integer(*t, "loop_max_repeats", c.sms.loop_max_repeats, 1, 1'000);
    r.millis(*t, "reply_ttl_ms", c.sms.reply_ttl, 1'000, 7 * 86'400'000LL);
  }
  if (const auto* t = r.table(doc, "checkins")) {
    r.known(*t,
            {"enabled", "timezone", "channel", "reminder_after_ms", "deadline_ms",
             "missed_severity", "missed_again_severity", "interval_ms"},
            "[checkins]");
    r.boolean(*t, "enabled", c.checkins.enabled);
    r.str(*t, "timezone", c.checkins.timezone);
    r.str(*t, "channel", c.checkins.channel);
    r.millis(*t, "reminder_after_ms", c.checkins.reminder_after, 0, 7 * 86'400'000LL);
    r.millis(*t, "deadline_ms", c.checkins.deadline, 60'000, 14 * 86'400'000LL);
    r.str(*t, "missed_severity", c.checkins.missed_severity);
    r.str(*t, "missed_again_severity", c.checkins.missed_again_severity);
    r.millis(*t, "interval_ms", c.checkins.interval, 1'000, 3'600'000);
    static const std::set<std::string> severities = {"low", "normal", "high", "critical"};
    if (!severities.count(c.checkins.missed_severity) ||
        !severities.count(c.checkins.missed_again_severity))
      r.fail(*t, "[checkins] severities must be low, normal, high or critical");
  }
  if (const auto* t = r.table(doc, "outbox")) {
    r.known(*t,
            {"max_attempts", "backoff_base_ms", "backoff_cap_ms", "poll_interval_ms", "lease_ms"},
            "[outbox]");
    // More than the 15 s a send may take, or a send still in flight could be taken for dead.
    r.millis(*t, "lease_ms", c.outbox.lease, 16'000, 3'600'000);
    r.integer(*t, "max_attempts", c.outbox.max_attempts, 1, 100);
    r.millis(*t, "backoff_base_ms", c.outbox.backoff_base, 10, 3'600'000);
    r.millis(*t, "backoff_cap_ms", c.outbox.backoff_cap, 10, 86'400'000);
    r.millis(*t, "poll_interval_ms", c.outbox.poll_interval, 10, 60'000);
  }
  if (const auto* t = r.table(doc, "metrics")) {
    r.known(*t, {"allow_from"}, "[metrics]");
    r.allow_from(*t, "[metrics]", c.metrics_allow);
  }
  if (const auto* t = r.table(doc, "retention")) {
    r.known(*t,
            {"sessions_days", "closed_cases_days", "outbox_days", "inbound_days", "checkins_days",
             "interval_ms"},
            "[retention]");
    r.integer(*t, "sessions_days", c.retention.sessions_days, 0, 36'500);
    r.integer(*t, "closed_cases_days", c.retention.closed_cases_days, 0, 36'500);
    r.integer(*t, "outbox_days", c.retention.outbox_days, 0, 36'500);
    r.integer(*t, "inbound_days", c.retention.inbound_days, 0, 36'500);
    r.integer(*t, "checkins_days", c.retention.checkins_days, 0, 36'500);
    // Missed weeks in a row are counted from the previous week's row: keep at least two weeks.
    if (c.retention.checkins_days != 0 && c.retention.checkins_days < 15)
      r.fail(*t->get("checkins_days"),
             "[retention] checkins_days must be 0 (forever) or at least 15 (missed weeks in a row "
             "are counted from earlier weeks)");
    r.millis(*t, "interval_ms", c.retention.interval, 60'000, 7 * 86'400'000LL);
  }
  if (const auto* t = r.table(doc, "responders")) {
    r.known(*t, {"file", "interval_ms"}, "[responders]");
    r.path(*t, "file", c.responders_file);
    r.millis(*t, "interval_ms", c.escalation_interval, 100, 600'000);
  }
  if (const auto* channels = r.table(doc, "channels")) {
    for (const auto& [name, node] : *channels) {
      const toml::table* t = node.as_table();
      const std::string where = "[channels." + std::string(name.str()) + "]";
      if (!t) {
        r.fail(node, where + " must be a table");
        continue;
      }
      ChannelConfig ch;
      ch.name = std::string(name.str());
      r.str(*t, "kind", ch.kind);
      r.str(*t, "path", ch.path);
      if (ch.path.empty() || ch.path[0] != '/')
        r.fail(*t, where + ": 'path' must start with '/'");
      else if (ch.path == "/healthz" || ch.path == "/metrics")
        r.fail(*t, where + ": 'path' is already used");
      for (const auto& u : c.ussd)
        for (const auto& p : ussd_paths(u))
          if (ch.path == p) r.fail(*t, where + ": 'path' is already used by [ussd." + u.name + "]");
      for (const auto& other : c.channels)
        if (other.path == ch.path)
          r.fail(*t, where + ": 'path' is already used by [channels." + other.name + "]");
      if (const toml::node* rate = t->get("rate_per_second")) {
        const auto v = rate->value<double>();
        if (!v || *v < 0 || std::isnan(*v))
          r.fail(*rate, where + ": 'rate_per_second' must be a number >= 0");
        else
          ch.rate_per_second = *v;
      }
      r.allow_from(*t, where, ch.allow_from);
      r.str(*t, "preset", ch.preset);
      ch.pos = {path, t->source().begin.line};
      read_settings(*t, where, path, base, "sms",
                    {"kind", "path", "rate_per_second", "allow_from", "preset"}, ch, errors);
      if (ch.kind.empty()) r.fail(*t, where + ": missing 'kind'");
      if (ch.kind == "http" && ch.settings.count("auth.mode") &&
          ch.settings["auth.mode"] == "none" && ch.allow_from.empty())
        errors.push_back(
            {ch.at("auth.mode"), where + ": auth.mode \"none\" needs allow_from (the gateway's "
                                         "addresses), or anyone could post messages and reports"});
      c.channels.push_back(std::move(ch));
    }
  }
  if (!errors.empty()) {
    std::string all;
    for (const auto& e : errors) all += (all.empty() ? "" : "\n") + e.to_string();
    throw ConfigError(all);
  }
  return c;
}

flows::SourcePos Config::at(const std::string& key) const {
  flows::SourcePos pos;
  pos.file = source;
  for (std::string k = key; !k.empty();) {
    if (const auto it = lines.find(k); it != lines.end()) {
      pos.line = it->second;
      break;
    }
    const auto dot = k.rfind('.');
    k = dot == std::string::npos ? std::string() : k.substr(0, dot);
  }
  return pos;
}

flows::LoadResult load_flows(const Config& config) {
  flows::FlowSources src;
  auto read = [](const std::string& p) { return flows::SourceText{p, read_file(p)}; };
  flows::LoadResult fail;
  try {
    src.settings = read(config.flows_settings);
    if (!config.flows_lists.empty() && fs::exists(config.flows_lists))
      src.lists = read(config.flows_lists);
    if (!config.flows_directory.empty() && fs::exists(config.flows_directory))
      src.directory = read(config.flows_directory);
    for (const auto& f : config.flow_files) src.flows.push_back(read(f));
  } catch (const ConfigError& e) {
    flows::Diagnostic d;
    d.reason = e.what();
    fail.errors.push_back(std::move(d));
    return fail;
  }
  return flows::load_flow_set(src);
}

store::StoreOptions store_options(const Config& config) {
  store::StoreOptions so;
  so.path = config.database;
  so.url = config.database_url;
  so.synchronous_full = config.synchronous_full;
  so.max_queue = config.max_queue;
  return so;
}

std::string database_name(const Config& config) {
  return config.database_url.empty()
             ? "the database " + config.database
             : "the database " + store::describe_database(config.database_url);
}

}  // namespace rabta::gateway
