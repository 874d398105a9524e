// The responder queue's engine: every case opened (a "case_alert" outbox row, written in the same
// transaction as the case) is routed to a team, alerted by SMS to the on-duty responder (and to
// the case-management webhook when configured), and, until someone acknowledges it, re-alerted
// up the ladder each time its SLA runs out: next member, then the supervisor, who keeps being
// alerted rather than the case going silent. Each pass is a store job; alerts are outbox rows
// with one key per rung, so a restart never alerts a rung twice.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "adapters/common/cipher.hpp"
#include "adapters/common/clock.hpp"
#include "adapters/store/store.hpp"
#include "flows/local_time.hpp"
#include "gateway/responders/responders.hpp"

namespace rabta::gateway {

struct EscalationOptions {
  flows::Zone zone;     // responders' on-duty hours are in this zone
  std::string channel;  // the SMS channel alerts go out on
  int batch = 100;
};

class Escalation {
 public:
  Escalation(store::Store& store, std::shared_ptr<const Roster> roster,
             const common::FieldCipher& cipher, const common::Clock& clock,
             EscalationOptions options);

  struct Result {
    int routed = 0;    // new cases given a team
    int alerts = 0;    // SMS alerts queued
    int webhooks = 0;  // webhook events queued
    int unrouted = 0;  // cases no route matched (a config error; logged)
    int failing = 0;   // open cases whose current alert is failing (SAFETY W6)
  };
  // One pass at the clock's time. Blocks on the store: call from a timer thread.
  Result run_once();

 private:
  store::Store& store_;
  std::shared_ptr<const Roster> roster_;
  const common::FieldCipher& cipher_;
  const common::Clock& clock_;
  EscalationOptions options_;
};

}  // namespace rabta::gateway
