// SAFETY S4, the duress code: dialled, it shows screens byte-identical to the ordinary code's,
// hop by hop, while the first hop silently raises a critical case (committed with that hop);
// the ordinary code raises nothing; neither queues anything to her.
#include <gtest/gtest.h>

#include "adapters/common/crypto.hpp"
#include "tests/support/gateway_fixture.hpp"

namespace rabta {
namespace {

const std::string kOrdinary = "*786*1#";
const std::string kDuress = "*786*9#";

class DuressTest : public ::testing::Test {
 protected:
  DuressTest() {
    const auto config = gateway::load_config(std::string(RABTA_SOURCE_DIR) + "/config/rabta.toml");
    auto flows = gateway::load_flows(config);
    engine = std::make_shared<const flows::Engine>(flows.flows);
    gateway::SessionPolicy policy{config.resume_window, config.quiet_period, "",
                                  common::sha256_hex(kDuress)};
    ussd = std::make_unique<gateway::UssdService>(engine, policy, g.clock, g.ids, &g.cipher);
  }

  gateway::UssdReply hop(const std::string& session, const std::string& phone,
                         const std::string& code, const std::string& text) {
    gateway::UssdHop h;
    h.provider = "africastalking";
    h.session_id = session;
    h.pseudonym = g.pseudonymizer.pseudonym(phone);
    h.phone = phone;
    h.text = text;
    h.service_code = code;
    gateway::UssdReply reply;
    const auto r = g.store->run([&](store::Tx& tx) { reply = ussd->handle_hop(tx, h); });
    EXPECT_TRUE(r.ok) << r.error;
    return reply;
  }

  test::Gateway g;
  std::shared_ptr<const flows::Engine> engine;
  std::unique_ptr<gateway::UssdService> ussd;
};

TEST_F(DuressTest, ScreensAreByteIdenticalWhileOnlyTheDuressCodeRaisesACriticalCase) {
  // English, the weekly check-in, "fine": an innocuous session, as someone watching would see.
  const std::vector<std::string> path = {"", "3", "3*1", "3*1*1"};
  for (std::size_t i = 0; i < path.size(); ++i) {
    SCOPED_TRACE("hop " + std::to_string(i));
    const auto ordinary = hop("s-ordinary", "+923001110001", kOrdinary, path[i]);
    const auto duress = hop("s-duress", "+923001110002", kDuress, path[i]);
    EXPECT_EQ(duress.text, ordinary.text);
    EXPECT_EQ(duress.end, ordinary.end);
    if (i == 0) {
      // Committed with the first hop, before its reply.
      EXPECT_EQ(g.count("cases", "category = 'duress' AND severity = 'critical'"), 1);
    }
  }
  EXPECT_EQ(g.count("cases"), 1) << "the ordinary code raises nothing";
  const std::string her = g.text(
      "SELECT c.contact_id FROM cases c JOIN sessions s ON s.id = c.session_id "
      "WHERE s.provider_session_id = 's-duress'");
  EXPECT_FALSE(her.empty()) << "the case belongs to the duress session";
  EXPECT_EQ(g.count("outbox", "kind = 'case_alert'"), 1) << "responders are alerted";
  EXPECT_EQ(g.count("outbox", "contact_id != 0"), 0) << "nothing is queued to her";
}

TEST_F(DuressTest, WithoutAConfiguredCodeOrWithAnotherCodeNothingIsRaised) {
  hop("s-plain", "+923001110003", "*786#", "");
  hop("s-other", "+923001110004", "*786*2#", "");
  EXPECT_EQ(g.count("cases"), 0);
}

TEST_F(DuressTest, ARepeatedFirstHopRaisesOneCase) {
  hop("s-d", "+923001110005", kDuress, "");
  hop("s-d", "+923001110005", kDuress, "");
  EXPECT_EQ(g.count("cases", "category = 'duress'"), 1);
}

}  // namespace
}  // namespace rabta
