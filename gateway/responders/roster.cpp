// Reading config/responders.toml into a Roster (responders.hpp) through the one TOML reader
// (flows/toml_reader.hpp), every problem at file:line. One loader for one file: its tables
// (teams, members, routes, SLAs, ladder, alert template, webhook) are read and checked together
// so that their cross-checks (a route to a team that exists, a catch-all route last) stay in one
// place.
#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>
#include <string_view>

#include "adapters/common/crypto.hpp"
#include "adapters/http/curl_executor.hpp"
#include "flows/engine.hpp"
#include "flows/text.hpp"
#include "gateway/responders/responders.hpp"
#include "gateway/settings/secrets.hpp"
#include "gateway/settings/toml_file.hpp"

namespace rabta::gateway {

namespace {

namespace fs = std::filesystem;

constexpr std::array<std::string_view, 4> kSeverities = {"low", "normal", "high", "critical"};
constexpr std::array<std::string_view, 7> kDays = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
// Opened by the check-in scheduler, not by a flow.
constexpr std::string_view kMissedCheckin = "missed_checkin";

bool is_severity(const std::string& s) {
  return std::find(kSeverities.begin(), kSeverities.end(), s) != kSeverities.end();
}

}  // namespace

int severity_rank(std::string_view severity) {
  const auto it = std::find(kSeverities.begin(), kSeverities.end(), severity);
  return it == kSeverities.end() ? 4 : static_cast<int>(kSeverities.end() - it) - 1;
}

namespace {

bool all_ascii_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "30s", "15m", "24h", "2d" (a positive whole number and one unit).
std::optional<std::chrono::milliseconds> parse_duration(const std::string& text) {
  if (text.size() < 2 || text.size() > 8) return std::nullopt;
  const std::string_view digits(text.data(), text.size() - 1);
  if (!all_ascii_digits(digits)) return std::nullopt;
  std::int64_t n = 0;
  for (const char c : digits) n = n * 10 + (c - '0');
  if (n <= 0) return std::nullopt;
  switch (text.back()) {
    case 's':
      return std::chrono::milliseconds(n * 1'000);
    case 'm':
      return std::chrono::milliseconds(n * 60'000);
    case 'h':
      return std::chrono::milliseconds(n * 3'600'000);
    case 'd':
      return std::chrono::milliseconds(n * 86'400'000);
    default:
      return std::nullopt;
  }
}

// "9-18": local hours [start, end) with 0 <= start < end <= 24.
bool parse_hours(const std::string& text, int& start, int& end) {
  const auto dash = text.find('-');
  if (dash == std::string::npos) return false;
  const std::string a = text.substr(0, dash);
  const std::string b = text.substr(dash + 1);
  if (!all_ascii_digits(a) || !all_ascii_digits(b) || a.size() > 2 || b.size() > 2) return false;
  start = std::stoi(a);
  end = std::stoi(b);
  return start >= 0 && start <= 23 && end >= 1 && end <= 24 && start < end;
}

// The categories a case can have: literal open_case / exit_case categories, and for
// "$name|default" the default plus every value the menus (or lists) saving `name` can give.
std::set<std::string> case_categories(const flows::FlowSet& set) {
  std::set<std::string> out{std::string(kMissedCheckin)};
  auto values_saved_as = [&](const std::string& var) {
    for (const auto& [fid, flow] : set.flows)
      for (const auto& [nid, node] : flow.nodes) {
        if (node.save != var) continue;
        if (node.kind == "menu") {
          for (std::size_t i = 0; i < node.options.size(); ++i)
            out.insert(node.options[i].value.empty() ? std::to_string(i + 1)
                                                     : node.options[i].value);
        } else if (node.kind == "list") {
          if (const auto it = set.lists.find(node.list); it != set.lists.end())
            for (const auto& item : it->second) out.insert(item.key);
        }
      }
  };
  auto take = [&](const flows::EffectSpec& e) {
    if (e.kind != flows::EffectKind::open_case || e.category.empty()) return;
    if (e.category[0] != '$') {
      out.insert(e.category);
      return;
    }
    const auto bar = e.category.find('|');
    if (bar != std::string::npos) out.insert(e.category.substr(bar + 1));
    values_saved_as(e.category.substr(1, bar == std::string::npos ? std::string::npos : bar - 1));
  };
  for (const auto& [fid, flow] : set.flows) {
    if (flow.exit_case) take(*flow.exit_case);
    for (const auto& [nid, node] : flow.nodes) {
      if (node.exit_case) take(*node.exit_case);
      for (const auto& e : node.effects) take(e);
      for (const auto& o : node.options)
        for (const auto& e : o.effects) take(e);
    }
  }
  return out;
}

// The roster is read through the one TOML reader (flows/toml_reader.hpp).
using Loader = flows::TomlReader;

// Every "{name}" in the template: only {ref} and {severity} may appear, and {ref} must.
void check_alert_template(Loader& l, const toml::node& n, const std::string& text) {
  bool has_ref = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '}') {
      l.error(n, "alert_template: '}' without a matching '{'");
      return;
    }
    if (text[i] != '{') continue;
    const auto close = text.find('}', i);
    if (close == std::string::npos) {
      l.error(n, "alert_template: '{' without a matching '}'");
      return;
    }
    const std::string name = text.substr(i + 1, close - i - 1);
    if (name == "ref") {
      has_ref = true;
    } else if (name != "severity") {
      l.error(n, "alert_template: placeholder {" + name +
                     "} is not allowed; an alert carries only {ref} and {severity}, never the "
                     "case's category or story (SAFETY C3)");
    }
    i = close;
  }
  if (!has_ref)
    l.error(n, "alert_template must contain {ref} so that she can acknowledge the case");
}

struct Seen {
  std::map<std::string, std::string> names;   // member name -> team
  std::map<std::string, std::string> phones;  // normalised phone -> member name
  std::set<std::string> teams;
};

Member read_member(Loader& l, const toml::node& node, const std::string& team, Seen& seen) {
  Member m;
  m.pos = l.pos(node);
  const toml::table* t = node.as_table();
  const std::string where = "team '" + team + "'";
  if (!t) {
    l.error(node, where + ": each member must be a table { name, phone, role, can_export }");
    return m;
  }
  l.known(*t, {"name", "phone", "role", "can_export"}, where + " member");
  m.name = l.str(*t, "name", where + " member").value_or("");
  if (m.name.empty()) {
    l.error(node, where + ": a member has no name");
  }
  const std::string who = "member '" + m.name + "'";
  if (!m.name.empty()) {
    const auto [it, fresh] = seen.names.emplace(m.name, team);
    if (!fresh)
      l.error(node, who + ": the name is already used in team '" + it->second +
                        "' (names must be unique across the roster)");
  }
  // Never put the number itself into a diagnostic: logs and terminals are not for numbers.
  const auto raw = l.str(*t, "phone", who);
  if (!raw) {
    if (!t->get("phone")) l.error(node, who + ": missing 'phone'");
  } else {
    const std::string phone = common::normalise_msisdn(*raw);
    const std::size_t digits = phone.empty() ? 0 : phone.size() - 1;
    const toml::node& pn = *t->get("phone");
    if (phone.empty() || phone[0] != '+' || digits < 8 || digits > 15) {
      l.error(pn, who + ": phone is not a valid number (E.164: '+' and 8 to 15 digits)");
    } else {
      m.phone = phone;
      const auto [it, fresh] = seen.phones.emplace(phone, m.name);
      if (!fresh) l.error(pn, who + ": phone is the same number as member '" + it->second + "'");
    }
  }
  if (const auto role = l.str(*t, "role", who)) {
    m.role = *role;
    if (m.role != "caseworker" && m.role != "supervisor")
      l.error(*t->get("role"), who + ": role must be \"caseworker\" or \"supervisor\"");
  } else if (!t->get("role")) {
    l.error(node, who + ": missing 'role' (\"caseworker\" or \"supervisor\")");
  }
  m.can_export = l.boolean(*t, "can_export", who).value_or(false);
  return m;
}

Team read_team(Loader& l, const toml::table& t, Seen& seen) {
  Team team;
  team.pos = l.pos(t);
  l.known(t, {"name", "on_duty", "supervisor", "members"}, "[[teams]]");
  team.name = l.str(t, "name", "[[teams]]").value_or("");
  if (team.name.empty())
    l.error(t, "[[teams]]: a team needs a 'name'");
  else if (!seen.teams.insert(team.name).second)
    l.error(t, "team '" + team.name + "' is defined twice");
  const std::string where = "team '" + team.name + "'";

  if (const toml::node* od = t.get("on_duty")) {
    const toml::table* duty = od->as_table();
    if (!duty) {
      l.error(*od, where + ": on_duty must be a table { days = [...], hours = \"9-18\" }");
    } else {
      l.known(*duty, {"days", "hours"}, where + " on_duty");
      if (const toml::node* dn = duty->get("days")) {
        const toml::array* arr = dn->as_array();
        std::vector<int> days;
        bool ok = arr != nullptr && !arr->empty();
        if (arr)
          for (const auto& d : *arr) {
            const auto s = d.value<std::string>();
            const auto it = s ? std::find(kDays.begin(), kDays.end(), *s) : kDays.end();
            if (it == kDays.end()) {
              ok = false;
              continue;
            }
            const int day = static_cast<int>(it - kDays.begin()) + 1;
            if (std::find(days.begin(), days.end(), day) != days.end()) ok = false;
            days.push_back(day);
          }
        if (!ok)
          l.error(*dn, where +
                           ": on_duty days must be a non-empty list of distinct days from "
                           "\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"");
        else
          team.on_duty_weekdays = std::move(days);
      }
      if (const toml::node* hn = duty->get("hours")) {
        const auto s = hn->value<std::string>();
        int start = 0;
        int end = 24;
        if (!s || !parse_hours(*s, start, end)) {
          l.error(*hn, where +
                           ": on_duty hours must be \"START-END\" in local hours with "
                           "0 <= START < END <= 24, e.g. \"9-18\" (a night shift needs its own "
                           "team)");
        } else {
          team.on_duty_start_hour = start;
          team.on_duty_end_hour = end;
        }
      }
    }
  }

  if (const toml::node* mn = t.get("members")) {
    if (const toml::array* arr = mn->as_array()) {
      for (const auto& m : *arr) team.members.push_back(read_member(l, m, team.name, seen));
    } else {
      l.error(*mn, where + ": members must be an array of { name, phone, role }");
    }
  }
  if (team.members.empty()) l.error(t, where + " has no members");

  const auto sup = l.str(t, "supervisor", where);
  if (!sup) {
    if (!t.get("supervisor")) l.error(t, where + " has no supervisor");
  } else {
    team.supervisor = *sup;
    const auto it = std::find_if(team.members.begin(), team.members.end(),
                                 [&](const Member& m) { return m.name == *sup; });
    if (it == team.members.end() || it->role != "supervisor")
      l.error(*t.get("supervisor"), where + ": supervisor '" + *sup +
                                        "' must be one of its members, with role \"supervisor\"");
  }
  return team;
}

void read_route(Loader& l, const toml::table& t, Roster& roster,
                const std::set<std::string>& districts, const std::set<std::string>& categories) {
  Route r;
  r.pos = l.pos(t);
  l.known(t, {"district", "category", "severity", "team"}, "[[routes]]");
  auto field = [&](std::string_view key, std::string& out, const auto& valid,
                   const std::string& what) {
    const auto v = l.str(t, key, "[[routes]]");
    if (!v) return;
    out = *v;
    if (out != "*" && !valid(out)) l.error(*t.get(key), "[[routes]]: " + what + " '" + out + "'");
  };
  field(
      "district", r.district, [&](const std::string& s) { return districts.count(s) > 0; },
      "unknown district (not a key of the districts list, nor \"*\")");
  field(
      "category", r.category, [&](const std::string& s) { return categories.count(s) > 0; },
      "unknown category (no flow opens it, nor is it \"missed_checkin\" or \"*\")");
  field(
      "severity", r.severity, [](const std::string& s) { return is_severity(s); },
      "unknown severity (use low, normal, high, critical or \"*\")");
  if (const auto team = l.str(t, "team", "[[routes]]")) {
    r.team = *team;
    const bool known = std::any_of(roster.teams.begin(), roster.teams.end(),
                                   [&](const Team& x) { return x.name == r.team; });
    if (!known) l.error(*t.get("team"), "[[routes]]: unknown team '" + r.team + "'");
  } else if (!t.get("team")) {
    l.error(t, "[[routes]]: missing 'team'");
  }
  roster.routes.push_back(std::move(r));
}

bool catches_all(const Route& r) {
  return r.district == "*" && r.category == "*" && r.severity == "*";
}

void read_webhook(Loader& l, const toml::table& t, const fs::path& base,
                  adapters::webhook::WebhookSink& w) {
  const std::string where = "[webhook]";
  l.known(t, {"enabled", "url", "secret_env", "secret_file", "name"}, where);
  w.enabled = l.boolean(t, "enabled", where).value_or(false);
  w.url = l.str(t, "url", where).value_or("");
  if (const auto name = l.str(t, "name", where)) w.name = *name;
  const std::string env = l.str(t, "secret_env", where).value_or("");
  const std::string file = l.str(t, "secret_file", where).value_or("");
  if (!w.enabled) return;
  if (w.url.empty())
    l.error(t, where + ": enabled without a 'url'");
  else if (const std::string problem = adapters::webhook::webhook_url_problem(w.url);
           !problem.empty())
    l.error(*t.get("url"), where + ": 'url': " + problem);
  fs::path p(file);
  if (!file.empty() && p.is_relative()) p = (base / p).lexically_normal();
  w.secret = read_secret(env, file.empty() ? std::string() : p.string());
  if (w.secret.empty())
    l.error(t, where +
                   ": enabled without a secret (set the environment variable named by "
                   "'secret_env', or put the secret on the first line of 'secret_file')");
}

// A referral partner: always enabled; its name is a code (it names the outbox kind and the
// audit rows), its label what caseworkers read, its purpose the consent it needs.
void read_partner(Loader& l, const toml::table& t, const fs::path& base,
                  adapters::webhook::WebhookSink& p) {
  const std::string where = "[[partners]]";
  l.known(t, {"name", "enabled", "label", "purpose", "url", "secret_env", "secret_file"}, where);
  p.enabled = l.boolean(t, "enabled", where).value_or(true);
  p.requires_consent = true;
  p.name = l.str(t, "name", where).value_or("");
  const bool code = !p.name.empty() && p.name.size() <= 40 &&
                    std::all_of(p.name.begin(), p.name.end(), [](char c) {
                      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
                    });
  if (!code)
    l.error(t.get("name") ? static_cast<const toml::node&>(*t.get("name"))
                          : static_cast<const toml::node&>(t),
            where + ": 'name' must be a code of a-z, 0-9 and _ (at most 40), e.g. police_bhakkar");
  p.label = l.str(t, "label", where).value_or(p.name);
  p.consent_purpose = l.str(t, "purpose", where).value_or("");
  if (p.consent_purpose != "referral_police" && p.consent_purpose != "referral_ngo")
    l.error(t.get("purpose") ? static_cast<const toml::node&>(*t.get("purpose"))
                             : static_cast<const toml::node&>(t),
            where + ": 'purpose' must be \"referral_police\" or \"referral_ngo\" (the consent " +
                "she gives for this kind of partner)");
  p.url = l.str(t, "url", where).value_or("");
  if (p.url.empty())
    l.error(t, where + ": missing 'url'");
  else if (const std::string problem = adapters::webhook::webhook_url_problem(p.url);
           !problem.empty())
    l.error(*t.get("url"), where + ": 'url': " + problem);
  const std::string env = l.str(t, "secret_env", where).value_or("");
  const std::string file = l.str(t, "secret_file", where).value_or("");
  fs::path f(file);
  if (!file.empty() && f.is_relative()) f = (base / f).lexically_normal();
  p.secret = read_secret(env, file.empty() ? std::string() : f.string());
  if (p.secret.empty() && p.enabled)
    l.error(t, where + " " + p.name +
                   ": no secret (set the environment variable named by 'secret_env', or put the "
                   "secret on the first line of 'secret_file'; rabta init creates the file)");
}

}  // namespace

Roster load_roster(const std::string& path, const flows::FlowSet& flows,
                   std::vector<flows::Diagnostic>& errors) {
  Roster roster;
  const auto doc = parse_toml_file(path, errors);
  if (!doc) return roster;
  Loader l(path, errors);
  l.known(*doc,
          {"alert_channel", "alert_template", "outcomes", "outcomes_needing_approval", "sla",
           "webhook", "partners", "responder_ussd_code", "teams", "routes", "fallback_team"},
          "responders.toml");

  if (const auto ch = l.str(*doc, "alert_channel", "responders.toml")) {
    roster.alert_channel = *ch;
    roster.alert_channel_line = doc->get("alert_channel")->source().begin.line;
    if (ch->empty()) l.error(*doc->get("alert_channel"), "alert_channel must name a [channels.X]");
  }
  if (const auto code = l.str(*doc, "responder_ussd_code", "responders.toml")) {
    roster.responder_ussd_code = *code;
    const bool ok = code->size() >= 3 && code->size() <= 32 && code->front() == '*' &&
                    code->back() == '#' && std::all_of(code->begin(), code->end(), [](char c) {
                      return (c >= '0' && c <= '9') || c == '*' || c == '#';
                    });
    if (!ok)
      l.error(*doc->get("responder_ussd_code"),
              "responder_ussd_code must be a USSD code like \"*786*5#\" (digits, * and #)");
  }
  if (const auto tpl = l.str(*doc, "alert_template", "responders.toml")) {
    roster.alert_template = *tpl;
    check_alert_template(l, *doc->get("alert_template"), *tpl);
  }
  if (const toml::node* on = doc->get("outcomes")) {
    const toml::array* arr = on->as_array();
    std::vector<std::string> outcomes;
    bool ok = arr != nullptr && !arr->empty();
    if (arr)
      for (const auto& o : *arr) {
        const auto s = o.value<std::string>();
        const bool word = s && !s->empty() && std::all_of(s->begin(), s->end(), [](char c) {
                            return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
                          });
        if (!word || std::find(outcomes.begin(), outcomes.end(), *s) != outcomes.end())
          ok = false;
        else
          outcomes.push_back(*s);
      }
    if (!ok)
      l.error(*on,
              "outcomes must be a non-empty list of distinct words of a-z, 0-9 and _ "
              "(a responder types them: \"close REF resolved\")");
    else
      roster.outcomes = std::move(outcomes);
  }
  if (const toml::node* on = doc->get("outcomes_needing_approval")) {
    const toml::array* arr = on->as_array();
    if (!arr) l.error(*on, "outcomes_needing_approval must be a list of outcomes");
    if (arr)
      for (const auto& o : *arr) {
        const auto s = o.value<std::string>();
        if (!s ||
            std::find(roster.outcomes.begin(), roster.outcomes.end(), *s) == roster.outcomes.end())
          l.error(o, "outcomes_needing_approval: every entry must be one of outcomes");
        else if (std::find(roster.outcomes_needing_approval.begin(),
                           roster.outcomes_needing_approval.end(),
                           *s) == roster.outcomes_needing_approval.end())
          roster.outcomes_needing_approval.push_back(*s);
      }
  }

  if (const toml::table* sla = l.table(*doc, "sla", "responders.toml")) {
    for (const auto& [k, v] : *sla)
      if (!is_severity(std::string(k.str())))
        l.error(v, "[sla]: unknown key '" + std::string(k.str()) +
                       "' (use low, normal, high, critical)");
    for (const auto sev : kSeverities) {
      const toml::node* n = sla->get(sev);
      if (!n) {
        l.error(*sla, "[sla]: missing '" + std::string(sev) + "'");
        continue;
      }
      const auto s = n->value<std::string>();
      const auto d = s ? parse_duration(*s) : std::nullopt;
      if (!d)
        l.error(*n, "[sla] " + std::string(sev) +
                        ": not a duration like \"30s\", \"15m\", \"24h\" or \"2d\" (above zero)");
      else
        roster.ack_sla[std::string(sev)] = *d;
    }
  } else if (!doc->get("sla")) {
    l.error(0u, "missing [sla]: a time to acknowledge for low, normal, high and critical");
  }

  if (const toml::table* wh = l.table(*doc, "webhook", "responders.toml"))
    read_webhook(l, *wh, fs::absolute(path).parent_path(), roster.webhook);
  if (const toml::node* pn = doc->get("partners")) {
    const toml::array* arr = pn->as_array();
    if (!arr) l.error(*pn, "partners must be written as [[partners]] tables");
    if (arr)
      for (const auto& node : *arr) {
        const toml::table* t = node.as_table();
        if (!t) {
          l.error(node, "[[partners]]: each entry must be a table");
          continue;
        }
        adapters::webhook::WebhookSink p;
        read_partner(l, *t, fs::absolute(path).parent_path(), p);
        const bool taken =
            p.name == roster.webhook.name ||
            std::any_of(roster.partners.begin(), roster.partners.end(),
                        [&](const adapters::webhook::WebhookSink& o) { return o.name == p.name; });
        if (taken && !p.name.empty())
          l.error(*t, "[[partners]]: the name '" + p.name + "' is used twice");
        // A partner switched off is checked like the others, but no case can be referred to it.
        if (p.enabled) roster.partners.push_back(std::move(p));
      }
  }

  Seen seen;
  for (const toml::table* t : l.tables(*doc, "teams", "responders.toml"))
    roster.teams.push_back(read_team(l, *t, seen));
  if (roster.teams.empty()) l.error(0u, "no [[teams]]: at least one team is needed");

  if (const auto fb = l.str(*doc, "fallback_team", "responders.toml")) {
    const toml::node& n = *doc->get("fallback_team");
    const auto t = std::find_if(roster.teams.begin(), roster.teams.end(),
                                [&](const Team& x) { return x.name == *fb; });
    if (t == roster.teams.end()) {
      l.error(n, "fallback_team '" + *fb + "' is not a team in [[teams]]");
    } else if (t->on_duty_weekdays.size() != 7 || t->on_duty_start_hour != 0 ||
               t->on_duty_end_hour != 24) {
      l.error(n, "fallback_team '" + *fb +
                     "' must be on duty every day, all day (on_duty days mon..sun, hours "
                     "\"0-24\"): it is who is alerted when another team is not");
    } else {
      roster.fallback_team = *fb;
    }
  }

  std::set<std::string> districts;
  if (const auto it = flows.lists.find("districts"); it != flows.lists.end())
    for (const auto& item : it->second) districts.insert(item.key);
  const std::set<std::string> categories = case_categories(flows);
  for (const toml::table* t : l.tables(*doc, "routes", "responders.toml"))
    read_route(l, *t, roster, districts, categories);
  if (roster.routes.empty()) {
    l.error(0u,
            "no [[routes]]: the last route must catch everything (no district, category or "
            "severity, or all \"*\")");
  } else {
    for (std::size_t i = 0; i + 1 < roster.routes.size(); ++i)
      if (catches_all(roster.routes[i])) {
        l.error(roster.routes[i + 1].pos,
                "[[routes]]: this route is never used: an earlier route catches everything");
        break;
      }
    if (!catches_all(roster.routes.back()))
      l.error(roster.routes.back().pos,
              "[[routes]]: the last route must catch everything (district, category and "
              "severity all \"*\" or left out), so that no case goes unrouted");
  }
  return roster;
}

}  // namespace rabta::gateway
