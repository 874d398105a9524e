// The optional IP allow-list of an aggregator route (SAFETY T1): pure matching, the config
// file's errors, and over real HTTP a request from outside the list gets 403 and stores nothing.
#include "gateway/http/allow_list.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "gateway/settings/config.hpp"
#include "tests/support/gateway_fixture.hpp"

namespace rabta {
namespace {

using gateway::AllowList;

AllowList list(const std::vector<std::string>& entries) {
  std::string error;
  auto l = AllowList::parse(entries, error);
  EXPECT_TRUE(l) << error;
  return l ? *l : AllowList{};
}

TEST(AllowList, EmptyAllowsEveryAddress) {
  EXPECT_TRUE(list({}).allows("203.0.113.9"));
  EXPECT_TRUE(list({}).allows("::1"));
}

TEST(AllowList, MatchesCidrBlocksAndSingleAddresses) {
  const auto l = list({"196.201.214.0/24", "10.0.0.1", "2001:db8::/32"});
  EXPECT_TRUE(l.allows("196.201.214.7"));
  EXPECT_TRUE(l.allows("196.201.214.255"));
  EXPECT_FALSE(l.allows("196.201.215.1"));
  EXPECT_TRUE(l.allows("10.0.0.1"));
  EXPECT_FALSE(l.allows("10.0.0.2"));
  EXPECT_TRUE(l.allows("2001:db8:1::5"));
  EXPECT_FALSE(l.allows("2001:db9::5"));
  EXPECT_TRUE(l.allows("::ffff:196.201.214.7")) << "an IPv4-mapped peer is its IPv4 address";
  EXPECT_FALSE(l.allows("not an address"));
  EXPECT_FALSE(l.allows(""));
}

TEST(AllowList, OddPrefixLengthsAndTheWholeSpace) {
  EXPECT_TRUE(list({"192.168.0.0/23"}).allows("192.168.1.200"));
  EXPECT_FALSE(list({"192.168.0.0/23"}).allows("192.168.2.1"));
  EXPECT_TRUE(list({"0.0.0.0/0"}).allows("8.8.8.8"));
  EXPECT_FALSE(list({"0.0.0.0/0"}).allows("::1")) << "an IPv4 block never matches IPv6";
}

TEST(AllowList, BadEntriesAreNamed) {
  std::string error;
  EXPECT_FALSE(AllowList::parse({"10.0.0.0/33"}, error));
  EXPECT_NE(error.find("'10.0.0.0/33'"), std::string::npos) << error;
  EXPECT_FALSE(AllowList::parse({"example.org"}, error));
  EXPECT_NE(error.find("'example.org' is not an IP address"), std::string::npos) << error;
  EXPECT_FALSE(AllowList::parse({"10.0.0.0/"}, error));
}

TEST(AllowList, ConfigRefusesABadEntryWithFileAndLine) {
  test::TempDir dir;
  std::filesystem::create_directory(dir.path() / "flows");
  std::ofstream(dir.file("flows/main.toml")) << "";
  const std::string path = dir.file("rabta.toml");
  std::ofstream(path) << "[adapters.africastalking]\n"
                         "secret_file = \"at.secret\"\n"
                         "allow_from = [\"10.0.0.0/8\", \"nonsense\"]\n";
  try {
    gateway::load_config(path);
    FAIL() << "accepted";
  } catch (const std::exception& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("rabta.toml:3"), std::string::npos) << what;
    EXPECT_NE(what.find("'nonsense' is not an IP address"), std::string::npos) << what;
  }
}

TEST(Config, PublicUrlIsAcceptedAsDocumented) {
  // The shipped rabta.toml documents [server] public_url (how aggregators reach rabta behind a
  // TLS proxy; Twilio signs it): the reader used to refuse it as an unknown key.
  test::TempDir dir;
  std::filesystem::create_directory(dir.path() / "flows");
  std::ofstream(dir.file("flows/main.toml")) << "";
  const std::string path = dir.file("rabta.toml");
  std::ofstream(path) << "[server]\npublic_url = \"https://rabta.example.org\"\n";
  EXPECT_EQ(gateway::load_config(path).public_url, "https://rabta.example.org");
}

TEST(Config, NumbersDefaultCountryIsCheckedWithFileAndLine) {
  test::TempDir dir;
  std::filesystem::create_directory(dir.path() / "flows");
  std::ofstream(dir.file("flows/main.toml")) << "";
  const std::string path = dir.file("rabta.toml");
  std::ofstream(path) << "[numbers]\ndefault_country = \"XX\"\n";
  try {
    gateway::load_config(path);
    FAIL() << "accepted";
  } catch (const std::exception& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("rabta.toml:2"), std::string::npos) << what;
    EXPECT_NE(what.find("default_country must be one of PK"), std::string::npos) << what;
  }
  // A valid one is the process's plan from then on (SAFETY W1): 0 + 10 digits is India's form.
  std::ofstream(path) << "[numbers]\ndefault_country = \"IN\"\n";
  gateway::load_config(path);
  EXPECT_EQ(common::normalise_msisdn("09876543210"), "+919876543210");
  std::ofstream(path) << "[numbers]\ndefault_country = \"PK\"\n";
  gateway::load_config(path);
  EXPECT_EQ(common::normalise_msisdn("03001234567"), "+923001234567");
}

std::vector<gateway::ChannelConfig> channels_allowing(const std::vector<std::string>& entries) {
  auto channels = test::default_channels();
  for (auto& ch : channels) ch.allow_from = list(entries);
  return channels;
}

TEST(AllowList, ARequestFromOutsideTheListGets403AndStoresNothing) {
  test::Gateway g(8 * 1024, channels_allowing({"10.0.0.0/8"}));
  const auto r = g.kannel_sms("a1", "+923001234567", "madad");
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("allow_from"), std::string::npos) << r.body;
  EXPECT_EQ(g.count("inbound"), 0);
  EXPECT_EQ(g.count("contacts"), 0);
}

TEST(AllowList, ARequestFromInsideTheListIsServed) {
  test::Gateway g(8 * 1024, channels_allowing({"127.0.0.0/8", "::1"}));
  const auto r = g.kannel_sms("a1", "+923001234567", "madad");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(g.count("inbound"), 1);
}

// ---- SECURITY #11: behind the documented same-host proxy every connection is 127.0.0.1 ----

TEST(TrustedProxies, TheClientIsTheFirstUntrustedHopFromTheNearestEnd) {
  const auto proxies = list({"127.0.0.1", "::1", "10.0.0.0/8"});
  using gateway::client_address;
  struct Case {
    const char* peer;
    const char* forwarded;
    const char* xff;
    const char* client;
  };
  const std::vector<Case> cases = {
      // Not through a trusted proxy: the headers are the client's own words and are ignored.
      {"198.51.100.7", "", "10.1.1.1", "198.51.100.7"},
      {"198.51.100.7", "for=10.1.1.1", "", "198.51.100.7"},
      // X-Forwarded-For in its forms.
      {"127.0.0.1", "", "203.0.113.9", "203.0.113.9"},
      {"127.0.0.1", "", " 203.0.113.9 ", "203.0.113.9"},
      {"127.0.0.1", "", "203.0.113.9:5060", "203.0.113.9"},
      {"127.0.0.1", "", "2001:db8::9", "2001:db8::9"},
      {"127.0.0.1", "", "[2001:db8::9]:443", "2001:db8::9"},
      {"::1", "", "203.0.113.9", "203.0.113.9"},
      {"::ffff:127.0.0.1", "", "203.0.113.9", "203.0.113.9"},
      // A forged entry the client put in front is skipped: the nearest untrusted hop counts.
      {"127.0.0.1", "", "10.9.9.9, 203.0.113.9", "203.0.113.9"},
      {"127.0.0.1", "", "127.0.0.1,203.0.113.9, 10.0.0.5", "203.0.113.9"},
      {"127.0.0.1", "", "10.0.0.4, 10.0.0.5", "10.0.0.4"},  // every hop trusted: the first
      // Forwarded (RFC 7239) is preferred and read in its forms.
      {"127.0.0.1", "for=203.0.113.9", "198.51.100.1", "203.0.113.9"},
      {"127.0.0.1", "For=\"[2001:db8::9]:4711\";proto=https", "", "2001:db8::9"},
      {"127.0.0.1", "for=198.51.100.1, for=203.0.113.9;by=10.0.0.1", "", "203.0.113.9"},
      {"127.0.0.1", "proto=https;for=203.0.113.9:80", "", "203.0.113.9"},
      // No usable address from a trusted proxy: nobody (refused by every list, /metrics too).
      {"127.0.0.1", "", "", ""},
      {"127.0.0.1", "", "unknown", ""},
      {"127.0.0.1", "for=_hidden", "", ""},
      {"127.0.0.1", "", "203.0.113.9, garbage", ""},
      {"127.0.0.1", "for=unknown, for=10.0.0.2", "", ""},
  };
  for (const auto& c : cases)
    EXPECT_EQ(client_address(c.peer, proxies, c.forwarded, c.xff), c.client)
        << c.peer << " / " << c.forwarded << " / " << c.xff;
  // Nothing trusted: the connection's address, whatever the headers say.
  EXPECT_EQ(client_address("127.0.0.1", AllowList{}, "for=203.0.113.9", "203.0.113.9"),
            "127.0.0.1");
}

std::function<void(gateway::Config&)> behind_proxy() {
  return [](gateway::Config& c) { c.trusted_proxies = list({"127.0.0.1", "::1"}); };
}

test::HttpResult sms_via_proxy(test::Gateway& g, const std::string& id, const std::string& xff) {
  return g.http.request("GET",
                        g.base + "/sms/kannel?" +
                            test::form({{"key", test::kannel_secret},
                                        {"id", id},
                                        {"from", "+923001234567"},
                                        {"to", "12345"},
                                        {"text", "madad"},
                                        {"coding", "0"},
                                        {"charset", "UTF-8"}}),
                        xff.empty() ? std::vector<std::string>{}
                                    : std::vector<std::string>{"X-Forwarded-For: " + xff},
                        "");
}

TEST(TrustedProxies, AllowFromSeesTheClientBehindTheProxy) {
  test::Gateway g(8 * 1024, channels_allowing({"10.0.0.0/8"}), "http://127.0.0.1", behind_proxy());
  // Before: every request came from 127.0.0.1 and allow_from could not tell them apart.
  EXPECT_EQ(sms_via_proxy(g, "p1", "192.0.2.7").status, 403);
  EXPECT_EQ(sms_via_proxy(g, "p2", "").status, 403) << "no client named: nobody";
  EXPECT_EQ(sms_via_proxy(g, "p3", "10.1.2.3, 192.0.2.7").status, 403) << "a forged first hop";
  EXPECT_EQ(g.count("inbound"), 0);
  EXPECT_EQ(sms_via_proxy(g, "p4", "10.1.2.3").status, 200);
  EXPECT_EQ(g.count("inbound"), 1);
}

TEST(TrustedProxies, MetricsStayLoopbackOnlyBehindTheProxy) {
  test::Gateway g(8 * 1024, test::default_channels(), "http://127.0.0.1", behind_proxy());
  // Before: the proxy's 127.0.0.1 made /metrics public to anyone the proxy forwards.
  EXPECT_EQ(g.http.request("GET", g.base + "/metrics", {"X-Forwarded-For: 203.0.113.9"}, "").status,
            403);
  EXPECT_EQ(g.http.request("GET", g.base + "/metrics", {}, "").status, 403);
  EXPECT_EQ(g.http.request("GET", g.base + "/metrics", {"X-Forwarded-For: 127.0.0.1"}, "").status,
            200)
      << "a client on the machine itself, through the proxy";
  // Not through a trusted proxy the headers change nothing.
  test::Gateway direct;
  EXPECT_EQ(
      direct.http.request("GET", direct.base + "/metrics", {"X-Forwarded-For: 203.0.113.9"}, "")
          .status,
      200);
}

TEST(TrustedProxies, TwilioBehindATlsProxyIsCheckedAgainstTheHttpsPublicUrl) {
  // tests/fixtures/sms/twilio.json: Twilio's signature over https://rabta.example.org/sms/twilio.
  auto channels = test::default_channels();
  channels.push_back(
      test::channel("twilio", "twilio", "/sms/twilio",
                    {{"account_sid", "AC3f1e5d7c9b2a4f6e8d0c1b3a5f7e9d2c"},
                     {"auth_token", "5e0b9c2a7d4f41e8a3c6b9d2f5e8a1c4"},
                     {"from", "+15005550006"},
                     {"status_callback", "https://rabta.example.org/sms/twilio/status"}}));
  test::Gateway g(8 * 1024, channels, "https://rabta.example.org", behind_proxy());
  const std::string body =
      "ToCountry=PK&ToState=&SmsMessageSid=SM4b2f8c1d7e3a9f0b5c6d2e8a1f4b7c3d&NumMedia=0&ToCity=&"
      "FromZip=&SmsSid=SM4b2f8c1d7e3a9f0b5c6d2e8a1f4b7c3d&FromState=&SmsStatus=received&FromCity=&"
      "Body=Mujhe+madad+chahiye&FromCountry=PK&To=%2B15005550006&ToZip=&NumSegments=1&MessageSid="
      "SM4b2f8c1d7e3a9f0b5c6d2e8a1f4b7c3d&AccountSid=AC3f1e5d7c9b2a4f6e8d0c1b3a5f7e9d2c&From=%"
      "2B923001234567&ApiVersion=2010-04-01";
  const std::vector<std::string> headers = {
      "Content-Type: application/x-www-form-urlencoded",
      "X-Twilio-Signature: I/5pxAWbVXmvPdReIeC6NqggZ3A=", "X-Forwarded-For: 54.172.60.1",
      "X-Forwarded-Proto: https"};
  const auto r = g.http.request("POST", g.base + "/sms/twilio", headers, body);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(g.count("inbound"), 1);
  // The same request signed for another URL is refused.
  auto forged = headers;
  forged[1] = "X-Twilio-Signature: AAAAAAAAAAAAAAAAAAAAAAAAAAA=";
  EXPECT_EQ(g.http.request("POST", g.base + "/sms/twilio", forged, body).status, 403);
}

}  // namespace
}  // namespace rabta
