// The optional IP allow-list of an aggregator route (SAFETY T1): pure matching, the config
// file's errors, and over real HTTP a request from outside the list gets 403 and stores nothing.
#include "gateway/allow_list.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "gateway/config.hpp"
#include "tests/gateway/gateway_fixture.hpp"

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

std::vector<gateway::SmsChannel> channels_allowing(const std::vector<std::string>& entries) {
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

}  // namespace
}  // namespace rabta
