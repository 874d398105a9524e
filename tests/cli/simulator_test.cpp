#include "gateway/cli/simulator.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "adapters/common/form.hpp"
#include "tests/support/loopback_server.hpp"

namespace rabta::gateway {
namespace {

using common::FormField;

struct Reply {
  int status = 200;
  std::string body;
};
using Handler = std::function<Reply(const std::string& text)>;

// The two-hop menu the brief describes.
Reply pick_menu(const std::string& text) {
  if (text.empty()) return {200, "CON Pick\n1. A\n2. B"};
  if (text == "1") return {200, "END Chose A"};
  return {200, "END Other"};
}

// A USSD gateway in Africa's Talking's format on the tests' loopback server (tests/support): the
// handler sees the `text` field of each hop and gives the screen.
class FakeGateway {
 public:
  explicit FakeGateway(Handler handler)
      : server_(
            test::LoopbackServer::answering([handler = std::move(handler)](const HttpRequest& r) {
              std::string text;
              const auto parsed = common::parse_form(r.body);
              if (const auto* fields = std::get_if<std::vector<FormField>>(&parsed))
                if (const std::string* t = common::find_field(*fields, "text")) text = *t;
              const Reply reply = handler(text);
              return HttpResponse::text(reply.status, reply.body);
            })) {}

  std::string url() const { return server_.url("/ussd"); }
  std::vector<HttpRequest> requests() const { return server_.requests(); }
  std::uint64_t connections() const { return server_.connections(); }

 private:
  test::LoopbackServer server_;
};

std::vector<FormField> decode(const std::string& body) {
  auto parsed = common::parse_form(body);
  EXPECT_TRUE(std::holds_alternative<std::vector<FormField>>(parsed)) << body;
  if (auto* fields = std::get_if<std::vector<FormField>>(&parsed)) return *fields;
  return {};
}

SimulatorOptions options_for(const FakeGateway& gw) {
  SimulatorOptions o;
  o.url = gw.url();
  o.phone = "+254700000001";
  o.code = "*384*1#";
  o.timeout_ms = 5000;
  return o;
}

struct Outcome {
  int rc = -1;
  std::string out;
  std::string err;
};

Outcome simulate(const SimulatorOptions& o, const std::string& script) {
  std::istringstream in(script);
  std::ostringstream out;
  std::ostringstream err;
  Outcome r;
  r.rc = run_simulator(o, in, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(Simulator, TwoHopMenuEndsWithExitZero) {
  FakeGateway gw(pick_menu);
  const Outcome r = simulate(options_for(gw), "1\n");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "Pick\n1. A\n2. B\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "> 1\n")) << r.out;  // scripted input is echoed
  EXPECT_TRUE(contains(r.out, "Chose A\n")) << r.out;
  EXPECT_FALSE(contains(r.out, "CON ")) << r.out;  // protocol prefixes are not shown
  EXPECT_FALSE(contains(r.out, "END ")) << r.out;
  EXPECT_TRUE(r.err.empty()) << r.err;

  const auto requests = gw.requests();
  ASSERT_EQ(requests.size(), 2U);
  const auto first = decode(requests[0].body);
  const auto second = decode(requests[1].body);
  ASSERT_EQ(first.size(), 5U);
  ASSERT_EQ(second.size(), 5U);

  const std::vector<std::string> names = {"sessionId", "serviceCode", "phoneNumber", "networkCode",
                                          "text"};
  for (std::size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(first[i].name, names[i]);
    EXPECT_EQ(second[i].name, names[i]);
  }
  EXPECT_EQ(first[0].value, second[0].value);  // one session across hops
  EXPECT_EQ(first[0].value.rfind("SIM", 0), 0U) << first[0].value;
  EXPECT_GT(first[0].value.size(), 3U);
  for (const auto& hop : {first, second}) {
    EXPECT_EQ(hop[1].value, "*384*1#");
    EXPECT_EQ(hop[2].value, "+254700000001");
    EXPECT_EQ(hop[3].value, "99999");
  }
  EXPECT_EQ(first[4].value, "");
  EXPECT_EQ(second[4].value, "1");

  for (const auto& req : requests) {
    EXPECT_EQ(req.method, "POST");
    EXPECT_EQ(req.target, "/ussd");
    EXPECT_EQ(req.header("content-type"), "application/x-www-form-urlencoded");
  }
  EXPECT_EQ(gw.connections(), 1U);  // one curl handle, connection kept alive
}

TEST(Simulator, OtherChoiceAndGivenSessionId) {
  FakeGateway gw(pick_menu);
  SimulatorOptions o = options_for(gw);
  o.session_id = "ATUid_fixed";
  o.network_code = "41001";
  const Outcome r = simulate(o, "2\n");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "Other\n")) << r.out;
  const auto requests = gw.requests();
  ASSERT_EQ(requests.size(), 2U);
  for (const auto& req : requests) {
    const auto fields = decode(req.body);
    ASSERT_NE(common::find_field(fields, "sessionId"), nullptr);
    EXPECT_EQ(*common::find_field(fields, "sessionId"), "ATUid_fixed");
    EXPECT_EQ(*common::find_field(fields, "networkCode"), "41001");
  }
}

TEST(Simulator, TextAccumulatesInputsJoinedByStar) {
  FakeGateway gw([](const std::string& text) -> Reply {
    if (text.empty()) return {200, "CON Menu\n1. Send money"};
    if (text == "1") return {200, "CON Recipient number:"};
    if (text == "1*2") return {200, "CON Amount:"};
    if (text == "1*2*500 rs") return {200, "END Sent 500"};
    return {200, "END Unexpected"};
  });
  const Outcome r = simulate(options_for(gw), "1\r\n2\n500 rs\n");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "Sent 500")) << r.out;
  const auto requests = gw.requests();
  ASSERT_EQ(requests.size(), 4U);
  const std::vector<std::string> texts = {"", "1", "1*2", "1*2*500 rs"};
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const auto fields = decode(requests[i].body);
    ASSERT_NE(common::find_field(fields, "text"), nullptr);
    EXPECT_EQ(*common::find_field(fields, "text"), texts[i]);
  }
  // Spaces go on the wire as %20, '*' percent-encoded, per form_encode.
  EXPECT_TRUE(contains(requests[3].body, "text=1%2A2%2A500%20rs")) << requests[3].body;
}

TEST(Simulator, ServerErrorExitsTwo) {
  FakeGateway gw([](const std::string&) -> Reply { return {500, "Internal Server Error\nstack"}; });
  const Outcome r = simulate(options_for(gw), "1\n");
  EXPECT_EQ(r.rc, 2);
  EXPECT_TRUE(contains(r.err, "500")) << r.err;
  EXPECT_TRUE(contains(r.err, "Internal Server Error")) << r.err;
  EXPECT_FALSE(contains(r.err, "stack")) << r.err;  // first line only
  EXPECT_EQ(gw.requests().size(), 1U);
}

TEST(Simulator, MissingPrefixExitsTwo) {
  FakeGateway gw([](const std::string&) -> Reply { return {200, "Welcome\n1. A"}; });
  const Outcome r = simulate(options_for(gw), "1\n");
  EXPECT_EQ(r.rc, 2);
  EXPECT_TRUE(contains(r.err, "200")) << r.err;
  EXPECT_TRUE(contains(r.err, "Welcome")) << r.err;
}

TEST(Simulator, EofBeforeEndExitsOne) {
  FakeGateway gw(pick_menu);
  const Outcome r = simulate(options_for(gw), "");
  EXPECT_EQ(r.rc, 1);
  EXPECT_TRUE(contains(r.out, "Pick")) << r.out;
  EXPECT_EQ(gw.requests().size(), 1U);
}

TEST(Simulator, SlashEndHangsUpWithoutSending) {
  FakeGateway gw(pick_menu);
  const Outcome r = simulate(options_for(gw), " /end \n1\n");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(gw.requests().size(), 1U);
}

TEST(Simulator, ConnectionRefusedExitsTwo) {
  // Take an ephemeral port and release it, so nothing listens there.
  std::string url;
  {
    FakeGateway gw(pick_menu);
    url = gw.url();
  }
  SimulatorOptions o;
  o.url = url;
  o.phone = "+254700000001";
  o.code = "*384#";
  o.timeout_ms = 2000;
  const Outcome r = simulate(o, "1\n");
  EXPECT_EQ(r.rc, 2);
  EXPECT_FALSE(r.err.empty());
  EXPECT_FALSE(contains(r.err, "254700000001")) << r.err;  // no phone numbers in errors
}

}  // namespace
}  // namespace rabta::gateway
