// The weekly check-in: each enrolled woman is asked once a week, in her language, inside the
// hours she chose; one reminder; a week with no answer by the deadline is missed, and a missed
// week opens a case (a higher severity the second week in a row). Runs on a timer; each batch is
// one store job, so a restart never sends a week's check-in twice (one row per woman and week,
// one outbox key per prompt).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "adapters/common/cipher.hpp"
#include "adapters/common/clock.hpp"
#include "adapters/store/store.hpp"
#include "flows/engine.hpp"
#include "flows/local_time.hpp"
#include "gateway/settings/sms_texts.hpp"

namespace rabta::gateway {

struct SchedulerOptions {
  flows::Zone zone;
  std::string channel;  // sends the prompts
  std::chrono::milliseconds reminder_after{7'200'000};
  std::chrono::milliseconds deadline{172'800'000};
  std::string missed_severity = "normal";
  std::string missed_again_severity = "high";
  int batch = 500;
};

class Scheduler {
 public:
  Scheduler(store::Store& store, std::shared_ptr<const SmsTexts> texts,
            std::shared_ptr<const flows::FlowSet> flows, const common::FieldCipher& cipher,
            const common::Clock& clock, flows::IdSource& ids, SchedulerOptions options);

  struct Result {
    int prompted = 0;  // check-in rows created this pass
    int queued = 0;    // prompts queued for sending (she consented to SMS)
    int reminded = 0;
    int missed = 0;
    int undecryptable = 0;  // a stored number that would not decrypt (wrong key?)
  };
  // One pass at the clock's current time. Blocks on the store: call from a timer thread.
  Result run_once();

 private:
  std::string language_of(const store::ContactRecord& c) const;

  store::Store& store_;
  std::shared_ptr<const SmsTexts> texts_;
  std::shared_ptr<const flows::FlowSet> flows_;
  const common::FieldCipher& cipher_;
  const common::Clock& clock_;
  flows::IdSource& ids_;
  SchedulerOptions options_;
};

}  // namespace rabta::gateway
