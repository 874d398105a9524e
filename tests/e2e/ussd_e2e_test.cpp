// End to end: the real rabta binary on a free loopback port with a fresh database, driven over
// HTTP the way Africa's Talking drives it; then SIGKILL right after replies were received, a
// restart, and every acknowledged case reference must be in the database.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace rabta::test;

namespace {

const std::string secret = "e2e-secret-0123456789abcdef";
const std::string key_hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

// A copy of the shipped config/ in the test's folder, set up by `rabta init` as an operator would.
std::string install_config(const TempDir& dir) {
  const std::filesystem::path src = std::filesystem::path(RABTA_SOURCE_DIR) / "config";
  std::filesystem::copy(src, dir.path() / "config", std::filesystem::copy_options::recursive);
  const std::string config = (dir.path() / "config/rabta.toml").string();
  Process init({RABTA_BINARY, "init", "--config", config}, {}, dir.file("init.log"));
  if (init.wait() != 0) throw std::runtime_error("rabta init failed:\n" + init.log());
  return config;
}

class Rabta {
 public:
  Rabta(const TempDir& dir, int run) {
    const std::string config = (dir.path() / "config/rabta.toml").string();
    proc_ = std::make_unique<Process>(
        std::vector<std::string>{RABTA_BINARY, "serve", "--config", config, "--listen",
                                 "127.0.0.1:0", "--db", dir.file("rabta.db")},
        std::vector<std::string>{"RABTA_PSEUDONYM_KEY=" + key_hex, "RABTA_AT_SECRET=" + secret},
        dir.file("rabta-" + std::to_string(run) + ".log"));
    const std::string rest = proc_->wait_for_log("rabta listening on http://127.0.0.1:");
    if (rest.empty()) throw std::runtime_error("rabta did not start:\n" + proc_->log());
    port_ = std::stoi(rest);
    url_ = "http://127.0.0.1:" + std::to_string(port_);
  }
  const std::string& url() const { return url_; }
  std::string ussd() const { return url_ + "/ussd/africastalking?key=" + secret; }
  Process& process() { return *proc_; }

 private:
  std::unique_ptr<Process> proc_;
  int port_ = 0;
  std::string url_;
};

// One caller's session: each press() is one HTTP hop with the accumulated text.
class Caller {
 public:
  Caller(const Rabta& r, std::string session, std::string phone)
      : ussd_(r.ussd()), session_(std::move(session)), phone_(std::move(phone)) {}
  std::string dial() {
    path_.clear();
    started_ = false;
    return send();
  }
  std::string press(const std::string& input) {
    path_ = started_ && !path_.empty() ? path_ + "*" + input : input;
    return send();
  }
  std::string last_status;

 private:
  std::string send() {
    started_ = true;
    const auto r = http_.post(ussd_, form({{"sessionId", session_},
                                           {"serviceCode", "*786#"},
                                           {"phoneNumber", phone_},
                                           {"networkCode", "41001"},
                                           {"text", path_}}));
    last_status = std::to_string(r.status);
    return r.status == 200 ? r.body : "HTTP " + std::to_string(r.status) + " " + r.body + r.error;
  }
  HttpClient http_;
  std::string ussd_;
  std::string session_;
  std::string phone_;
  std::string path_;
  bool started_ = false;
};

std::string reference_in(const std::string& reply, const std::string& prefix) {
  const auto at = reply.find(prefix);
  if (at == std::string::npos) return {};
  return reply.substr(at + prefix.size(), 6);
}

}  // namespace

TEST(UssdEndToEnd, ReportsAndCheckInsSurviveSigkillAndRestart) {
  TempDir dir;
  install_config(dir);
  std::set<std::string> acknowledged;  // every reference a woman was shown
  {
    Rabta rabta(dir, 1);

    // 1. A first-time caller in Urdu: an invalid choice, Urdu digits, the weekly check-in.
    Caller a(rabta, "e2e-a", "+923001110001");
    EXPECT_EQ(a.dial().rfind("CON زبان", 0), 0u);
    EXPECT_EQ(a.press("۱").rfind("CON صحت اور خیریت", 0), 0u);
    EXPECT_EQ(a.press("7").rfind("CON غلط انتخاب\n", 0), 0u) << "invalid choice re-prompts";
    EXPECT_EQ(a.press("۱").rfind("CON اس ہفتے آپ کیسی ہیں؟", 0), 0u);
    EXPECT_EQ(a.press("۱"), "END شکریہ۔ خدا حافظ");

    // 2. An incident report in English, with a wrong choice on the way.
    Caller b(rabta, "e2e-b", "+923001110002");
    b.dial();
    b.press("3");
    b.press("2");
    EXPECT_EQ(b.press("8").rfind("CON Invalid choice, try again\nWhat happened?", 0), 0u);
    b.press("2");
    b.press("1");
    b.press("2");  // not safe now
    b.press("1");
    b.press("3");  // evening
    b.press("1");  // Bhakkar
    const std::string b_end = b.press("2");
    const std::string ref_b = reference_in(b_end, "END Received. Reference: ");
    ASSERT_EQ(ref_b.size(), 6u) << b_end;
    acknowledged.insert(ref_b);

    // 3. "I need help now" in Roman Urdu.
    Caller c(rabta, "e2e-c", "+923001110003");
    c.dial();
    c.press("2");
    c.press("1");
    c.press("3");
    c.press("2");
    const std::string c_end = c.press("3");
    const std::string ref_c = reference_in(c_end, "Hawala: ");
    ASSERT_EQ(ref_c.size(), 6u) << c_end;
    acknowledged.insert(ref_c);

    // 4. Quick exit part-way through a report: neutral text, nothing about a case.
    Caller d(rabta, "e2e-d", "+923001110004");
    d.dial();
    d.press("3");
    d.press("2");
    d.press("4");
    EXPECT_EQ(d.press("00"), "END Thank you. Goodbye.");

    // 5. A dropped session, resumed by dialling again.
    Caller e(rabta, "e2e-e1", "+923001110005");
    e.dial();
    e.press("3");
    e.press("2");
    e.press("3");
    HttpClient http;
    EXPECT_EQ(http.post(rabta.url() + "/ussd/africastalking/events?key=" + secret,
                        form({{"sessionId", "e2e-e1"},
                              {"status", "Incomplete"},
                              {"phoneNumber", "+923001110005"}}))
                  .status,
              200);
    // Hanging up raised the interrupted report (SAFETY W4); dialling again shows the ordinary
    // first screen, and the report is offered back only once she picks "Tell us something".
    Caller e2(rabta, "e2e-e2", "+923001110005");
    EXPECT_EQ(e2.dial().rfind("CON Health and well-being", 0), 0u);
    EXPECT_EQ(e2.press("2"), "CON Continue where you left off?\n1. Yes\n2. Start again");
    EXPECT_EQ(e2.press("1"), "CON When?\n1. Today\n2. This week\n3. Earlier");
    e2.press("1");
    e2.press("1");
    e2.press("2");
    e2.press("1");
    const std::string e_end = e2.press("3");
    const std::string ref_e = reference_in(e_end, "END Received. Reference: ");
    ASSERT_EQ(ref_e.size(), 6u) << e_end;
    acknowledged.insert(ref_e);

    // 6. A burst of reports from 8 phones at once; kill -9 right after the last replies arrived.
    std::mutex m;
    std::vector<std::thread> phones;
    std::atomic<int> failures{0};
    for (int t = 0; t < 8; ++t) {
      phones.emplace_back([&, t] {
        for (int i = 0; i < 5; ++i) {
          Caller x(rabta, "burst-" + std::to_string(t) + "-" + std::to_string(i),
                   "+92300222" + std::to_string(1000 + t * 10 + i));
          x.dial();
          for (const char* in : {"3", "2", "1", "1", "1", "2", "1", "1"}) x.press(in);
          const std::string ref = reference_in(x.press("1"), "END Received. Reference: ");
          if (ref.size() != 6) {
            ++failures;
            continue;
          }
          std::lock_guard lock(m);
          acknowledged.insert(ref);
        }
      });
    }
    for (auto& p : phones) p.join();
    EXPECT_EQ(failures.load(), 0);
    rabta.process().signal(SIGKILL);
    EXPECT_EQ(rabta.process().wait(), -SIGKILL);
    const std::string log = rabta.process().log();
    for (const std::string number : {"3001110001", "3001110002", "3002221000"})
      EXPECT_EQ(log.find(number), std::string::npos) << "a phone number reached the log";
  }
  ASSERT_EQ(acknowledged.size(), 3u + 40u);  // b, c, e and the burst; the quick exit shows none

  // Restart on the same database: it opens (WAL recovery), serves, and has every reference.
  Rabta again(dir, 2);
  HttpClient http;
  EXPECT_EQ(http.get(again.url() + "/healthz").status, 200);
  {
    SQLite::Database db(dir.file("rabta.db"), SQLite::OPEN_READONLY);
    EXPECT_EQ(db.execAndGet("PRAGMA integrity_check").getString(), "ok");
    for (const auto& ref : acknowledged) {
      SQLite::Statement q(
          db,
          "SELECT count(*) FROM cases c JOIN outbox o ON o.dedupe_key = 'case:' || c.reference "
          "WHERE c.reference = ?");
      q.bind(1, ref);
      ASSERT_TRUE(q.executeStep());
      EXPECT_EQ(q.getColumn(0).getInt(), 1) << "acknowledged reference " << ref << " lost";
    }
    EXPECT_EQ(
        db.execAndGet("SELECT count(*) FROM cases WHERE category = 'interrupted_report'").getInt(),
        2)
        << "the quick-exited report and the dropped one (raised when she hung up, finished when "
           "she resumed it: one case) are raised";
    EXPECT_EQ(db.execAndGet("SELECT count(*) FROM sessions WHERE provider_session_id = 'e2e-e1' "
                            "AND status = 'resumed'")
                  .getInt(),
              1);
  }
  // A graceful stop after the restart: SIGTERM, exit 0.
  again.process().signal(SIGTERM);
  EXPECT_EQ(again.process().wait(), 0);
  EXPECT_NE(again.process().log().find("stopped cleanly"), std::string::npos);
}

TEST(UssdEndToEnd, ABrokenFlowFileIsRefusedAtStartWithFileLineAndReason) {
  TempDir dir;
  // A copy of the shipped config whose flows folder has a dangling transition.
  install_config(dir);
  {
    const auto path = dir.path() / "config/flows/incident.toml";
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    std::string text = s.str();
    text.replace(text.find("next = \"refer\""), 14, "next = \"refr\"");
    std::ofstream(path) << text;
  }
  Process p(
      {RABTA_BINARY, "serve", "--config", dir.file("config/rabta.toml"), "--listen", "127.0.0.1:0"},
      {"RABTA_PSEUDONYM_KEY=" + key_hex, "RABTA_AT_SECRET=" + secret}, dir.file("out.log"));
  EXPECT_EQ(p.wait(), 2);
  const std::string log = p.log();
  EXPECT_NE(log.find("flows/incident.toml:"), std::string::npos) << log;
  EXPECT_NE(log.find("transition to unknown node 'refr'"), std::string::npos) << log;
  Process check({RABTA_BINARY, "check", "--config", dir.file("config/rabta.toml")}, {},
                dir.file("check.log"));
  EXPECT_EQ(check.wait(), 2);
}
