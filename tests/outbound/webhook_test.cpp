// The case-management webhook: the payload and its consent rules (SAFETY D3), the signature, the
// outbox row format, and the dispatcher against a real SQLite file and a loopback receiver that
// verifies every signature, with a manual clock and a scripted random source.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "adapters/common/clock.hpp"
#include "adapters/common/crypto.hpp"
#include "adapters/store/store.hpp"
#include "gateway/http/http_server.hpp"
#include "gateway/outbound/webhook_dispatcher.hpp"
#include "tests/support/log_capture.hpp"
#include "tests/support/loopback_server.hpp"
#include "tests/support/temp_dir.hpp"

using namespace rabta;
using adapters::webhook::WebhookFacts;
using gateway::WebhookDispatcher;
using gateway::WebhookDispatcherOptions;
using std::chrono::milliseconds;

namespace {

// Tuesday 2026-03-03 07:00 UTC.
constexpr std::int64_t kT0 = 1'772'521'200'000;
constexpr const char* kSecret = "whsec_test_0123456789";
constexpr const char* kPhone = "+923001234567";
constexpr const char* kPhoneDigits = "3001234567";
constexpr const char* kDistrict = "district_marker_lahore";
constexpr const char* kCallTime = "call_time_marker_evening";

store::CaseRecord sample_case(const std::string& reference = "K7P2QX") {
  store::CaseRecord c;
  c.reference = reference;
  c.flow = "report";
  c.category = "safety";
  c.severity = "high";
  c.status = store::case_status::open;
  c.team = "lahore_ngo";
  c.district = kDistrict;
  c.created_at = kT0 - 60'000;
  return c;
}

WebhookFacts facts(std::optional<bool> referral, std::optional<bool> callback) {
  WebhookFacts f;
  f.referral_consent = referral;
  f.callback_consent = callback;
  f.district = kDistrict;
  f.call_time = kCallTime;
  f.phone = kPhone;
  return f;
}

std::vector<std::string> keys_of(const std::string& body) {
  const auto j = nlohmann::ordered_json::parse(body);
  std::vector<std::string> keys;
  for (const auto& [name, value] : j.items()) keys.push_back(name);
  return keys;
}

const std::vector<std::string> kBaseKeys = {"event",      "reference", "severity",
                                            "category",   "status",    "team",
                                            "created_at", "sent_at",   "idempotency_key"};

std::vector<std::string> with(std::vector<std::string> keys, const std::vector<std::string>& more) {
  keys.insert(keys.end(), more.begin(), more.end());
  return keys;
}

adapters::webhook::WebhookSink test_sink(
    const std::string& url = "https://cms.example.org/hooks/rabta") {
  adapters::webhook::WebhookSink s;
  s.enabled = true;
  s.url = url;
  s.secret = kSecret;
  s.name = "case_management";
  return s;
}

std::string file_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// --- The receiver: a case-management system on loopback that verifies every signature

struct Delivery {
  std::string body;
  std::string idempotency_key;
  std::string content_type;
  std::string target;
  bool signature_ok = false;
};

// On the tests' loopback server (tests/support): checks every signature, answers the scripted
// statuses (200 once used up) to the requests that pass it, 401 to the others.
class Receiver {
 public:
  explicit Receiver(const common::Clock& clock)
      : clock_(clock),
        server_(test::LoopbackServer::answering([this](const auto& r) { return handle(r); })) {}
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  std::string url(const std::string& path_and_query = "/hooks/rabta") const {
    return server_.url(path_and_query);
  }
  // Statuses for the next requests that pass the signature check; 200 once used up.
  void script(std::vector<int> statuses) {
    std::lock_guard lock(mutex_);
    script_.insert(script_.end(), statuses.begin(), statuses.end());
  }
  std::vector<Delivery> received() const {
    std::lock_guard lock(mutex_);
    return received_;
  }
  // Requests answered 2xx: what the receiver accepted.
  std::vector<Delivery> accepted() const {
    std::lock_guard lock(mutex_);
    return accepted_;
  }

 private:
  gateway::HttpResponse handle(const gateway::HttpRequest& r) {
    Delivery d;
    d.body = r.body;
    d.idempotency_key = std::string(r.header("idempotency-key"));
    d.content_type = std::string(r.header("content-type"));
    d.target = r.target;
    d.signature_ok = adapters::webhook::verify_signature(kSecret, r.header("x-rabta-signature"),
                                                         r.body, clock_.now_ms() / 1000, 300);
    std::lock_guard lock(mutex_);
    received_.push_back(d);
    if (!d.signature_ok) return gateway::HttpResponse::text(401, "bad signature");
    int status = 200;
    if (!script_.empty()) {
      status = script_.front();
      script_.pop_front();
    }
    if (status >= 200 && status < 300) accepted_.push_back(d);
    return gateway::HttpResponse::text(status, "ok");
  }

  const common::Clock& clock_;
  mutable std::mutex mutex_;
  std::deque<int> script_;
  std::vector<Delivery> received_;
  std::vector<Delivery> accepted_;
  test::LoopbackServer server_;  // last: it stops before the state its handler uses goes
};

// --- The fixture: store, clock, receiver

class WebhookDispatcherTest : public ::testing::Test {
 protected:
  WebhookDispatcherTest() {
    store::StoreOptions so;
    so.audit_key = "test-audit-key";
    so.path = dir.file("rabta.db");
    store = store::open_sqlite_store(so);
  }
  ~WebhookDispatcherTest() override {
    dispatcher.reset();
    store->close();
  }

  WebhookDispatcher& make_dispatcher(WebhookDispatcherOptions o = {},
                                     const std::string& path_and_query = "/hooks/rabta") {
    o.send_timeout = milliseconds(5000);
    sink = test_sink(receiver.url(path_and_query));
    dispatcher = std::make_unique<WebhookDispatcher>(*store, sink, clock, o,
                                                     [this] { return next_random(); });
    return *dispatcher;
  }

  double next_random() {
    std::lock_guard lock(random_mutex);
    if (randoms.empty()) return 0.5;
    const double r = randoms.front();
    randoms.pop_front();
    return r;
  }

  std::int64_t now() const { return clock.now_ms(); }

  // A stored case (contact, session, case) with her consents as given (nullopt = never asked).
  store::CaseRecord make_case(const std::string& reference, std::optional<bool> referral,
                              std::optional<bool> callback) {
    store::CaseRecord k = sample_case(reference);
    const auto r = store->run([&](store::Tx& tx) {
      const auto c = tx.upsert_contact("pseudonym-" + reference, now());
      store::SessionRecord s;
      s.provider = "x";
      s.provider_session_id = "session-" + reference;
      s.contact_id = c.id;
      s.channel = "ussd";
      s.state = "{}";
      s.started_at = now();
      s.updated_at = now();
      const auto sid = tx.insert_session(s);
      k.contact_id = c.id;
      k.session_id = sid;
      k.id = tx.insert_case(k);
      if (referral) tx.insert_consent({c.id, sid, "referral_ngo", *referral, now()});
      if (callback) tx.insert_consent({c.id, sid, "callback", *callback, now()});
      tx.bind_session_to_case(sid, k.id);  // what she said in this session is this case's
    });
    EXPECT_TRUE(r.ok) << r.error;
    return k;
  }

  // Her later answer: "not safe to call" from a later session of hers (no case of its own: it
  // holds for every earlier case, SAFETY W2), a referral answer for this case.
  void set_consent(const store::CaseRecord& k, const std::string& purpose, bool granted) {
    const auto r = store->run([&](store::Tx& tx) {
      const std::int64_t for_case = purpose == "callback" ? 0 : k.id;
      tx.insert_consent({k.contact_id, 0, purpose, granted, now(), for_case});
    });
    ASSERT_TRUE(r.ok) << r.error;
  }

  bool enqueue(const store::CaseRecord& k, const std::string& event, const WebhookFacts& f) {
    const auto row = adapters::webhook::make_webhook_outbox(sink, k, event, f, now());
    bool inserted = false;
    const auto r = store->run([&](store::Tx& tx) { inserted = tx.insert_outbox(row); });
    EXPECT_TRUE(r.ok) << r.error;
    return inserted;
  }

  std::vector<store::OutboxRecord> rows() {
    std::vector<store::OutboxRecord> out;
    store->read([&](store::Tx& tx) { out = tx.list_outbox("", 1000); });
    return out;
  }

  store::OutboxRecord row(const std::string& dedupe_key) {
    store::OutboxRecord found;
    for (auto& r : rows())
      if (r.dedupe_key == dedupe_key) found = r;
    EXPECT_NE(found.id, 0) << dedupe_key;
    return found;
  }

  std::string key(const std::string& event, const std::string& reference) const {
    return "webhook:case_management:" + event + ":" + reference;
  }

  test::TempDir dir;
  std::unique_ptr<store::Store> store;
  common::ManualClock clock{kT0};
  Receiver receiver{clock};
  adapters::webhook::WebhookSink sink = test_sink();
  std::mutex random_mutex;
  std::deque<double> randoms;
  std::unique_ptr<WebhookDispatcher> dispatcher;
};

}  // namespace

// --- The payload (SAFETY D3)

TEST(WebhookPayload, WithoutReferralConsentNothingIdentifying) {
  for (const auto& referral : {std::optional<bool>{}, std::optional<bool>{false}}) {
    for (const auto& callback :
         {std::optional<bool>{}, std::optional<bool>{false}, std::optional<bool>{true}}) {
      const std::string body = adapters::webhook::case_webhook_payload(
          sample_case(), "opened", facts(referral, callback), kT0);
      EXPECT_EQ(keys_of(body), kBaseKeys) << body;
      EXPECT_EQ(body.find(kPhoneDigits), std::string::npos) << body;
      EXPECT_EQ(body.find(kDistrict), std::string::npos) << "the case's own district too";
      EXPECT_EQ(body.find(kCallTime), std::string::npos) << body;
    }
  }
}

TEST(WebhookPayload, BaseFieldsAndTheirValues) {
  const auto j = nlohmann::json::parse(
      adapters::webhook::case_webhook_payload(sample_case(), "escalated", facts({}, {}), kT0));
  EXPECT_EQ(j["event"], "escalated");
  EXPECT_EQ(j["reference"], "K7P2QX");
  EXPECT_EQ(j["severity"], "high");
  EXPECT_EQ(j["category"], "safety");
  EXPECT_EQ(j["status"], "open");
  EXPECT_EQ(j["team"], "lahore_ngo");
  EXPECT_EQ(j["created_at"], kT0 - 60'000);
  EXPECT_EQ(j["sent_at"], kT0);
  EXPECT_EQ(j["idempotency_key"], "escalated:K7P2QX");
}

TEST(WebhookPayload, ReferralWithoutCallbackHasNoPhone) {
  for (const auto& callback : {std::optional<bool>{}, std::optional<bool>{false}}) {
    const std::string body = adapters::webhook::case_webhook_payload(sample_case(), "opened",
                                                                     facts(true, callback), kT0);
    EXPECT_EQ(keys_of(body), with(kBaseKeys, {"district", "call_time"})) << body;
    EXPECT_EQ(body.find(kPhoneDigits), std::string::npos) << body;
    const auto j = nlohmann::json::parse(body);
    EXPECT_EQ(j["district"], kDistrict);
    EXPECT_EQ(j["call_time"], kCallTime);
  }
}

TEST(WebhookPayload, BothConsentsIncludeThePhone) {
  const std::string body =
      adapters::webhook::case_webhook_payload(sample_case(), "opened", facts(true, true), kT0);
  EXPECT_EQ(keys_of(body), with(kBaseKeys, {"district", "call_time", "phone"})) << body;
  EXPECT_EQ(nlohmann::json::parse(body)["phone"], kPhone);

  auto no_number = facts(true, true);
  no_number.phone.clear();
  EXPECT_EQ(
      keys_of(adapters::webhook::case_webhook_payload(sample_case(), "opened", no_number, kT0)),
      with(kBaseKeys, {"district", "call_time"}))
      << "no number stored: no empty phone field";
}

TEST(WebhookPayload, DeterministicAndOnlyKnownEvents) {
  const auto a =
      adapters::webhook::case_webhook_payload(sample_case(), "closed", facts(true, true), kT0);
  const auto b =
      adapters::webhook::case_webhook_payload(sample_case(), "closed", facts(true, true), kT0);
  EXPECT_EQ(a, b);
  for (const char* e :
       {"opened", "escalated", "acknowledged", "assigned", "referred", "closed", "reopened"})
    EXPECT_NO_THROW(adapters::webhook::case_webhook_payload(sample_case(), e, facts({}, {}), kT0))
        << e;
  for (const char* e : {"", "deleted", "Opened"})
    EXPECT_THROW(adapters::webhook::case_webhook_payload(sample_case(), e, facts({}, {}), kT0),
                 std::invalid_argument)
        << e;
}

// --- The signature

TEST(WebhookSignature, KnownVector) {
  const std::string body = R"({"event":"opened"})";
  const std::int64_t t = 1'772'521'200;
  // Independently: the HMAC of "<t>.<body>", and the same value from `openssl dgst -sha256 -hmac`.
  const std::string mac = common::hmac_sha256_hex(kSecret, std::to_string(t) + "." + body);
  EXPECT_EQ(mac, "1c76badb245cea0caa8df661314fec63e840ad3de277e5ec5c746cb6fd8fc182");
  EXPECT_EQ(adapters::webhook::sign(kSecret, t, body), "t=1772521200,v1=" + mac);
  EXPECT_TRUE(adapters::webhook::verify_signature(kSecret, "t=1772521200,v1=" + mac, body, t, 300));
}

TEST(WebhookSignature, TamperingAndAgeFail) {
  const std::string body =
      adapters::webhook::case_webhook_payload(sample_case(), "opened", {}, kT0);
  const std::int64_t t = kT0 / 1000;
  const std::string header = adapters::webhook::sign(kSecret, t, body);
  EXPECT_TRUE(adapters::webhook::verify_signature(kSecret, header, body, t, 300));
  EXPECT_TRUE(adapters::webhook::verify_signature(kSecret, header, body, t + 300, 300))
      << "at tolerance";
  EXPECT_TRUE(adapters::webhook::verify_signature(kSecret, header, body, t - 300, 300))
      << "small skew";

  std::string changed = body;
  changed[changed.find("high")] = 'H';
  EXPECT_FALSE(adapters::webhook::verify_signature(kSecret, header, changed, t, 300))
      << "changed body";
  EXPECT_FALSE(adapters::webhook::verify_signature(kSecret, header, body + " ", t, 300))
      << "appended";

  const std::string mac = header.substr(header.find("v1="));
  const std::string other_t = "t=" + std::to_string(t + 1) + "," + mac;
  EXPECT_FALSE(adapters::webhook::verify_signature(kSecret, other_t, body, t, 300))
      << "changed timestamp";

  EXPECT_FALSE(adapters::webhook::verify_signature(kSecret, header, body, t + 301, 300))
      << "too old";
  EXPECT_FALSE(adapters::webhook::verify_signature(kSecret, header, body, t - 301, 300))
      << "future";
  const std::string old = adapters::webhook::sign(kSecret, t - 3600, body);
  EXPECT_FALSE(adapters::webhook::verify_signature(kSecret, old, body, t, 300))
      << "old, validly signed";

  EXPECT_FALSE(adapters::webhook::verify_signature("another-secret", header, body, t, 300));
  EXPECT_FALSE(adapters::webhook::verify_signature("", header, body, t, 300));
}

TEST(WebhookSignature, HeaderParsing) {
  const std::string body = "{}";
  const std::int64_t t = 1'800'000'000;
  const std::string good = common::hmac_sha256_hex(kSecret, std::to_string(t) + "." + body);
  const std::string ts = "t=" + std::to_string(t);
  // Several v1 entries (a secret being rotated): one match suffices; other schemes are ignored.
  EXPECT_TRUE(adapters::webhook::verify_signature(
      kSecret, ts + ",v1=" + std::string(64, '0') + ",v1=" + good, body, t, 300));
  EXPECT_TRUE(
      adapters::webhook::verify_signature(kSecret, "v0=abc," + ts + ",v1=" + good, body, t, 300));
  for (const std::string& bad :
       {std::string(), ts, "v1=" + good, ts + ",v1=", ts + ",v1=" + good.substr(1),
        ts + "," + ts + ",v1=" + good, "t=-5,v1=" + good, "t=1e9,v1=" + good,
        ts + ",v1=" + good + ",", ts + " ,v1=" + good, ts + ";v1=" + good})
    EXPECT_FALSE(adapters::webhook::verify_signature(kSecret, bad, body, t, 300)) << bad;
}

// --- Status handling and URLs

TEST(WebhookStatus, Classification) {
  using adapters::webhook::WebhookOutcome;
  for (long s : {200L, 201L, 202L, 204L, 299L})
    EXPECT_EQ(adapters::webhook::classify_webhook_status(s), WebhookOutcome::sent) << s;
  for (long s : {0L, 408L, 429L, 500L, 502L, 503L, 504L, 599L})
    EXPECT_EQ(adapters::webhook::classify_webhook_status(s), WebhookOutcome::retry) << s;
  for (long s : {100L, 301L, 302L, 400L, 401L, 403L, 404L, 409L, 410L, 422L, 600L})
    EXPECT_EQ(adapters::webhook::classify_webhook_status(s), WebhookOutcome::dead) << s;
}

TEST(WebhookUrl, HttpsOrLoopbackOnly) {
  EXPECT_EQ(adapters::webhook::webhook_url_problem("https://cms.example.org/hook?token=x"), "");
  EXPECT_EQ(adapters::webhook::webhook_url_problem("http://127.0.0.1:8081/hook"), "");
  EXPECT_EQ(adapters::webhook::webhook_url_problem("http://localhost/hook"), "");
  EXPECT_NE(
      adapters::webhook::webhook_url_problem("http://cms.example.org/hook?token=secret-token"), "");
  EXPECT_EQ(adapters::webhook::webhook_url_problem("http://cms.example.org/hook?token=secret-token")
                .find("secret-token"),
            std::string::npos);
  EXPECT_NE(adapters::webhook::webhook_url_problem(""), "");
  EXPECT_NE(adapters::webhook::webhook_url_problem("ftp://cms.example.org/"), "");
  EXPECT_NE(adapters::webhook::webhook_url_problem("not a url"), "");
}

// --- The outbox row

TEST(WebhookOutbox, RowFormat) {
  const auto sink = test_sink();
  const auto k = sample_case();
  const auto row =
      adapters::webhook::make_webhook_outbox(sink, k, "acknowledged", facts({}, {}), kT0);
  EXPECT_EQ(row.kind, "webhook:case_management");
  EXPECT_EQ(row.dedupe_key, "webhook:case_management:acknowledged:K7P2QX");
  EXPECT_EQ(row.cause, "case:K7P2QX");
  EXPECT_EQ(row.status, store::outbox_status::pending);
  EXPECT_EQ(row.created_at, kT0);
  EXPECT_EQ(row.not_before, kT0);
  EXPECT_EQ(row.expires_at, 0) << "case events never expire";
  EXPECT_EQ(row.contact_id, 0) << "the row does not go to her";
  EXPECT_EQ(row.payload,
            adapters::webhook::case_webhook_payload(k, "acknowledged", facts({}, {}), kT0))
      << "without her number the row's payload is the body";
}

TEST(WebhookOutbox, HerNumberIsEncryptedInTheRowAndBoundToIt) {
  const auto sink = test_sink();
  const auto k = sample_case();
  const auto f = facts(true, true);
  const auto row = adapters::webhook::make_webhook_outbox(sink, k, "opened", f, kT0);
  EXPECT_EQ(row.payload.find(kPhoneDigits), std::string::npos) << "number in clear";
  EXPECT_TRUE(nlohmann::json::parse(row.payload).contains("phone_enc"));
  // Her district and when she is safe to call are sealed in the row too (SECURITY #11).
  EXPECT_EQ(row.payload.find(kDistrict), std::string::npos) << "district in clear";
  EXPECT_EQ(row.payload.find(kCallTime), std::string::npos) << "call time in clear";
  EXPECT_TRUE(nlohmann::json::parse(row.payload).contains("district_enc"));
  EXPECT_TRUE(nlohmann::json::parse(row.payload).contains("call_time_enc"));

  const auto d = adapters::webhook::read_webhook_payload(sink, row, true, true);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->body, adapters::webhook::case_webhook_payload(k, "opened", f, kT0));
  EXPECT_EQ(d->event, "opened");
  EXPECT_EQ(d->reference, "K7P2QX");

  auto other_secret = sink;
  other_secret.secret = "a-different-secret";
  EXPECT_FALSE(adapters::webhook::read_webhook_payload(other_secret, row, true, true));

  auto moved =
      adapters::webhook::make_webhook_outbox(sink, sample_case("ZZZZZZ"), "opened", f, kT0);
  moved.payload = row.payload;  // K7P2QX's ciphertext copied into another row
  EXPECT_FALSE(adapters::webhook::read_webhook_payload(sink, moved, true, true));

  auto bad = row;
  for (const char* payload : {"", "not json", "[]", "{}", R"({"event":"opened"})",
                              R"({"event":"nope","reference":"K7P2QX"})",
                              R"({"event":"opened","reference":"K7P2QX","phone":"+923001234567"})",
                              R"({"event":"opened","reference":"K7P2QX","phone_enc":"zz"})"}) {
    bad.payload = payload;
    EXPECT_FALSE(adapters::webhook::read_webhook_payload(sink, bad, true, true)) << payload;
  }
}

TEST(WebhookOutbox, ConsentIsCheckedAgainWhenSending) {
  const auto sink = test_sink();
  const auto k = sample_case();
  const auto row =
      adapters::webhook::make_webhook_outbox(sink, k, "opened", facts(true, true), kT0);

  const auto no_callback = adapters::webhook::read_webhook_payload(sink, row, true, false);
  ASSERT_TRUE(no_callback);
  EXPECT_EQ(keys_of(no_callback->body), with(kBaseKeys, {"district", "call_time"}));
  EXPECT_EQ(no_callback->body,
            adapters::webhook::case_webhook_payload(k, "opened", facts(true, false), kT0));

  for (const auto& referral : {std::optional<bool>{}, std::optional<bool>{false}}) {
    const auto withdrawn = adapters::webhook::read_webhook_payload(sink, row, referral, true);
    ASSERT_TRUE(withdrawn);
    EXPECT_EQ(keys_of(withdrawn->body), kBaseKeys);
    EXPECT_EQ(withdrawn->body.find(kPhoneDigits), std::string::npos);
  }

  // Withdrawn: what she withdrew is left out without being decrypted, so even a row whose sealed
  // values no longer decrypt still delivers the event.
  auto other_secret = sink;
  other_secret.secret = "a-different-secret";
  EXPECT_TRUE(adapters::webhook::read_webhook_payload(other_secret, row, false, false));
  EXPECT_FALSE(adapters::webhook::read_webhook_payload(other_secret, row, true, false))
      << "the district she still consents to is sealed: another secret cannot open it";

  // A row queued by an older rabta, with district and call time in clear, is still delivered.
  auto legacy_json = nlohmann::ordered_json::parse(row.payload);
  legacy_json.erase("district_enc");
  legacy_json.erase("call_time_enc");
  legacy_json["district"] = kDistrict;
  legacy_json["call_time"] = kCallTime;
  auto legacy = row;
  legacy.payload = legacy_json.dump();
  const auto old = adapters::webhook::read_webhook_payload(sink, legacy, true, false);
  ASSERT_TRUE(old);
  EXPECT_EQ(nlohmann::json::parse(old->body)["district"], kDistrict);
}

TEST(WebhookOutbox, RefusesAnIncompleteSinkOrCase) {
  auto sink = test_sink();
  sink.secret.clear();
  EXPECT_THROW(adapters::webhook::make_webhook_outbox(sink, sample_case(), "opened", {}, kT0),
               std::invalid_argument);
  sink = test_sink();
  sink.name.clear();
  EXPECT_THROW(adapters::webhook::make_webhook_outbox(sink, sample_case(), "opened", {}, kT0),
               std::invalid_argument);
  EXPECT_THROW(
      adapters::webhook::make_webhook_outbox(test_sink(), sample_case(""), "opened", {}, kT0),
      std::invalid_argument);
  EXPECT_THROW(
      adapters::webhook::make_webhook_outbox(test_sink(), sample_case(), "deleted", {}, kT0),
      std::invalid_argument);
  EXPECT_THROW(
      adapters::webhook::make_webhook_outbox(test_sink(), sample_case(), "closed", {}, kT0, -1),
      std::invalid_argument);
}

// #15: an event that can happen again to a case (assigned, closed after a reopening) gets a row
// per step, told apart by its idempotency key (the step's number); without one, the plain key.
TEST(WebhookOutbox, RepeatedEventsGetARowEachWithTheirOwnKey) {
  const auto plain =
      adapters::webhook::make_webhook_outbox(test_sink(), sample_case(), "assigned", {}, kT0);
  const auto step =
      adapters::webhook::make_webhook_outbox(test_sink(), sample_case(), "assigned", {}, kT0, 417);
  EXPECT_EQ(step.dedupe_key, plain.dedupe_key + ":417");
  const auto body = nlohmann::json::parse(step.payload);
  EXPECT_EQ(body["idempotency_key"], "assigned:" + sample_case().reference + ":417");
  const auto delivery = adapters::webhook::read_webhook_payload(test_sink(), step, {}, {});
  ASSERT_TRUE(delivery);
  EXPECT_EQ(delivery->idempotency_key, "assigned:" + sample_case().reference + ":417");
}

// --- The dispatcher

TEST_F(WebhookDispatcherTest, DeliversASignedEvent) {
  auto& d = make_dispatcher();
  const auto k = make_case("AAAAAA", true, false);
  ASSERT_TRUE(enqueue(k, "opened", facts(true, false)));

  const auto r = d.run_once();
  EXPECT_EQ(r.claimed, 1);
  EXPECT_EQ(r.sent, 1);
  const auto got = receiver.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].signature_ok) << "the receiver verified the signature";
  EXPECT_EQ(got[0].idempotency_key, "opened:AAAAAA");
  EXPECT_EQ(got[0].content_type, "application/json");
  EXPECT_EQ(got[0].body,
            adapters::webhook::case_webhook_payload(k, "opened", facts(true, false), kT0));

  const auto stored = row(key("opened", "AAAAAA"));
  EXPECT_EQ(stored.status, store::outbox_status::sent);
  EXPECT_EQ(stored.attempts, 1);

  EXPECT_EQ(d.run_once().claimed, 0) << "sent once";
  EXPECT_EQ(receiver.received().size(), 1u);
  EXPECT_EQ(d.stats().sent, 1u);
}

TEST_F(WebhookDispatcherTest, ServerErrorIsRetriedWithBackoffThenDeliveredOnce) {
  auto& d = make_dispatcher();
  const auto k = make_case("BBBBBB", {}, {});
  ASSERT_TRUE(enqueue(k, "opened", facts({}, {})));
  receiver.script({500});
  randoms = {0.5};

  auto r = d.run_once();
  EXPECT_EQ(r.retried, 1);
  auto stored = row(key("opened", "BBBBBB"));
  EXPECT_EQ(stored.status, store::outbox_status::pending);
  EXPECT_EQ(stored.last_error, "http 500");
  EXPECT_EQ(stored.not_before, kT0 + 2500) << "0.5 * min(cap, 5 s * 2^0)";

  clock.advance(milliseconds(2499));
  EXPECT_EQ(d.run_once().claimed, 0) << "not due before its backoff";
  clock.advance(milliseconds(1));
  r = d.run_once();
  EXPECT_EQ(r.sent, 1);

  const auto got = receiver.received();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(got[0].signature_ok);
  EXPECT_TRUE(got[1].signature_ok) << "signed afresh for the retry";
  EXPECT_EQ(got[0].body, got[1].body) << "the same body, only the signature's t moves";
  EXPECT_EQ(got[0].idempotency_key, got[1].idempotency_key);
  ASSERT_EQ(receiver.accepted().size(), 1u) << "delivered once";
  stored = row(key("opened", "BBBBBB"));
  EXPECT_EQ(stored.status, store::outbox_status::sent);
  EXPECT_EQ(stored.attempts, 2);
}

TEST_F(WebhookDispatcherTest, TooManyRequestsAndTimeoutsAreRetriedToo) {
  auto& d = make_dispatcher();
  const auto k = make_case("CCCCCC", {}, {});
  ASSERT_TRUE(enqueue(k, "opened", facts({}, {})));
  receiver.script({429, 408, 503});
  randoms = {1.0, 1.0, 1.0};
  for (const std::int64_t wait : {5'000, 10'000, 20'000}) {
    EXPECT_EQ(d.run_once().retried, 1);
    clock.advance(milliseconds(wait));
  }
  EXPECT_EQ(d.run_once().sent, 1);
  EXPECT_EQ(receiver.accepted().size(), 1u);
}

TEST_F(WebhookDispatcherTest, ClientErrorIsDeadAtOnce) {
  auto& d = make_dispatcher();
  const auto k = make_case("DDDDDD", {}, {});
  ASSERT_TRUE(enqueue(k, "closed", facts({}, {})));
  receiver.script({400});

  const auto r = d.run_once();
  EXPECT_EQ(r.dead, 1);
  const auto stored = row(key("closed", "DDDDDD"));
  EXPECT_EQ(stored.status, store::outbox_status::dead);
  EXPECT_EQ(stored.last_error, "http 400");
  clock.advance(std::chrono::hours(24));
  EXPECT_EQ(d.run_once().claimed, 0) << "never retried";
  EXPECT_EQ(receiver.received().size(), 1u);
}

TEST_F(WebhookDispatcherTest, AttemptsExhaustedIsDead) {
  WebhookDispatcherOptions o;
  o.max_attempts = 2;
  auto& d = make_dispatcher(o);
  const auto k = make_case("EEEEEE", {}, {});
  ASSERT_TRUE(enqueue(k, "opened", facts({}, {})));
  receiver.script({500, 500});
  EXPECT_EQ(d.run_once().retried, 1);
  clock.advance(milliseconds(o.backoff_cap));
  EXPECT_EQ(d.run_once().dead, 1);
  const auto stored = row(key("opened", "EEEEEE"));
  EXPECT_EQ(stored.status, store::outbox_status::dead);
  EXPECT_EQ(stored.last_error, "attempts exhausted: http 500");
}

TEST_F(WebhookDispatcherTest, SameKeyTwiceIsOneRowAndOneDelivery) {
  auto& d = make_dispatcher();
  const auto k = make_case("FFFFFF", {}, {});
  EXPECT_TRUE(enqueue(k, "opened", facts({}, {})));
  clock.advance(milliseconds(10));
  EXPECT_FALSE(enqueue(k, "opened", facts({}, {}))) << "insert_outbox dedupes by key";
  EXPECT_EQ(rows().size(), 1u);
  EXPECT_EQ(d.run_once().sent, 1);
  EXPECT_FALSE(enqueue(k, "opened", facts({}, {}))) << "also once sent";
  EXPECT_EQ(d.run_once().claimed, 0);
  EXPECT_EQ(receiver.received().size(), 1u);

  EXPECT_TRUE(enqueue(k, "acknowledged", facts({}, {}))) << "another event is another row";
  EXPECT_EQ(d.run_once().sent, 1);
  const auto got = receiver.accepted();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].idempotency_key, "opened:FFFFFF");
  EXPECT_EQ(got[1].idempotency_key, "acknowledged:FFFFFF");
}

TEST_F(WebhookDispatcherTest, BothConsentsDeliverHerNumberNeverStoredOrLoggedInClear) {
  auto& d = make_dispatcher({}, "/hooks/rabta?token=url-secret-token");
  const auto k = make_case("GGGGGG", true, true);
  ASSERT_TRUE(enqueue(k, "opened", facts(true, true)));
  std::string logs;
  {
    test::LogCapture capture;
    EXPECT_EQ(d.run_once().sent, 1);
    logs = capture.text();
  }
  const auto got = receiver.accepted();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].signature_ok);
  EXPECT_EQ(got[0].target, "/hooks/rabta?token=url-secret-token");
  EXPECT_EQ(nlohmann::json::parse(got[0].body)["phone"], kPhone);
  EXPECT_EQ(got[0].body,
            adapters::webhook::case_webhook_payload(k, "opened", facts(true, true), kT0));

  // SAFETY D1/D5: nowhere in the database, its WAL or the logs.
  for (const char* f : {"rabta.db", "rabta.db-wal"}) {
    const auto path = dir.path() / f;
    if (std::filesystem::exists(path)) {
      EXPECT_EQ(file_bytes(path).find(kPhoneDigits), std::string::npos) << f;
    }
  }
  EXPECT_NE(logs.find("GGGGGG"), std::string::npos) << "the log names the case";
  for (const char* secret : {kPhoneDigits, kDistrict, kCallTime, "url-secret-token", "\"event\""})
    EXPECT_EQ(logs.find(secret), std::string::npos) << secret << " in logs:\n" << logs;
}

TEST_F(WebhookDispatcherTest, WithdrawnConsentIsHonouredAtSendTime) {
  auto& d = make_dispatcher();
  const auto k = make_case("HHHHHH", true, true);
  ASSERT_TRUE(enqueue(k, "opened", facts(true, true)));
  ASSERT_TRUE(enqueue(k, "escalated", facts(true, true)));
  clock.advance(milliseconds(1));
  set_consent(k, "callback", false);
  EXPECT_EQ(d.run_once().sent, 2);

  clock.advance(milliseconds(1));
  set_consent(k, "referral_ngo", false);
  ASSERT_TRUE(enqueue(k, "acknowledged", facts(true, true)));  // queued with stale facts
  EXPECT_EQ(d.run_once().sent, 1);

  const auto got = receiver.accepted();
  ASSERT_EQ(got.size(), 3u);
  for (const auto& g : got) {
    EXPECT_TRUE(g.signature_ok);
    EXPECT_EQ(g.body.find(kPhoneDigits), std::string::npos) << g.body;
  }
  EXPECT_EQ(keys_of(got[0].body), with(kBaseKeys, {"district", "call_time"}));
  EXPECT_EQ(keys_of(got[2].body), kBaseKeys) << "referral withdrawn: nothing identifying";
}

TEST_F(WebhookDispatcherTest, UnreadableRowIsDeadWithoutACall) {
  auto& d = make_dispatcher();
  const auto k = make_case("IIIIII", true, true);
  auto r = adapters::webhook::make_webhook_outbox(sink, k, "opened", facts(true, true), now());
  r.payload = "not json";
  ASSERT_TRUE(store->run([&](store::Tx& tx) { tx.insert_outbox(r); }).ok);
  EXPECT_EQ(d.run_once().dead, 1);
  EXPECT_EQ(receiver.received().size(), 0u);
  EXPECT_EQ(row(key("opened", "IIIIII")).last_error,
            "unreadable payload (was the webhook secret changed?)");
}

TEST_F(WebhookDispatcherTest, TransportErrorIsRetried) {
  // A port nothing listens on: take one from a server, then stop it.
  std::string url;
  {
    Receiver gone(clock);
    url = gone.url();
  }
  sink = test_sink(url);
  WebhookDispatcherOptions o;
  o.send_timeout = milliseconds(2000);
  dispatcher =
      std::make_unique<WebhookDispatcher>(*store, sink, clock, o, [this] { return next_random(); });
  const auto k = make_case("JJJJJJ", {}, {});
  ASSERT_TRUE(enqueue(k, "opened", facts({}, {})));
  EXPECT_EQ(dispatcher->run_once().retried, 1);
  const auto stored = row(key("opened", "JJJJJJ"));
  EXPECT_EQ(stored.status, store::outbox_status::pending);
  EXPECT_EQ(stored.last_error.rfind("transport error", 0), 0u) << stored.last_error;
}

TEST_F(WebhookDispatcherTest, OnlyItsOwnSinksRows) {
  auto& d = make_dispatcher();
  const auto k = make_case("KKKKKK", {}, {});
  auto other = test_sink();
  other.name = "case_management_2";  // its kind extends ours: not ours to claim
  const auto foreign =
      adapters::webhook::make_webhook_outbox(other, k, "opened", facts({}, {}), now());
  ASSERT_TRUE(store->run([&](store::Tx& tx) { tx.insert_outbox(foreign); }).ok);
  auto sms = foreign;
  sms.kind = "sms:at";
  sms.dedupe_key = "an sms";
  ASSERT_TRUE(store->run([&](store::Tx& tx) { tx.insert_outbox(sms); }).ok);

  const auto r = d.run_once();
  EXPECT_EQ(r.sent, 0);
  EXPECT_EQ(r.claimed, 0);
  EXPECT_EQ(receiver.received().size(), 0u);
  EXPECT_EQ(row(foreign.dedupe_key).status, store::outbox_status::pending) << "never claimed";
  EXPECT_EQ(row(foreign.dedupe_key).attempts, 0);
  EXPECT_EQ(row("an sms").status, store::outbox_status::pending) << "never claimed";
  EXPECT_EQ(row("an sms").attempts, 0);
}

TEST_F(WebhookDispatcherTest, ThreadDeliversAfterWake) {
  WebhookDispatcherOptions o;
  o.poll_interval = milliseconds(60'000);
  auto& d = make_dispatcher(o);
  d.start();
  const auto k = make_case("LLLLLL", {}, {});
  ASSERT_TRUE(enqueue(k, "opened", facts({}, {})));
  d.wake();
  for (int i = 0; i < 500 && receiver.accepted().empty(); ++i)
    std::this_thread::sleep_for(milliseconds(10));
  d.stop();
  EXPECT_EQ(receiver.accepted().size(), 1u);
  EXPECT_EQ(row(key("opened", "LLLLLL")).status, store::outbox_status::sent);
}

TEST(WebhookDispatcherSetup, RefusesWhatCannotWork) {
  test::TempDir dir;
  store::StoreOptions so;
  so.audit_key = "test-audit-key";
  so.path = dir.file("rabta.db");
  auto store = store::open_sqlite_store(so);
  common::ManualClock clock{kT0};
  auto random = [] { return 0.5; };
  auto make = [&](adapters::webhook::WebhookSink s, WebhookDispatcherOptions o = {}) {
    WebhookDispatcher d(*store, std::move(s), clock, o, random);
  };
  EXPECT_NO_THROW(make(test_sink()));
  auto s = test_sink();
  s.secret.clear();
  EXPECT_THROW(make(s), std::invalid_argument) << "nothing is sent unsigned";
  s = test_sink("http://cms.example.org/hook");
  EXPECT_THROW(make(s), std::invalid_argument) << "plain http off loopback";
  s = test_sink();
  s.name.clear();
  EXPECT_THROW(make(s), std::invalid_argument);
  WebhookDispatcherOptions o;
  o.lease = o.send_timeout;
  EXPECT_THROW(make(test_sink(), o), std::invalid_argument);
  o = {};
  o.batch = 0;
  EXPECT_THROW(make(test_sink(), o), std::invalid_argument);
  o = {};
  o.max_attempts = 0;
  EXPECT_THROW(make(test_sink(), o), std::invalid_argument);
  EXPECT_THROW(WebhookDispatcher(*store, test_sink(), clock, {}, nullptr), std::invalid_argument);
  store->close();
}

// #15: a referral partner's dispatcher reads her consent for the partner's own purpose (a police
// desk: "referral_police", not the NGO consent), and sends nothing at all once she no longer
// agrees: the row is cancelled, not sent without its fields.
TEST_F(WebhookDispatcherTest, APartnerGetsNothingWithoutHerConsentForItsPurpose) {
  auto& base = make_dispatcher();
  (void)base;
  sink.name = "police_desk";
  sink.consent_purpose = "referral_police";
  sink.requires_consent = true;
  dispatcher = std::make_unique<WebhookDispatcher>(*store, sink, clock, WebhookDispatcherOptions{},
                                                   [this] { return next_random(); });
  // She agreed to an NGO only: the police desk gets nothing.
  const auto ngo_only = make_case("NGOONL", true, true);
  ASSERT_TRUE(enqueue(ngo_only, "referred", facts(true, true)));
  EXPECT_EQ(dispatcher->run_once().sent, 0);
  EXPECT_EQ(row("webhook:police_desk:referred:NGOONL").status, "cancelled");
  // She agreed to the police: district, call time and number go with it.
  const auto police = make_case("POLICE", false, true);
  set_consent(police, "referral_police", true);
  ASSERT_TRUE(enqueue(police, "referred", facts(true, true)));
  EXPECT_EQ(dispatcher->run_once().sent, 1);
  // She withdrew it in this case: later events are not sent at all.
  clock.advance(milliseconds(1));
  set_consent(police, "referral_police", false);
  ASSERT_TRUE(enqueue(police, "closed", facts(true, true)));
  EXPECT_EQ(dispatcher->run_once().sent, 0);
  EXPECT_EQ(row("webhook:police_desk:closed:POLICE").status, "cancelled");
  const auto got = receiver.accepted();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(keys_of(got[0].body), with(kBaseKeys, {"district", "call_time", "phone"}));
}
