// The outbound SMS dispatcher: the OutboxSender of the "sms:<channel>" rows, run by the one
// outbox consumer loop (consumer.hpp: claim, rate, send, record, retry). What is its own: one lane
// per channel, the recipient policy (SAFETY S1, recipient_policy.hpp), the row format
// (outbound_sms.hpp), each channel's adapter to build the send and read its reply, and alerts.
//
// SAFETY S1 is enforced here, not only by whoever queued the row. For a row addressed to a
// woman (contact_id != 0): refused (the row is dead, "refused: <reason>", without any HTTP call)
// or deferred (back to pending with not_before at the next allowed time, which the row's TTL
// bounds: claim_outbox expires it), as recipient_policy decides.
//
// Each claim counts as an attempt (claim_outbox increments attempts), deferrals included.
//
// After a crash, a row that was "sending" is in doubt (the provider may have accepted it). At its
// first pass the dispatcher settles them: a message to a woman becomes "unconfirmed" and is never
// sent again automatically (at most once: a second SMS on a shared phone is the worse failure);
// a message to a responder goes back to pending (at least once: a lost alert is worse, and the
// escalation ladder re-alerts anyway). scripts/crash-test measures both. Nothing logged names her
// number or the text: logs carry the outbox id, the channel, the outcome and the adapter's error.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "adapters/common/cipher.hpp"
#include "adapters/common/clock.hpp"
#include "adapters/sms/sms_adapter.hpp"
#include "adapters/store/store.hpp"
#include "flows/local_time.hpp"
#include "gateway/outbound/consumer.hpp"
#include "gateway/outbound/recipient_policy.hpp"

namespace rabta::gateway {

struct ChannelRuntime {
  std::string name;  // rows of kind "sms:<name>" go through this channel
  std::shared_ptr<const adapters::sms::SmsAdapter> adapter;
  double rate_per_second = 10;  // 0 = unlimited
};

using DispatcherOptions = ConsumerOptions;

class Dispatcher : public OutboxDispatcher {
 public:
  // Throws std::invalid_argument for a channel without an adapter, a duplicate channel name, or
  // options that cannot work (lease not longer than send_timeout, batch < 1, max_attempts < 1).
  Dispatcher(store::Store& store, std::vector<ChannelRuntime> channels,
             const common::FieldCipher& cipher, const common::Clock& clock, flows::Zone zone,
             DispatcherOptions options, std::function<double()> random01);
  ~Dispatcher() override;  // stops the thread

 private:
  std::vector<Lane> lanes() const override;
  void settle(store::Tx& tx, std::int64_t now) override;
  void report_settled() override;
  std::any read(store::Tx& tx, const store::OutboxRecord& row) override;
  Prepared prepare(const ClaimedRow& c, std::int64_t now) override;
  SendVerdict judge(const ClaimedRow& c, long status, const std::string& body) override;
  std::optional<std::chrono::milliseconds> retry_forever(const ClaimedRow& c) const override;
  std::string describe(const ClaimedRow& c) const override;

  const ChannelRuntime* channel_of(const store::OutboxRecord& row) const;

  std::vector<ChannelRuntime> channels_;
  const common::FieldCipher& cipher_;
  flows::Zone zone_;
  std::chrono::milliseconds backoff_cap_;
  std::pair<int, int> settled_{0, 0};  // responders' rows sent again, women's held
};

}  // namespace rabta::gateway
