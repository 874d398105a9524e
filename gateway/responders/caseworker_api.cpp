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

enum class Endpoint { me, list, detail, ack, claim, note, close, export_all, unknown };

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
  } else if (p.size() == 1 && p[0] == "cases") {
    set(Endpoint::list, "GET", "/api/v1/cases", "case.list");
  } else if (p.size() == 1 && p[0] == "export") {
    set(Endpoint::export_all, "GET", "/api/v1/export", "case.export");
  } else if ((p.size() == 2 || p.size() == 3) && p[0] == "cases") {
    r.reference = reference_of(p[1]);
    if (r.reference.empty()) return r;
    if (p.size() == 2)
      set(Endpoint::detail, "GET", "/api/v1/cases/{ref}", "case.read");
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

// The queue's filter from ?status=&severity=&open=&after=&limit=, or the reason it is bad.
std::variant<store::CaseFilter, std::string> parse_filter(std::string_view query) {
  store::CaseFilter f;
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
    } else if (name == "after") {
      const auto v = parse_int(value);
      if (!v || *v < 0) return std::string("after must be a case cursor from next_after");
      f.after_id = *v;
    } else if (name == "limit") {
      const auto v = parse_int(value);
      if (!v || *v < 1 || *v > kMaxListLimit)
        return "limit must be 1 to " + std::to_string(kMaxListLimit);
      f.limit = static_cast<int>(*v);
    }
  }
  return f;
}

std::string actor_name(const Actor& a) {
  return (a.via == "sms" ? "sms:" : "responder:") + std::to_string(a.responder_id);
}

json case_summary(const store::CaseRecord& c, std::int64_t now) {
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
  return j;
}

struct Parsed {
  std::string text;     // notes
  std::string outcome;  // close
  std::string bad;      // why the body is rejected ("" = fine)
};

Parsed parse_body(Endpoint e, const std::string& body) {
  Parsed p;
  if (e != Endpoint::note && e != Endpoint::close) return p;
  const json j = json::parse(body, nullptr, false);
  const char* field = e == Endpoint::note ? "text" : "outcome";
  if (j.is_discarded() || !j.is_object()) {
    p.bad = "the body must be a JSON object";
  } else if (!j.contains(field) || !j[field].is_string()) {
    p.bad = std::string("\"") + field + "\" must be a string";
  } else if (e == Endpoint::note) {
    p.text = j[field].get<std::string>();
  } else {
    p.outcome = j[field].get<std::string>();
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
                             const common::Clock& clock)
    : store_(store), cases_(cases), clock_(clock) {}

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
  std::variant<store::CaseFilter, std::string> filter = store::CaseFilter{};
  if (route.endpoint == Endpoint::list) filter = parse_filter(request.query);
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
       filter = std::move(filter), body = std::move(body)](store::Tx& tx) {
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
              if (const auto c = tx.find_case(route.reference))
                result->response = json_response(ok_status, case_summary(*c, now));
              else
                result->response = error_response(404, "not_found");
              return;
            case CaseResult::not_found:
              result->response = error_response(404, "not_found");
              return;
            case CaseResult::forbidden:
              result->response = error_response(403, "forbidden");
              return;
            case CaseResult::invalid:
              result->response = error_response(400, "bad_request", invalid_reason);
              return;
          }
        };

        switch (route.endpoint) {
          case Endpoint::me: {
            tx.append_audit(now, actor_name(actor), route.action, "", "ok");
            result->response = json_response(200, {{"id", actor.responder_id},
                                                   {"name", actor.name},
                                                   {"role", actor.role},
                                                   {"team", actor.team},
                                                   {"can_export", actor.can_export},
                                                   {"outcomes", cases_.outcomes()},
                                                   {"now", now}});
            return;
          }
          case Endpoint::list: {
            if (const auto* bad = std::get_if<std::string>(&filter))
              return refuse(error_response(400, "bad_request", *bad));
            const store::CaseFilter& f = std::get<store::CaseFilter>(filter);
            const std::vector<store::CaseRecord> cases = cases_.list(tx, actor, f);
            json list = json::array();
            for (const auto& c : cases) list.push_back(case_summary(c, now));
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
            json j = case_summary(d.record, now);
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
            j["consents"] = std::move(consents);
            std::map<std::int64_t, std::string> names;
            json notes = json::array();
            for (const auto& n : d.notes) {
              auto it = names.find(n.responder_id);
              if (it == names.end()) {
                const auto author = tx.find_responder(n.responder_id);
                it = names.emplace(n.responder_id, author ? author->name : "").first;
              }
              notes.push_back({{"id", n.id},
                               {"author", it->second},
                               {"created_at", n.created_at},
                               {"text", n.text_enc}});
            }
            j["notes"] = std::move(notes);
            if (!d.phone.empty()) j["phone"] = d.phone;
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
            return respond_case(cases_.close(tx, actor, route.reference, body.outcome), 200,
                                "outcome must be one of: " + join(cases_.outcomes(), ", "));
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
