// The shared contract every SMS adapter must honour, over real HTTP with a real database: each
// registered adapter's own fixture table (tests/fixtures/sms/<kind>.json) is replayed against the
// running gateway. Valid receive stores one message; a missing field is a 400; a bad secret or
// signature is a 403 with nothing stored; the same delivery ten times has one effect; a delivery
// report for a message rabta never sent is accepted (not an error the aggregator would retry).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/support/gateway_fixture.hpp"
#include "tests/support/preset_settings.hpp"

using namespace rabta;
using nlohmann::json;

namespace {

json fixture(const std::string& kind) {
  std::ifstream in(std::string(RABTA_SOURCE_DIR) + "/tests/fixtures/sms/" + kind + ".json");
  if (!in) throw std::runtime_error("no fixture for adapter " + kind);
  return json::parse(in);
}

const json& inbound_case(const json& f, const std::string& name) {
  for (const auto& c : f.at("inbound"))
    if (c.at("name") == name) return c;
  throw std::runtime_error("fixture has no inbound case '" + name + "'");
}

struct Split {
  std::string base;    // scheme://host[:port]
  std::string target;  // path?query
  std::string path;
};

Split split(const std::string& url) {
  const auto scheme_end = url.find("://");
  const auto path_start = url.find('/', scheme_end + 3);
  Split s;
  s.base = url.substr(0, path_start);
  s.target = url.substr(path_start);
  s.path = s.target.substr(0, s.target.find('?'));
  return s;
}

// Sends a fixture request to the gateway at `base_url`, keeping its path, query, headers and body.
test::HttpResult replay(test::Gateway& g, const json& request) {
  const Split where = split(request.at("public_url").get<std::string>());
  std::vector<std::string> headers;
  for (const auto& [name, value] : request.at("headers").items()) {
    if (name == "Host" || name == "Content-Length") continue;
    headers.push_back(name + ": " + value.get<std::string>());
  }
  return g.http.request(request.at("method").get<std::string>(), g.base + where.target, headers,
                        request.value("body", std::string()));
}

}  // namespace

class SmsAdapterContract : public ::testing::TestWithParam<std::string> {};

TEST_P(SmsAdapterContract, OverHttpWithARealDatabase) {
  const std::string kind = GetParam();
  const json f = fixture(kind);
  const std::map<std::string, std::string> settings = test::fixture_settings(f);
  const json& valid = inbound_case(f, "valid receive");
  const Split where = split(valid.at("request").at("public_url").get<std::string>());
  // The adapter sees the URL the aggregator called (Twilio signs it): the gateway's public URL.
  test::Gateway g(8 * 1024, {test::channel(kind, kind, where.path, settings)}, where.base);

  const auto bad = replay(g, inbound_case(f, "bad secret or signature").at("request"));
  EXPECT_EQ(bad.status, 403) << kind;
  EXPECT_EQ(g.count("inbound"), 0) << kind << ": nothing stored before authentication";
  EXPECT_EQ(g.count("contacts"), 0) << kind;

  const auto missing = replay(g, inbound_case(f, "missing field").at("request"));
  EXPECT_EQ(missing.status, 400) << kind << ": " << missing.body;
  EXPECT_EQ(g.count("inbound"), 0) << kind;

  const auto ok = replay(g, valid.at("request"));
  EXPECT_EQ(ok.status, 200) << kind << ": " << ok.body;
  EXPECT_EQ(g.count("inbound"), 1) << kind;
  const int sessions = g.count("sessions");
  const int outbox = g.count("outbox");
  for (int i = 0; i < 10; ++i) {
    const auto again = replay(g, valid.at("request"));
    EXPECT_EQ(again.status, 200) << kind;
    EXPECT_EQ(again.body, ok.body) << kind << ": a duplicate gets the same answer";
  }
  EXPECT_EQ(g.count("inbound"), 1) << kind << ": ten deliveries, one message";
  EXPECT_EQ(g.count("sessions"), sessions) << kind;
  EXPECT_EQ(g.count("outbox"), outbox) << kind;

  const auto dlr = replay(g, inbound_case(f, "delivery report").at("request"));
  EXPECT_EQ(dlr.status, 200) << kind
                             << ": a report for an unknown message is accepted, not retried";
}

INSTANTIATE_TEST_SUITE_P(EveryAdapter, SmsAdapterContract,
                         ::testing::ValuesIn(adapters::sms::adapter_kinds()));
