// The gateway in-process: real HTTP server on a loopback port, real SQLite file, the shipped
// flows, a manual clock and seeded case references.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "adapters/common/cipher.hpp"
#include "adapters/common/clock.hpp"
#include "adapters/common/crypto.hpp"
#include "adapters/sms/sms_adapter.hpp"
#include "adapters/store/store.hpp"
#include "gateway/cli/wiring.hpp"
#include "gateway/http/http_server.hpp"
#include "gateway/inbound/app.hpp"
#include "gateway/inbound/sms_service.hpp"
#include "gateway/inbound/ussd_service.hpp"
#include "gateway/outbound/outbound_sms.hpp"
#include "gateway/settings/config.hpp"
#include "gateway/settings/sms_texts.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_cipher.hpp"

namespace rabta::test {

inline constexpr const char* test_secret = "test-secret-0123456789abcdef";

inline constexpr const char* kannel_secret = "kannel-secret-0123456789abcdef";

// One SMS channel as its [channels.<name>] table describes it.
inline gateway::ChannelConfig channel(std::string name, std::string kind, std::string path,
                                      std::map<std::string, std::string> settings) {
  gateway::ChannelConfig c;
  c.name = std::move(name);
  c.kind = std::move(kind);
  c.path = std::move(path);
  c.settings = std::move(settings);
  return c;
}

// The default SMS channels: Kannel (answers in the HTTP response) and Africa's Talking (replies
// through the outbox).
inline std::vector<gateway::ChannelConfig> default_channels() {
  return {channel("kannel", "kannel", "/sms/kannel",
                  {{"sendsms_url", "http://127.0.0.1:9/cgi-bin/sendsms"},
                   {"username", "u"},
                   {"password", "p"},
                   {"from", "12345"},
                   {"secret", kannel_secret},
                   {"dlr_url", "http://127.0.0.1:9/sms/kannel"}}),
          channel("at", "africastalking", "/sms/at",
                  {{"username", "sandbox"}, {"api_key", "k"}, {"secret", kannel_secret}})};
}

// The process `rabta serve` runs, in-process and built by the same wiring (gateway/cli/wiring.hpp):
// the shipped config with the test's channels, a temporary database, the test keys, a manual
// clock and seeded case references; the background jobs are not started (tests run their passes).
class Gateway {
 public:
  // `configure` edits the config before anything is built (trusted proxies, [sms] limits, ...).
  explicit Gateway(std::size_t body_limit = 8 * 1024,
                   std::vector<gateway::ChannelConfig> channels = default_channels(),
                   std::string public_url = "http://127.0.0.1",
                   const std::function<void(gateway::Config&)>& configure = {})
      : config_(shipped_config(body_limit, std::move(channels), std::move(public_url), db_path(),
                               configure)),
        sms_policy(gateway::sms_policy_of(config_)) {
    auto loaded = gateway::load_flows(config_);
    if (!loaded.flows) throw std::runtime_error("shipped flows do not load");
    std::vector<flows::Diagnostic> errors;
    texts = std::make_shared<const gateway::SmsTexts>(gateway::load_sms_texts(
        config_.sms.keywords, config_.sms.templates, *loaded.flows, errors));
    if (!errors.empty())
      throw std::runtime_error("shipped SMS texts do not load: " + errors.front().to_string());
    store::StoreOptions so;
    so.audit_key = "test-audit-key";
    so.path = db_path();
    so.max_queue = config_.max_queue;
    so.cipher = cipher_ring_;
    store = store::open_sqlite_store(so);

    // What validate_config gives serve, with the test keys and no responder roster.
    gateway::StartupPlan plan;
    plan.flows = std::move(loaded);
    plan.texts = texts;
    plan.zone = flows::parse_zone(config_.checkins.timezone);
    plan.keys.pseudonymizer = std::make_unique<common::Pseudonymizer>(kPseudonymKey);
    plan.keys.cipher = cipher_ring_;
    for (auto& u : config_.ussd)
      if (u.kind == "africastalking") u.settings["secret"] = test_secret;
    std::vector<flows::Diagnostic> ussd_errors;
    plan.ussd = gateway::build_ussd(config_, ussd_errors);
    if (!ussd_errors.empty())
      throw std::runtime_error("USSD channels do not build: " + ussd_errors.front().to_string());
    wiring_ = std::make_unique<gateway::Wiring>(config_, plan, *store, clock, ids, nullptr);

    gateway::HttpServerOptions ho = gateway::http_server_options(config_);
    ho.host = "127.0.0.1";
    ho.port = 0;
    server_ = std::make_unique<gateway::HttpServer>(
        ho, [this](gateway::HttpRequest&& r, gateway::Responder respond) {
          wiring_->app().handle(std::move(r), std::move(respond));
        });
    server_->listen();
    thread_ = std::thread([this] { server_->run(); });
    base = "http://127.0.0.1:" + std::to_string(server_->port());
  }
  ~Gateway() {
    server_->stop();
    thread_.join();
    wiring_.reset();
    store->close();
  }

  std::string ussd_url(const std::string& key = test_secret) const {
    return base + at_path() + (key.empty() ? "" : "?key=" + key);
  }
  std::string events_url(const std::string& key = test_secret) const {
    return base + at_path() + "/events" + (key.empty() ? "" : "?key=" + key);
  }
  // The path of the shipped config's Africa's Talking channel.
  std::string at_path() const {
    for (const auto& u : config_.ussd)
      if (u.kind == "africastalking") return u.path;
    return "/ussd/africastalking";
  }
  std::string db_path() const { return dir.file("rabta.db"); }
  gateway::UssdService& ussd() { return wiring_->ussd(); }
  // The SMS dispatcher; tests run its passes.
  gateway::Dispatcher& dispatcher() { return wiring_->dispatcher(); }
  // The sender of asynchronous USSD gateways' screens (null without one); tests run its passes.
  gateway::UssdReplyDispatcher* ussd_replies() { return wiring_->ussd_replies(); }
  gateway::SmsService& sms() { return wiring_->sms(); }
  // Lets registered responders answer alerts by SMS.
  void set_case_service(const gateway::CaseService* cases) { sms().set_case_service(cases); }

  // Row count of a table, read through a separate connection (what is committed).
  int count(const std::string& table, const std::string& where = "") const {
    SQLite::Database db(db_path(), SQLite::OPEN_READONLY);
    return db.execAndGet("SELECT count(*) FROM " + table + (where.empty() ? "" : " WHERE " + where))
        .getInt();
  }
  std::string text(const std::string& sql) const {
    SQLite::Database db(db_path(), SQLite::OPEN_READONLY);
    return db.execAndGet(sql).getString();
  }

  // One SMS as Kannel's get-url sends it.
  HttpResult kannel_sms(const std::string& id, const std::string& phone, const std::string& text) {
    return http.get(base + "/sms/kannel?" +
                    form({{"key", kannel_secret},
                          {"id", id},
                          {"from", phone},
                          {"to", "12345"},
                          {"text", text},
                          {"coding", "0"},
                          {"charset", "UTF-8"}}));
  }

  // One USSD hop as Africa's Talking sends it.
  HttpResult hop(const std::string& session, const std::string& phone, const std::string& text) {
    return http.post(ussd_url(), form({{"sessionId", session},
                                       {"serviceCode", "*786#"},
                                       {"phoneNumber", phone},
                                       {"networkCode", "99999"},
                                       {"text", text}}));
  }

  TempDir dir;

 private:
  static constexpr const char* kPseudonymKey = "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk";
  static gateway::Config shipped_config(std::size_t body_limit,
                                        std::vector<gateway::ChannelConfig> channels,
                                        std::string public_url, const std::string& database,
                                        const std::function<void(gateway::Config&)>& configure) {
    auto c = gateway::load_config(std::string(RABTA_SOURCE_DIR) + "/config/rabta.toml");
    c.database = database;
    c.body_limit = body_limit;
    c.channels = std::move(channels);
    c.public_url = std::move(public_url);
    c.checkins.enabled = false;  // tests run the scheduler themselves
    for (auto& u : c.ussd) u.duress_code_sha256.clear();
    if (configure) configure(c);
    return c;
  }
  gateway::Config config_;
  std::shared_ptr<common::FieldCipher> cipher_ring_ =
      std::make_shared<common::FieldCipher>(test_cipher());

 public:
  common::ManualClock clock{1'790'000'000'000};
  flows::SeededIds ids{99};
  common::Pseudonymizer pseudonymizer{kPseudonymKey};  // the same key as the wiring's
  common::FieldCipher& cipher = *cipher_ring_;         // the wiring's and the store's ring
  const gateway::SmsPolicy sms_policy;                 // the wiring's, from the config
  std::shared_ptr<const gateway::SmsTexts> texts;
  std::unique_ptr<store::Store> store;
  HttpClient http;
  std::string base;

 private:
  std::unique_ptr<gateway::Wiring> wiring_;
  std::unique_ptr<gateway::HttpServer> server_;
  std::thread thread_;
};

// "I need help now" through USSD from `phone`: a high-severity case with its case_alert row.
inline std::string report_help_now(Gateway& g, const std::string& phone) {
  g.hop("s1", phone, "");
  g.hop("s1", phone, "3");
  g.hop("s1", phone, "3*1");
  g.hop("s1", phone, "3*1*3");
  return g.text("SELECT reference FROM cases");
}

// Who the SMS alerts queued so far go to, oldest first ("?" for a row that does not decrypt).
inline std::vector<std::string> alert_recipients(Gateway& g) {
  std::vector<std::string> to;
  g.store->read([&](store::Tx& tx) {
    auto rows = tx.list_outbox("", 100);
    std::reverse(rows.begin(), rows.end());
    for (const auto& row : rows) {
      if (row.dedupe_key.rfind("alert:", 0) != 0) continue;
      const auto p = gateway::read_sms_payload(row, g.cipher);
      to.push_back(p ? p->to : "?");
    }
  });
  return to;
}

// The SMS rows queued so far whose kind is `kind`, oldest first, opened with the test key.
inline std::vector<gateway::SmsPayload> queued_sms(Gateway& g, std::string_view kind) {
  std::vector<gateway::SmsPayload> out;
  g.store->read([&](store::Tx& tx) {
    auto rows = tx.list_outbox("", 1000);
    std::reverse(rows.begin(), rows.end());
    for (const auto& row : rows)
      if (row.kind == kind)
        if (auto p = gateway::read_sms_payload(row, g.cipher)) out.push_back(std::move(*p));
  });
  return out;
}

}  // namespace rabta::test
