#include "gateway/responders/caseworker_api.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iomanip>
#include <istream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <string_view>
#include <utility>
#include <variant>

#include "adapters/common/form.hpp"
#include "console_files.hpp"
#include "gateway/responders/case_events.hpp"
#include "gateway/responders/reports.hpp"
#include "gateway/settings/config.hpp"

namespace rabta::gateway {

namespace {

using nlohmann::json;

constexpr const char* kJsonType = "application/json; charset=utf-8";
constexpr int kMaxListLimit = 200;
constexpr int kExportPage = 500;
constexpr std::size_t kMaxTokenBytes = 256;
constexpr std::size_t kMaxReferenceBytes = 16;

HttpResponse json_response(int status, const json& body) {
  HttpResponse r;
  r.status = status;
  r.content_type = kJsonType;
  // Stored text is valid UTF-8 (checked on the way in); replace rather than throw regardless.
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  r.body += "\n";
  r.no_store();
  return r;
}

HttpResponse error_response(int status, std::string_view error, std::string_view reason = {}) {
  json body = {{"error", error}};
  if (!reason.empty()) body["reason"] = reason;
  return json_response(status, body);
}

HttpResponse unauthorized() {
  HttpResponse r = error_response(401, "unauthorized");
  r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"rabta\"");
  return r;
}

enum class Endpoint {
  me,
  language,
  list,
  detail,
  timeline,
  ack,
  claim,
  assign,
  note,
  close,
  approve,
  decline,
  reopen,
  refer,
  report,
  report_csv,
  export_all,
  unknown
};

struct ApiRoute {
  Endpoint endpoint = Endpoint::unknown;
  std::string reference;
  std::string method;  // the method the endpoint takes
  const char* path_template = "/api/v1/?";
  const char* action = "api.unknown";  // the audit action
};

std::vector<std::string_view> split_path(std::string_view rest) {
  std::vector<std::string_view> parts;
  while (true) {
    const auto slash = rest.find('/');
    parts.push_back(rest.substr(0, slash));
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return parts;
}

// A case reference as typed: letters and digits, upper-cased; "" when it cannot be one.
std::string reference_of(std::string_view s) {
  if (s.empty() || s.size() > kMaxReferenceBytes) return {};
  std::string out;
  for (const char ch : s) {
    if (ch >= 'a' && ch <= 'z')
      out.push_back(static_cast<char>(ch - 'a' + 'A'));
    else if ((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
      out.push_back(ch);
    else
      return {};
  }
  return out;
}

ApiRoute parse_route(std::string_view path) {
  ApiRoute r;
  const std::string_view prefix = CaseworkerApi::prefix;
  if (path.rfind(prefix, 0) != 0) return r;
  const std::vector<std::string_view> p = split_path(path.substr(prefix.size()));
  auto set = [&r](Endpoint e, const char* method, const char* tmpl, const char* action) {
    r.endpoint = e;
    r.method = method;
    r.path_template = tmpl;
    r.action = action;
  };
  if (p.size() == 1 && p[0] == "me") {
    set(Endpoint::me, "GET", "/api/v1/me", "responder.me");
  } else if (p.size() == 2 && p[0] == "me" && p[1] == "language") {
    set(Endpoint::language, "POST", "/api/v1/me/language", "responder.language");
  } else if (p.size() == 1 && p[0] == "cases") {
    set(Endpoint::list, "GET", "/api/v1/cases", "case.list");
  } else if (p.size() == 1 && p[0] == "reports") {
    set(Endpoint::report, "GET", "/api/v1/reports", "report.read");
  } else if (p.size() == 1 && p[0] == "reports.csv") {
    set(Endpoint::report_csv, "GET", "/api/v1/reports.csv", "report.read");
  } else if (p.size() == 1 && p[0] == "export") {
    set(Endpoint::export_all, "GET", "/api/v1/export", "case.export");
  } else if ((p.size() == 2 || p.size() == 3) && p[0] == "cases") {
    r.reference = reference_of(p[1]);
    if (r.reference.empty()) return r;
    if (p.size() == 2)
      set(Endpoint::detail, "GET", "/api/v1/cases/{ref}", "case.read");
    else if (p[2] == "timeline")
      set(Endpoint::timeline, "GET", "/api/v1/cases/{ref}/timeline", "case.timeline");
    else if (p[2] == "assign")
      set(Endpoint::assign, "POST", "/api/v1/cases/{ref}/assign", "case.assign");
    else if (p[2] == "approve")
      set(Endpoint::approve, "POST", "/api/v1/cases/{ref}/approve", "case.approve");
    else if (p[2] == "decline")
      set(Endpoint::decline, "POST", "/api/v1/cases/{ref}/decline", "case.decline");
    else if (p[2] == "reopen")
      set(Endpoint::reopen, "POST", "/api/v1/cases/{ref}/reopen", "case.reopen");
    else if (p[2] == "refer")
      set(Endpoint::refer, "POST", "/api/v1/cases/{ref}/refer", "case.refer");
    else if (p[2] == "ack")
      set(Endpoint::ack, "POST", "/api/v1/cases/{ref}/ack", "case.ack");
    else if (p[2] == "claim")
      set(Endpoint::claim, "POST", "/api/v1/cases/{ref}/claim", "case.claim");
    else if (p[2] == "notes")
      set(Endpoint::note, "POST", "/api/v1/cases/{ref}/notes", "case.note");
    else if (p[2] == "close")
      set(Endpoint::close, "POST", "/api/v1/cases/{ref}/close", "case.close");
    else
      r.reference.clear();
  }
  return r;
}

// "Bearer <token>" (scheme case-insensitive), or "" when absent or malformed.
std::string bearer_token(std::string_view header) {
  constexpr std::string_view scheme = "bearer ";
  if (header.size() <= scheme.size()) return {};
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    char ch = header[i];
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    if (ch != scheme[i]) return {};
  }
  std::string_view token = header.substr(scheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty() || token.size() > kMaxTokenBytes) return {};
  for (const char ch : token)
    if (ch <= ' ' || ch > '~') return {};
  return std::string(token);
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

bool one_of(std::string_view v, std::initializer_list<std::string_view> allowed) {
  return std::find(allowed.begin(), allowed.end(), v) != allowed.end();
}

bool is_word(std::string_view s, std::size_t max) {
  return !s.empty() && s.size() <= max && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

// A parameter's name as it may be echoed in a refusal: printable ASCII, at most 32 bytes.
std::string shown(std::string_view name) {
  std::string out;
  for (const char c : name.substr(0, 32)) out.push_back(c > 0x20 && c < 0x7f ? c : '?');
  return out;
}

// The queue's search from its query string, or the reason it is refused. Every parameter must
// be known: a misspelt filter would otherwise return the whole queue as if it had matched.
std::variant<CaseQuery, std::string> parse_query(std::string_view query) {
  CaseQuery q;
  store::CaseFilter& f = q.filter;
  auto parsed = common::parse_form(query);
  if (std::holds_alternative<common::FormParseError>(parsed)) return std::string("bad query");
  for (const auto& [name, value] : std::get<std::vector<common::FormField>>(parsed)) {
    if (name == "status") {
      if (!one_of(value, {"", "open", "acknowledged", "claimed", "closed"}))
        return std::string("status must be open, acknowledged, claimed or closed");
      f.status = value;
    } else if (name == "severity") {
      if (!one_of(value, {"", "low", "normal", "high", "critical"}))
        return std::string("severity must be low, normal, high or critical");
      f.severity = value;
    } else if (name == "open") {
      if (!one_of(value, {"", "0", "1"})) return std::string("open must be 0 or 1");
      f.open_only = value == "1";
    } else if (name == "overdue") {
      if (!one_of(value, {"", "0", "1"})) return std::string("overdue must be 0 or 1");
      q.overdue = value == "1";
    } else if (name == "view") {
      if (!one_of(value, {"", "mine", "unassigned", "team", "closed"}))
        return std::string("view must be mine, unassigned, team or closed");
      q.view = value;
    } else if (name == "reference") {
      if (value.empty()) continue;
      f.reference = reference_of(value);
      if (f.reference.empty()) return std::string("reference must be letters and digits");
    } else if (name == "category" || name == "district" || name == "team") {
      if (value.empty()) continue;
      if (!is_word(value, 64))
        return name + " must be a code of a-z, 0-9, _ and - (at most 64 characters)";
      (name == "category" ? f.category : name == "district" ? f.district : q.team) = value;
    } else if (name == "assignee") {
      if (value.size() > 200 || !common::is_valid_utf8(value))
        return std::string("assignee must be a responder's name or none");
      q.assignee = value;
    } else if (name == "from" || name == "to") {
      if (value.empty()) continue;
      const auto v = parse_int(value);
      if (!v || *v < 0) return name + " must be a time in milliseconds since 1970-01-01 00:00 UTC";
      (name == "from" ? f.created_from : f.created_to) = *v;
    } else if (name == "after") {
      const auto v = parse_int(value);
      if (!v || *v < 0) return std::string("after must be a case cursor from next_after");
      f.after_id = *v;
    } else if (name == "limit") {
      const auto v = parse_int(value);
      if (!v || *v < 1 || *v > kMaxListLimit)
        return "limit must be 1 to " + std::to_string(kMaxListLimit);
      f.limit = static_cast<int>(*v);
    } else {
      return "unknown filter '" + shown(name) +
             "' (known: view, reference, status, severity, category, district, team, assignee, "
             "from, to, overdue, open, after, limit)";
    }
  }
  return q;
}

// ?weeks=N (1 to 52, default 12); any other parameter is refused.
std::variant<int, std::string> parse_weeks(std::string_view query) {
  int weeks = 12;
  auto parsed = common::parse_form(query);
  if (std::holds_alternative<common::FormParseError>(parsed)) return std::string("bad query");
  for (const auto& [name, value] : std::get<std::vector<common::FormField>>(parsed)) {
    if (name != "weeks") return "unknown parameter '" + shown(name) + "' (known: weeks)";
    const auto v = parse_int(value);
    if (!v || *v < 1 || *v > 52) return std::string("weeks must be 1 to 52");
    weeks = static_cast<int>(*v);
  }
  return weeks;
}

json cell_json(const Cell& c) {
  return c ? json(*c) : json(nullptr);
}

json report_json(const Report& r, int weeks, std::int64_t now) {
  json rows = json::array();
  for (const auto& w : r.weeks) {
    json outcomes = json::object();
    for (const auto& [k, v] : w.outcomes) outcomes[k] = cell_json(v);
    rows.push_back({{"week", w.week},
                    {"team", w.team},
                    {"reported", cell_json(w.reported)},
                    {"acknowledged", cell_json(w.acknowledged)},
                    {"ack_median_ms", cell_json(w.ack_median_ms)},
                    {"ack_p90_ms", cell_json(w.ack_p90_ms)},
                    {"within_sla", w.within_sla ? json(*w.within_sla) : json(nullptr)},
                    {"outcomes", std::move(outcomes)}});
  }
  json ages = json::array();
  for (const auto& a : r.open_by_age)
    ages.push_back({{"team", a.team}, {"age", a.age}, {"open", cell_json(a.open)}});
  return {{"weeks", weeks},
          {"rows", std::move(rows)},
          {"open_by_age", std::move(ages)},
          {"min_cell", r.min_cell},
          {"now", now}};
}

std::string actor_name(const Actor& a) {
  return (by_phone(a) ? a.via + ":" : std::string("responder:")) + std::to_string(a.responder_id);
}

using Names = std::map<std::int64_t, std::string>;

Names responder_names(store::Tx& tx) {
  Names names;
  for (const auto& r : tx.list_responders()) names[r.id] = r.name;
  return names;
}

json name_or_null(const Names& names, std::int64_t id) {
  if (id <= 0) return nullptr;
  const auto it = names.find(id);
  return it == names.end() ? json("(removed)") : json(it->second);
}

json case_summary(const store::CaseRecord& c, std::int64_t now, const Names& names) {
  json j = {{"reference", c.reference},
            {"severity", c.severity},
            {"category", c.category},
            {"status", c.status},
            {"team", c.team},
            {"created_at", c.created_at},
            {"acknowledged_at", c.acknowledged_at},
            {"claimed_by", c.claimed_by},
            {"next_alert_at", c.next_alert_at},
            {"rung", c.rung}};
  // The time left before the ladder climbs; negative when overdue, null when it is stopped.
  if (c.status == store::case_status::open && c.next_alert_at > 0)
    j["sla_remaining_ms"] = c.next_alert_at - now;
  else
    j["sla_remaining_ms"] = nullptr;
  // The acknowledgement deadline runs from her report; past it, how long it is overdue. It does
  // not restart when the ladder climbs.
  j["ack_due_at"] = c.ack_due_at > 0 ? json(c.ack_due_at) : json(nullptr);
  j["overdue_ms"] = c.status == store::case_status::open && c.ack_due_at > 0 && c.ack_due_at < now
                        ? json(now - c.ack_due_at)
                        : json(nullptr);
  j["assignee"] = name_or_null(names, c.claimed_by);
  j["pending_outcome"] = c.pending_outcome.empty() ? json(nullptr) : json(c.pending_outcome);
  j["pending_by"] = name_or_null(names, c.pending_by);
  return j;
}

struct Parsed {
  std::string text;     // notes; the reason of close, decline and reopen
  std::string outcome;  // close
  std::string to;       // assign
  std::string partner;  // refer
  std::string bad;      // why the body is rejected ("" = fine)
};

// The fields each step takes; any other field is refused (a misspelt "reason" must not close a
// case without one).
Parsed parse_body(Endpoint e, const std::string& body) {
  Parsed p;
  std::vector<std::pair<const char*, std::string*>> fields;
  switch (e) {
    case Endpoint::note:
      fields = {{"text", &p.text}};
      break;
    case Endpoint::close:
      fields = {{"outcome", &p.outcome}, {"reason", &p.text}};
      break;
    case Endpoint::assign:
      fields = {{"to", &p.to}};
      break;
    case Endpoint::refer:
      fields = {{"partner", &p.partner}};
      break;
    case Endpoint::language:
      fields = {{"language", &p.text}};
      break;
    case Endpoint::decline:
    case Endpoint::reopen:
      fields = {{"reason", &p.text}};
      break;
    case Endpoint::approve: {
      // No body, or an empty object.
      if (body.find_first_not_of(" \t\r\n") == std::string::npos) return p;
      const json j = json::parse(body, nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j.empty()) p.bad = "approve takes no fields";
      return p;
    }
    default:
      return p;
  }
  const json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    p.bad = "the body must be a JSON object";
    return p;
  }
  for (const auto& [key, value] : j.items()) {
    const bool known =
        std::any_of(fields.begin(), fields.end(), [&](const auto& f) { return key == f.first; });
    if (!known) {
      std::string list;
      for (const auto& f : fields) list += (list.empty() ? "" : ", ") + std::string(f.first);
      p.bad = "unknown field '" + shown(key) + "' (this step takes: " + list + ")";
      return p;
    }
  }
  for (const auto& [name, out] : fields) {
    if (!j.contains(name) || !j[name].is_string()) {
      p.bad = std::string("\"") + name + "\" must be a string";
      return p;
    }
    *out = j[name].get<std::string>();
  }
  return p;
}

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : std::string(sep)) + s;
  return out;
}

}  // namespace

CaseworkerApi::CaseworkerApi(store::Store& store, const CaseService& cases,
                             const common::Clock& clock, flows::Zone zone)
    : store_(store), cases_(cases), clock_(clock), zone_(std::move(zone)) {}

Report CaseworkerApi::build_case_report(store::Tx& tx, const Actor& actor, int weeks,
                                        std::int64_t now) const {
  // From the start of the week `weeks - 1` weeks before this one (local Monday 00:00).
  // Counted in calendar days, then turned into an instant: a day is not always 24 hours.
  const flows::LocalTime today = flows::to_local(now, zone_);
  const std::chrono::sys_days monday =
      std::chrono::sys_days{std::chrono::year_month_day{
          std::chrono::year{today.year}, std::chrono::month{static_cast<unsigned>(today.month)},
          std::chrono::day{static_cast<unsigned>(today.day)}}} -
      std::chrono::days{today.weekday - 1 + 7 * (weeks - 1)};
  const std::chrono::year_month_day start{monday};
  const std::int64_t from = flows::local_to_utc_ms(
      static_cast<int>(start.year()), static_cast<int>(static_cast<unsigned>(start.month())),
      static_cast<int>(static_cast<unsigned>(start.day())), 0, zone_);
  std::vector<store::CaseRecord> cases;
  // Her scope: her team, or every team for a supervisor (in the console; by phone there are no
  // reports).
  const auto scoped = [&](store::CaseFilter f) {
    if (actor.role != "supervisor") f.teams = {actor.team};
    f.limit = 200;
    while (true) {
      const auto page = tx.list_cases(f);
      for (const auto& c : page)
        if (cases_.may_see(actor, c)) cases.push_back(c);
      if (page.empty()) break;
      f.after_id = page.back().id;
    }
  };
  store::CaseFilter reported;
  reported.created_from = from;
  scoped(reported);
  store::CaseFilter still_open;  // older cases still open count for "open by age"
  still_open.open_only = true;
  still_open.created_to = from;
  scoped(still_open);
  ReportOptions o;
  o.zone = zone_;
  o.now = now;
  return build_report(cases, cases_.roster(), o, from);
}

Handler CaseworkerApi::handler() {
  return [this](HttpRequest&& request, Responder respond) {
    handle(std::move(request), std::move(respond));
  };
}

void CaseworkerApi::handle(HttpRequest&& request, Responder respond) {
  ApiRoute route = parse_route(request.path);
  const std::string token = bearer_token(request.header("authorization"));
  if (token.empty()) {
    spdlog::info("api {} {} 401 (no bearer token) peer {}", request.method, route.path_template,
                 request.peer);
    return respond(unauthorized());
  }
  // An address that failed too often is refused before its token is looked at (SECURITY #11).
  std::string limiter_key = sign_in_key(request.peer);
  if (const auto wait = sign_ins_.locked_for(limiter_key, clock_.now_ms())) {
    const std::int64_t seconds = (*wait + 999) / 1000;
    spdlog::info("api {} {} 429 (sign-ins locked for {} s) peer {}", request.method,
                 route.path_template, seconds, request.peer);
    HttpResponse r = error_response(429, "too_many_failed_sign_ins",
                                    "too many failed sign-ins from this address; try again in " +
                                        std::to_string((seconds + 59) / 60) + " minutes");
    r.headers.emplace_back("Retry-After", std::to_string(seconds));
    return respond(std::move(r));
  }
  std::optional<PresentedToken> presented = parse_api_token(token);
  std::variant<CaseQuery, std::string> filter = CaseQuery{};
  if (route.endpoint == Endpoint::list) filter = parse_query(request.query);
  std::variant<int, std::string> weeks = 12;
  if (route.endpoint == Endpoint::report || route.endpoint == Endpoint::report_csv)
    weeks = parse_weeks(request.query);
  Parsed body =
      request.method == route.method ? parse_body(route.endpoint, request.body) : Parsed{};

  struct Result {
    HttpResponse response;
    std::int64_t responder_id = 0;
    std::optional<SignInFailure> failure;
  };
  auto result = std::make_shared<Result>();
  const std::string method = request.method;
  const std::string peer = request.peer;
  store_.submit(
      [this, result, route, method, peer, presented = std::move(presented),
       filter = std::move(filter), weeks = std::move(weeks),
       body = std::move(body)](store::Tx& tx) {
        const std::int64_t now = clock_.now_ms();
        std::optional<store::ResponderRecord> who;
        std::optional<SignInFailure> failure = SignInFailure::unknown;
        if (presented) {
          who = presented->responder_id != 0 ? tx.find_responder(presented->responder_id)
                                             : tx.find_responder_by_token(presented->hash);
          if (!who || who->token_hash.empty())
            failure = SignInFailure::unknown;
          else if (!common::constant_time_equal(who->token_hash, presented->hash))
            failure = SignInFailure::wrong;
          else if (!who->active)
            failure = SignInFailure::inactive;
          else if (who->token_expires_at <= now)
            failure = SignInFailure::expired;
          else
            failure.reset();  // signed in
        }
        if (failure) {
          // Audited until the address is locked; the token itself is never written anywhere.
          const bool named = who && *failure != SignInFailure::unknown;
          tx.append_audit(now, "api", "sign_in_failed", "",
                          std::string("reason=") + to_string(*failure) +
                              (named ? " responder=" + std::to_string(who->id) : "") +
                              " peer=" + peer);
          result->failure = failure;
          // "Expired" only to the one who holds the secret: it tells a stranger nothing.
          result->response =
              *failure == SignInFailure::expired
                  ? error_response(401, "token_expired",
                                   "this token has expired; ask the operator for a new one")
                  : unauthorized();
          if (*failure == SignInFailure::expired)
            result->response.headers.emplace_back(
                "WWW-Authenticate", "Bearer realm=\"rabta\", error=\"invalid_token\"");
          return;
        }
        result->responder_id = who->id;
        const Actor actor{who->id, who->name, who->role, who->team, who->can_export, "api", "", ""};
        // Requests refused before they reach a case still leave their one audit row.
        auto refuse = [&](HttpResponse r) {
          tx.append_audit(now, actor_name(actor), route.action, route.reference,
                          "status=" + std::to_string(r.status));
          result->response = std::move(r);
        };
        if (route.endpoint == Endpoint::unknown)
          return refuse(error_response(404, "not_found", "no such endpoint"));
        if (method != route.method) {
          HttpResponse r = error_response(405, "method_not_allowed", "use " + route.method);
          r.headers.emplace_back("Allow", route.method);
          return refuse(std::move(r));
        }
        if (!body.bad.empty()) return refuse(error_response(400, "bad_request", body.bad));

        auto respond_case = [&](CaseResult r, int ok_status, std::string_view invalid_reason) {
          switch (r) {
            case CaseResult::ok:
            case CaseResult::accepted:
              if (const auto c = tx.find_case(route.reference))
                result->response = json_response(r == CaseResult::accepted ? 202 : ok_status,
                                                 case_summary(*c, now, responder_names(tx)));
              else
                result->response = error_response(404, "not_found");
              return;
            case CaseResult::not_found:
              result->response = error_response(404, "not_found");
              return;
            case CaseResult::forbidden:
              result->response = error_response(403, "forbidden", "this step is for a supervisor");
              return;
            case CaseResult::invalid:
              result->response = error_response(400, "bad_request", invalid_reason);
              return;
            case CaseResult::no_consent:
              result->response = error_response(
                  409, "no_consent",
                  "she has not agreed to this kind of referral for this case: it cannot be sent");
              return;
            case CaseResult::conflict: {
              const auto c = tx.find_case(route.reference);
              std::string why = "the case does not allow this now";
              if (c && c->status == store::case_status::closed)
                why = route.endpoint == Endpoint::reopen ? "the case is not closed"
                                                         : "the case is closed already";
              else if (c && route.endpoint == Endpoint::reopen)
                why = "the case is not closed";
              else if (c && route.endpoint == Endpoint::refer)
                why = "the case was referred to this partner already";
              else if (c && c->pending_outcome.empty())
                why = "no closing waits for approval";
              else if (c)
                why = "a closing waits for a supervisor's approval";
              result->response = error_response(409, "conflict", why);
              return;
            }
          }
        };

        switch (route.endpoint) {
          case Endpoint::me: {
            tx.append_audit(now, actor_name(actor), route.action, "", "ok");
            json approval = json::array();
            for (const auto& o : cases_.outcomes())
              if (cases_.needs_approval(o)) approval.push_back(o);
            // Whom she may hand a case to: her team and the supervisors (a supervisor: anyone).
            json people = json::array();
            for (const auto& r : tx.list_responders())
              if (r.active &&
                  (actor.role == "supervisor" || r.team == actor.team || r.role == "supervisor"))
                people.push_back({{"name", r.name}, {"team", r.team}, {"role", r.role}});
            json partners = json::array();
            for (const auto& p : cases_.partners())
              partners.push_back(
                  {{"name", p.name}, {"label", p.label}, {"purpose", p.consent_purpose}});
            result->response = json_response(
                200, {{"id", actor.responder_id},
                      {"name", actor.name},
                      {"role", actor.role},
                      {"team", actor.team},
                      {"can_export", actor.can_export},
                      {"outcomes", cases_.outcomes()},
                      {"outcomes_needing_approval", approval},
                      {"people", std::move(people)},
                      {"partners", std::move(partners)},
                      {"language", who->language.empty() ? json(nullptr) : json(who->language)},
                      {"now", now}});
            return;
          }
          case Endpoint::list: {
            if (const auto* bad = std::get_if<std::string>(&filter))
              return refuse(error_response(400, "bad_request", *bad));
            const CaseQuery& q = std::get<CaseQuery>(filter);
            const store::CaseFilter& f = q.filter;
            std::vector<store::CaseRecord> cases;
            if (cases_.search(tx, actor, q, cases) == CaseResult::invalid) {
              result->response =
                  error_response(400, "bad_request",
                                 "assignee must be someone of your team, a supervisor, or none");
              return;
            }
            const Names names = responder_names(tx);
            json list = json::array();
            for (const auto& c : cases) list.push_back(case_summary(c, now, names));
            json out = {{"cases", std::move(list)}, {"now", now}};
            if (!cases.empty() && cases.size() >= static_cast<std::size_t>(f.limit))
              out["next_after"] = cases.back().id;
            else
              out["next_after"] = nullptr;
            result->response = json_response(200, out);
            return;
          }
          case Endpoint::detail: {
            CaseDetail d;
            const CaseResult r = cases_.detail(tx, actor, route.reference, d);
            if (r != CaseResult::ok) return respond_case(r, 200, "");
            const Names names = responder_names(tx);
            json j = case_summary(d.record, now, names);
            j["district"] = d.record.district;
            j["acknowledged_by"] = d.record.acknowledged_by;
            j["closed_at"] = d.record.closed_at;
            j["outcome"] = d.record.outcome;
            json answers = json::array();
            for (const auto& [key, value] : d.answers)
              answers.push_back({{"key", key}, {"value", value}});
            j["answers"] = std::move(answers);
            json consents = json::object();
            for (const auto& [purpose, granted] : d.consents) consents[purpose] = granted;
            // Where the case may be referred: a partner whose purpose she agreed to in this case.
            json referral = json::array();
            for (const auto& p : cases_.partners()) {
              const auto it =
                  std::find_if(d.consents.begin(), d.consents.end(),
                               [&](const auto& c) { return c.first == p.consent_purpose; });
              referral.push_back({{"partner", p.name},
                                  {"label", p.label},
                                  {"purpose", p.consent_purpose},
                                  {"consented", it != d.consents.end() && it->second},
                                  {"referred", referred_to(tx, d.record, p)}});
            }
            j["consents"] = std::move(consents);
            j["referrals"] = std::move(referral);
            json notes = json::array();
            for (const auto& n : d.notes)
              notes.push_back({{"id", n.id},
                               {"author", name_or_null(names, n.responder_id)},
                               {"created_at", n.created_at},
                               {"kind", n.kind},
                               {"text", n.text_enc}});
            j["notes"] = std::move(notes);
            if (!d.phone.empty()) j["phone"] = d.phone;
            json earlier = json::array();
            for (const auto& e : d.earlier)
              earlier.push_back({{"reference", e.reference},
                                 {"created_at", e.created_at},
                                 {"status", e.status},
                                 {"outcome", e.outcome.empty() ? json(nullptr) : json(e.outcome)}});
            j["context"] = {
                {"language", d.language.empty() ? json(nullptr) : json(d.language)},
                {"channel", d.channel.empty() ? json(nullptr) : json(d.channel)},
                {"district", d.record.district.empty() ? json(nullptr) : json(d.record.district)},
                {"earlier_cases", std::move(earlier)},
                {"earlier_cases_elsewhere", d.earlier_elsewhere}};
            j["now"] = now;
            result->response = json_response(200, j);
            return;
          }
          case Endpoint::ack:
            return respond_case(cases_.acknowledge(tx, actor, route.reference), 200, "");
          case Endpoint::claim:
            return respond_case(cases_.claim(tx, actor, route.reference), 200,
                                "a closed case cannot be claimed");
          case Endpoint::note:
            return respond_case(cases_.add_note(tx, actor, route.reference, body.text), 201,
                                "text must be 1 to 2000 characters of UTF-8");
          case Endpoint::close:
            return respond_case(cases_.close(tx, actor, route.reference, body.outcome, body.text),
                                200,
                                "outcome must be one of: " + join(cases_.outcomes(), ", ") +
                                    "; reason must be 1 to 2000 characters of UTF-8");
          case Endpoint::approve:
            return respond_case(cases_.approve(tx, actor, route.reference), 200, "");
          case Endpoint::decline:
            return respond_case(cases_.decline(tx, actor, route.reference, body.text), 200,
                                "reason must be 1 to 2000 characters of UTF-8");
          case Endpoint::reopen:
            return respond_case(cases_.reopen(tx, actor, route.reference, body.text), 200,
                                "reason must be 1 to 2000 characters of UTF-8");
          case Endpoint::assign:
            return respond_case(cases_.assign(tx, actor, route.reference, body.to), 200,
                                "to must be an active member of the case's team, or a supervisor");
          case Endpoint::refer:
            return respond_case(cases_.refer(tx, actor, route.reference, body.partner), 200,
                                "partner must be the name of a configured partner");
          case Endpoint::timeline: {
            std::vector<TimelineEvent> events;
            const CaseResult r = cases_.timeline(tx, actor, route.reference, events);
            if (r != CaseResult::ok) return respond_case(r, 200, "");
            json list = json::array();
            for (const auto& e : events) {
              json j = {{"at", e.at},
                        {"event", e.event},
                        {"by", e.by.empty() ? json(nullptr) : json(e.by)},
                        {"via", e.via.empty() ? json(nullptr) : json(e.via)},
                        {"detail", e.detail.empty() ? json(nullptr) : json(e.detail)},
                        {"delivery", e.delivery.empty() ? json(nullptr) : json(e.delivery)},
                        {"text", e.text ? json(*e.text) : json(nullptr)}};
              list.push_back(std::move(j));
            }
            result->response = json_response(
                200, {{"reference", route.reference}, {"events", std::move(list)}, {"now", now}});
            return;
          }
          case Endpoint::language: {
            if (body.text != "en" && body.text != "ur")
              return refuse(error_response(400, "bad_request", "language must be en or ur"));
            tx.set_responder_language(actor.responder_id, body.text, now);
            tx.append_audit(now, actor_name(actor), route.action, "", "language=" + body.text);
            result->response = json_response(200, {{"language", body.text}});
            return;
          }
          case Endpoint::report:
          case Endpoint::report_csv: {
            if (const auto* bad = std::get_if<std::string>(&weeks))
              return refuse(error_response(400, "bad_request", *bad));
            const int n = std::get<int>(weeks);
            const Report report = build_case_report(tx, actor, n, now);
            tx.append_audit(now, actor_name(actor), route.action, "",
                            "weeks=" + std::to_string(n) +
                                (route.endpoint == Endpoint::report_csv ? ",csv" : ""));
            if (route.endpoint == Endpoint::report_csv) {
              HttpResponse r;
              r.status = 200;
              r.content_type = "text/csv; charset=utf-8";
              r.body = report_csv(report);
              r.headers.emplace_back("Content-Disposition",
                                     "attachment; filename=\"rabta-report.csv\"");
              r.no_store();
              result->response = std::move(r);
              return;
            }
            result->response = json_response(200, report_json(report, n, now));
            return;
          }
          case Endpoint::export_all: {
            if (!actor.can_export) return refuse(error_response(403, "forbidden"));
            store::CaseFilter f;
            if (actor.role != "supervisor") f.teams = {actor.team};
            f.limit = kExportPage;
            json rows = json::array();
            while (true) {
              const std::vector<store::CaseRecord> page = tx.list_cases(f);
              for (const auto& c : page) {
                if (!cases_.may_see(actor, c)) continue;
                json row = {{"reference", c.reference}, {"severity", c.severity},
                            {"category", c.category},   {"status", c.status},
                            {"team", c.team},           {"created_at", c.created_at},
                            {"closed_at", c.closed_at}, {"outcome", c.outcome}};
                // Where she lives leaves the queue only with her referral consent given for
                // this case (SAFETY D3, W2).
                const bool referral = consent_for_case(tx, c.id, "referral_ngo").value_or(false) ||
                                      consent_for_case(tx, c.id, "referral_police").value_or(false);
                row["district"] =
                    referral && !c.district.empty() ? json(c.district) : json(nullptr);
                rows.push_back(std::move(row));
              }
              if (page.empty()) break;  // (a short page need not be the last: the store clamps)
              f.after_id = page.back().id;
            }
            tx.append_audit(now, actor_name(actor), route.action, "",
                            "rows=" + std::to_string(rows.size()));
            result->response = json_response(200, {{"cases", std::move(rows)}, {"now", now}});
            return;
          }
          case Endpoint::unknown:
            return;
        }
      },
      [this, result, route, method, peer, limiter_key = std::move(limiter_key),
       respond = std::move(respond)](const store::JobResult& r) {
        if (!r.ok) {
          spdlog::error("api {} {} 503 responder:{}: {}", method, route.path_template,
                        result->responder_id, r.error);
          return respond(error_response(503, "unavailable", "the database is busy, try again"));
        }
        const int status = result->response.status;
        if (result->failure) {
          spdlog::info("api {} {} 401 ({} token) peer {}", method, route.path_template,
                       to_string(*result->failure), peer);
          if (sign_ins_.record_failure(limiter_key, clock_.now_ms()))
            spdlog::warn("api: {} failed sign-ins from {}: locked for {} minutes",
                         SignInLimiter::kMaxFailures, limiter_key, SignInLimiter::kLockMs / 60000);
        } else
          spdlog::info("api {} {}{}{} {} responder:{}", method, route.path_template,
                       route.reference.empty() ? "" : " ref=", route.reference, status,
                       result->responder_id);
        respond(std::move(result->response));
      });
}

}  // namespace rabta::gateway
