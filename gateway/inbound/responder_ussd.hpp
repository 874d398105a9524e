// The responder menu by USSD (#15): a registered responder who dials the service code gets a
// neutral menu of what waits for her (reference, severity, age) and acknowledges or takes one by
// choosing its number: no reference to type, on the most basic phone. The scope rules are those
// of her SMS commands (case_service.hpp by_phone): her own team, acknowledge and claim only, her
// PIN first when she has one, and wrong PINs count towards the same hourly lock as by SMS.
//
// Which dial opens it: with `responder_ussd_code` set in responders.toml, only that code (every
// other code is the women's service, for responders too); without, any code but the duress code.
// Screens (the menu's own words; nothing says what the service is for):
//   [PIN]   CON Enter your PIN
//   list    CON 2 waiting:\n1 K7P3QX high 12m\n2 M8Q2ZA normal 3h\n0 Exit
//           (at most 5, the most severe and oldest first; "END Nothing waits for you." when none)
//   item    CON K7P3QX high 12m\n1 Acknowledge\n2 Take it\n0 Back
//   done    END K7P3QX acknowledged. / END K7P3QX is yours now.
// The list she saw is kept with the session, so "2" always means the second item she was shown,
// even when the queue changed between two hops. The state lives in the meta table under
// "responder_ussd:<provider>:<session id>" (shared by every instance on one database) and is
// dropped when the menu ends or, abandoned, by the idle sweep.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "adapters/common/clock.hpp"
#include "adapters/common/crypto.hpp"
#include "adapters/store/store.hpp"
#include "gateway/inbound/ussd_service.hpp"
#include "gateway/responders/case_service.hpp"

namespace rabta::gateway {

// What one line of the list shows: "K7P3QX high 12m".
std::string responder_menu_line(const store::CaseRecord& c, std::int64_t now);

class ResponderUssd {
 public:
  // `code`: the service code that opens the menu (responders.toml `responder_ussd_code`, e.g.
  // "*786*5#"); "" = any code of the service except the duress code. With a code of its own, a
  // responder who dials the women's code gets the women's service like anyone else.
  ResponderUssd(const CaseService& cases, const common::Pseudonymizer& key,
                const common::Clock& clock, std::string code = "");

  // The reply when the hop belongs to a responder's menu: a session of the menu already, or the
  // first hop of a session from an active responder's number that is not a woman's session.
  // nullopt otherwise (the hop is the women's service's).
  std::optional<UssdReply> handle(store::Tx& tx, const UssdHop& hop) const;

  // Drops menu states untouched since `before` (a responder who hung up). Returns how many.
  int expire(store::Tx& tx, std::int64_t before) const;

 private:
  const CaseService& cases_;
  const common::Pseudonymizer& key_;
  const common::Clock& clock_;
  std::string code_;
};

}  // namespace rabta::gateway
