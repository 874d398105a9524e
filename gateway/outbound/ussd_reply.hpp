// Screens for asynchronous USSD gateways (#16): a gateway that takes each screen by a separate
// call to its send API. The hop's transaction queues the screen as an outbox row ("ussd:<channel>",
// her number and the screen sealed like an SMS row's, bound to the row's dedupe key), so that a
// screen exists only if the hop committed; the UssdReplyDispatcher sends it. A screen is sent
// at most once: a row a crash left "sending" is held as unconfirmed, never sent again (a second
// screen would arrive in the middle of another), and a row not sent within the channel's deadline
// expires (dropped on purpose: the gateway has closed the session by then).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/common/cipher.hpp"
#include "adapters/common/clock.hpp"
#include "adapters/store/records.hpp"
#include "adapters/store/store.hpp"
#include "adapters/ussd/ussd_adapter.hpp"
#include "gateway/outbound/consumer.hpp"

namespace rabta::gateway {

inline constexpr std::string_view ussd_reply_kind_prefix = "ussd:";
std::string ussd_reply_kind(std::string_view channel);

// The row for the screen that answers hop `hop` of rabta's session `session` (the dedupe key, so
// that a retried hop queues nothing twice). Expires `deadline_ms` after `now_ms`.
store::OutboxRecord make_ussd_reply_outbox(const std::string& channel, std::int64_t session,
                                           int hop, std::int64_t contact_id,
                                           const adapters::ussd::AsyncReply& reply,
                                           std::int64_t now_ms, std::int64_t deadline_ms,
                                           const common::FieldCipher& cipher);

// The screen of a row, or nullopt when it is malformed or does not decrypt for this row.
std::optional<adapters::ussd::AsyncReply> read_ussd_reply(const store::OutboxRecord& row,
                                                          const common::FieldCipher& cipher);

struct UssdReplyChannel {
  std::string name;                                            // rows of kind "ussd:<name>"
  std::shared_ptr<const adapters::ussd::UssdAdapter> adapter;  // replies_in_band() false
};

// The consumer's options for screens: a screen is worth sending only within seconds, so the
// retries are quick and few (the row's deadline bounds them anyway).
struct UssdReplyOptions : ConsumerOptions {
  UssdReplyOptions() {
    max_attempts = 5;
    backoff_base = std::chrono::milliseconds(200);
    backoff_cap = std::chrono::milliseconds(1000);
    poll_interval = std::chrono::milliseconds(500);
    send_timeout = std::chrono::milliseconds(5000);
    lease = std::chrono::milliseconds(30000);
  }
};

class UssdReplyDispatcher : public OutboxDispatcher {
 public:
  // Throws std::invalid_argument for a channel without a name or an asynchronous adapter, a
  // name listed twice, or options that cannot work.
  UssdReplyDispatcher(store::Store& store, std::vector<UssdReplyChannel> channels,
                      const common::FieldCipher& cipher, const common::Clock& clock,
                      UssdReplyOptions options, std::function<double()> random01);
  ~UssdReplyDispatcher() override;  // stops the thread

 private:
  std::vector<Lane> lanes() const override;
  void settle(store::Tx& tx, std::int64_t now) override;
  void report_settled() override;
  std::any read(store::Tx& tx, const store::OutboxRecord& row) override;
  Prepared prepare(const ClaimedRow& c, std::int64_t now) override;
  SendVerdict judge(const ClaimedRow& c, long status, const std::string& body) override;
  std::string describe(const ClaimedRow& c) const override;

  const UssdReplyChannel* channel_of(const store::OutboxRecord& row) const;

  std::vector<UssdReplyChannel> channels_;
  const common::FieldCipher& cipher_;
  std::pair<int, int> settled_{0, 0};
};

}  // namespace rabta::gateway
