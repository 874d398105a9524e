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

void no_store(HttpResponse& r) {
  r.headers.emplace_back("Cache-Control", "no-store");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
}

HttpResponse json_response(int status, const json& body) {
  HttpResponse r;
  r.status = status;
  r.content_type = kJsonType;
  // Stored text is valid UTF-8 (checked on the way in); replace rather than throw regardless.
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  r.body += "\n";
  no_store(r);
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

CaseworkerApi::CaseworkerApi(store::Store& store, const CaseService& cases, const Clock& clock)
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

// --- The console

namespace {

std::string_view content_type_of(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  if (name.ends_with(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

void console_headers(HttpResponse& r) {
  no_store(r);
  // Scripts and styles only from the files below: no inline script, no other origin.
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'self'; base-uri 'none'; form-action 'self'; "
                         "frame-ancestors 'none'");
  r.headers.emplace_back("X-Frame-Options", "DENY");
}

HttpResponse console_text(int status, std::string body) {
  HttpResponse r = HttpResponse::text(status, std::move(body));
  console_headers(r);
  return r;
}

}  // namespace

Handler console_handler() {
  return [](HttpRequest&& request, Responder respond) {
    if (request.path != "/console" && request.path.rfind("/console/", 0) != 0)
      return respond(console_text(404, "not found\n"));
    if (request.method != "GET") {
      HttpResponse r = console_text(405, "use GET\n");
      r.headers.emplace_back("Allow", "GET");
      return respond(std::move(r));
    }
    if (request.path == "/console") {
      HttpResponse r = console_text(302, "/console/\n");
      r.headers.emplace_back("Location", "/console/");
      return respond(std::move(r));
    }
    std::string_view name =
        std::string_view(request.path).substr(std::string_view("/console/").size());
    if (name.empty()) name = "index.html";
    for (const auto& f : console_files::files) {
      if (f.name != name) continue;
      HttpResponse r;
      r.status = 200;
      r.content_type = content_type_of(name);
      r.body.assign(reinterpret_cast<const char*>(f.data), f.size);
      console_headers(r);
      return respond(std::move(r));
    }
    respond(console_text(404, "not found\n"));
  };
}

// --- Roster sync and the operator commands

void sync_roster(store::Tx& tx, const Roster& roster, const common::Pseudonymizer& pseudonymizer,
                 const common::FieldCipher& cipher, std::int64_t now) {
  std::map<std::string, store::ResponderRecord> existing;
  for (auto& r : tx.list_responders()) existing.emplace(r.name, std::move(r));
  std::vector<std::string> names;
  for (const Team& team : roster.teams) {
    for (const Member& m : team.members) {
      store::ResponderRecord r;
      bool returning = false;  // removed from the roster earlier, listed again now
      if (const auto it = existing.find(m.name); it != existing.end()) {
        r = it->second;
        returning = !r.active;
      }
      r.name = m.name;
      r.team = team.name;
      r.role = m.role;
      r.can_export = m.can_export;
      r.phone_pseudonym = m.phone.empty() ? "" : pseudonymizer.pseudonym(m.phone);
      r.active = true;
      r.updated_at = now;
      r.id = tx.upsert_responder(r);
      // A member removed and later listed again does not get her old token back. (An upsert
      // never changes a token, so it is revoked explicitly.)
      if (returning && !r.token_hash.empty()) {
        tx.set_responder_token(r.id, "", now, 0);
        tx.append_audit(now, "operator", "responder.token_revoked", "",
                        "responder=" + std::to_string(r.id) + " reason=listed_again");
        r.token_hash.clear();
      }
      // The number is bound to her row, so the row must exist before it is encrypted.
      const std::string ad = common::FieldCipher::associated_data("responders", "phone_enc", r.id);
      const bool current = !r.phone_enc.empty() && cipher.decrypt(r.phone_enc, ad) == m.phone;
      if (!current) {
        r.phone_enc = m.phone.empty() ? "" : cipher.encrypt(m.phone, ad);
        tx.upsert_responder(r);
      }
      names.push_back(m.name);
    }
  }
  tx.deactivate_responders_except(names, now);
}

namespace {

std::int64_t wall_ms() {
  return SystemClock().now_ms();
}

std::unique_ptr<store::Store> open_store(const Config& config, std::ostream& err,
                                         const std::string& audit_key) {
  try {
    store::StoreOptions so;
    so.path = config.database;
    so.audit_key = audit_key;
    return store::open_sqlite_store(so);
  } catch (const std::exception& e) {
    err << "rabta: " << e.what() << "\n";
    return nullptr;
  }
}

std::optional<Config> load_quietly(const std::string& config_path, std::ostream& err) {
  spdlog::set_level(spdlog::level::warn);
  try {
    return load_config(config_path);
  } catch (const std::exception& e) {
    err << "rabta: " << e.what() << "\n";
    return std::nullopt;
  }
}

}  // namespace

namespace {

// Loads the keys and the roster, syncs the roster into the database and runs `work` in the same
// transaction. 0, or 2 for a bad config, keys, roster or database.
using RosterWork = std::function<void(store::Tx&, const common::Pseudonymizer&, std::int64_t now)>;
int with_synced_roster(const std::string& config_path, std::ostream& err, const RosterWork& work) {
  const std::optional<Config> config = load_quietly(config_path, err);
  if (!config) return 2;
  if (sodium_init() < 0) {
    err << "rabta: libsodium could not be initialised\n";
    return 2;
  }
  std::unique_ptr<common::Pseudonymizer> pseudonymizer;
  std::unique_ptr<common::FieldCipher> cipher;
  try {
    pseudonymizer = std::make_unique<common::Pseudonymizer>(common::Pseudonymizer::load_key(
        config->pseudonym_key_file, config->pseudonym_key_env.c_str()));
    cipher = std::make_unique<common::FieldCipher>(
        common::FieldCipher::load(config->field_key_file, config->field_key_env.c_str()));
  } catch (const std::exception& e) {
    err << "rabta: " << e.what() << "\n";
    return 2;
  }
  const flows::LoadResult flows = load_flows(*config);
  if (!flows.flows || !flows.errors.empty()) {
    for (const auto& e : flows.errors) err << e.to_string() << "\n";
    return 2;
  }
  if (config->responders_file.empty()) {
    err << "rabta: " << config_path << " has no [responders] file: there is nobody to change\n";
    return 2;
  }
  std::vector<flows::Diagnostic> errors;
  const Roster roster = load_roster(config->responders_file, *flows.flows, errors);
  if (!errors.empty()) {
    for (const auto& e : errors) err << e.to_string() << "\n";
    return 2;
  }
  auto store = open_store(*config, err, audit_key(*pseudonymizer));
  if (!store) return 2;
  const store::JobResult r = store->run([&](store::Tx& tx) {
    const std::int64_t now = wall_ms();
    sync_roster(tx, roster, *pseudonymizer, *cipher, now);
    work(tx, *pseudonymizer, now);
  });
  store->close();
  if (!r.ok) {
    err << "rabta: the database refused the change: " << r.error << "\n";
    return 2;
  }
  return 0;
}

// with_synced_roster() running `change` on the active member called `name`. 0, 1 (no such
// member) or 2 (anything else).
using MemberChange = std::function<void(store::Tx&, const store::ResponderRecord&,
                                        const common::Pseudonymizer&, std::int64_t now)>;
int change_member(const std::string& config_path, const std::string& name, std::ostream& err,
                  const MemberChange& change, std::optional<store::ResponderRecord>& member) {
  const int rc = with_synced_roster(
      config_path, err, [&](store::Tx& tx, const common::Pseudonymizer& key, std::int64_t now) {
        for (auto& rec : tx.list_responders())
          if (rec.name == name && rec.active) member = rec;
        if (member) change(tx, *member, key, now);
      });
  if (rc != 0) return rc;
  if (!member) {
    err << "rabta: no member named '" << name << "' in the roster ([responders] file of "
        << config_path << ")\n";
    return 1;
  }
  return 0;
}

// "2026-12-05 17:42 UTC"
std::string utc_minute(std::int64_t ms) {
  const std::chrono::sys_seconds t{std::chrono::seconds{ms / 1000}};
  const auto day = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{t - day};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02lld:%02lld UTC", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<long long>(hms.hours().count()),
                static_cast<long long>(hms.minutes().count()));
  return buf;
}

}  // namespace

int responders_token(const std::string& config_path, const std::string& name, int days,
                     std::ostream& out, std::ostream& err) {
  if (days < 1 || days > kMaxTokenDays) {
    err << "rabta: --days must be 1 to " << kMaxTokenDays << "\n";
    return 2;
  }
  std::array<unsigned char, 32> raw{};
  std::string token;
  std::int64_t expires_at = 0;
  std::optional<store::ResponderRecord> member;
  const int rc = change_member(
      config_path, name, err,
      [&](store::Tx& tx, const store::ResponderRecord& m, const common::Pseudonymizer&,
          std::int64_t now) {
        randombytes_buf(raw.data(), raw.size());
        token = format_api_token(m.id, raw);
        sodium_memzero(raw.data(), raw.size());
        expires_at = now + static_cast<std::int64_t>(days) * 24 * 3600 * 1000;
        tx.set_responder_token(m.id, common::sha256_hex(token), now, expires_at);
        tx.append_audit(now, "operator", "responder.token_issued", "",
                        "responder=" + std::to_string(m.id) + " days=" + std::to_string(days));
      },
      member);
  if (rc != 0) return rc;
  out << token << "\n";
  err << "issued an API token for " << member->name << " (" << member->role << ", team "
      << member->team << "), valid until " << utc_minute(expires_at)
      << "; it is shown only this once and replaces any earlier token\n";
  return 0;
}

int responders_revoke(const std::string& config_path, const std::string& name, std::ostream& out,
                      std::ostream& err) {
  bool had = false;
  std::optional<store::ResponderRecord> member;
  const int rc = change_member(
      config_path, name, err,
      [&](store::Tx& tx, const store::ResponderRecord& m, const common::Pseudonymizer&,
          std::int64_t now) {
        had = !m.token_hash.empty();
        if (!had) return;
        tx.set_responder_token(m.id, "", now, 0);
        tx.append_audit(now, "operator", "responder.token_revoked", "",
                        "responder=" + std::to_string(m.id));
      },
      member);
  if (rc != 0) return rc;
  out << (had ? "revoked the API token of " : "there was no API token to revoke for ")
      << member->name << (had ? ": it stops working now\n" : "\n");
  return 0;
}

int responders_tokens(const std::string& config_path, std::ostream& out, std::ostream& err) {
  std::vector<store::ResponderRecord> all;
  std::int64_t at = 0;
  const int rc = with_synced_roster(
      config_path, err, [&](store::Tx& tx, const common::Pseudonymizer&, std::int64_t now) {
        all = tx.list_responders();
        at = now;
      });
  if (rc != 0) return rc;
  std::size_t width = 4;
  for (const auto& r : all) width = std::max(width, r.name.size());
  out << std::left << std::setw(static_cast<int>(width)) << "name"
      << "  state     issued                valid until\n";
  for (const auto& r : all) {
    const char* state = !r.active                  ? "removed"
                        : r.token_hash.empty()     ? "none"
                        : r.token_expires_at <= at ? "expired"
                                                   : "valid";
    out << std::left << std::setw(static_cast<int>(width)) << r.name << "  " << std::setw(8)
        << state << "  ";
    if (r.token_hash.empty())
      out << std::setw(20) << "-"
          << "  -";
    else
      out << std::setw(20)
          << (r.token_issued_at == 0 ? "before schema 7" : utc_minute(r.token_issued_at)) << "  "
          << utc_minute(r.token_expires_at);
    out << "\n";
  }
  return 0;
}

int responders_pin(const std::string& config_path, const std::string& name, bool clear,
                   std::istream& in, std::ostream& out, std::ostream& err) {
  std::string pin;
  if (!clear) {
    std::getline(in, pin);
    while (!pin.empty() && (pin.back() == '\r' || pin.back() == ' ')) pin.pop_back();
    if (!valid_pin(pin)) {
      err << "rabta: a PIN is 4 to 8 digits (read from standard input)\n";
      return 2;
    }
  }
  std::optional<store::ResponderRecord> member;
  const int rc = change_member(
      config_path, name, err,
      [&](store::Tx& tx, const store::ResponderRecord& m, const common::Pseudonymizer& key,
          std::int64_t now) {
        tx.set_responder_pin(m.id, clear ? "" : responder_pin_hash(key, m.id, pin), now);
        tx.append_audit(now, "operator", clear ? "responder.pin_cleared" : "responder.pin_set", "",
                        "responder=" + std::to_string(m.id));
      },
      member);
  if (rc != 0) return rc;
  out << (clear ? "cleared the SMS PIN of " : "set the SMS PIN of ") << member->name
      << (clear ? ": her SMS commands need no PIN now\n"
                : ": her SMS commands must end in it, e.g. ACK <reference> <PIN>\n");
  return 0;
}

namespace {

// For `rabta audit ...`: opens the store with the audit key and runs `read` in one read
// transaction. 0, or 2 after telling why.
int read_audit(const std::string& config_path, std::ostream& err,
               const std::function<void(store::Tx&, const std::string& key)>& read) {
  const std::optional<Config> config = load_quietly(config_path, err);
  if (!config) return 2;
  std::string key;
  try {
    key = audit_key(common::Pseudonymizer(common::Pseudonymizer::load_key(
        config->pseudonym_key_file, config->pseudonym_key_env.c_str())));
  } catch (const std::exception& e) {
    err << "rabta: " << e.what() << "\n";
    return 2;
  }
  auto store = open_store(*config, err, key);
  if (!store) return 2;
  try {
    store->read([&](store::Tx& tx) { read(tx, key); });
  } catch (const std::exception& e) {
    store->close();
    err << "rabta: " << e.what() << "\n";
    return 2;
  }
  store->close();
  return 0;
}

}  // namespace

int audit_verify(const std::string& config_path, const std::string& head, std::ostream& out,
                 std::ostream& err) {
  std::int64_t head_id = 0;
  std::string head_mac;
  if (!head.empty()) {
    const auto colon = head.find(':');
    const auto id_text = head.substr(0, colon);
    const auto [end, ec] =
        std::from_chars(id_text.data(), id_text.data() + id_text.size(), head_id);
    if (colon == std::string::npos || ec != std::errc() || end != id_text.data() + id_text.size() ||
        head_id <= 0) {
      err << "rabta: --head takes what `rabta audit head` printed: ROW:MAC\n";
      return 2;
    }
    head_mac = head.substr(colon + 1);
  }
  store::AuditCheck check;
  std::optional<store::AuditRecord> anchored;
  const int rc = read_audit(config_path, err, [&](store::Tx& tx, const std::string& key) {
    check = verify_audit_chain(tx, key);
    if (head_id > 0) {
      const auto rows = tx.list_audit(head_id - 1, 1);
      if (!rows.empty() && rows.front().id == head_id) anchored = rows.front();
    }
  });
  if (rc != 0) return rc;
  if (check.broken_at) {
    out << "audit chain broken at row " << *check.broken_at << ": " << check.reason << "\n";
    return 1;
  }
  if (head_id > 0) {
    if (!anchored) {
      out << "audit chain cut short: row " << head_id
          << " of the kept head is gone (the log ends at row " << check.last_id << ")\n";
      return 1;
    }
    if (!common::constant_time_equal(anchored->hash, head_mac)) {
      out << "audit chain rewritten: row " << head_id << " no longer has the kept head's MAC\n";
      return 1;
    }
  }
  out << "audit chain ok: " << check.rows << " rows"
      << (head_id > 0 ? ", and it holds the kept head at row " + std::to_string(head_id) : "")
      << "\n";
  return 0;
}

int audit_head(const std::string& config_path, std::ostream& out, std::ostream& err) {
  store::AuditCheck check;
  const int rc = read_audit(config_path, err, [&](store::Tx& tx, const std::string& key) {
    check = verify_audit_chain(tx, key);
  });
  if (rc != 0) return rc;
  if (check.broken_at) {
    err << "rabta: audit chain broken at row " << *check.broken_at << ": " << check.reason
        << "; no head printed\n";
    return 1;
  }
  if (check.rows == 0) {
    err << "rabta: the audit log is empty\n";
    return 1;
  }
  out << check.last_id << ":" << check.last_mac << "\n";
  err << "keep this line outside this machine (e.g. in the operator's log book or a mail to "
         "yourself); `rabta audit verify --head LINE` later proves no row up to it was removed\n";
  return 0;
}

}  // namespace rabta::gateway
