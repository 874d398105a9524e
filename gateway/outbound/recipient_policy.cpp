#include "gateway/outbound/recipient_policy.hpp"

#include <algorithm>
#include <utility>

namespace rabta::gateway {

namespace {

bool valid_window(const store::ContactRecord& c) {
  return c.window_start_hour >= 0 && c.window_start_hour < 24 && c.window_end_hour >= 0 &&
         c.window_end_hour <= 24 && c.window_start_hour != c.window_end_hour;
}

// [start, end), wrapping past midnight when start > end (e.g. 20..8).
bool in_window(const store::ContactRecord& c, int hour) {
  if (c.window_start_hour < c.window_end_hour)
    return c.window_start_hour <= hour && hour < c.window_end_hour;
  return hour >= c.window_start_hour || hour < c.window_end_hour;
}

RecipientDecision refuse(std::string reason) {
  return {RecipientDecision::Action::refuse, std::move(reason), 0};
}

}  // namespace

RecipientDecision recipient_policy(const store::ContactRecord* contact, bool solicited,
                                   std::int64_t now_ms, const flows::Zone& zone) {
  namespace cs = store::contact_status;
  if (!contact) return refuse("unknown contact");
  const auto& c = *contact;
  if (c.status == cs::removed) return refuse("removed");
  if (solicited) return {};
  if (c.status == cs::opted_out) return refuse("opted out");
  if (c.status == cs::paused) return refuse("paused");
  if (c.status != cs::active) return refuse("not enrolled");
  if (!c.sms_ok) return refuse("no sms consent");
  if (!valid_window(c)) return refuse("no contact window");

  std::int64_t at = now_ms;
  std::string reason;
  if (c.quiet_until > now_ms) {
    at = c.quiet_until;
    reason = "quiet period";
  }
  if (!in_window(c, flows::to_local(at, zone).hour)) {
    const std::int64_t next = flows::next_window_start(at, c.window_start_hour, zone);
    at = std::max(next, at + 1);  // always strictly later: never a deferral to now
    if (reason.empty()) reason = "outside her window";
  }
  if (at == now_ms) return {};
  return {RecipientDecision::Action::defer, std::move(reason), at};
}

}  // namespace rabta::gateway
