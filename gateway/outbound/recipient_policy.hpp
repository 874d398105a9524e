// SAFETY S1 for one SMS to a woman, decided from her contact record as it stands when the row is
// claimed (pure: her record, the time and the zone in, a decision out).
//
// A message that is not a solicited reply needs her "active" with sms_ok, out of her quiet period,
// and her local hour inside [window_start_hour, window_end_hour) (a window with start > end runs
// across midnight). Opted out / paused / removed / not enrolled / no consent / no valid window:
// refused. Quiet period or outside her window: deferred to the next allowed time. A solicited
// reply is refused only when she was removed (or is unknown).
#pragma once

#include <cstdint>
#include <string>

#include "adapters/store/records.hpp"
#include "flows/local_time.hpp"

namespace rabta::gateway {

struct RecipientDecision {
  enum class Action { send, refuse, defer };
  Action action = Action::send;
  std::string reason;           // refuse/defer: e.g. "opted out", "quiet period"
  std::int64_t not_before = 0;  // defer: the next time she may be contacted
};

// `contact` nullptr = no such contact (refused).
RecipientDecision recipient_policy(const store::ContactRecord* contact, bool solicited,
                                   std::int64_t now_ms, const flows::Zone& zone);

}  // namespace rabta::gateway
