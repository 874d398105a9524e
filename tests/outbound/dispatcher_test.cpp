// The outbound SMS dispatcher against a real SQLite file and a fake Africa's Talking on loopback
// (the real africastalking adapter builds the requests and reads the answers), with a manual
// clock and a scripted random source. Also: the outbox row format, the token bucket, the backoff,
// the recipient policy (SAFETY S1) and the curl multi executor on their own.
#include "gateway/outbound/dispatcher.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "adapters/africastalking/sms.hpp"
#include "adapters/common/cipher.hpp"
#include "adapters/common/clock.hpp"
#include "adapters/common/crypto.hpp"
#include "adapters/common/form.hpp"
#include "adapters/http/curl_executor.hpp"
#include "adapters/store/store.hpp"
#include "flows/local_time.hpp"
#include "flows/text.hpp"
#include "gateway/http/http_server.hpp"
#include "gateway/outbound/outbound_sms.hpp"
#include "gateway/outbound/webhook_dispatcher.hpp"
#include "tests/support/log_capture.hpp"
#include "tests/support/loopback_server.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_cipher.hpp"

using namespace rabta;
using gateway::Dispatcher;
using gateway::DispatcherOptions;
using gateway::SmsPayload;
using std::chrono::milliseconds;

namespace {

constexpr std::int64_t kHour = 3'600'000;
// Tuesday 2026-03-03 07:00 UTC = 12:00 in Karachi (UTC+05:00).
constexpr std::int64_t kT0 = 1'772'521'200'000;

std::vector<common::FormField> form_of(const std::string& body) {
  auto parsed = common::parse_form(body);
  if (!std::holds_alternative<std::vector<common::FormField>>(parsed)) return {};
  return std::get<std::vector<common::FormField>>(parsed);
}

std::string field(const std::vector<common::FormField>& fields, const char* name) {
  const auto* v = common::find_field(fields, name);
  return v ? *v : std::string("<missing>");
}

// --- The fake aggregator

using Received = gateway::HttpRequest;

// What the fake answers to the next message: a scripted HTTP answer, or AT's success (201,
// statusCode 101, messageId ATXid_<n>) once the script is used up.
struct Answer {
  int status = 201;
  int recipient_status = 101;  // AT's per-recipient statusCode when status is 201
};

// Africa's Talking's messaging API on the tests' loopback server (tests/support): answers like AT
// on /version1/messaging; any other path answers the request back; /gather holds each request
// until `gather` of them are waiting at once, then answers them all (proof that they were in
// flight together, without a clock); /hang answers only when the fake is destroyed.
class FakeAggregator {
 public:
  FakeAggregator()
      : server_([this](const gateway::HttpRequest& r, gateway::Responder respond) {
          handle(r, std::move(respond));
        }) {}
  ~FakeAggregator() {
    {
      std::lock_guard lock(mutex_);
      for (auto& r : held_) r(gateway::HttpResponse::text(503, "bye"));
      held_.clear();
    }
    for (auto& [respond, body] : gathered_) respond(gateway::HttpResponse::text(503, "bye"));
  }
  FakeAggregator(const FakeAggregator&) = delete;
  FakeAggregator& operator=(const FakeAggregator&) = delete;

  std::string base_url() const { return server_.url(); }
  // /gather answers once this many requests wait together.
  void gather(std::size_t n) {
    std::lock_guard lock(mutex_);
    gather_ = n;
  }

  void script(std::vector<Answer> answers) {
    std::lock_guard lock(mutex_);
    script_.insert(script_.end(), answers.begin(), answers.end());
  }
  std::vector<Received> received() const { return server_.requests(); }
  std::size_t count() const { return server_.count(); }
  // The messageId the fake gave each number it accepted.
  std::map<std::string, std::string> ids() const {
    std::lock_guard lock(mutex_);
    return ids_;
  }

 private:
  void handle(const gateway::HttpRequest& r, gateway::Responder respond) {
    std::lock_guard lock(mutex_);
    if (r.path == "/hang") {
      held_.push_back(std::move(respond));
      return;
    }
    if (r.path == "/gather") {
      gathered_.emplace_back(std::move(respond), r.body);
      if (gathered_.size() == gather_) {
        for (auto& [waiting, body] : gathered_) waiting(gateway::HttpResponse::text(200, body));
        gathered_.clear();
      }
      return;
    }
    if (r.path != "/version1/messaging") {
      respond(gateway::HttpResponse::text(200, r.method + " " + r.target + " " + r.body));
      return;
    }
    Answer a;
    if (!script_.empty()) {
      a = script_.front();
      script_.pop_front();
    }
    if (a.status != 201) {
      respond(gateway::HttpResponse::text(a.status, "Internal Server Error"));
      return;
    }
    const auto fields = form_of(r.body);
    const std::string to = field(fields, "to");
    nlohmann::json recipient = {{"statusCode", a.recipient_status}, {"number", to}};
    if (a.recipient_status == 101) {
      const std::string id = "ATXid_" + std::to_string(++next_id_);
      ids_[to] = id;
      recipient["status"] = "Success";
      recipient["cost"] = "PKR 1";
      recipient["messageId"] = id;
    } else {
      recipient["status"] = "InvalidPhoneNumber";
      recipient["cost"] = "0";
      recipient["messageId"] = "None";
    }
    const nlohmann::json answer = {
        {"SMSMessageData",
         {{"Message", a.recipient_status == 101 ? "Sent to 1/1 Total Cost: PKR 1" : "Sent to 0/1"},
          {"Recipients", nlohmann::json::array({recipient})}}}};
    gateway::HttpResponse response;
    response.status = 201;
    response.content_type = "application/json";
    response.body = answer.dump();
    respond(std::move(response));
  }

  mutable std::mutex mutex_;
  std::deque<Answer> script_;
  std::map<std::string, std::string> ids_;
  std::vector<gateway::Responder> held_;
  std::vector<std::pair<gateway::Responder, std::string>> gathered_;
  std::size_t gather_ = 1;
  int next_id_ = 0;
  test::LoopbackServer server_;  // last: it stops before the state its handler uses goes
};

// --- The fixture: store, clock, cipher, fake aggregator

class DispatcherTest : public ::testing::Test {
 protected:
  DispatcherTest() {
    store::StoreOptions so;
    so.audit_key = "test-audit-key";
    so.path = dir.file("rabta.db");
    store = store::open_sqlite_store(so);
  }
  ~DispatcherTest() override {
    dispatcher.reset();
    store->close();
  }

  std::shared_ptr<const adapters::sms::SmsAdapter> at_adapter(const std::string& base_url) {
    return std::make_shared<adapters::africastalking::SmsChannel>(
        adapters::sms::Settings{{"username", "sandbox"},
                                {"api_key", "test-api-key"},
                                {"secret", "callback-secret"},
                                {"from", "RABTA"},
                                {"base_url", base_url}});
  }

  Dispatcher& make_dispatcher(double rate = 0, DispatcherOptions o = {}) {
    o.send_timeout = milliseconds(5000);
    std::vector<gateway::ChannelRuntime> channels{{"at", at_adapter(fake.base_url()), rate}};
    dispatcher = std::make_unique<Dispatcher>(*store, std::move(channels), cipher, clock, zone, o,
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

  // A contact as enrolment leaves her: weekly check-in on Tuesdays, by SMS.
  std::int64_t contact(const std::string& pseudonym, const std::string& status, bool sms_ok,
                       int window_start = 9, int window_end = 21, std::int64_t quiet_until = 0) {
    store::ContactRecord c;
    c.pseudonym = pseudonym;
    c.status = status;
    c.sms_ok = sms_ok;
    c.checkin_weekday = 2;
    c.window_start_hour = window_start;
    c.window_end_hour = window_end;
    c.channel = "sms";
    std::int64_t id = 0;
    const auto r = store->run([&](store::Tx& tx) {
      id = tx.enrol_contact(c, now());
      if (quiet_until) tx.set_contact_quiet_until(id, quiet_until, now());
    });
    EXPECT_TRUE(r.ok) << r.error;
    return id;
  }

  std::int64_t enqueue(const std::string& key, const std::string& to, const std::string& text,
                       std::int64_t contact_id = 0, bool solicited = false, std::int64_t ttl_ms = 0,
                       std::int64_t not_before = -1) {
    SmsPayload p;
    p.to = to;
    p.text = text;
    p.ucs2 = flows::measure(text).encoding == flows::Encoding::ucs2;
    p.solicited = solicited;
    p.purpose = solicited ? "reply" : "checkin_prompt";
    const auto row = gateway::make_sms_outbox("at", key, "test", contact_id, p, now(),
                                              not_before < 0 ? now() : not_before, ttl_ms, cipher);
    bool inserted = false;
    const auto r = store->run([&](store::Tx& tx) { inserted = tx.insert_outbox(row); });
    EXPECT_TRUE(r.ok) << r.error;
    EXPECT_TRUE(inserted);
    return outbox(key).id;
  }

  store::OutboxRecord outbox(const std::string& dedupe_key) {
    store::OutboxRecord found;
    store->read([&](store::Tx& tx) {
      for (auto& row : tx.list_outbox("", 1000))
        if (row.dedupe_key == dedupe_key) found = row;
    });
    EXPECT_NE(found.id, 0) << dedupe_key;
    return found;
  }

  test::TempDir dir;
  std::unique_ptr<store::Store> store;
  common::ManualClock clock{kT0};
  common::FieldCipher cipher = test::test_cipher();
  flows::Zone zone = flows::require_zone("Asia/Karachi");
  FakeAggregator fake;
  std::mutex random_mutex;
  std::deque<double> randoms;
  std::unique_ptr<Dispatcher> dispatcher;
};

std::string number(int i) {
  return "+9230012345" + std::string(i < 10 ? "0" : "") + std::to_string(i);
}

}  // namespace

// --- The outbox row format

TEST(OutboundSms, RowCarriesTheNumberEncryptedAndTheMeasuredText) {
  const auto cipher = test::test_cipher();
  SmsPayload p{"+923001234567", "Salam, how are you this week? Reply 1, 2 or 3.", false, false,
               "checkin_prompt"};
  const auto row = gateway::make_sms_outbox("at", "checkin:7:2026-W10", "checkin:7", 7, p, 1000,
                                            2000, 60'000, cipher);
  EXPECT_EQ(row.kind, "sms:at");
  EXPECT_EQ(row.channel, "at");
  EXPECT_EQ(row.dedupe_key, "checkin:7:2026-W10");
  EXPECT_EQ(row.cause, "checkin:7");
  EXPECT_EQ(row.contact_id, 7);
  EXPECT_EQ(row.status, "pending");
  EXPECT_EQ(row.created_at, 1000);
  EXPECT_EQ(row.not_before, 2000);
  EXPECT_EQ(row.expires_at, 61'000);
  EXPECT_EQ(row.encoding, "gsm7");
  EXPECT_EQ(row.segments, 1);
  EXPECT_EQ(row.payload.find("923001234567"), std::string::npos) << "number in clear";
  EXPECT_EQ(row.payload.find(p.text), std::string::npos) << "text in clear (SECURITY #11)";

  const auto back = gateway::read_sms_payload(row, cipher);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->to, p.to);
  EXPECT_EQ(back->text, p.text);
  EXPECT_FALSE(back->ucs2);
  EXPECT_FALSE(back->solicited);
  EXPECT_EQ(back->purpose, "checkin_prompt");

  const auto forever = gateway::make_sms_outbox("at", "k", "c", 0, p, 1000, 1000, 0, cipher);
  EXPECT_EQ(forever.expires_at, 0);
}

TEST(OutboundSms, EncodingAndSegments) {
  const auto cipher = test::test_cipher();
  SmsPayload urdu{"+923001234567", "آپ کیسی ہیں؟", false, true, "reply"};
  const auto u = gateway::make_sms_outbox("at", "u", "c", 1, urdu, 0, 0, 0, cipher);
  EXPECT_EQ(u.encoding, "ucs2");
  EXPECT_EQ(u.segments, 1);
  EXPECT_TRUE(gateway::read_sms_payload(u, cipher)->ucs2)
      << "Urdu needs UCS-2 whatever the caller said";

  SmsPayload long_text{"+923001234567", std::string(200, 'a'), false, false, "checkin_prompt"};
  const auto l = gateway::make_sms_outbox("at", "l", "c", 1, long_text, 0, 0, 0, cipher);
  EXPECT_EQ(l.encoding, "gsm7");
  EXPECT_EQ(l.segments, 2);

  SmsPayload forced{"+923001234567", std::string(100, 'a'), true, false, "checkin_prompt"};
  const auto f = gateway::make_sms_outbox("at", "f", "c", 1, forced, 0, 0, 0, cipher);
  EXPECT_EQ(f.encoding, "ucs2");
  EXPECT_EQ(f.segments, 2);  // 100 UTF-16 units > 70
}

TEST(OutboundSms, PayloadIsBoundToItsRow) {
  const auto cipher = test::test_cipher();
  SmsPayload p{"+923001234567", "hello", false, false, "checkin_prompt"};
  const auto a = gateway::make_sms_outbox("at", "row-a", "c", 1, p, 0, 0, 0, cipher);
  ASSERT_TRUE(gateway::read_sms_payload(a, cipher));

  auto moved = gateway::make_sms_outbox("at", "row-b", "c", 1, p, 0, 0, 0, cipher);
  moved.payload = a.payload;  // row-a's ciphertext copied into row-b
  EXPECT_FALSE(gateway::read_sms_payload(moved, cipher));

  EXPECT_FALSE(gateway::read_sms_payload(a, test::test_cipher(0x43))) << "another key";

  auto bad = a;
  for (const char* payload :
       {"", "not json", "[]", "{}",
        R"({"to_enc":"!!!","text":"x","ucs2":false,"solicited":false,"purpose":"x"})",
        R"({"to_enc":"AAAA","text":"x","ucs2":false,"solicited":false,"purpose":"x"})"}) {
    bad.payload = payload;
    EXPECT_FALSE(gateway::read_sms_payload(bad, cipher)) << payload;
  }
  auto j = nlohmann::json::parse(a.payload);
  j["ucs2"] = "no";
  bad.payload = j.dump();
  EXPECT_FALSE(gateway::read_sms_payload(bad, cipher)) << "wrong field type";

  // Texts moved to one row are refused like numbers: each is bound to its own row.
  auto b = gateway::make_sms_outbox("at", "row-b", "c", 1, p, 0, 0, 0, cipher);
  auto jb = nlohmann::json::parse(b.payload);
  jb["text_enc"] = nlohmann::json::parse(a.payload)["text_enc"];
  b.payload = jb.dump();
  EXPECT_FALSE(gateway::read_sms_payload(b, cipher)) << "row-a's text in row-b";

  // A row queued by an older rabta (text in clear) is still sent after the upgrade.
  auto legacy = nlohmann::json::parse(a.payload);
  legacy.erase("text_enc");
  legacy["text"] = "queued before the upgrade";
  bad.payload = legacy.dump();
  const auto old = gateway::read_sms_payload(bad, cipher);
  ASSERT_TRUE(old);
  EXPECT_EQ(old->text, "queued before the upgrade");
}

// --- Pure pieces

TEST(TokenBucket, RefillsAtTheRateUpToTheBurst) {
  gateway::TokenBucket b(5, 0);
  EXPECT_EQ(b.available(0), 5);
  b.take(5);
  EXPECT_EQ(b.available(0), 0);
  EXPECT_EQ(b.available(199), 0);
  EXPECT_EQ(b.available(200), 1);
  EXPECT_EQ(b.available(1000), 5);
  EXPECT_EQ(b.available(60'000), 5) << "the burst caps what builds up";
  b.take(3);
  EXPECT_EQ(b.available(60'000), 2);
  EXPECT_EQ(b.available(59'000), 2) << "a clock going back neither refills nor breaks";

  gateway::TokenBucket slow(0.5, 0);  // burst max(1, rate) = 1
  EXPECT_EQ(slow.available(0), 1);
  slow.take(1);
  EXPECT_EQ(slow.available(1000), 0);
  EXPECT_EQ(slow.available(2000), 1);
  EXPECT_EQ(slow.available(10'000), 1);

  gateway::TokenBucket unlimited(0, 0);
  EXPECT_TRUE(unlimited.unlimited());
  unlimited.take(1'000'000);
  EXPECT_GE(unlimited.available(0), 1'000'000);
}

TEST(Backoff, FullJitterOfACappedExponential) {
  const milliseconds base(2000), cap(600'000);
  EXPECT_EQ(gateway::backoff_ms(1, base, cap, 0.5), 1000);
  EXPECT_EQ(gateway::backoff_ms(2, base, cap, 0.5), 2000);
  EXPECT_EQ(gateway::backoff_ms(3, base, cap, 1.0), 8000);
  EXPECT_EQ(gateway::backoff_ms(3, base, cap, 0.0), 0);
  EXPECT_EQ(gateway::backoff_ms(9, base, cap, 1.0), 512'000);
  EXPECT_EQ(gateway::backoff_ms(10, base, cap, 1.0), 600'000);
  EXPECT_EQ(gateway::backoff_ms(1000, base, cap, 0.25), 150'000) << "no overflow";
  EXPECT_EQ(gateway::backoff_ms(0, base, cap, 1.0), 2000);
}

TEST(RecipientPolicy, SafetyS1) {
  using Action = gateway::RecipientDecision::Action;
  const auto zone = flows::require_zone("Asia/Karachi");
  store::ContactRecord c;
  c.id = 1;
  c.status = store::contact_status::active;
  c.sms_ok = true;
  c.window_start_hour = 9;
  c.window_end_hour = 21;

  EXPECT_EQ(gateway::recipient_policy(&c, false, kT0, zone).action, Action::send);  // 12:00
  EXPECT_EQ(gateway::recipient_policy(nullptr, true, kT0, zone).action, Action::refuse);

  const std::pair<const char*, const char*> refusals[] = {{"opted_out", "opted out"},
                                                          {"paused", "paused"},
                                                          {"removed", "removed"},
                                                          {"caller", "not enrolled"}};
  for (const auto& [status, reason] : refusals) {
    auto x = c;
    x.status = status;
    const auto d = gateway::recipient_policy(&x, false, kT0, zone);
    EXPECT_EQ(d.action, Action::refuse) << status;
    EXPECT_EQ(d.reason, reason);
    // A solicited reply is refused only when she was removed.
    EXPECT_EQ(gateway::recipient_policy(&x, true, kT0, zone).action,
              std::string(status) == "removed" ? Action::refuse : Action::send)
        << status;
  }
  auto no_consent = c;
  no_consent.sms_ok = false;
  EXPECT_EQ(gateway::recipient_policy(&no_consent, false, kT0, zone).reason, "no sms consent");
  auto no_window = c;
  no_window.window_end_hour = 9;
  EXPECT_EQ(gateway::recipient_policy(&no_window, false, kT0, zone).action, Action::refuse);

  // Outside her window: deferred to the next window start (today 18:00 local = kT0 + 6 h).
  auto evening = c;
  evening.window_start_hour = 18;
  evening.window_end_hour = 21;
  auto d = gateway::recipient_policy(&evening, false, kT0, zone);
  EXPECT_EQ(d.action, Action::defer);
  EXPECT_EQ(d.not_before, kT0 + 6 * kHour);
  EXPECT_EQ(d.not_before, flows::next_window_start(kT0, 18, zone));

  // Already past today's window (12:00, window 6..10): tomorrow 06:00 = kT0 + 18 h.
  auto morning = c;
  morning.window_start_hour = 6;
  morning.window_end_hour = 10;
  EXPECT_EQ(gateway::recipient_policy(&morning, false, kT0, zone).not_before, kT0 + 18 * kHour);

  // A window across midnight (20..8): 12:00 is outside, 23:00 inside.
  auto night = c;
  night.window_start_hour = 20;
  night.window_end_hour = 8;
  EXPECT_EQ(gateway::recipient_policy(&night, false, kT0, zone).not_before, kT0 + 8 * kHour);
  EXPECT_EQ(gateway::recipient_policy(&night, false, kT0 + 11 * kHour, zone).action, Action::send);

  // Quiet period: deferred to its end, or to the window after it.
  auto quiet = c;
  quiet.quiet_until = kT0 + 2 * kHour;
  d = gateway::recipient_policy(&quiet, false, kT0, zone);
  EXPECT_EQ(d.action, Action::defer);
  EXPECT_EQ(d.reason, "quiet period");
  EXPECT_EQ(d.not_before, kT0 + 2 * kHour);
  quiet.quiet_until = kT0 + 10 * kHour;  // 22:00 local: after her window
  EXPECT_EQ(gateway::recipient_policy(&quiet, false, kT0, zone).not_before, kT0 + 21 * kHour);
  EXPECT_EQ(gateway::recipient_policy(&quiet, true, kT0, zone).action, Action::send)
      << "a solicited reply ignores the quiet period";
}

// --- The dispatcher end to end

TEST_F(DispatcherTest, EveryQueuedRowIsSentOnceWithTheRightFields) {
  test::LogCapture logs;
  DispatcherOptions o;
  o.max_parallel = 4;
  auto& d = make_dispatcher(0, o);
  const int n = 10;
  std::map<std::string, std::string> text_of;
  for (int i = 0; i < n; ++i) {
    const std::string text =
        i == 3 ? "آپ کیسی ہیں؟ جواب دیں" : "Check-in " + std::to_string(i) + ": reply 1 if fine";
    text_of[number(i)] = text;
    enqueue("k" + std::to_string(i), number(i), text);
  }

  const auto r = d.run_once();
  EXPECT_EQ(r.claimed, n);
  EXPECT_EQ(r.sent, n);
  EXPECT_EQ(r.retried + r.dead + r.refused + r.deferred, 0);

  const auto received = fake.received();
  ASSERT_EQ(received.size(), static_cast<std::size_t>(n));
  std::set<std::string> numbers;
  for (const auto& req : received) {
    EXPECT_EQ(req.method, "POST");
    EXPECT_EQ(req.path, "/version1/messaging");
    EXPECT_EQ(req.header("apikey"), "test-api-key");
    EXPECT_EQ(req.header("accept"), "application/json");
    const auto fields = form_of(req.body);
    EXPECT_EQ(field(fields, "username"), "sandbox");
    EXPECT_EQ(field(fields, "from"), "RABTA");
    const std::string to = field(fields, "to");
    EXPECT_EQ(field(fields, "message"), text_of[to]) << to;
    numbers.insert(to);
  }
  EXPECT_EQ(numbers.size(), static_cast<std::size_t>(n)) << "each number exactly once";

  const auto ids = fake.ids();
  for (int i = 0; i < n; ++i) {
    const auto row = outbox("k" + std::to_string(i));
    EXPECT_EQ(row.status, "sent");
    EXPECT_EQ(row.provider_message_id, ids.at(number(i)));
    EXPECT_EQ(row.attempts, 1);
    EXPECT_EQ(row.sent_at, kT0);
  }

  EXPECT_EQ(d.run_once().claimed, 0);
  EXPECT_EQ(fake.count(), static_cast<std::size_t>(n));
  EXPECT_EQ(d.stats().sent, static_cast<std::uint64_t>(n));

  const std::string log = logs.text();
  EXPECT_NE(log.find("sent"), std::string::npos);
  for (const auto& [to, text] : text_of) {
    EXPECT_EQ(log.find(to.substr(1)), std::string::npos) << "a number in the log";
    EXPECT_EQ(log.find(text), std::string::npos) << "a text in the log";
  }
  EXPECT_EQ(log.find("test-api-key"), std::string::npos);
}

TEST_F(DispatcherTest, ServerErrorsAreRetriedWithJitteredBackoffThenSent) {
  auto& d = make_dispatcher();
  randoms = {0.5, 0.25};
  fake.script({{500, 0}, {500, 0}});
  const auto id = enqueue("k", number(1), "hello");

  auto r = d.run_once();
  EXPECT_EQ(r.retried, 1);
  auto row = outbox("k");
  EXPECT_EQ(row.id, id);
  EXPECT_EQ(row.status, "pending");
  EXPECT_EQ(row.attempts, 1);
  EXPECT_EQ(row.not_before, kT0 + 1000);  // 0.5 * 2000 * 2^0
  EXPECT_EQ(row.last_error, "HTTP 500");

  clock.advance(milliseconds(999));
  EXPECT_EQ(d.run_once().claimed, 0) << "not before its backoff";
  clock.advance(milliseconds(1));
  r = d.run_once();
  EXPECT_EQ(r.retried, 1);
  row = outbox("k");
  EXPECT_EQ(row.attempts, 2);
  EXPECT_EQ(row.not_before, kT0 + 1000 + 1000);  // 0.25 * 2000 * 2^1

  clock.advance(milliseconds(1000));
  r = d.run_once();
  EXPECT_EQ(r.sent, 1);
  row = outbox("k");
  EXPECT_EQ(row.status, "sent");
  EXPECT_EQ(row.attempts, 3);
  EXPECT_EQ(row.provider_message_id, "ATXid_1");
  EXPECT_EQ(fake.count(), 3u);
  EXPECT_EQ(d.stats().retried, 2u);
  EXPECT_EQ(d.stats().sent, 1u);
}

TEST_F(DispatcherTest, PermanentFailureIsDeadAtOnce) {
  auto& d = make_dispatcher();
  fake.script({{201, 403}});
  enqueue("k", number(1), "hello");
  const auto r = d.run_once();
  EXPECT_EQ(r.dead, 1);
  const auto row = outbox("k");
  EXPECT_EQ(row.status, "dead");
  EXPECT_EQ(row.last_error, "InvalidPhoneNumber (403)");
  clock.advance(milliseconds(3'600'000));
  EXPECT_EQ(d.run_once().claimed, 0);
  EXPECT_EQ(fake.count(), 1u);
}

TEST_F(DispatcherTest, ExhaustedAttemptsAreDead) {
  DispatcherOptions o;
  o.max_attempts = 3;
  auto& d = make_dispatcher(0, o);
  randoms = {1.0, 1.0, 1.0};
  fake.script({{503, 0}, {503, 0}, {503, 0}, {503, 0}});
  enqueue("k", number(1), "hello");
  EXPECT_EQ(d.run_once().retried, 1);
  clock.advance(milliseconds(2000));
  EXPECT_EQ(d.run_once().retried, 1);
  clock.advance(milliseconds(4000));
  EXPECT_EQ(d.run_once().dead, 1);
  const auto row = outbox("k");
  EXPECT_EQ(row.status, "dead");
  EXPECT_EQ(row.attempts, 3);
  EXPECT_EQ(row.last_error, "attempts exhausted: HTTP 503");
  clock.advance(milliseconds(600'000));
  EXPECT_EQ(d.run_once().claimed, 0);
  EXPECT_EQ(fake.count(), 3u);
  EXPECT_EQ(d.stats().dead, 1u);
}

TEST_F(DispatcherTest, TransportFailureIsRetried) {
  std::vector<gateway::ChannelRuntime> channels{{"at", at_adapter("http://127.0.0.1:1"), 0}};
  Dispatcher d(*store, std::move(channels), cipher, clock, zone, {}, [] { return 0.5; });
  enqueue("k", number(1), "hello");
  EXPECT_EQ(d.run_once().retried, 1);
  const auto row = outbox("k");
  EXPECT_EQ(row.status, "pending");
  EXPECT_EQ(row.last_error, "transport error");
  EXPECT_EQ(row.not_before, kT0 + 1000);
}

TEST_F(DispatcherTest, RowPastItsTtlIsNeverSent) {
  auto& d = make_dispatcher();
  enqueue("k", number(1), "hello", 0, false, /*ttl_ms=*/1000);
  clock.advance(milliseconds(1000));
  EXPECT_EQ(d.run_once().claimed, 0);
  EXPECT_EQ(outbox("k").status, "expired");

  // A row deferred (quiet period) past its TTL expires instead of being sent later.
  const auto her = contact("p-quiet", "active", true, 9, 21, now() + 4 * kHour);
  enqueue("q", number(2), "hello", her, false, /*ttl_ms=*/kHour);
  EXPECT_EQ(d.run_once().deferred, 1);
  clock.advance(milliseconds(4 * kHour));
  EXPECT_EQ(d.run_once().claimed, 0);
  EXPECT_EQ(outbox("q").status, "expired");
  EXPECT_EQ(fake.count(), 0u);
}

TEST_F(DispatcherTest, RateLimitPerChannel) {
  auto& d = make_dispatcher(5);
  for (int i = 0; i < 20; ++i) enqueue("k" + std::to_string(i), number(i), "hello");
  auto r = d.run_once();
  EXPECT_EQ(r.claimed, 5);
  EXPECT_EQ(r.sent, 5);
  EXPECT_EQ(d.run_once().claimed, 0) << "no tokens left in the same second";
  EXPECT_EQ(fake.count(), 5u);
  clock.advance(milliseconds(1000));
  r = d.run_once();
  EXPECT_EQ(r.sent, 5);
  EXPECT_EQ(fake.count(), 10u);
  clock.advance(milliseconds(400));
  EXPECT_EQ(d.run_once().sent, 2);
  EXPECT_EQ(fake.count(), 12u);
}

TEST_F(DispatcherTest, RefusedRecipientsGetNoRequest) {
  auto& d = make_dispatcher();
  const auto opted_out = contact("p-out", "opted_out", true);
  const auto no_consent = contact("p-no", "active", false);
  const auto paused = contact("p-paused", "paused", true);
  const auto removed = contact("p-removed", "removed", true);
  enqueue("out", number(1), "hello", opted_out);
  enqueue("no", number(2), "hello", no_consent);
  enqueue("paused", number(3), "hello", paused);
  enqueue("removed-reply", number(4), "hello", removed, /*solicited=*/true);
  enqueue("unknown", number(5), "hello", 999'999);

  const auto r = d.run_once();
  EXPECT_EQ(r.claimed, 5);
  EXPECT_EQ(r.refused, 5);
  EXPECT_EQ(r.sent, 0);
  EXPECT_EQ(fake.count(), 0u);
  EXPECT_EQ(outbox("out").status, "dead");
  EXPECT_EQ(outbox("out").last_error, "refused: opted out");
  EXPECT_EQ(outbox("no").last_error, "refused: no sms consent");
  EXPECT_EQ(outbox("paused").last_error, "refused: paused");
  EXPECT_EQ(outbox("removed-reply").last_error, "refused: removed");
  EXPECT_EQ(outbox("unknown").last_error, "refused: unknown contact");
  EXPECT_EQ(d.stats().refused, 5u);
}

TEST_F(DispatcherTest, SolicitedReplyToAnOptedOutContactIsSent) {
  auto& d = make_dispatcher();
  const auto her = contact("p-out", "opted_out", false, 18, 21, now() + kHour);
  enqueue("reply", number(1), "You will get no more messages. Send START to resume.", her,
          /*solicited=*/true);
  EXPECT_EQ(d.run_once().sent, 1);
  EXPECT_EQ(outbox("reply").status, "sent");
  ASSERT_EQ(fake.count(), 1u);
  EXPECT_EQ(field(form_of(fake.received()[0].body), "to"), number(1));
}

TEST_F(DispatcherTest, OutsideHerWindowIsDeferredToItsStart) {
  auto& d = make_dispatcher();
  const auto her = contact("p-eve", "active", true, 18, 21);  // it is 12:00 in Karachi
  enqueue("k", number(1), "hello", her);
  auto r = d.run_once();
  EXPECT_EQ(r.deferred, 1);
  EXPECT_EQ(fake.count(), 0u);
  auto row = outbox("k");
  EXPECT_EQ(row.status, "pending");
  EXPECT_EQ(row.not_before, flows::next_window_start(kT0, 18, zone));
  EXPECT_EQ(row.not_before, kT0 + 6 * kHour);
  EXPECT_EQ(row.last_error, "deferred: outside her window");

  clock.advance(milliseconds(6 * kHour - 1));
  EXPECT_EQ(d.run_once().claimed, 0);
  clock.advance(milliseconds(1));
  EXPECT_EQ(d.run_once().sent, 1);
  EXPECT_EQ(outbox("k").status, "sent");
  EXPECT_EQ(fake.count(), 1u);
}

TEST_F(DispatcherTest, QuietPeriodIsDeferredToItsEnd) {
  auto& d = make_dispatcher();
  const auto her = contact("p-quiet", "active", true, 9, 21, now() + 2 * kHour);
  enqueue("k", number(1), "hello", her);
  EXPECT_EQ(d.run_once().deferred, 1);
  const auto row = outbox("k");
  EXPECT_EQ(row.not_before, kT0 + 2 * kHour);
  EXPECT_EQ(row.last_error, "deferred: quiet period");
  EXPECT_EQ(fake.count(), 0u);
  clock.advance(milliseconds(2 * kHour));
  EXPECT_EQ(d.run_once().sent, 1);
  EXPECT_EQ(fake.count(), 1u);
}

TEST_F(DispatcherTest, UnreadablePayloadIsDeadWithoutRequest) {
  auto& d = make_dispatcher();
  SmsPayload p{number(1), "hello", false, false, "checkin_prompt"};
  auto row = gateway::make_sms_outbox("at", "original", "test", 0, p, now(), now(), 0, cipher);
  row.dedupe_key = "moved";  // the ciphertext is bound to "original"
  store->run([&](store::Tx& tx) { tx.insert_outbox(row); });
  EXPECT_EQ(d.run_once().dead, 1);
  EXPECT_EQ(outbox("moved").status, "dead");
  EXPECT_EQ(outbox("moved").last_error, "unreadable payload");
  EXPECT_EQ(fake.count(), 0u);
}

TEST_F(DispatcherTest, InDoubtAlertToAResponderIsSentAgainOnTheNextStart) {
  enqueue("k", number(1), "hello");  // contact 0: a responder's alert
  // A dispatcher claimed it and the process died before recording anything: its lease is
  // still running, but the process that held it is gone.
  const auto r = store->run([&](store::Tx& tx) {
    EXPECT_EQ(tx.claim_outbox(now(), now() + 60'000, 10, "sms:").size(), 1u);
  });
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(outbox("k").status, "sending");

  clock.advance(milliseconds(1'000));
  auto& d = make_dispatcher();
  EXPECT_EQ(d.run_once().sent, 1);
  const auto row = outbox("k");
  EXPECT_EQ(row.status, "sent");
  EXPECT_EQ(row.attempts, 2);
  EXPECT_EQ(fake.count(), 1u);
}

TEST_F(DispatcherTest, InDoubtMessageToAWomanIsHeldUnconfirmedNeverSentTwice) {
  const auto her = contact("p-1", "active", true, 0, 24);
  enqueue("checkin:1", number(2), "hello", her);
  enqueue("checkin:2", number(3), "hello", her);
  // The first was being sent when the process died; the second was still pending.
  const auto r = store->run([&](store::Tx& tx) {
    EXPECT_EQ(tx.claim_outbox(now(), now() + 60'000, 1, "sms:").size(), 1u);
  });
  ASSERT_TRUE(r.ok) << r.error;
  clock.advance(milliseconds(1'000));
  auto& d = make_dispatcher();
  EXPECT_EQ(d.run_once().sent, 1);
  EXPECT_EQ(d.run_once().claimed, 0);
  const auto held = outbox("checkin:1");
  EXPECT_EQ(held.status, "unconfirmed");
  EXPECT_NE(held.last_error.find("in doubt"), std::string::npos);
  EXPECT_EQ(outbox("checkin:2").status, "sent");
  ASSERT_EQ(fake.count(), 1u) << "only the pending one went out";
}

TEST_F(DispatcherTest, OnlyItsOwnChannelAndUnknownChannelsWait) {
  // "sms:at" is a prefix of "sms:at2": a claim for "at" must not take at2's rows.
  std::vector<gateway::ChannelRuntime> channels{{"at", at_adapter(fake.base_url()), 0}};
  Dispatcher d(*store, std::move(channels), cipher, clock, zone, {}, [] { return 0.5; });
  SmsPayload p{number(1), "hello", false, false, "checkin_prompt"};
  const auto other =
      gateway::make_sms_outbox("at2", "other", "test", 0, p, now(), now(), 0, cipher);
  store->run([&](store::Tx& tx) { tx.insert_outbox(other); });
  enqueue("mine", number(2), "hello");
  const auto r = d.run_once();
  EXPECT_EQ(r.claimed, 1);
  EXPECT_EQ(r.sent, 1);
  EXPECT_EQ(fake.count(), 1u);
  EXPECT_EQ(outbox("other").status, "pending") << "waits for a process that runs at2";
  EXPECT_EQ(outbox("other").attempts, 0) << "never claimed, so no attempt spent";
}

TEST_F(DispatcherTest, EachChannelKeepsItsOwnRateWhenOneNameExtendsAnother) {
  // "at" (1 a second) and "at2" (1 a second): a claim for at must not take at2's rows, or at2
  // would send at at's rate as well as its own.
  std::vector<gateway::ChannelRuntime> channels{{"at", at_adapter(fake.base_url()), 1},
                                                {"at2", at_adapter(fake.base_url()), 1}};
  Dispatcher d(*store, std::move(channels), cipher, clock, zone, {}, [] { return 0.5; });
  for (int i = 0; i < 4; ++i) {
    SmsPayload p{number(i), "hello", false, false, "checkin_prompt"};
    const auto row = gateway::make_sms_outbox("at2", "at2-" + std::to_string(i), "test", 0, p,
                                              now(), now(), 0, cipher);
    store->run([&](store::Tx& tx) { tx.insert_outbox(row); });
  }
  EXPECT_EQ(d.run_once().sent, 1) << "one token for at2 at the start";
  EXPECT_EQ(d.run_once().sent, 0) << "at's token is not at2's";
  clock.advance(milliseconds(1'000));
  EXPECT_EQ(d.run_once().sent, 1);
  EXPECT_EQ(fake.count(), 2u);
}

TEST_F(DispatcherTest, AWebhookDispatcherStartingFirstLeavesHerInDoubtMessageHeld) {
  const auto her = contact("p-1", "active", true, 0, 24);
  enqueue("checkin:1", number(2), "hello", her);
  // Being sent when the process died; rabta comes back after the lease ran out.
  const auto r = store->run([&](store::Tx& tx) {
    EXPECT_EQ(tx.claim_outbox(now(), now() + 60'000, 1, "sms:").size(), 1u);
  });
  ASSERT_TRUE(r.ok) << r.error;
  clock.advance(milliseconds(120'000));

  // The webhook dispatcher's first pass happens to run before the SMS dispatcher's.
  adapters::webhook::WebhookSink sink;
  sink.enabled = true;
  sink.url = fake.base_url() + "/hooks";
  sink.secret = "webhook-secret-0123456789";
  gateway::WebhookDispatcher webhooks(*store, sink, clock, {}, [] { return 0.5; });
  webhooks.run_once();
  EXPECT_EQ(outbox("checkin:1").status, "sending") << "not the webhook dispatcher's to release";

  auto& d = make_dispatcher();
  EXPECT_EQ(d.run_once().sent, 0);
  EXPECT_EQ(outbox("checkin:1").status, "unconfirmed");
  EXPECT_EQ(fake.count(), 0u) << "never sent twice";
}

TEST_F(DispatcherTest, ThreadSendsWhenWoken) {
  DispatcherOptions o;
  o.poll_interval = milliseconds(60'000);
  auto& d = make_dispatcher(0, o);
  d.start();
  enqueue("k", number(1), "hello");
  d.wake();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (d.stats().sent == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds(10));
  d.stop();
  EXPECT_EQ(d.stats().sent, 1u);
  EXPECT_EQ(outbox("k").status, "sent");
  d.stop();  // twice is harmless
}

TEST_F(DispatcherTest, RejectsUnworkableConfiguration) {
  const auto make = [&](std::vector<gateway::ChannelRuntime> ch, DispatcherOptions o) {
    Dispatcher d(*store, std::move(ch), cipher, clock, zone, o, [] { return 0.5; });
  };
  EXPECT_THROW(make({{"at", nullptr, 1}}, {}), std::invalid_argument);
  EXPECT_THROW(
      make({{"at", at_adapter(fake.base_url()), 1}, {"at", at_adapter(fake.base_url()), 1}}, {}),
      std::invalid_argument);
  DispatcherOptions short_lease;
  short_lease.lease = milliseconds(1000);
  EXPECT_THROW(make({}, short_lease), std::invalid_argument);
  DispatcherOptions no_batch;
  no_batch.batch = 0;
  EXPECT_THROW(make({}, no_batch), std::invalid_argument);
}

// --- The curl multi executor

TEST(CurlExecutorHosts, LoopbackAndHostOnly) {
  using adapters::http::CurlExecutor;
  EXPECT_EQ(CurlExecutor::host_of("https://api.africastalking.com/version1/messaging?x=1"),
            "api.africastalking.com");
  EXPECT_EQ(CurlExecutor::host_of("http://[::1]:8080/x"), "[::1]");
  EXPECT_EQ(CurlExecutor::host_of("not a url"), "");
  EXPECT_TRUE(CurlExecutor::is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(CurlExecutor::is_loopback_host("127.10.0.200"));
  EXPECT_TRUE(CurlExecutor::is_loopback_host("localhost"));
  EXPECT_TRUE(CurlExecutor::is_loopback_host("[::1]"));
  EXPECT_FALSE(CurlExecutor::is_loopback_host("127.0.0.1.example.com"));
  EXPECT_FALSE(CurlExecutor::is_loopback_host("api.africastalking.com"));
  EXPECT_FALSE(CurlExecutor::is_loopback_host("10.0.0.1"));
}

TEST(CurlExecutor, MethodsHeadersBasicAuthAndOrder) {
  FakeAggregator fake;
  adapters::http::CurlExecutor http;
  std::vector<adapters::sms::HttpCall> calls(3);
  calls[0].method = "GET";
  calls[0].url = fake.base_url() + "/echo?a=1";
  calls[1].url = fake.base_url() + "/echo/post";
  calls[1].body = "x=1&y=2";
  calls[1].headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"X-Test", "yes"}};
  calls[1].basic_user = "ACuser";
  calls[1].basic_password = "p@ss";
  calls[2].url = "http://127.0.0.1:1/refused";
  const auto results = http.perform_all(calls, milliseconds(5000), 2);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].first, 200);
  EXPECT_EQ(results[0].second, "GET /echo?a=1 ");
  EXPECT_EQ(results[1].first, 200);
  EXPECT_EQ(results[1].second, "POST /echo/post x=1&y=2");
  EXPECT_EQ(results[2].first, 0);
  EXPECT_FALSE(results[2].second.empty());

  const auto received = fake.received();
  ASSERT_EQ(received.size(), 2u);
  const auto& post = received[0].method == "POST" ? received[0] : received[1];
  EXPECT_EQ(post.header("x-test"), "yes");
  EXPECT_EQ(post.header("authorization"), "Basic " + common::base64_encode("ACuser:p@ss"));
  EXPECT_EQ(post.header("expect"), "");

  EXPECT_TRUE(http.perform_all({}, milliseconds(1000), 4).empty());
}

// Sets (or, with nullptr, unsets) an environment variable while alive.
class EnvOverride {
 public:
  EnvOverride(const char* name, const char* value) : name_(name) {
    if (const char* v = std::getenv(name)) previous_ = v;
    if (value)
      setenv(name, value, 1);
    else
      unsetenv(name);
  }
  ~EnvOverride() {
    if (previous_)
      setenv(name_.c_str(), previous_->c_str(), 1);
    else
      unsetenv(name_.c_str());
  }
  EnvOverride(const EnvOverride&) = delete;
  EnvOverride& operator=(const EnvOverride&) = delete;

 private:
  std::string name_;
  std::optional<std::string> previous_;
};

TEST(CurlExecutor, ProxiesExceptForLoopback) {
  FakeAggregator proxy, direct;
  const EnvOverride http_proxy("http_proxy", proxy.base_url().c_str());
  const EnvOverride all_proxy("ALL_PROXY", nullptr);
  const EnvOverride no_proxy("no_proxy", nullptr);
  const EnvOverride no_proxy_upper("NO_PROXY", nullptr);
  adapters::http::CurlExecutor http;
  std::vector<adapters::sms::HttpCall> calls(2);
  calls[0].method = "GET";
  calls[0].url = "http://aggregator.example/echo";
  calls[1].method = "GET";
  calls[1].url = direct.base_url() + "/echo";
  const auto results = http.perform_all(calls, milliseconds(5000), 2);
  EXPECT_EQ(results[0].first, 200);
  EXPECT_EQ(results[0].second, "GET http://aggregator.example/echo ") << "through the proxy";
  EXPECT_EQ(results[1].first, 200);
  EXPECT_EQ(results[1].second, "GET /echo ") << "loopback goes direct";
  EXPECT_EQ(proxy.count(), 1u);
  EXPECT_EQ(direct.count(), 1u);
}

TEST(CurlExecutor, KeepsConnectionsAlive) {
  FakeAggregator fake;
  adapters::http::CurlExecutor http;
  adapters::sms::HttpCall call;
  call.url = fake.base_url() + "/echo";
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(http.perform_all({call}, milliseconds(5000), 1)[0].first, 200);
  EXPECT_EQ(http.connections_opened(), 1u);
  EXPECT_EQ(fake.count(), 5u);
}

TEST(CurlExecutor, RunsCallsConcurrentlyAndTimesOut) {
  FakeAggregator fake;
  fake.gather(8);  // no answer until all eight calls wait at the fake together
  adapters::http::CurlExecutor http;
  std::vector<adapters::sms::HttpCall> calls(8);
  for (std::size_t i = 0; i < calls.size(); ++i) {
    calls[i].url = fake.base_url() + "/gather";
    calls[i].body = std::to_string(i);
  }
  const auto results = http.perform_all(calls, milliseconds(20000), 8);
  for (std::size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(results[i].first, 200)
        << "call " << i << " was not in flight with the others: " << results[i].second;
    EXPECT_EQ(results[i].second, std::to_string(i)) << "results in the order of the calls";
  }

  adapters::sms::HttpCall hang;
  hang.url = fake.base_url() + "/hang";
  const auto timed_out = http.perform_all({hang}, milliseconds(300), 1);
  EXPECT_EQ(timed_out[0].first, 0);
  EXPECT_NE(timed_out[0].second.find("timed out"), std::string::npos) << timed_out[0].second;
}
