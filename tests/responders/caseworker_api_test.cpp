// The caseworker API in-process: the real HTTP server and App (prefix routes), a real SQLite file,
// responders synced from a roster built here, cases inserted by store jobs. SAFETY C1 (role x
// endpoint matrix), C2 (one audit row per call; editing a row breaks the chain), D2 (notes
// encrypted), D3 (her number and district only with her consent), D5 (no token or note in logs).
#include "gateway/responders/caseworker_api.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <sodium.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "adapters/africastalking/ussd.hpp"
#include "adapters/common/cipher.hpp"
#include "adapters/common/clock.hpp"
#include "adapters/common/crypto.hpp"
#include "adapters/store/store.hpp"
#include "gateway/http/http_server.hpp"
#include "gateway/inbound/app.hpp"
#include "gateway/inbound/ussd_service.hpp"
#include "gateway/responders/case_service.hpp"
#include "gateway/responders/console.hpp"
#include "gateway/responders/roster_sync.hpp"
#include "gateway/settings/config.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_cipher.hpp"

using namespace rabta;
using namespace rabta::test;
using nlohmann::json;

namespace {

constexpr std::int64_t kStart = 1'790'000'000'000;
constexpr std::int64_t kSla = 15 * 60 * 1000;

gateway::Member member(std::string name, std::string phone, std::string role, bool can_export) {
  gateway::Member m;
  m.name = std::move(name);
  m.phone = std::move(phone);
  m.role = std::move(role);
  m.can_export = can_export;
  return m;
}

// Two teams: Alice (caseworker) and Sara (supervisor, may export) in team_a; Bina (caseworker,
// may export) and Cora (caseworker) in team_b.
gateway::Roster test_roster(bool with_cora = true) {
  gateway::Roster r;
  gateway::Team a;
  a.name = "team_a";
  a.supervisor = "Sara Supervisor";
  a.members = {member("Alice Caseworker", "+923000000001", "caseworker", false),
               member("Sara Supervisor", "+923000000009", "supervisor", true)};
  gateway::Team b;
  b.name = "team_b";
  b.supervisor = "Sara Supervisor";
  b.members = {member("Bina Caseworker", "+923000000002", "caseworker", true)};
  if (with_cora)
    b.members.push_back(member("Cora Caseworker", "+923000000003", "caseworker", false));
  r.teams = {a, b};
  gateway::Route catch_all;
  catch_all.team = "team_a";
  r.routes = {catch_all};
  r.outcomes_needing_approval = {"unsafe_to_contact"};
  // The case-management system and two referral partners (rows only: no dispatcher runs here).
  r.webhook.enabled = true;
  r.webhook.url = "http://127.0.0.1:9/cms";
  r.webhook.secret = "cms-secret";
  adapters::webhook::WebhookSink police;
  police.enabled = true;
  police.name = "police_desk";
  police.label = "Police women's desk";
  police.consent_purpose = "referral_police";
  police.requires_consent = true;
  police.url = "http://127.0.0.1:9/police";
  police.secret = "police-secret";
  adapters::webhook::WebhookSink ngo = police;
  ngo.name = "legal_aid";
  ngo.label = "Legal aid clinic";
  ngo.consent_purpose = "referral_ngo";
  ngo.url = "http://127.0.0.1:9/ngo";
  ngo.secret = "ngo-secret";
  r.partners = {police, ngo};
  return r;
}

// The gateway as `rabta serve` wires the caseworker side: App with the API and console routes.
class CaseworkerGateway {
 public:
  CaseworkerGateway() {
    config_ = gateway::load_config(std::string(RABTA_SOURCE_DIR) + "/config/rabta.toml");
    auto loaded = gateway::load_flows(config_);
    if (!loaded.flows) throw std::runtime_error("shipped flows do not load");
    engine_ = std::make_shared<const flows::Engine>(loaded.flows);
    store::StoreOptions so;
    so.audit_key = "test-audit-key";
    so.path = db_path();
    store = store::open_sqlite_store(so);
    roster = std::make_shared<const gateway::Roster>(test_roster());
    cases = std::make_unique<gateway::CaseService>(roster, cipher, clock, roster->outcomes);
    api = std::make_unique<gateway::CaseworkerApi>(*store, *cases, clock);
    ussd_ = std::make_unique<gateway::UssdService>(engine_, gateway::SessionPolicy{}, clock, ids_);
    gateway::AppOptions ao;
    ao.ussd.push_back({"africastalking",
                       std::make_shared<const adapters::africastalking::UssdChannel>(
                           "/ussd/africastalking", "caseworker-test-secret-0123456789"),
                       {},
                       ""});
    ao.prefix_routes.emplace_back(gateway::CaseworkerApi::prefix, api->handler());
    ao.prefix_routes.emplace_back("/console", gateway::console_handler());
    gateway::HttpServerOptions ho;
    ho.port = 0;
    server_ = std::make_unique<gateway::HttpServer>(
        ho, [this](gateway::HttpRequest&& r, gateway::Responder respond) {
          app_->handle(std::move(r), std::move(respond));
        });
    app_ =
        std::make_unique<gateway::App>(ao, *store, *ussd_, nullptr, pseudonymizer, clock, nullptr);
    server_->listen();
    thread_ = std::thread([this] { server_->run(); });
    base = "http://127.0.0.1:" + std::to_string(server_->port());

    sync(*roster);
    for (const auto& [name, token] :
         std::vector<std::pair<std::string, std::string>>{{"Alice Caseworker", "token-alice"},
                                                          {"Sara Supervisor", "token-sara"},
                                                          {"Bina Caseworker", "token-bina"},
                                                          {"Cora Caseworker", "token-cora"}})
      set_token(name, token);
  }
  ~CaseworkerGateway() {
    server_->stop();
    thread_.join();
    store->close();
  }

  std::string db_path() const { return dir.file("rabta.db"); }

  void sync(const gateway::Roster& r) {
    const auto res = store->run(
        [&](store::Tx& tx) { gateway::sync_roster(tx, r, pseudonymizer, cipher, clock.now_ms()); });
    if (!res.ok) throw std::runtime_error("sync_roster failed: " + res.error);
  }
  std::int64_t responder_id(const std::string& name) {
    std::int64_t id = 0;
    store->read([&](store::Tx& tx) {
      for (const auto& r : tx.list_responders())
        if (r.name == name) id = r.id;
    });
    return id;
  }
  // Issues her a real token as `rabta responders token` does (valid `days`), remembered under
  // `label`: call() sends the token for a label, and any other text as it is.
  std::string set_token(const std::string& name, const std::string& label, int days = 90) {
    const std::int64_t id = responder_id(name);
    std::array<unsigned char, 32> secret{};
    randombytes_buf(secret.data(), secret.size());
    const std::string token = gateway::format_api_token(id, secret);
    const auto res = store->run([&](store::Tx& tx) {
      tx.set_responder_token(id, common::sha256_hex(token), clock.now_ms(),
                             clock.now_ms() + std::int64_t{days} * 24 * 3600 * 1000);
    });
    if (!res.ok) throw std::runtime_error("set_responder_token failed: " + res.error);
    tokens_[label] = token;
    return token;
  }
  std::string token(const std::string& label) const {
    const auto it = tokens_.find(label);
    return it == tokens_.end() ? label : it->second;
  }

  // A case of her own (a contact per case), routed to `team`, its ladder running.
  std::int64_t add_case(const std::string& ref, const std::string& team,
                        const std::string& severity = "high", std::int64_t created_offset = 0) {
    std::int64_t id = 0;
    const auto res = store->run([&](store::Tx& tx) {
      const auto contact = tx.upsert_contact("pseudonym-" + ref, clock.now_ms());
      store::CaseRecord c;
      c.reference = ref;
      c.contact_id = contact.id;
      c.flow = "incident";
      c.category = "threats";
      c.severity = severity;
      c.status = store::case_status::open;
      c.created_at = clock.now_ms() + created_offset;
      c.district = "bhakkar";
      c.team = team;
      c.rung = 1;
      c.next_alert_at = clock.now_ms() + kSla;
      c.ack_due_at = c.created_at + kSla;
      id = tx.insert_case(c);
    });
    if (!res.ok) throw std::runtime_error("insert_case failed: " + res.error);
    return id;
  }

  // A case from her report: her number stored sealed, the consents she gave in that session
  // (purpose -> yes/no), her district and when to call her.
  void add_reported_case(const std::string& ref, const std::string& team,
                         const std::vector<std::pair<std::string, bool>>& consents,
                         const std::string& phone = "+923451112233") {
    const auto res = store->run([&](store::Tx& tx) {
      const auto contact = tx.upsert_contact(pseudonymizer.pseudonym(phone), kStart);
      tx.set_contact_phone(contact.id,
                           cipher.encrypt(phone, common::FieldCipher::associated_data(
                                                     "contacts", "phone_enc", contact.id)),
                           kStart);
      store::SessionRecord s;
      s.provider = "africastalking";
      s.provider_session_id = "s-" + ref;
      s.contact_id = contact.id;
      s.channel = "ussd";
      s.state = "{}";
      s.status = "finished";
      s.started_at = kStart;
      s.updated_at = kStart;
      const std::int64_t session = tx.insert_session(s);
      tx.insert_answer({session, contact.id, "call_time", "evening", kStart});
      for (const auto& [purpose, yes] : consents)
        tx.insert_consent({contact.id, session, purpose, yes, kStart});
      store::CaseRecord c;
      c.reference = ref;
      c.contact_id = contact.id;
      c.session_id = session;
      c.flow = "incident";
      c.category = "threats";
      c.severity = "high";
      c.created_at = clock.now_ms();
      c.district = "bhakkar";
      c.team = team;
      c.rung = 1;
      c.next_alert_at = clock.now_ms() + kSla;
      c.ack_due_at = c.created_at + kSla;
      tx.bind_session_to_case(session, tx.insert_case(c));
    });
    if (!res.ok) throw std::runtime_error("add_reported_case failed: " + res.error);
  }
  // The webhook rows a case caused, as "<kind> <event>", in order; every key distinct.
  std::vector<std::string> webhook_rows(const std::string& ref) {
    std::vector<std::string> out;
    std::set<std::string> keys;
    store->read([&](store::Tx& tx) {
      for (const auto& row : tx.list_case_outbox(ref, 100))
        if (row.kind.rfind("webhook:", 0) == 0) {
          const std::string rest = row.dedupe_key.substr(row.kind.size() + 1);
          out.push_back(row.kind + " " + rest.substr(0, rest.find(':')));
          EXPECT_TRUE(keys.insert(row.dedupe_key).second) << row.dedupe_key;
        }
    });
    return out;
  }
  // What a row sends now, with her consents as given (nullopt: no such row).
  std::optional<json> webhook_body(const std::string& ref, const std::string& kind,
                                   const std::string& event, std::optional<bool> referral,
                                   std::optional<bool> callback) {
    std::optional<json> out;
    store->read([&](store::Tx& tx) {
      for (const auto& row : tx.list_case_outbox(ref, 100)) {
        const std::string key = kind + ":" + event + ":" + ref;
        if (row.kind != kind || (row.dedupe_key != key && row.dedupe_key.rfind(key + ":", 0) != 0))
          continue;
        const auto& sinks = roster->partners;
        adapters::webhook::WebhookSink sink = roster->webhook;
        for (const auto& p : sinks)
          if ("webhook:" + p.name == kind) sink = p;
        if (auto d = adapters::webhook::read_webhook_payload(sink, row, referral, callback))
          out = json::parse(d->body);
      }
    });
    return out;
  }

  HttpResult call(const std::string& method, const std::string& path, const std::string& token,
                  const std::string& body = "") {
    std::vector<std::string> headers;
    if (!token.empty()) headers.push_back("Authorization: Bearer " + this->token(token));
    if (!body.empty()) headers.push_back("Content-Type: application/json");
    return http.request(method, base + path, headers, body);
  }
  int count(const std::string& table, const std::string& where = "") const {
    SQLite::Database db(db_path(), SQLite::OPEN_READONLY);
    return db.execAndGet("SELECT count(*) FROM " + table + (where.empty() ? "" : " WHERE " + where))
        .getInt();
  }
  store::CaseRecord stored(const std::string& ref) {
    std::optional<store::CaseRecord> c;
    store->read([&](store::Tx& tx) { c = tx.find_case(ref); });
    if (!c) throw std::runtime_error("no case " + ref);
    return *c;
  }

  std::map<std::string, std::string> tokens_;
  TempDir dir;
  common::ManualClock clock{kStart};
  common::Pseudonymizer pseudonymizer{std::string(32, 'p')};
  common::FieldCipher cipher = test::test_cipher();
  std::unique_ptr<store::Store> store;
  std::shared_ptr<const gateway::Roster> roster;
  std::unique_ptr<gateway::CaseService> cases;
  std::unique_ptr<gateway::CaseworkerApi> api;
  HttpClient http;
  std::string base;

 private:
  gateway::Config config_;
  std::shared_ptr<const flows::Engine> engine_;
  flows::SeededIds ids_{7};
  std::unique_ptr<gateway::UssdService> ussd_;
  std::unique_ptr<gateway::App> app_;
  std::unique_ptr<gateway::HttpServer> server_;
  std::thread thread_;
};

json body_of(const HttpResult& r) {
  return json::parse(r.body, nullptr, false);
}

bool has_header(const HttpResult& r, const std::string& needle) {
  std::string h = r.headers;
  std::string n = needle;
  for (auto* s : {&h, &n})
    for (char& ch : *s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return h.find(n) != std::string::npos;
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class CaseworkerApiTest : public ::testing::Test {
 protected:
  // The first row of the audit chain that does not verify under the test key, or nullopt.
  std::optional<std::int64_t> verify() {
    std::optional<std::int64_t> broken;
    g.store->read([&](store::Tx& tx) {
      broken = gateway::verify_audit_chain(tx, "test-audit-key").broken_at;
    });
    return broken;
  }
  CaseworkerGateway g;
};

}  // namespace

TEST_F(CaseworkerApiTest, WithoutAValidTokenEverythingIs401AndOnlyTheFailedSignInIsAudited) {
  g.add_case("AAAAAA", "team_a");
  const int before = g.count("audit");
  for (const std::string& token : {std::string(), std::string("not-a-token")}) {
    for (const auto& [method, path] :
         std::vector<std::pair<std::string, std::string>>{{"GET", "/api/v1/me"},
                                                          {"GET", "/api/v1/cases"},
                                                          {"GET", "/api/v1/cases/AAAAAA"},
                                                          {"POST", "/api/v1/cases/AAAAAA/ack"},
                                                          {"GET", "/api/v1/export"},
                                                          {"GET", "/api/v1/nothing-here"}}) {
      const HttpResult r = g.call(method, path, token);
      EXPECT_EQ(r.status, 401) << method << " " << path << " token '" << token << "'";
      EXPECT_TRUE(has_header(r, "WWW-Authenticate: Bearer")) << r.headers;
      EXPECT_EQ(body_of(r).value("error", ""), "unauthorized");
      EXPECT_EQ(r.content_type, "application/json; charset=utf-8");
    }
  }
  // A malformed header is the same as none.
  EXPECT_EQ(
      g.http.request("GET", g.base + "/api/v1/me", {"Authorization: Basic dG9rZW4="}, "").status,
      401);
  // No header is nobody signing in; each presented token that fails is one audit row, naming
  // the reason and the address, never the token.
  EXPECT_EQ(g.count("audit"), before + 6);
  EXPECT_EQ(g.count("audit",
                    "action = 'sign_in_failed' AND actor = 'api' AND "
                    "detail = 'reason=unknown peer=127.0.0.1'"),
            6);
  EXPECT_EQ(g.count("audit", "detail LIKE '%not-a-token%'"), 0);
  EXPECT_EQ(g.stored("AAAAAA").status, "open");
}

// SECURITY #11: a token names its responder, is compared in constant time, and expires.
TEST_F(CaseworkerApiTest, ATokenNamesItsResponderAndExpires) {
  const std::int64_t alice = g.responder_id("Alice Caseworker");
  const std::int64_t bina = g.responder_id("Bina Caseworker");
  const std::string token = g.token("token-alice");
  ASSERT_EQ(token.rfind(std::to_string(alice) + ".", 0), 0u) << token;
  ASSERT_EQ(token.size(), std::to_string(alice).size() + 1 + 64);
  ASSERT_EQ(g.call("GET", "/api/v1/me", token).status, 200);

  // Her secret under another's id, or her id with one hex digit changed: the wrong token.
  const std::string secret = token.substr(token.find('.') + 1);
  std::string changed = token;
  changed.back() = changed.back() == '0' ? '1' : '0';
  for (const std::string& bad : {std::to_string(bina) + "." + secret, changed}) {
    const HttpResult r = g.call("GET", "/api/v1/me", bad);
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(body_of(r).value("error", ""), "unauthorized");
  }
  EXPECT_EQ(g.count("audit", "action = 'sign_in_failed' AND detail = 'reason=wrong responder=" +
                                 std::to_string(bina) + " peer=127.0.0.1'"),
            1);
  EXPECT_EQ(g.count("audit", "action = 'sign_in_failed' AND detail = 'reason=wrong responder=" +
                                 std::to_string(alice) + " peer=127.0.0.1'"),
            1);
  // An id nobody has, a token with no id: unknown.
  EXPECT_EQ(g.call("GET", "/api/v1/me", "999999." + secret).status, 401);
  EXPECT_EQ(g.count("audit", "detail = 'reason=unknown peer=127.0.0.1'"), 1);

  // 90 days later, less a minute, it still works; at 90 days it has expired, and only the one
  // holding the secret is told so.
  g.clock.advance(std::chrono::hours(24 * 90) - std::chrono::minutes(1));
  ASSERT_EQ(g.call("GET", "/api/v1/me", token).status, 200);
  g.clock.advance(std::chrono::minutes(1));
  HttpResult r = g.call("GET", "/api/v1/cases", token);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(body_of(r).value("error", ""), "token_expired");
  EXPECT_NE(body_of(r).value("reason", "").find("ask the operator for a new one"),
            std::string::npos);
  EXPECT_TRUE(has_header(r, "WWW-Authenticate: Bearer")) << r.headers;
  EXPECT_EQ(g.count("audit", "action = 'sign_in_failed' AND detail = 'reason=expired responder=" +
                                 std::to_string(alice) + " peer=127.0.0.1'"),
            1);
  r = g.call("GET", "/api/v1/me", changed);
  EXPECT_EQ(body_of(r).value("error", ""), "unauthorized") << "a wrong secret learns nothing";
  // A new one works at once.
  g.set_token("Alice Caseworker", "token-alice-2");
  EXPECT_EQ(g.call("GET", "/api/v1/me", "token-alice-2").status, 200);
  EXPECT_EQ(g.call("GET", "/api/v1/me", token).status, 401);
}

// A token issued before schema 7 (64 hex, no id) works until 30 days after the upgrade.
TEST_F(CaseworkerApiTest, ATokenFromBeforeSchema7WorksUntilItExpires) {
  const std::string legacy(64, 'a');
  const std::int64_t sara = g.responder_id("Sara Supervisor");
  {
    SQLite::Database db(g.db_path(), SQLite::OPEN_READWRITE);
    db.exec("UPDATE responders SET token_hash = '" + common::sha256_hex(legacy) +
            "', token_issued_at = 0, token_expires_at = " +
            std::to_string(kStart + 30LL * 24 * 3600 * 1000) +
            " WHERE id = " + std::to_string(sara));
  }
  const HttpResult r = g.call("GET", "/api/v1/me", legacy);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_of(r)["name"], "Sara Supervisor");
  // The same hex under her id is not her token: a new token's hash covers its id.
  EXPECT_EQ(g.call("GET", "/api/v1/me", std::to_string(sara) + "." + legacy).status, 401);
  g.clock.advance(std::chrono::hours(24 * 30));
  EXPECT_EQ(body_of(g.call("GET", "/api/v1/me", legacy)).value("error", ""), "token_expired");
}

// SECURITY #11: ten failed sign-ins from one address lock it for 15 minutes (429, Retry-After),
// its token unread; the failures are audited until the lock starts, and the lock ends by itself.
TEST_F(CaseworkerApiTest, FailedSignInsFromOneAddressAreRateLimited) {
  const int before = g.count("audit");
  for (int i = 0; i < 9; ++i) {
    ASSERT_EQ(g.call("GET", "/api/v1/me", "wrong-" + std::to_string(i)).status, 401);
    g.clock.advance(std::chrono::seconds(30));
  }
  ASSERT_EQ(g.call("GET", "/api/v1/me", "token-alice").status, 200) << "not locked yet";
  ASSERT_EQ(g.call("GET", "/api/v1/me", "wrong-9").status, 401);  // the tenth
  for (const std::string& token : {std::string("wrong-10"), std::string("token-alice")}) {
    const HttpResult r = g.call("GET", "/api/v1/me", token);
    EXPECT_EQ(r.status, 429) << token;
    EXPECT_TRUE(has_header(r, "Retry-After: 900")) << r.headers;
    EXPECT_EQ(body_of(r).value("error", ""), "too_many_failed_sign_ins");
  }
  EXPECT_EQ(g.count("audit", "action = 'sign_in_failed'"), 10) << "none once locked";
  EXPECT_EQ(g.count("audit"), before + 11);  // and alice's one call
  g.clock.advance(std::chrono::minutes(14));
  HttpResult r = g.call("GET", "/api/v1/me", "token-alice");
  EXPECT_EQ(r.status, 429);
  EXPECT_TRUE(has_header(r, "Retry-After: 60")) << r.headers;
  g.clock.advance(std::chrono::minutes(1));
  EXPECT_EQ(g.call("GET", "/api/v1/me", "token-alice").status, 200);
  // Failures spread wider than the window never lock.
  for (int i = 0; i < 25; ++i) {
    ASSERT_EQ(g.call("GET", "/api/v1/me", "wrong").status, 401) << i;
    g.clock.advance(std::chrono::minutes(2));
  }
}

TEST_F(CaseworkerApiTest, MeSaysWhoSheIs) {
  const HttpResult r = g.call("GET", "/api/v1/me", "token-alice");
  ASSERT_EQ(r.status, 200) << r.body;
  const json me = body_of(r);
  EXPECT_EQ(me["name"], "Alice Caseworker");
  EXPECT_EQ(me["role"], "caseworker");
  EXPECT_EQ(me["team"], "team_a");
  EXPECT_EQ(me["can_export"], false);
  EXPECT_EQ(me["id"], g.responder_id("Alice Caseworker"));
  EXPECT_EQ(me["outcomes"].size(), g.roster->outcomes.size());
  EXPECT_TRUE(has_header(r, "Cache-Control: no-store"));
}

// SAFETY C1: who may do what, on which case.
TEST_F(CaseworkerApiTest, RoleTimesEndpointMatrix) {
  struct Endpoint {
    std::string method;
    std::string suffix;
    std::string body;
    int ok;             // for a caseworker who sees the case
    int ok_supervisor;  // for a supervisor (she sees every case)
  };
  // The supervisor's steps on an open case with nothing waiting are conflicts for her and
  // forbidden to a caseworker; for whoever does not see the case, everything is a 404.
  const std::vector<Endpoint> endpoints = {
      {"GET", "", "", 200, 200},
      {"GET", "/timeline", "", 200, 200},
      {"POST", "/ack", "", 200, 200},
      {"POST", "/claim", "", 200, 200},
      {"POST", "/assign", R"({"to":"Sara Supervisor"})", 200, 200},
      {"POST", "/notes", R"({"text":"called, no answer"})", 201, 201},
      {"POST", "/close", R"({"outcome":"resolved","reason":"she is safe"})", 200, 200},
      {"POST", "/approve", "", 403, 409},
      {"POST", "/decline", R"({"reason":"not yet"})", 403, 409},
      {"POST", "/reopen", R"({"reason":"she called"})", 403, 409}};
  struct Who {
    std::string token;
    bool sees_a;
    bool sees_b;
  };
  const std::vector<Who> people = {
      {"token-alice", true, false}, {"token-bina", false, true}, {"token-sara", true, true}};
  int n = 0;
  for (const Who& who : people) {
    for (const Endpoint& e : endpoints) {
      for (const std::string team : {"team_a", "team_b"}) {
        const std::string ref = "M" + std::to_string(100000 + n++).substr(1);
        g.add_case(ref, team);
        const int audit_before = g.count("audit");
        const HttpResult r = g.call(e.method, "/api/v1/cases/" + ref + e.suffix, who.token, e.body);
        const bool visible = team == "team_a" ? who.sees_a : who.sees_b;
        const int ok = who.token == "token-sara" ? e.ok_supervisor : e.ok;
        EXPECT_EQ(r.status, visible ? ok : 404) << who.token << " " << e.method << " " << e.suffix
                                                << " on a " << team << " case: " << r.body;
        EXPECT_EQ(g.count("audit"), audit_before + 1) << who.token << " " << e.suffix;
        if (!visible) {
          // Nothing about the case leaks, and nothing changed.
          EXPECT_EQ(body_of(r), json({{"error", "not_found"}}));
          EXPECT_EQ(g.stored(ref).status, "open");
          EXPECT_EQ(g.stored(ref).claimed_by, 0);
          EXPECT_EQ(g.count("notes", "case_id = " + std::to_string(g.stored(ref).id)), 0);
        }
      }
    }
  }

  // The list is the same rule: a caseworker sees her team's cases only; a supervisor sees all.
  auto refs_seen = [&](const std::string& token) {
    std::set<std::string> teams;
    const HttpResult r = g.call("GET", "/api/v1/cases?limit=200", token);
    EXPECT_EQ(r.status, 200) << r.body;
    const json list = body_of(r);
    for (const auto& c : list["cases"]) teams.insert(c["team"].get<std::string>());
    return teams;
  };
  EXPECT_EQ(refs_seen("token-alice"), (std::set<std::string>{"team_a"}));
  EXPECT_EQ(refs_seen("token-bina"), (std::set<std::string>{"team_b"}));
  EXPECT_EQ(refs_seen("token-sara"), (std::set<std::string>{"team_a", "team_b"}));
}

TEST_F(CaseworkerApiTest, ExportNeedsItsOwnPermissionAndCarriesNoAnswersNotesOrNumbers) {
  g.add_case("EXPAAA", "team_a");
  g.add_case("EXPBBB", "team_b");
  g.add_case("EXPCCC", "team_b");
  // EXPCCC's caller agreed to a referral: only her district may leave with the export.
  const auto res = g.store->run([&](store::Tx& tx) {
    const auto c = tx.find_case("EXPCCC");
    tx.insert_consent({c->contact_id, 0, "referral_ngo", true, kStart, c->id});
    const auto b = tx.find_case("EXPBBB");
    tx.insert_consent({b->contact_id, 0, "referral_police", false, kStart, b->id});
  });
  ASSERT_TRUE(res.ok) << res.error;
  ASSERT_EQ(
      g.call("POST", "/api/v1/cases/EXPCCC/notes", "token-bina", R"({"text":"NOTE-IN-EXPORT"})")
          .status,
      201);

  int before = g.count("audit");
  HttpResult r = g.call("GET", "/api/v1/export", "token-alice");  // a caseworker, no permission
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(body_of(r)["error"], "forbidden");
  EXPECT_EQ(g.count("audit"), before + 1);
  EXPECT_EQ(g.count("audit", "action = 'case.export' AND detail = 'status=403'"), 1);

  before = g.count("audit");
  r = g.call("GET", "/api/v1/export", "token-sara");  // a supervisor with the permission: all
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(g.count("audit"), before + 1);
  std::map<std::string, json> rows;
  const json all = body_of(r);
  for (const auto& row : all["cases"]) rows[row["reference"].get<std::string>()] = row;
  EXPECT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows["EXPCCC"]["district"], "bhakkar");
  EXPECT_TRUE(rows["EXPBBB"]["district"].is_null());
  EXPECT_TRUE(rows["EXPAAA"]["district"].is_null());
  for (const auto& [ref, row] : rows) {
    for (const char* key : {"answers", "notes", "phone", "consents", "contact_id", "session_id"})
      EXPECT_FALSE(row.contains(key)) << ref << " has " << key;
  }
  EXPECT_EQ(r.body.find("NOTE-IN-EXPORT"), std::string::npos);

  r = g.call("GET", "/api/v1/export", "token-bina");  // a caseworker with the permission: her team
  ASSERT_EQ(r.status, 200) << r.body;
  std::set<std::string> refs;
  const json team_b = body_of(r);
  for (const auto& row : team_b["cases"]) refs.insert(row["reference"].get<std::string>());
  EXPECT_EQ(refs, (std::set<std::string>{"EXPBBB", "EXPCCC"}));
  EXPECT_EQ(g.call("POST", "/api/v1/export", "token-sara").status, 405);
}

TEST_F(CaseworkerApiTest, AcknowledgingStopsTheLadderAndIsIdempotent) {
  g.add_case("ACKAAA", "team_a");
  HttpResult r = g.call("GET", "/api/v1/cases?open=1", "token-alice");
  ASSERT_EQ(r.status, 200) << r.body;
  json item = body_of(r)["cases"][0];
  EXPECT_EQ(item["reference"], "ACKAAA");
  EXPECT_EQ(item["status"], "open");
  EXPECT_EQ(item["sla_remaining_ms"], kSla);
  EXPECT_EQ(item["next_alert_at"], kStart + kSla);
  g.clock.advance(std::chrono::minutes(5));
  EXPECT_EQ(body_of(g.call("GET", "/api/v1/cases", "token-alice"))["cases"][0]["sla_remaining_ms"],
            kSla - 5 * 60 * 1000);

  r = g.call("POST", "/api/v1/cases/ackaaa/ack",
             "token-alice");  // references are not case-sensitive
  ASSERT_EQ(r.status, 200) << r.body;
  item = body_of(r);
  EXPECT_EQ(item["status"], "acknowledged");
  EXPECT_EQ(item["next_alert_at"], 0);
  EXPECT_TRUE(item["sla_remaining_ms"].is_null());
  store::CaseRecord c = g.stored("ACKAAA");
  EXPECT_EQ(c.status, "acknowledged");
  EXPECT_EQ(c.next_alert_at, 0);
  EXPECT_EQ(c.acknowledged_by, g.responder_id("Alice Caseworker"));
  EXPECT_EQ(c.acknowledged_at, kStart + 5 * 60 * 1000);

  g.clock.advance(std::chrono::minutes(1));
  const int before = g.count("audit");
  r = g.call("POST", "/api/v1/cases/ACKAAA/ack", "token-sara");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(g.count("audit"), before + 1) << "a repeated acknowledgement is still audited";
  c = g.stored("ACKAAA");
  EXPECT_EQ(c.acknowledged_by, g.responder_id("Alice Caseworker")) << "the first one stands";
  EXPECT_EQ(c.acknowledged_at, kStart + 5 * 60 * 1000);

  // Claiming moves it on and keeps the ladder stopped.
  r = g.call("POST", "/api/v1/cases/ACKAAA/claim", "token-alice");
  ASSERT_EQ(r.status, 200) << r.body;
  c = g.stored("ACKAAA");
  EXPECT_EQ(c.status, "claimed");
  EXPECT_EQ(c.claimed_by, g.responder_id("Alice Caseworker"));
  EXPECT_EQ(c.next_alert_at, 0);
  EXPECT_EQ(g.call("POST", "/api/v1/cases/ACKAAA/ack", "token-alice").status, 200);
  EXPECT_EQ(g.stored("ACKAAA").status, "claimed") << "acknowledging does not undo a claim";
}

TEST_F(CaseworkerApiTest, ClaimingAnOpenCaseAlsoStopsTheLadder) {
  g.add_case("CLMAAA", "team_a");
  ASSERT_EQ(g.call("POST", "/api/v1/cases/CLMAAA/claim", "token-alice").status, 200);
  const store::CaseRecord c = g.stored("CLMAAA");
  EXPECT_EQ(c.status, "claimed");
  EXPECT_EQ(c.next_alert_at, 0);
  EXPECT_EQ(c.acknowledged_at, kStart);
  EXPECT_EQ(c.acknowledged_by, g.responder_id("Alice Caseworker"));
}

// SAFETY D2: a note is ciphertext at rest, bound to its case, and readable through the API.
TEST_F(CaseworkerApiTest, NotesAreStoredEncryptedAndReadBackDecrypted) {
  const std::int64_t case_id = g.add_case("NOTAAA", "team_a");
  const std::string marker = "NOTE-MARKER-7f3a shelter intake, sister's house";
  const std::string urdu = "اس نے کہا کہ وہ محفوظ ہے";
  ASSERT_EQ(
      g.call("POST", "/api/v1/cases/NOTAAA/notes", "token-alice", json({{"text", marker}}).dump())
          .status,
      201);
  ASSERT_EQ(
      g.call("POST", "/api/v1/cases/NOTAAA/notes", "token-sara", json({{"text", urdu}}).dump())
          .status,
      201);

  {
    SQLite::Database db(g.db_path(), SQLite::OPEN_READONLY);
    SQLite::Statement st(db, "SELECT text_enc FROM notes WHERE case_id = ? ORDER BY id");
    st.bind(1, case_id);
    int rows = 0;
    while (st.executeStep()) {
      const std::string blob = st.getColumn(0).getString();
      EXPECT_EQ(blob.find("NOTE-MARKER"), std::string::npos);
      EXPECT_EQ(blob.find("محفوظ"), std::string::npos);
      EXPECT_EQ(g.cipher.decrypt(blob, "notes.text_enc:" + std::to_string(case_id)),
                rows == 0 ? marker : urdu);
      // Bound to its case: the same blob does not open as another case's note.
      EXPECT_FALSE(g.cipher.decrypt(blob, "notes.text_enc:" + std::to_string(case_id + 1)));
      ++rows;
    }
    EXPECT_EQ(rows, 2);
  }
  for (const char* file : {"rabta.db", "rabta.db-wal"})
    EXPECT_EQ(file_bytes(g.dir.file(file)).find("NOTE-MARKER"), std::string::npos) << file;

  const HttpResult r = g.call("GET", "/api/v1/cases/NOTAAA", "token-alice");
  ASSERT_EQ(r.status, 200) << r.body;
  const json d = body_of(r);
  ASSERT_EQ(d["notes"].size(), 2u);
  EXPECT_EQ(d["notes"][0]["text"], marker);
  EXPECT_EQ(d["notes"][0]["author"], "Alice Caseworker");
  EXPECT_EQ(d["notes"][1]["text"], urdu);
  EXPECT_EQ(d["notes"][1]["author"], "Sara Supervisor");

  // The audit row says a note was added, never what it says.
  EXPECT_EQ(g.count("audit", "detail LIKE '%MARKER%'"), 0);
  EXPECT_EQ(g.count("audit", "action = 'case.note' AND case_reference = 'NOTAAA'"), 2);
}

TEST_F(CaseworkerApiTest, BadInputIs400AndChangesNothing) {
  g.add_case("BADAAA", "team_a");
  struct Bad {
    std::string method;
    std::string path;
    std::string body;
  };
  const std::vector<Bad> bad = {
      {"POST", "/api/v1/cases/BADAAA/close", R"({"outcome":"made_up","reason":"x"})"},
      {"POST", "/api/v1/cases/BADAAA/close", R"({"outcome":1,"reason":"x"})"},
      {"POST", "/api/v1/cases/BADAAA/close", R"({"outcome":"resolved"})"},
      {"POST", "/api/v1/cases/BADAAA/close", R"({"outcome":"resolved","reason":""})"},
      {"POST", "/api/v1/cases/BADAAA/close", R"({"outcome":"resolved","reasn":"typo"})"},
      {"POST", "/api/v1/cases/BADAAA/assign", R"({"to":"Nobody Known"})"},
      {"POST", "/api/v1/cases/BADAAA/assign", R"({"to":"Bina Caseworker"})"},
      {"POST", "/api/v1/cases/BADAAA/assign", R"({})"},
      {"POST", "/api/v1/cases/BADAAA/close", "not json"},
      {"POST", "/api/v1/cases/BADAAA/notes", R"({"text":""})"},
      {"POST", "/api/v1/cases/BADAAA/notes", json({{"text", std::string(2001, 'x')}}).dump()},
      {"POST", "/api/v1/cases/BADAAA/notes", R"(["text"])"},
      {"GET", "/api/v1/cases?limit=0", ""},
      {"GET", "/api/v1/cases?limit=1000", ""},
      {"GET", "/api/v1/cases?after=-1", ""},
      {"GET", "/api/v1/cases?after=abc", ""},
      {"GET", "/api/v1/cases?status=lost", ""},
      {"GET", "/api/v1/cases?severity=urgent", ""},
      {"GET", "/api/v1/cases?open=yes", ""},
      {"GET", "/api/v1/cases?sevrity=high", ""},
      {"GET", "/api/v1/cases?view=all", ""},
      {"GET", "/api/v1/cases?overdue=yes", ""},
      {"GET", "/api/v1/cases?from=yesterday", ""},
      {"GET", "/api/v1/cases?district=Bhakkar%20City", ""},
      {"GET", "/api/v1/cases?assignee=Nobody%20Known", ""},
  };
  for (const Bad& b : bad) {
    const int before = g.count("audit");
    const HttpResult r = g.call(b.method, b.path, "token-alice", b.body);
    EXPECT_EQ(r.status, 400) << b.method << " " << b.path << " " << b.body.substr(0, 40);
    EXPECT_EQ(body_of(r)["error"], "bad_request");
    EXPECT_FALSE(body_of(r).value("reason", "").empty());
    EXPECT_EQ(g.count("audit"), before + 1) << b.path;
  }
  EXPECT_NE(body_of(g.call("POST", "/api/v1/cases/BADAAA/close", "token-alice",
                           R"({"outcome":"made_up","reason":"x"})"))["reason"]
                .get<std::string>()
                .find("resolved"),
            std::string::npos)
      << "the reason lists the outcomes";
  EXPECT_EQ(g.stored("BADAAA").status, "open");
  EXPECT_EQ(g.count("notes"), 0);

  // 2000 characters of Urdu (2 bytes each) are fine: characters are counted, not bytes.
  std::string long_urdu;
  for (int i = 0; i < 2000; ++i) long_urdu += "ب";
  EXPECT_EQ(g.call("POST", "/api/v1/cases/BADAAA/notes", "token-alice",
                   json({{"text", long_urdu}}).dump())
                .status,
            201);

  // Wrong method and unknown endpoint: 405 (with Allow) and 404, still one audit row each.
  int before = g.count("audit");
  HttpResult r = g.call("GET", "/api/v1/cases/BADAAA/ack", "token-alice");
  EXPECT_EQ(r.status, 405);
  EXPECT_TRUE(has_header(r, "Allow: POST"));
  EXPECT_EQ(g.call("DELETE", "/api/v1/cases/BADAAA", "token-alice").status, 405);
  EXPECT_EQ(g.call("GET", "/api/v1/cases/BAD-AAA", "token-alice").status, 404);
  EXPECT_EQ(g.call("GET", "/api/v1/cases/BADAAA/secret", "token-alice").status, 404);
  EXPECT_EQ(g.call("GET", "/api/v1/", "token-alice").status, 404);
  EXPECT_EQ(g.count("audit"), before + 5);

  // Closing with a configured outcome works once; a closed case cannot be claimed.
  r = g.call("POST", "/api/v1/cases/BADAAA/close", "token-alice",
             R"({"outcome":"resolved","reason":"she is safe"})");
  ASSERT_EQ(r.status, 200) << r.body;
  const store::CaseRecord c = g.stored("BADAAA");
  EXPECT_EQ(c.status, "closed");
  EXPECT_EQ(c.outcome, "resolved");
  EXPECT_EQ(c.closed_at, kStart);
  EXPECT_EQ(c.next_alert_at, 0);
  EXPECT_EQ(g.call("POST", "/api/v1/cases/BADAAA/claim", "token-alice").status, 409);
  // Closing a closed case is a conflict, not a silent success, and keeps the first outcome.
  r = g.call("POST", "/api/v1/cases/BADAAA/close", "token-alice",
             R"({"outcome":"duplicate","reason":"she is safe"})");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(body_of(r)["reason"], "the case is closed already");
  EXPECT_EQ(g.stored("BADAAA").outcome, "resolved");
}

TEST_F(CaseworkerApiTest, TheQueuePagesAndFilters) {
  for (int i = 0; i < 5; ++i)
    g.add_case("PAGE0" + std::to_string(i), "team_a", i % 2 ? "low" : "high");
  std::vector<std::string> seen;
  std::string after;
  for (int pages = 0; pages < 10; ++pages) {
    const HttpResult r = g.call(
        "GET", "/api/v1/cases?limit=2" + (after.empty() ? "" : "&after=" + after), "token-alice");
    ASSERT_EQ(r.status, 200) << r.body;
    const json page = body_of(r);
    for (const auto& c : page["cases"]) seen.push_back(c["reference"]);
    if (page["next_after"].is_null()) break;
    after = std::to_string(page["next_after"].get<std::int64_t>());
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"PAGE04", "PAGE03", "PAGE02", "PAGE01", "PAGE00"}));
  const json low = body_of(g.call("GET", "/api/v1/cases?severity=low", "token-alice"));
  EXPECT_EQ(low["cases"].size(), 2u);
  ASSERT_EQ(g.call("POST", "/api/v1/cases/PAGE00/close", "token-alice",
                   R"({"outcome":"duplicate","reason":"she is safe"})")
                .status,
            200);
  EXPECT_EQ(body_of(g.call("GET", "/api/v1/cases?open=1", "token-alice"))["cases"].size(), 4u);
  EXPECT_EQ(body_of(g.call("GET", "/api/v1/cases?status=closed", "token-alice"))["cases"].size(),
            1u);
}

// SAFETY D3: her answers and consents for whoever may see the case; her number only with her
// callback consent.
TEST_F(CaseworkerApiTest, DetailShowsAnswersConsentsAndTheNumberOnlyWithCallbackConsent) {
  const std::string phone = "+923451234567";
  std::int64_t contact_id = 0;
  auto make = [&](const std::string& ref, bool callback) {
    const auto res = g.store->run([&](store::Tx& tx) {
      const auto contact = tx.upsert_contact(g.pseudonymizer.pseudonym(phone + ref), kStart);
      contact_id = contact.id;
      tx.set_contact_phone(contact.id,
                           g.cipher.encrypt(phone, common::FieldCipher::associated_data(
                                                       "contacts", "phone_enc", contact.id)),
                           kStart);
      store::SessionRecord s;
      s.provider = "africastalking";
      s.provider_session_id = "s-" + ref;
      s.contact_id = contact.id;
      s.channel = "ussd";
      s.state = "{}";
      s.status = "finished";
      s.started_at = kStart;
      s.updated_at = kStart;
      const std::int64_t session = tx.insert_session(s);
      for (const auto& [k, v] :
           std::vector<std::pair<std::string, std::string>>{{"wellbeing", "help_now"},
                                                            {"safe_to_call", "yes"},
                                                            {"referral", "ngo"},
                                                            {"internal_flag", "x"}})
        tx.insert_answer({session, contact.id, k, v, kStart});
      tx.insert_consent({contact.id, session, "callback", true, kStart});
      if (!callback) tx.insert_consent({contact.id, session, "callback", false, kStart + 1});
      tx.insert_consent({contact.id, session, "referral_ngo", true, kStart});
      store::CaseRecord c;
      c.reference = ref;
      c.contact_id = contact.id;
      c.session_id = session;
      c.flow = "checkin";
      c.category = "checkin_help_now";
      c.severity = "high";
      c.created_at = kStart;
      c.team = "team_a";
      c.next_alert_at = kStart + kSla;
      tx.bind_session_to_case(session, tx.insert_case(c));
    });
    ASSERT_TRUE(res.ok) << res.error;
  };
  make("CALLYS", true);
  make("CALLNO", false);

  HttpResult r = g.call("GET", "/api/v1/cases/CALLYS", "token-alice");
  ASSERT_EQ(r.status, 200) << r.body;
  json d = body_of(r);
  EXPECT_EQ(d["phone"], phone);
  EXPECT_EQ(d["answers"], json::parse(R"([{"key":"safe_to_call","value":"yes"},
      {"key":"referral","value":"ngo"},{"key":"wellbeing","value":"help_now"}])"));
  EXPECT_EQ(d["consents"], json::parse(R"({"callback":true,"referral_ngo":true})"));
  EXPECT_EQ(g.count("audit", "action = 'case.read' AND detail = 'ok,phone'"), 1);

  r = g.call("GET", "/api/v1/cases/CALLNO", "token-alice");  // she withdrew the callback consent
  ASSERT_EQ(r.status, 200) << r.body;
  d = body_of(r);
  EXPECT_FALSE(d.contains("phone"));
  EXPECT_EQ(d["consents"]["callback"], false);
  EXPECT_EQ(r.body.find("345123"), std::string::npos);
}

// SAFETY C2: one audit row per call, hash-chained; an edited row is found.
TEST_F(CaseworkerApiTest, EveryCallIsAuditedAndEditingARowBreaksTheChain) {
  g.add_case("AUDAAA", "team_a");
  const std::vector<std::tuple<std::string, std::string, std::string, std::string>> calls = {
      {"GET", "/api/v1/me", "", "responder.me"},
      {"GET", "/api/v1/cases?open=1&severity=high", "", "case.list"},
      {"GET", "/api/v1/cases/AUDAAA", "", "case.read"},
      {"POST", "/api/v1/cases/AUDAAA/ack", "", "case.ack"},
      {"POST", "/api/v1/cases/AUDAAA/claim", "", "case.claim"},
      {"POST", "/api/v1/cases/AUDAAA/notes", R"({"text":"AUDIT-NOTE-TEXT"})", "case.note"},
      {"POST", "/api/v1/cases/AUDAAA/close", R"({"outcome":"referred","reason":"she is safe"})",
       "case.close"},
      {"GET", "/api/v1/export", "", "case.export"},
      {"GET", "/api/v1/cases/NOSUCH", "", "case.read"},
  };
  const std::string actor = "responder:" + std::to_string(g.responder_id("Sara Supervisor"));
  for (const auto& [method, path, body, action] : calls) {
    const int before = g.count("audit");
    const HttpResult r = g.call(method, path, "token-sara", body);
    EXPECT_LT(r.status, 500) << path;
    ASSERT_EQ(g.count("audit"), before + 1) << method << " " << path;
    SQLite::Database db(g.db_path(), SQLite::OPEN_READONLY);
    SQLite::Statement st(db, "SELECT actor, action FROM audit ORDER BY id DESC LIMIT 1");
    ASSERT_TRUE(st.executeStep());
    EXPECT_EQ(st.getColumn(0).getString(), actor);
    EXPECT_EQ(st.getColumn(1).getString(), action) << path;
  }
  EXPECT_EQ(g.count("audit", "action = 'case.close' AND detail LIKE 'outcome=referred,note=%'"), 1);
  EXPECT_EQ(g.count("audit", "case_reference = 'NOSUCH' AND detail = 'not_found'"), 1);
  EXPECT_EQ(g.count("audit", "detail LIKE '%AUDIT-NOTE%'"), 0);

  EXPECT_EQ(verify(), std::nullopt);
  const std::int64_t third = 3;
  {
    SQLite::Database db(g.db_path(), SQLite::OPEN_READWRITE);
    db.exec("UPDATE audit SET detail = 'nothing to see' WHERE id = 3");
  }
  EXPECT_EQ(verify(), third);
}

// SECURITY #11: the audit chain is a MAC chain under a key kept outside the database. Before, it
// was an unkeyed SHA-256 over '|'-joined fields: deleting two rows and recomputing the rest
// passed `rabta audit verify`, and a cut-off tail could not be noticed at all.
class AuditChainTest : public CaseworkerApiTest {
 protected:
  void SetUp() override {
    for (int i = 0; i < 6; ++i) ASSERT_EQ(g.call("GET", "/api/v1/me", "token-alice").status, 200);
    ASSERT_GE(g.count("audit"), 6);
    ASSERT_EQ(verify(), std::nullopt);
  }
  void sql(const std::string& statement) {
    SQLite::Database db(g.db_path(), SQLite::OPEN_READWRITE);
    db.exec(statement);
  }
  // Rewrites every row's links in id order: `hash` gives a row's new hash, its prev_hash already
  // set to the previous row's new hash.
  void relink(const std::function<std::string(const store::AuditRecord&)>& hash) {
    SQLite::Database db(g.db_path(), SQLite::OPEN_READWRITE);
    std::vector<store::AuditRecord> rows;
    {
      SQLite::Statement st(db,
                           "SELECT id, at, actor, action, case_reference, detail, hash FROM "
                           "audit ORDER BY id");
      while (st.executeStep()) {
        store::AuditRecord r;
        r.id = st.getColumn(0).getInt64();
        r.at = st.getColumn(1).getInt64();
        r.actor = st.getColumn(2).getString();
        r.action = st.getColumn(3).getString();
        r.case_reference = st.getColumn(4).getString();
        r.detail = st.getColumn(5).getString();
        r.hash = st.getColumn(6).getString();
        rows.push_back(r);
      }
    }
    std::string prev;
    SQLite::Statement up(db, "UPDATE audit SET prev_hash = ?1, hash = ?2 WHERE id = ?3");
    for (auto& r : rows) {
      r.prev_hash = prev;
      r.hash = hash(r);
      up.bind(1, r.prev_hash);
      up.bind(2, r.hash);
      up.bind(3, r.id);
      up.exec();
      up.reset();
      prev = r.hash;
    }
  }
  // What an attacker with a copy of the database but not the key can do: recompute every MAC
  // from `from` on with a key of her guessing, relinking the chain.
  void recompute_from(std::int64_t from, const std::string& guessed_key) {
    relink([&](const store::AuditRecord& r) {
      return r.id >= from ? store::audit_mac(guessed_key, r) : r.hash;
    });
  }
};

TEST_F(AuditChainTest, DeletingTwoRowsAndRecomputingTheRestIsDetected) {
  sql("DELETE FROM audit WHERE id IN (3, 4)");
  EXPECT_EQ(verify(), 5) << "a gap in the row ids";
  sql("UPDATE audit SET id = id - 2 WHERE id > 4");  // close the gap, then relink
  recompute_from(3, "");                             // the old unkeyed way has no key at all
  EXPECT_EQ(verify(), 3);
  recompute_from(3, "a guessed key");
  EXPECT_EQ(verify(), 3);
}

TEST_F(AuditChainTest, EditingARowIsDetectedEvenWithItsMacRecomputed) {
  sql("UPDATE audit SET actor = 'responder:99' WHERE id = 2");
  EXPECT_EQ(verify(), 2);
  recompute_from(2, "a guessed key");
  EXPECT_EQ(verify(), 2);
}

TEST_F(AuditChainTest, ReorderingRowsIsDetected) {
  // Swap the contents of rows 2 and 3, links included: each MAC covers its row id.
  sql("UPDATE audit SET id = -2 WHERE id = 2; UPDATE audit SET id = 2 WHERE id = 3; "
      "UPDATE audit SET id = 3 WHERE id = -2");
  EXPECT_EQ(verify(), 2);
}

TEST_F(AuditChainTest, ATruncatedTailIsDetectedAgainstTheKeptHead) {
  std::string head;
  g.store->read([&](store::Tx& tx) {
    const auto check = gateway::verify_audit_chain(tx, "test-audit-key");
    head = std::to_string(check.last_id) + ":" + check.last_mac;
  });
  const int rows = g.count("audit");
  sql("DELETE FROM audit WHERE id > " + std::to_string(rows - 2));
  // What is left is a whole chain; only the head kept elsewhere shows that rows are gone.
  EXPECT_EQ(verify(), std::nullopt);
  g.store->read([&](store::Tx& tx) {
    const auto check = gateway::verify_audit_chain(tx, "test-audit-key");
    EXPECT_NE(std::to_string(check.last_id) + ":" + check.last_mac, head);
    EXPECT_EQ(check.last_id, rows - 2);
  });
}

TEST_F(AuditChainTest, AChainOfSchema3IsSealedWithTheKeyOnceAndRecordsWhetherItHeld) {
  // Rows as schema 3 wrote them: the unkeyed hash.
  relink([](const store::AuditRecord& r) { return store::legacy_audit_hash(r); });
  EXPECT_EQ(verify(), 1);
  const int rows = g.count("audit");
  const auto seal = gateway::seal_audit_chain(*g.store, "test-audit-key", 5);
  EXPECT_EQ(seal.rows, rows);
  EXPECT_EQ(seal.old_broken_at, std::nullopt);
  EXPECT_EQ(verify(), std::nullopt);
  EXPECT_EQ(g.count("audit", "action = 'audit.sealed' AND detail = 'rows=" + std::to_string(rows) +
                                 ",old_chain=ok'"),
            1);
  EXPECT_EQ(gateway::seal_audit_chain(*g.store, "test-audit-key", 6).rows, 0) << "only once";
}

TEST_F(CaseworkerApiTest, RemovedMembersCannotSignInAndReturningMembersNeedANewToken) {
  ASSERT_EQ(g.call("GET", "/api/v1/me", "token-cora").status, 200);
  const int before = g.count("audit");
  g.sync(test_roster(/*with_cora=*/false));
  EXPECT_EQ(g.call("GET", "/api/v1/me", "token-cora").status, 401);
  EXPECT_EQ(g.call("GET", "/api/v1/me", "token-bina").status, 200) << "the others keep theirs";
  EXPECT_EQ(g.count("audit"), before + 2);
  const std::string cora = std::to_string(g.responder_id("Cora Caseworker"));
  EXPECT_EQ(g.count("audit", "action = 'sign_in_failed' AND detail = 'reason=inactive responder=" +
                                 cora + " peer=127.0.0.1'"),
            1);
  g.sync(test_roster(/*with_cora=*/true));
  EXPECT_EQ(g.count("audit", "action = 'responder.token_revoked' AND detail = 'responder=" + cora +
                                 " reason=listed_again'"),
            1);
  EXPECT_EQ(g.call("GET", "/api/v1/me", "token-cora").status, 401) << "her old token stays dead";
  g.set_token("Cora Caseworker", "token-cora-2");
  EXPECT_EQ(g.call("GET", "/api/v1/me", "token-cora-2").status, 200);
}

TEST_F(CaseworkerApiTest, RosterSyncStoresNumbersOnlyEncryptedAndBoundToTheRow) {
  std::vector<store::ResponderRecord> rows;
  g.store->read([&](store::Tx& tx) { rows = tx.list_responders(); });
  ASSERT_EQ(rows.size(), 4u);
  for (const auto& r : rows) {
    EXPECT_TRUE(r.active);
    EXPECT_EQ(r.phone_pseudonym.size(), 64u);
    const auto phone = g.cipher.decrypt(
        r.phone_enc, common::FieldCipher::associated_data("responders", "phone_enc", r.id));
    ASSERT_TRUE(phone) << r.name;
    EXPECT_EQ(phone->rfind("+92300000000", 0), 0u);
    EXPECT_EQ(r.phone_pseudonym, g.pseudonymizer.pseudonym(*phone));
  }
  EXPECT_EQ(rows[0].name, "Alice Caseworker");
  EXPECT_EQ(rows[0].team, "team_a");
  EXPECT_EQ(rows[0].role, "caseworker");
  g.sync(*g.roster);  // a second sync changes nothing and keeps the tokens
  EXPECT_EQ(g.call("GET", "/api/v1/me", "token-alice").status, 200);
  for (const char* file : {"rabta.db", "rabta.db-wal"})
    EXPECT_EQ(file_bytes(g.dir.file(file)).find("3000000001"), std::string::npos) << file;
}

TEST_F(CaseworkerApiTest, ResponderSmsActionsAreAuditedAsSms) {
  g.add_case("SMSAAA", "team_a");
  gateway::Actor a{g.responder_id("Alice Caseworker"),
                   "Alice Caseworker",
                   "caseworker",
                   "team_a",
                   false,
                   "sms",
                   "kannel",
                   "msg-1"};
  gateway::CaseResult result = gateway::CaseResult::invalid;
  ASSERT_TRUE(
      g.store->run([&](store::Tx& tx) { result = g.cases->acknowledge(tx, a, "SMSAAA"); }).ok);
  EXPECT_EQ(result, gateway::CaseResult::ok);
  EXPECT_EQ(g.count("audit", "actor = 'sms:" + std::to_string(a.responder_id) +
                                 "' AND action = 'case.ack' AND case_reference = 'SMSAAA' AND "
                                 "detail = 'ok,channel=kannel,message=msg-1'"),
            1);
  a.team = "team_b";
  ASSERT_TRUE(
      g.store
          ->run([&](store::Tx& tx) { result = g.cases->close(tx, a, "SMSAAA", "resolved", "x"); })
          .ok);
  EXPECT_EQ(result, gateway::CaseResult::not_found);
}

TEST_F(CaseworkerApiTest, ConsoleIsServedWithStrictHeaders) {
  HttpResult r = g.http.get(g.base + "/console");
  EXPECT_EQ(r.status, 302);
  EXPECT_TRUE(has_header(r, "Location: /console/")) << r.headers;

  r = g.http.get(g.base + "/console/");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_TRUE(has_header(r, "Content-Security-Policy: default-src 'self'")) << r.headers;
  EXPECT_TRUE(has_header(r, "Cache-Control: no-store"));
  EXPECT_NE(r.body.find("<title>rabta</title>"), std::string::npos);
  EXPECT_NE(r.body.find(R"(<script src="app.js")"), std::string::npos);
  // No inline script: every <script> has a src, and no on...= handlers.
  std::size_t scripts = 0;
  for (std::size_t at = r.body.find("<script"); at != std::string::npos;
       at = r.body.find("<script", at + 1)) {
    ++scripts;
    EXPECT_EQ(r.body.compare(at, 12, "<script src="), 0);
  }
  EXPECT_EQ(scripts, 1u);
  EXPECT_EQ(r.body.find(" onclick="), std::string::npos);
  EXPECT_EQ(r.body, g.http.get(g.base + "/console/index.html").body);

  r = g.http.get(g.base + "/console/app.js");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/javascript; charset=utf-8");
  EXPECT_NE(r.body.find("sessionStorage"), std::string::npos);
  EXPECT_EQ(r.body.find("localStorage."), std::string::npos);
  r = g.http.get(g.base + "/console/app.css");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/css; charset=utf-8");

  EXPECT_EQ(g.http.get(g.base + "/console/../rabta.db").status, 404);
  EXPECT_EQ(g.http.get(g.base + "/console/nothing.js").status, 404);
  EXPECT_EQ(g.http.get(g.base + "/consolex").status, 404);
  EXPECT_EQ(g.http.post(g.base + "/console/", "x").status, 405);
}

// SAFETY D5: the log names endpoints, statuses and responder ids; never tokens, notes or numbers.
TEST_F(CaseworkerApiTest, LogsCarryNoTokenNoteOrNumber) {
  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  auto logger = std::make_shared<spdlog::logger>("caseworker-test", sink);
  logger->set_level(spdlog::level::trace);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::trace);

  g.add_case("LOGAAA", "team_a");
  g.call("GET", "/api/v1/me", "token-alice");
  g.call("GET", "/api/v1/cases/LOGAAA", "token-alice");
  g.call("POST", "/api/v1/cases/LOGAAA/notes", "token-alice", R"({"text":"LOG-NOTE-MARKER"})");
  g.call("GET", "/api/v1/cases", "token-wrong");
  g.call("GET", "/api/v1/cases", "");

  spdlog::set_default_logger(previous);
  const std::string log = captured.str();
  EXPECT_NE(log.find("/api/v1/cases/{ref}/notes"), std::string::npos) << log;
  EXPECT_NE(log.find("responder:" + std::to_string(g.responder_id("Alice Caseworker"))),
            std::string::npos);
  const std::string token = g.token("token-alice");
  const std::vector<std::string> secrets = {token.substr(token.find('.') + 1), "token-wrong",
                                            "LOG-NOTE-MARKER", "3000000001",
                                            common::sha256_hex(token)};
  for (const std::string& secret : secrets)
    EXPECT_EQ(log.find(secret), std::string::npos) << secret;
}

// #15: the views a caseworker works from, and search by every field; a filter that does not
// exist is refused rather than ignored (tested in BadInputIs400AndChangesNothing).
TEST_F(CaseworkerApiTest, ViewsAndSearchFindWhatTheyNameAndNothingElse) {
  g.add_case("VUNASS", "team_a", "high");
  g.add_case("VMINEA", "team_a", "normal");
  g.add_case("VSARAS", "team_a", "low");
  g.add_case("VCLOSD", "team_a", "high");
  g.add_case("VTEAMB", "team_b", "critical");
  ASSERT_EQ(g.call("POST", "/api/v1/cases/VMINEA/claim", "token-alice").status, 200);
  ASSERT_EQ(
      g.call("POST", "/api/v1/cases/VSARAS/assign", "token-sara", R"({"to":"Sara Supervisor"})")
          .status,
      200);
  ASSERT_EQ(g.call("POST", "/api/v1/cases/VCLOSD/close", "token-alice",
                   R"({"outcome":"resolved","reason":"she is safe"})")
                .status,
            200);
  auto refs = [&](const std::string& token, const std::string& query) {
    const HttpResult r = g.call("GET", "/api/v1/cases?" + query, token);
    EXPECT_EQ(r.status, 200) << query << ": " << r.body;
    std::vector<std::string> out;
    const json page = body_of(r);
    for (const auto& c : page["cases"]) out.push_back(c["reference"]);
    std::sort(out.begin(), out.end());
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(refs("token-alice", "view=mine"), V{"VMINEA"});
  EXPECT_EQ(refs("token-alice", "view=unassigned"), V{"VUNASS"});
  EXPECT_EQ(refs("token-alice", "view=team"), (V{"VMINEA", "VSARAS", "VUNASS"}));
  EXPECT_EQ(refs("token-alice", "view=closed"), V{"VCLOSD"});
  EXPECT_EQ(refs("token-sara", "view=mine"), V{"VSARAS"});
  EXPECT_EQ(refs("token-sara", "view=unassigned"), (V{"VTEAMB", "VUNASS"}));
  EXPECT_EQ(refs("token-bina", "view=team"), V{"VTEAMB"});
  // The assignee by name, or nobody; "none" includes closed cases unless a view says otherwise.
  EXPECT_EQ(refs("token-alice", "assignee=Sara%20Supervisor"), V{"VSARAS"});
  EXPECT_EQ(refs("token-alice", "assignee=Alice+Caseworker&view=mine"), V{"VMINEA"});
  EXPECT_EQ(refs("token-alice", "assignee=Sara%20Supervisor&view=mine"), V{});
  EXPECT_EQ(refs("token-alice", "assignee=none"), (V{"VCLOSD", "VUNASS"}));
  // Reference as typed (any case), severity, category, district, team.
  EXPECT_EQ(refs("token-alice", "reference=vunass"), V{"VUNASS"});
  EXPECT_EQ(refs("token-alice", "reference=VTEAMB"), V{}) << "another team's case stays unseen";
  EXPECT_EQ(refs("token-alice", "severity=high&view=team"), V{"VUNASS"});
  EXPECT_EQ(refs("token-alice", "category=threats&view=closed"), V{"VCLOSD"});
  EXPECT_EQ(refs("token-alice", "category=harassment"), V{});
  EXPECT_EQ(refs("token-alice", "district=bhakkar&severity=low"), V{"VSARAS"});
  EXPECT_EQ(refs("token-alice", "district=lahore"), V{});
  EXPECT_EQ(refs("token-sara", "team=team_b"), V{"VTEAMB"});
  EXPECT_EQ(refs("token-alice", "team=team_b"), V{}) << "a caseworker's scope is her team";
  // Date range on when she reported, [from, to).
  g.clock.advance(std::chrono::hours(2));
  g.add_case("VLATER", "team_a", "high");
  const std::string later = std::to_string(g.clock.now_ms());
  EXPECT_EQ(refs("token-alice", "from=" + later), V{"VLATER"});
  EXPECT_EQ(refs("token-alice", "to=" + later + "&view=team"), (V{"VMINEA", "VSARAS", "VUNASS"}));
  // Every search is audited with the names of its filters, never the values she typed.
  for (const char* typed :
       {"Sara", "Alice", "team_b", "threats", "harassment", "bhakkar", "lahore", "VUNASS"})
    EXPECT_EQ(
        g.count("audit", "action = 'case.list' AND detail LIKE '%" + std::string(typed) + "%'"), 0)
        << typed;
  EXPECT_GE(g.count("audit", "action = 'case.list' AND detail LIKE '%,district%'"), 2);
  EXPECT_GE(g.count("audit", "action = 'case.list' AND detail LIKE '%,assignee%'"), 3);
}

// #15: the acknowledgement deadline runs from her report and does not restart when the ladder
// climbs; past it the case says how long it is overdue.
TEST_F(CaseworkerApiTest, OverdueCountsFromTheDeadlineAndEndsWithTheAcknowledgement) {
  g.add_case("LATEAA", "team_a", "high");
  g.add_case("ONTIME", "team_a", "high", 10 * 60 * 1000);  // reported 10 minutes later
  auto summary = [&](const std::string& ref) {
    return body_of(g.call("GET", "/api/v1/cases/" + ref, "token-alice"));
  };
  EXPECT_TRUE(summary("LATEAA")["overdue_ms"].is_null());
  EXPECT_EQ(summary("LATEAA")["ack_due_at"], kStart + kSla);
  g.clock.advance(std::chrono::minutes(20));
  json late = summary("LATEAA");
  EXPECT_EQ(late["overdue_ms"], 5 * 60 * 1000);
  EXPECT_EQ(late["ack_due_at"], kStart + kSla) << "the deadline stays where it was";
  EXPECT_TRUE(summary("ONTIME")["overdue_ms"].is_null());
  json overdue = body_of(g.call("GET", "/api/v1/cases?overdue=1", "token-alice"));
  ASSERT_EQ(overdue["cases"].size(), 1u);
  EXPECT_EQ(overdue["cases"][0]["reference"], "LATEAA");
  ASSERT_EQ(g.call("POST", "/api/v1/cases/LATEAA/ack", "token-alice").status, 200);
  EXPECT_TRUE(summary("LATEAA")["overdue_ms"].is_null());
  EXPECT_TRUE(body_of(g.call("GET", "/api/v1/cases?overdue=1", "token-alice"))["cases"].empty());
}

// #15: assignment to a named member of the case's team (or a supervisor), reassignment, and the
// steps a closed case refuses with 409.
TEST_F(CaseworkerApiTest, AssignmentGoesToSomeoneOfTheTeamAndIsAudited) {
  g.add_case("ASGNAA", "team_a");
  HttpResult r =
      g.call("POST", "/api/v1/cases/ASGNAA/assign", "token-sara", R"({"to":"Alice Caseworker"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_of(r)["assignee"], "Alice Caseworker");
  EXPECT_EQ(body_of(r)["status"], "claimed");
  EXPECT_TRUE(body_of(r)["sla_remaining_ms"].is_null()) << "someone has it: the ladder stops";
  EXPECT_EQ(g.stored("ASGNAA").next_alert_at, 0);
  // Alice hands it on to her supervisor at the end of her shift.
  r = g.call("POST", "/api/v1/cases/ASGNAA/assign", "token-alice", R"({"to":"Sara Supervisor"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_of(r)["assignee"], "Sara Supervisor");
  EXPECT_EQ(
      g.count("audit", "action = 'case.assign' AND detail = 'ok,to=responder:" +
                           std::to_string(g.responder_id("Sara Supervisor")) + ",from=responder:" +
                           std::to_string(g.responder_id("Alice Caseworker")) + "'"),
      1);
  // Not to someone of another team; another team's caseworker cannot touch it at all.
  r = g.call("POST", "/api/v1/cases/ASGNAA/assign", "token-sara", R"({"to":"Bina Caseworker"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(body_of(r)["reason"],
            "to must be an active member of the case's team, or a supervisor");
  EXPECT_EQ(
      g.call("POST", "/api/v1/cases/ASGNAA/assign", "token-bina", R"({"to":"Bina Caseworker"})")
          .status,
      404);
  EXPECT_EQ(body_of(g.call("GET", "/api/v1/cases/ASGNAA", "token-alice"))["assignee"],
            "Sara Supervisor");
  // A closed case is assigned to nobody new.
  ASSERT_EQ(g.call("POST", "/api/v1/cases/ASGNAA/close", "token-sara",
                   R"({"outcome":"resolved","reason":"she is safe"})")
                .status,
            200);
  r = g.call("POST", "/api/v1/cases/ASGNAA/assign", "token-sara", R"({"to":"Alice Caseworker"})");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(body_of(r)["error"], "conflict");
}

// #15: an outcome configured to need approval waits for a supervisor; closing and reopening
// carry a reason, kept sealed; only a supervisor reopens.
TEST_F(CaseworkerApiTest, ClosingWithApprovalDecliningAndReopeningByASupervisor) {
  g.add_case("APPRAA", "team_a");
  g.add_case("DECLAA", "team_a");
  const std::string reason = "Her brother answered; she asked us not to call again";
  HttpResult r = g.call("POST", "/api/v1/cases/APPRAA/close", "token-alice",
                        json({{"outcome", "unsafe_to_contact"}, {"reason", reason}}).dump());
  ASSERT_EQ(r.status, 202) << r.body;
  // Asking to close acknowledges the case: whoever asked plainly worked it; the ladder stops.
  EXPECT_EQ(body_of(r)["status"], "acknowledged");
  EXPECT_EQ(g.stored("APPRAA").next_alert_at, 0);
  EXPECT_EQ(g.stored("APPRAA").acknowledged_by, g.responder_id("Alice Caseworker"));
  EXPECT_EQ(body_of(r)["pending_outcome"], "unsafe_to_contact");
  EXPECT_EQ(body_of(r)["pending_by"], "Alice Caseworker");
  r = g.call("POST", "/api/v1/cases/APPRAA/close", "token-alice",
             R"({"outcome":"resolved","reason":"changed my mind"})");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(body_of(r)["reason"], "a closing waits for a supervisor's approval");
  EXPECT_EQ(g.call("POST", "/api/v1/cases/APPRAA/approve", "token-alice").status, 403);
  EXPECT_EQ(g.call("POST", "/api/v1/cases/APPRAA/approve", "token-bina").status, 404);
  EXPECT_EQ(g.stored("APPRAA").status, "acknowledged");
  r = g.call("POST", "/api/v1/cases/APPRAA/approve", "token-sara");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_of(r)["status"], "closed");
  EXPECT_EQ(g.stored("APPRAA").outcome, "unsafe_to_contact");
  EXPECT_TRUE(body_of(r)["pending_outcome"].is_null());
  EXPECT_EQ(g.call("POST", "/api/v1/cases/APPRAA/approve", "token-sara").status, 409);
  // The reason is sealed: not in the database in clear, read back in the case's notes.
  SQLite::Database db(g.db_path(), SQLite::OPEN_READONLY);
  EXPECT_EQ(
      db.execAndGet("SELECT count(*) FROM notes WHERE instr(text_enc, 'brother') > 0").getInt(), 0);
  const json detail = body_of(g.call("GET", "/api/v1/cases/APPRAA", "token-sara"));
  ASSERT_EQ(detail["notes"].size(), 1u);
  EXPECT_EQ(detail["notes"][0]["kind"], "closing");
  EXPECT_EQ(detail["notes"][0]["text"], reason);

  // A supervisor's own closing needs nobody's approval; declining sends a closing back.
  ASSERT_EQ(g.call("POST", "/api/v1/cases/DECLAA/close", "token-alice",
                   R"({"outcome":"unsafe_to_contact","reason":"no answer"})")
                .status,
            202);
  EXPECT_EQ(g.call("POST", "/api/v1/cases/DECLAA/decline", "token-sara", R"({})").status, 400);
  r = g.call("POST", "/api/v1/cases/DECLAA/decline", "token-sara",
             R"({"reason":"try once more in the morning"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(body_of(r)["pending_outcome"].is_null());
  EXPECT_EQ(g.stored("DECLAA").status, "acknowledged");
  EXPECT_EQ(g.stored("DECLAA").next_alert_at, 0) << "declining does not restart the ladder";
  EXPECT_TRUE(g.stored("DECLAA").pending_outcome.empty());
  EXPECT_EQ(
      g.call("POST", "/api/v1/cases/DECLAA/decline", "token-sara", R"({"reason":"x"})").status,
      409);
  ASSERT_EQ(g.call("POST", "/api/v1/cases/DECLAA/close", "token-sara",
                   R"({"outcome":"unsafe_to_contact","reason":"her sister confirmed"})")
                .status,
            200);

  // Reopening: a supervisor's step, with a reason, and only for a closed case.
  EXPECT_EQ(g.call("POST", "/api/v1/cases/APPRAA/reopen", "token-alice",
                   R"({"reason":"she called back"})")
                .status,
            403);
  EXPECT_EQ(g.call("POST", "/api/v1/cases/APPRAA/reopen", "token-sara", R"({"reason":""})").status,
            400);
  r = g.call("POST", "/api/v1/cases/APPRAA/reopen", "token-sara",
             R"({"reason":"she called back"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_of(r)["status"], "acknowledged");
  EXPECT_EQ(g.stored("APPRAA").outcome, "");
  EXPECT_EQ(g.stored("APPRAA").closed_at, 0);
  EXPECT_EQ(g.stored("APPRAA").next_alert_at, 0) << "reopening does not restart the ladder";
  r = g.call("POST", "/api/v1/cases/APPRAA/reopen", "token-sara", R"({"reason":"again"})");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(body_of(r)["reason"], "the case is not closed");
  // The audit row names the outcome and the note, never the reason's words.
  EXPECT_EQ(g.count("audit", "detail LIKE '%called back%' OR detail LIKE '%brother%'"), 0);
}

// #15: the timeline is every step of the case in order, with who and when, built from the audit
// log and the outbox; reads and refused steps are not events.
TEST_F(CaseworkerApiTest, TheTimelineTellsTheCaseInOrder) {
  g.add_case("TIMEAA", "team_a");
  const auto step = [&](const std::string& method, const std::string& path,
                        const std::string& token, const std::string& body = "") {
    g.clock.advance(std::chrono::minutes(1));
    const HttpResult r = g.call(method, "/api/v1/cases/TIMEAA" + path, token, body);
    EXPECT_LT(r.status, 300) << path << ": " << r.body;
  };
  step("POST", "/ack", "token-alice");
  step("GET", "", "token-alice");
  step("POST", "/notes", "token-alice", R"({"text":"called, no answer"})");
  step("POST", "/assign", "token-sara", R"({"to":"Alice Caseworker"})");
  step("POST", "/close", "token-alice", R"({"outcome":"resolved","reason":"she is safe now"})");
  step("POST", "/reopen", "token-sara", R"({"reason":"she called back"})");
  EXPECT_EQ(g.call("POST", "/api/v1/cases/TIMEAA/approve", "token-alice").status, 403);
  const HttpResult r = g.call("GET", "/api/v1/cases/TIMEAA/timeline", "token-alice");
  ASSERT_EQ(r.status, 200) << r.body;
  const json all = body_of(r)["events"];
  // The case-management system was told of each step (queued: no dispatcher runs here).
  json events = json::array();
  std::vector<std::string> told;
  for (const auto& e : all) {
    if (e["event"] == "webhook")
      told.push_back(e["detail"].get<std::string>() + " " + e["delivery"].get<std::string>());
    else
      events.push_back(e);
  }
  EXPECT_EQ(told, (std::vector<std::string>{
                      "case_management:acknowledged queued", "case_management:assigned queued",
                      "case_management:closed queued", "case_management:reopened queued"}));
  std::vector<std::string> seen;
  for (const auto& e : events) seen.push_back(e["event"]);
  EXPECT_EQ(seen, (std::vector<std::string>{"opened", "acknowledged", "note", "assigned", "closed",
                                            "reopened"}));
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[1]["by"], "Alice Caseworker");
  EXPECT_EQ(events[1]["at"], kStart + 60'000);
  EXPECT_EQ(events[2]["text"], "called, no answer");
  EXPECT_EQ(events[3]["by"], "Sara Supervisor");
  EXPECT_EQ(events[3]["detail"], "Alice Caseworker");
  EXPECT_EQ(events[4]["detail"], "resolved");
  EXPECT_EQ(events[4]["text"], "she is safe now");
  EXPECT_EQ(events[5]["detail"], "resolved");
  EXPECT_EQ(events[5]["text"], "she called back");
  for (std::size_t i = 1; i < all.size(); ++i)
    EXPECT_LE(all[i - 1]["at"].get<std::int64_t>(), all[i]["at"].get<std::int64_t>());
  // Only whoever may read the case reads its timeline; reading it is audited.
  EXPECT_EQ(g.call("GET", "/api/v1/cases/TIMEAA/timeline", "token-bina").status, 404);
  EXPECT_EQ(g.count("audit", "action = 'case.timeline' AND case_reference = 'TIMEAA'"), 2);
}

// #15: referral to a configured partner only with her consent for that kind of partner in this
// case; the partner then receives the case's lifecycle, carrying exactly what she agreed to. The
// case-management system receives the whole lifecycle, which was defined but never sent.
TEST_F(CaseworkerApiTest, ReferralFollowsHerConsentAndPartnersReceiveTheLifecycle) {
  // She agreed to the police and to a call back, and was not asked about an NGO.
  g.add_reported_case("REFPOL", "team_a", {{"referral_police", true}, {"callback", true}});
  const json me = body_of(g.call("GET", "/api/v1/me", "token-alice"));
  ASSERT_EQ(me["partners"].size(), 2u);
  EXPECT_EQ(me["partners"][0]["label"], "Police women's desk");
  json d = body_of(g.call("GET", "/api/v1/cases/REFPOL", "token-alice"));
  ASSERT_EQ(d["referrals"].size(), 2u) << d.dump();
  EXPECT_EQ(d["referrals"][0]["partner"], "police_desk");
  EXPECT_EQ(d["referrals"][0]["consented"], true);
  EXPECT_EQ(d["referrals"][1]["partner"], "legal_aid");
  EXPECT_EQ(d["referrals"][1]["consented"], false);

  ASSERT_EQ(g.call("POST", "/api/v1/cases/REFPOL/ack", "token-alice").status, 200);
  // Not to the NGO: she was not asked. Nothing is queued for it, and the refusal is audited.
  HttpResult r =
      g.call("POST", "/api/v1/cases/REFPOL/refer", "token-alice", R"({"partner":"legal_aid"})");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(body_of(r)["error"], "no_consent");
  EXPECT_EQ(g.call("POST", "/api/v1/cases/REFPOL/refer", "token-alice", R"({"partner":"shelter"})")
                .status,
            400);
  EXPECT_EQ(
      g.call("POST", "/api/v1/cases/REFPOL/refer", "token-bina", R"({"partner":"police_desk"})")
          .status,
      404);
  r = g.call("POST", "/api/v1/cases/REFPOL/refer", "token-alice", R"({"partner":"police_desk"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(
      g.call("POST", "/api/v1/cases/REFPOL/refer", "token-alice", R"({"partner":"police_desk"})")
          .status,
      409)
      << "referred there already";
  EXPECT_EQ(
      body_of(g.call("GET", "/api/v1/cases/REFPOL", "token-alice"))["referrals"][0]["referred"],
      true);

  // The partner's body carries what she agreed to: district, when to call, and her number
  // (police and call back); the case system's carries neither (no consent to an NGO).
  const auto police = g.webhook_body("REFPOL", "webhook:police_desk", "referred", true, true);
  ASSERT_TRUE(police);
  EXPECT_EQ((*police)["district"], "bhakkar");
  EXPECT_EQ((*police)["call_time"], "evening");
  EXPECT_EQ((*police)["phone"], "+923451112233");
  const auto cms = g.webhook_body("REFPOL", "webhook:case_management", "referred", false, true);
  ASSERT_TRUE(cms);
  EXPECT_FALSE(cms->contains("district"));
  EXPECT_FALSE(cms->contains("phone"));
  // Her number is not in the database in clear.
  EXPECT_EQ(g.count("outbox", "payload LIKE '%3451112233%'"), 0);

  // The lifecycle from then on goes to both; a repeated event gets a row of its own.
  ASSERT_EQ(
      g.call("POST", "/api/v1/cases/REFPOL/assign", "token-alice", R"({"to":"Alice Caseworker"})")
          .status,
      200);
  ASSERT_EQ(g.call("POST", "/api/v1/cases/REFPOL/close", "token-alice",
                   R"({"outcome":"referred","reason":"police desk took it"})")
                .status,
            200);
  ASSERT_EQ(
      g.call("POST", "/api/v1/cases/REFPOL/reopen", "token-sara", R"({"reason":"again"})").status,
      200);
  ASSERT_EQ(g.call("POST", "/api/v1/cases/REFPOL/close", "token-sara",
                   R"({"outcome":"resolved","reason":"safe now"})")
                .status,
            200);
  EXPECT_EQ(g.webhook_rows("REFPOL"), (std::vector<std::string>{
                                          "webhook:case_management acknowledged",
                                          "webhook:case_management referred",
                                          "webhook:police_desk referred",
                                          "webhook:case_management assigned",
                                          "webhook:police_desk assigned",
                                          "webhook:case_management closed",
                                          "webhook:police_desk closed",
                                          "webhook:case_management reopened",
                                          "webhook:police_desk reopened",
                                          "webhook:case_management closed",
                                          "webhook:police_desk closed",
                                      }));
  // She withdraws her consent to the police in this case: the desk hears nothing more.
  ASSERT_TRUE(
      g.store
          ->run([&](store::Tx& tx) {
            const auto c = *tx.find_case("REFPOL");
            tx.insert_consent({c.contact_id, 0, "referral_police", false, g.clock.now_ms(), c.id});
          })
          .ok);
  ASSERT_EQ(
      g.call("POST", "/api/v1/cases/REFPOL/reopen", "token-sara", R"({"reason":"again"})").status,
      200);
  EXPECT_EQ(g.webhook_rows("REFPOL").back(), "webhook:case_management reopened");
  // The timeline names the partner, and what was sent to whom.
  const json events =
      body_of(g.call("GET", "/api/v1/cases/REFPOL/timeline", "token-alice"))["events"];
  bool referred = false;
  int webhooks = 0;
  for (const auto& e : events) {
    if (e["event"] == "referred") referred = e["detail"] == "Police women's desk";
    if (e["event"] == "webhook") ++webhooks;
  }
  EXPECT_TRUE(referred) << events.dump();
  EXPECT_EQ(webhooks, 12);
}

// A reference is given again once retention removed its case: what was done to the earlier case
// (a referral, an alert) is not this one's.
TEST_F(CaseworkerApiTest, AReusedReferenceInheritsNothingFromTheEarlierCase) {
  ASSERT_TRUE(g.store
                  ->run([&](store::Tx& tx) {
                    tx.append_audit(kStart - 1000, "responder:1", "case.refer", "REUSED",
                                    "partner=police_desk,purpose=referral_police");
                    tx.append_audit(kStart - 1000, "system", "case.alert", "REUSED",
                                    "rung 1 to Bina Caseworker");
                  })
                  .ok);
  g.add_reported_case("REUSED", "team_a", {{"referral_police", false}});
  const json d = body_of(g.call("GET", "/api/v1/cases/REUSED", "token-alice"));
  EXPECT_EQ(d["referrals"][0]["referred"], false);
  ASSERT_EQ(g.call("POST", "/api/v1/cases/REUSED/ack", "token-alice").status, 200);
  for (const std::string& row : g.webhook_rows("REUSED"))
    EXPECT_EQ(row.find("police"), std::string::npos) << row;
  EXPECT_EQ(g.call("GET", "/api/v1/cases/REUSED", "token-bina").status, 404)
      << "an alert of the earlier case does not open this one to her";
  const json timeline = body_of(g.call("GET", "/api/v1/cases/REUSED/timeline", "token-alice"));
  for (const auto& e : timeline["events"]) EXPECT_NE(e["event"], "referred");
}

// SAFETY W2 for referrals: a consent she gave in another report does not count for this one.
TEST_F(CaseworkerApiTest, AReferralConsentOfAnotherReportDoesNotCount) {
  g.add_reported_case("OLDREP", "team_a", {{"referral_police", true}}, "+923450000001");
  g.add_reported_case("NEWREP", "team_a", {{"referral_police", false}}, "+923450000001");
  EXPECT_EQ(
      g.call("POST", "/api/v1/cases/NEWREP/refer", "token-alice", R"({"partner":"police_desk"})")
          .status,
      409);
  EXPECT_EQ(
      g.call("POST", "/api/v1/cases/OLDREP/refer", "token-alice", R"({"partner":"police_desk"})")
          .status,
      200);
  for (const std::string& row : g.webhook_rows("NEWREP"))
    EXPECT_EQ(row.find("police"), std::string::npos) << row;
}

// #15: her context on the case: language, the channel she came by, district, and her earlier
// cases (references and outcomes of those the reader may see; a count of the others).
TEST_F(CaseworkerApiTest, HerContextShowsEarlierCasesOnlyAsFarAsTheReaderMaySee) {
  const std::string phone = "+923450000077";
  g.add_reported_case("CTXOLD", "team_a", {}, phone);
  g.add_reported_case("CTXOTH", "team_b", {}, phone);
  g.clock.advance(std::chrono::hours(24));
  g.add_reported_case("CTXNOW", "team_a", {}, phone);
  ASSERT_EQ(g.call("POST", "/api/v1/cases/CTXOLD/close", "token-alice",
                   R"({"outcome":"resolved","reason":"she is safe"})")
                .status,
            200);
  ASSERT_TRUE(g.store
                  ->run([&](store::Tx& tx) {
                    tx.set_contact_language(g.stored("CTXNOW").contact_id, "roman", kStart);
                  })
                  .ok);
  json d = body_of(g.call("GET", "/api/v1/cases/CTXNOW", "token-alice"));
  const json& ctx = d["context"];
  EXPECT_EQ(ctx["language"], "roman");
  EXPECT_EQ(ctx["channel"], "ussd:africastalking");
  EXPECT_EQ(ctx["district"], "bhakkar");
  ASSERT_EQ(ctx["earlier_cases"].size(), 1u) << ctx.dump();
  EXPECT_EQ(ctx["earlier_cases"][0]["reference"], "CTXOLD");
  EXPECT_EQ(ctx["earlier_cases"][0]["outcome"], "resolved");
  EXPECT_EQ(ctx["earlier_cases_elsewhere"], 1) << "team_b's case: counted, never named";
  EXPECT_EQ(d.dump().find("CTXOTH"), std::string::npos);
  // A supervisor sees all of them; the oldest case has no earlier one.
  d = body_of(g.call("GET", "/api/v1/cases/CTXNOW", "token-sara"));
  EXPECT_EQ(d["context"]["earlier_cases"].size(), 2u);
  EXPECT_EQ(d["context"]["earlier_cases_elsewhere"], 0);
  d = body_of(g.call("GET", "/api/v1/cases/CTXOLD", "token-alice"));
  EXPECT_TRUE(d["context"]["earlier_cases"].empty());
}

// --- The API contract (#15): docs/api/openapi.json is checked against the running API. Every
// operation and status it lists is exercised here; every response must be a status the document
// lists for its operation and carry exactly the fields its schema lists (additionalProperties is
// false everywhere: an undocumented field fails).

namespace {

class OpenApi {
 public:
  OpenApi() {
    std::ifstream in(std::string(RABTA_SOURCE_DIR) + "/docs/api/openapi.json");
    doc_ = json::parse(in);
  }
  const json& doc() const { return doc_; }

  // The schema at a "$ref", or the schema itself.
  const json& resolve(const json& s) const {
    if (!s.contains("$ref")) return s;
    const std::string ref = s["$ref"];  // "#/components/..."
    return doc_.at(json::json_pointer(ref.substr(1)));
  }

  void validate(const json& schema_in, const json& v, const std::string& at,
                std::vector<std::string>& problems) const {
    const json& s = resolve(schema_in);
    if (s.contains("type")) {
      std::vector<std::string> types;
      if (s["type"].is_array())
        for (const auto& t : s["type"]) types.push_back(t);
      else
        types.push_back(s["type"]);
      const bool ok = std::any_of(types.begin(), types.end(), [&](const std::string& t) {
        return (t == "null" && v.is_null()) || (t == "string" && v.is_string()) ||
               (t == "integer" && v.is_number_integer()) || (t == "boolean" && v.is_boolean()) ||
               (t == "array" && v.is_array()) || (t == "object" && v.is_object()) ||
               (t == "number" && v.is_number());
      });
      if (!ok) {
        problems.push_back(at + ": " + v.dump().substr(0, 60) + " is not " + s["type"].dump());
        return;
      }
    }
    if (s.contains("enum") && std::find(s["enum"].begin(), s["enum"].end(), v) == s["enum"].end())
      problems.push_back(at + ": " + v.dump() + " is not one of " + s["enum"].dump());
    if (v.is_object()) {
      const json props = s.value("properties", json::object());
      for (const auto& r : s.value("required", json::array()))
        if (!v.contains(r.get<std::string>()))
          problems.push_back(at + ": the required field " + r.get<std::string>() + " is missing");
      for (const auto& [k, val] : v.items()) {
        if (props.contains(k)) {
          validate(props[k], val, at + "." + k, problems);
        } else if (s.contains("additionalProperties") && s["additionalProperties"].is_object()) {
          validate(s["additionalProperties"], val, at + "." + k, problems);
        } else if (s.value("additionalProperties", true) == false) {
          problems.push_back(at + ": the field " + k + " is not in the document");
        }
      }
    }
    if (v.is_array() && s.contains("items"))
      for (std::size_t i = 0; i < v.size(); ++i)
        validate(s["items"], v[i], at + "[" + std::to_string(i) + "]", problems);
  }

 private:
  json doc_;
};

}  // namespace

class ApiContract : public CaseworkerApiTest {
 protected:
  // Calls the API and checks the answer against the document; records what it covered.
  HttpResult hit(const std::string& method, const std::string& path_template,
                 const std::string& path, const std::string& token, const std::string& body = "") {
    const HttpResult r = g.call(method, "/api/v1" + path, token, body);
    std::string m = method;
    for (char& ch : m) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    const json& paths = api.doc()["paths"];
    EXPECT_TRUE(paths.contains(path_template) && paths[path_template].contains(m))
        << method << " " << path_template << " is not in the document";
    if (!paths.contains(path_template) || !paths[path_template].contains(m)) return r;
    const json& responses = paths[path_template][m]["responses"];
    const std::string status = std::to_string(r.status);
    EXPECT_TRUE(responses.contains(status))
        << method << " " << path << " answered " << status << ", not in the document: " << r.body;
    if (!responses.contains(status)) return r;
    covered.insert(m + " " + path_template + " " + status);
    const json& response = api.resolve(responses[status]);
    if (response.contains("content") && response["content"].contains("text/csv")) {
      EXPECT_TRUE(has_header(r, "Content-Type: text/csv")) << path;
      return r;
    }
    const json parsed = json::parse(r.body, nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << path << ": not JSON: " << r.body;
    if (response.contains("content")) {
      std::vector<std::string> problems;
      api.validate(response["content"]["application/json"]["schema"], parsed,
                   method + " " + path + " " + status, problems);
      for (const auto& p : problems) ADD_FAILURE() << p;
    }
    return r;
  }
  OpenApi api;
  std::set<std::string> covered;
};

TEST_F(ApiContract, EveryDocumentedOperationAndStatusAnswersAsDocumented) {
  g.add_reported_case("CONAAA", "team_a", {{"referral_police", true}, {"callback", true}});
  g.add_case("CONBBB", "team_a");
  g.add_case("CONCCC", "team_a");
  g.add_case("CONDDD", "team_a");
  g.add_case("CONEEE", "team_a");
  const std::string a = "/cases/CONAAA";
  using S = std::string;
  hit("GET", "/me", "/me", "token-alice");
  hit("POST", "/me/language", "/me/language", "token-alice", R"({"language":"ur"})");
  hit("POST", "/me/language", "/me/language", "token-alice", R"({"language":"fr"})");
  EXPECT_EQ(body_of(hit("GET", "/me", "/me", "token-alice"))["language"], "ur");
  hit("GET", "/cases", "/cases?view=team&severity=high&overdue=0", "token-alice");
  hit("GET", "/cases", "/cases?sevrity=high", "token-alice");
  hit("GET", "/cases/{ref}", a, "token-alice");
  hit("GET", "/cases/{ref}", "/cases/NOSUCH", "token-alice");
  hit("GET", "/cases/{ref}/timeline", a + "/timeline", "token-alice");
  hit("GET", "/cases/{ref}/timeline", "/cases/NOSUCH/timeline", "token-alice");
  hit("POST", "/cases/{ref}/ack", a + "/ack", "token-alice");
  hit("POST", "/cases/{ref}/ack", "/cases/NOSUCH/ack", "token-alice");
  hit("POST", "/cases/{ref}/claim", a + "/claim", "token-alice");
  hit("POST", "/cases/{ref}/claim", "/cases/NOSUCH/claim", "token-alice");
  hit("POST", "/cases/{ref}/assign", a + "/assign", "token-alice", R"({"to":"Sara Supervisor"})");
  hit("POST", "/cases/{ref}/assign", a + "/assign", "token-alice", R"({"to":"Bina Caseworker"})");
  hit("POST", "/cases/{ref}/assign", "/cases/NOSUCH/assign", "token-alice", R"({"to":"x"})");
  hit("POST", "/cases/{ref}/notes", a + "/notes", "token-alice", R"({"text":"called"})");
  hit("POST", "/cases/{ref}/notes", a + "/notes", "token-alice", R"({"text":""})");
  hit("POST", "/cases/{ref}/notes", "/cases/NOSUCH/notes", "token-alice", R"({"text":"x"})");
  hit("POST", "/cases/{ref}/refer", a + "/refer", "token-alice", R"({"partner":"police_desk"})");
  hit("POST", "/cases/{ref}/refer", a + "/refer", "token-alice", R"({"partner":"legal_aid"})");
  hit("POST", "/cases/{ref}/refer", a + "/refer", "token-alice", R"({"partner":"nobody"})");
  hit("POST", "/cases/{ref}/refer", "/cases/NOSUCH/refer", "token-alice", R"({"partner":"x"})");
  const HttpResult detail = hit("GET", "/cases/{ref}", a, "token-alice");
  EXPECT_TRUE(body_of(detail).contains("phone")) << "the optional field is exercised too";
  hit("GET", "/cases/{ref}/timeline", a + "/timeline", "token-alice");
  // Closing: 202 waits for approval, 409 while it waits, 403 approve by a caseworker, 400 a
  // body on approve, 200 approve by the supervisor, 409 closing a closed case.
  const S wait = R"({"outcome":"unsafe_to_contact","reason":"her brother answered"})";
  hit("POST", "/cases/{ref}/close", "/cases/CONBBB/close", "token-alice", wait);
  hit("POST", "/cases/{ref}/close", "/cases/CONBBB/close", "token-alice", wait);
  hit("POST", "/cases/{ref}/close", "/cases/CONBBB/close", "token-alice", R"({"outcome":"x"})");
  hit("POST", "/cases/{ref}/close", "/cases/NOSUCH/close", "token-alice", wait);
  hit("POST", "/cases/{ref}/approve", "/cases/CONBBB/approve", "token-alice");
  hit("POST", "/cases/{ref}/approve", "/cases/CONBBB/approve", "token-sara", R"({"x":1})");
  hit("POST", "/cases/{ref}/approve", "/cases/NOSUCH/approve", "token-sara");
  hit("POST", "/cases/{ref}/approve", "/cases/CONBBB/approve", "token-sara");
  hit("POST", "/cases/{ref}/approve", "/cases/CONBBB/approve", "token-sara");
  hit("POST", "/cases/{ref}/claim", "/cases/CONBBB/claim", "token-alice");
  hit("POST", "/cases/{ref}/assign", "/cases/CONBBB/assign", "token-alice",
      R"({"to":"Sara Supervisor"})");
  hit("POST", "/cases/{ref}/refer", "/cases/CONBBB/refer", "token-alice",
      R"({"partner":"police_desk"})");
  hit("POST", "/cases/{ref}/close", "/cases/CONCCC/close", "token-alice",
      R"({"outcome":"resolved","reason":"she is safe"})");
  hit("POST", "/cases/{ref}/close", "/cases/CONCCC/close", "token-alice",
      R"({"outcome":"resolved","reason":"she is safe"})");
  // Declining.
  hit("POST", "/cases/{ref}/close", "/cases/CONDDD/close", "token-alice", wait);
  hit("POST", "/cases/{ref}/decline", "/cases/CONDDD/decline", "token-alice", R"({"reason":"x"})");
  hit("POST", "/cases/{ref}/decline", "/cases/CONDDD/decline", "token-sara", R"({"reason":""})");
  hit("POST", "/cases/{ref}/decline", "/cases/NOSUCH/decline", "token-sara", R"({"reason":"x"})");
  hit("POST", "/cases/{ref}/decline", "/cases/CONDDD/decline", "token-sara", R"({"reason":"no"})");
  hit("POST", "/cases/{ref}/decline", "/cases/CONDDD/decline", "token-sara", R"({"reason":"no"})");
  // Reopening.
  hit("POST", "/cases/{ref}/reopen", "/cases/CONCCC/reopen", "token-alice", R"({"reason":"x"})");
  hit("POST", "/cases/{ref}/reopen", "/cases/CONCCC/reopen", "token-sara", R"({"reason":""})");
  hit("POST", "/cases/{ref}/reopen", "/cases/NOSUCH/reopen", "token-sara", R"({"reason":"x"})");
  hit("POST", "/cases/{ref}/reopen", "/cases/CONCCC/reopen", "token-sara", R"({"reason":"back"})");
  hit("POST", "/cases/{ref}/reopen", "/cases/CONCCC/reopen", "token-sara", R"({"reason":"back"})");
  hit("GET", "/cases/{ref}/timeline", "/cases/CONCCC/timeline", "token-sara");
  hit("GET", "/cases", "/cases?view=closed", "token-sara");
  // Reports.
  hit("GET", "/reports", "/reports?weeks=4", "token-sara");
  hit("GET", "/reports", "/reports?weeks=60", "token-sara");
  hit("GET", "/reports.csv", "/reports.csv", "token-alice");
  hit("GET", "/reports.csv", "/reports.csv?team=x", "token-alice");
  // Export.
  hit("GET", "/export", "/export", "token-sara");
  hit("GET", "/export", "/export", "token-alice");
  // Without a token: 401 everywhere.
  for (const auto& [path, ops] : api.doc()["paths"].items())
    for (const auto& [method, op] : ops.items()) {
      std::string concrete = path;
      if (const auto at = concrete.find("{ref}"); at != std::string::npos)
        concrete.replace(at, 5, "CONEEE");
      std::string m = method;
      for (char& ch : m) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      hit(m, path, concrete, "");
    }
  // Too many failed sign-ins from one address: 429 before the token is even read.
  for (int i = 0; i < 12; ++i) g.call("GET", "/api/v1/me", "not-a-token");
  hit("GET", "/me", "/me", "token-alice");
  g.clock.advance(std::chrono::hours(1));
  // The database gone: 503.
  g.store->close();
  hit("GET", "/cases", "/cases", "token-alice");

  // Everything the document lists was seen: each operation's own statuses, and the shared
  // ones (401, 429, 503) on at least one operation.
  std::set<std::string> shared_seen;
  for (const auto& [path, ops] : api.doc()["paths"].items())
    for (const auto& [method, op] : ops.items())
      for (const auto& [status, response] : op["responses"].items()) {
        const std::string key = method + " " + path + " " + status;
        if (response.contains("$ref")) {
          if (covered.count(key)) shared_seen.insert(status);
          continue;
        }
        EXPECT_TRUE(covered.count(key)) << "documented but never exercised: " << key;
      }
  EXPECT_EQ(shared_seen, (std::set<std::string>{"401", "429", "503"}));
}

// #15: the reports as the API gives them: her team's only (a supervisor: every team), small
// cells suppressed, the CSV download, audited.
TEST_F(CaseworkerApiTest, ReportsAreScopedSuppressedAndDownloadable) {
  for (int i = 0; i < 6; ++i) g.add_case("RPA00" + std::to_string(i), "team_a");
  for (int i = 0; i < 2; ++i) g.add_case("RPB00" + std::to_string(i), "team_b");
  g.clock.advance(std::chrono::minutes(7));
  for (int i = 0; i < 6; ++i)
    ASSERT_EQ(
        g.call("POST", "/api/v1/cases/RPA00" + std::to_string(i) + "/ack", "token-alice").status,
        200);
  json r = body_of(g.call("GET", "/api/v1/reports?weeks=2", "token-alice"));
  ASSERT_EQ(r["rows"].size(), 1u) << r.dump();
  EXPECT_EQ(r["rows"][0]["team"], "team_a");
  EXPECT_EQ(r["rows"][0]["reported"], 6);
  EXPECT_EQ(r["rows"][0]["ack_median_ms"], 7 * 60'000);
  EXPECT_EQ(r["rows"][0]["within_sla"], 1.0);
  for (const auto& a : r["open_by_age"]) EXPECT_EQ(a["team"], "team_a") << "her team's only";
  r = body_of(g.call("GET", "/api/v1/reports?weeks=2", "token-sara"));
  ASSERT_EQ(r["rows"].size(), 2u) << r.dump();
  EXPECT_EQ(r["rows"][1]["team"], "team_b");
  EXPECT_TRUE(r["rows"][1]["reported"].is_null()) << "two cases: suppressed";
  const HttpResult csv = g.call("GET", "/api/v1/reports.csv?weeks=2", "token-sara");
  ASSERT_EQ(csv.status, 200);
  EXPECT_TRUE(has_header(csv, "Content-Disposition: attachment"));
  EXPECT_NE(csv.body.find(",team_b,reported,<5\n"), std::string::npos) << csv.body;
  EXPECT_NE(csv.body.find(",team_a,ack_median_minutes,7\n"), std::string::npos) << csv.body;
  EXPECT_EQ(g.count("audit", "action = 'report.read'"), 3);
  EXPECT_EQ(g.call("GET", "/api/v1/reports?weeks=0", "token-sara").status, 400);
}
