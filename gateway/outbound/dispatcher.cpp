#include "gateway/outbound/dispatcher.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <any>
#include <cmath>
#include <optional>
#include <set>
#include <stdexcept>
#include <utility>

#include "gateway/outbound/outbound_sms.hpp"

namespace rabta::gateway {

namespace sms = adapters::sms;

namespace {

// What the claim's transaction read beside a row: the woman it goes to (when it goes to one), or
// for a responder's case alert (cause "case:<ref>") its case's status.
struct Recipient {
  std::optional<store::ContactRecord> contact;
  bool alert = false;
  std::string case_status;  // "" = no such case
};

// SAFETY W6: a case alert that fails is retried at least this often while its case is open.
constexpr std::chrono::milliseconds kAlertRetryCap{60'000};

std::vector<ChannelRuntime> checked(std::vector<ChannelRuntime> channels) {
  std::set<std::string> names;
  for (const auto& ch : channels) {
    if (ch.name.empty()) throw std::invalid_argument("dispatcher: a channel has no name");
    if (!ch.adapter)
      throw std::invalid_argument("dispatcher: channel " + ch.name + " has no adapter");
    if (!names.insert(ch.name).second)
      throw std::invalid_argument("dispatcher: channel " + ch.name + " is listed twice");
  }
  return channels;
}

}  // namespace

Dispatcher::Dispatcher(store::Store& store, std::vector<ChannelRuntime> channels,
                       const common::FieldCipher& cipher, const common::Clock& clock,
                       flows::Zone zone, DispatcherOptions options,
                       std::function<double()> random01)
    : OutboxDispatcher("outbox: dispatcher", store, clock, options, std::move(random01)),
      channels_(checked(std::move(channels))),
      cipher_(cipher),
      zone_(std::move(zone)),
      backoff_cap_(options.backoff_cap) {
  consumer_.take_lanes();
}

Dispatcher::~Dispatcher() {
  stop();  // before the members a pass uses go
}

std::vector<OutboxSender::Lane> Dispatcher::lanes() const {
  std::vector<Lane> out;
  for (const auto& ch : channels_) out.push_back({sms_kind(ch.name), ch.rate_per_second});
  return out;
}

void Dispatcher::settle(store::Tx& tx, std::int64_t now) {
  settled_ = tx.settle_in_doubt_outbox(sms_kind_prefix, now);
}

void Dispatcher::report_settled() {
  if (settled_.first > 0)
    spdlog::info(
        "outbox: {} messages to responders were being sent when rabta stopped: sending them again",
        settled_.first);
  if (settled_.second > 0)
    spdlog::warn(
        "outbox: {} messages to women were being sent when rabta stopped: held as unconfirmed, "
        "never sent twice (rabta outbox list --unconfirmed)",
        settled_.second);
}

std::any Dispatcher::read(store::Tx& tx, const store::OutboxRecord& row) {
  Recipient r;
  if (row.contact_id != 0) r.contact = tx.find_contact_by_id(row.contact_id);
  if (row.contact_id == 0 && row.cause.rfind("case:", 0) == 0) {
    r.alert = true;
    if (const auto k = tx.find_case(row.cause.substr(5))) r.case_status = k->status;
  }
  return r;
}

const ChannelRuntime* Dispatcher::channel_of(const store::OutboxRecord& row) const {
  // By the exact kind (what each lane claims).
  const auto ch = std::find_if(channels_.begin(), channels_.end(),
                               [&row](const auto& x) { return row.kind == sms_kind(x.name); });
  return ch == channels_.end() ? nullptr : &*ch;
}

std::string Dispatcher::describe(const ClaimedRow& c) const {
  const auto* ch = channel_of(c.row);
  const auto& r = std::any_cast<const Recipient&>(c.context);
  return "outbox " + std::to_string(c.row.id) + " via " + (ch ? ch->name : c.row.kind) +
         (r.alert ? " (alert)" : "");
}

Prepared Dispatcher::prepare(const ClaimedRow& c, std::int64_t now) {
  using Action = Prepared::Action;
  const auto& row = c.row;
  const auto& r = std::any_cast<const Recipient&>(c.context);
  const ChannelRuntime* ch = channel_of(row);
  if (!ch)
    // Not claimed by the lanes (they claim their exact kind); should a row of a channel this
    // process does not run come here, it goes back for later, bounded by its TTL.
    return {Action::retry, {}, "no such channel configured", now + backoff_cap_.count()};
  if (r.alert && r.case_status != store::case_status::open)
    // Someone acknowledged (or closed) the case: the alert has done its work.
    return {Action::cancel, {}, "case " + (r.case_status.empty() ? "gone" : r.case_status), 0};

  const auto payload = read_sms_payload(row, cipher_);
  if (!payload) return {Action::dead, {}, "unreadable payload", 0};
  if (row.contact_id != 0) {
    RecipientDecision d;
    try {
      d = recipient_policy(r.contact ? &*r.contact : nullptr, payload->solicited, now, zone_);
    } catch (const std::exception& e) {
      // Her record cannot be judged (e.g. a date out of range): nothing is sent; try later.
      spdlog::error("outbox {} via {}: recipient policy failed: {}", row.id, ch->name, e.what());
      d = {RecipientDecision::Action::defer, "policy error", now + backoff_cap_.count()};
    }
    if (d.action == RecipientDecision::Action::refuse)
      return {Action::refused, {}, "refused: " + d.reason, 0};
    if (d.action == RecipientDecision::Action::defer)
      return {Action::deferred, {}, "deferred: " + d.reason, d.not_before};
  }
  Prepared p;
  p.call =
      ch->adapter->build_send(sms::OutboundSms{row.id, payload->to, payload->text, payload->ucs2});
  return p;
}

SendVerdict Dispatcher::judge(const ClaimedRow& c, long status, const std::string& body) {
  const sms::SendResult sr = channel_of(c.row)->adapter->parse_send(status, body);
  switch (sr.outcome) {
    case sms::SendOutcome::sent:
      return {SendVerdict::Outcome::sent, sr.provider_message_id, ""};
    case sms::SendOutcome::retry:
      return {SendVerdict::Outcome::retry, "", sr.error};
    case sms::SendOutcome::permanent:
      break;
  }
  return {SendVerdict::Outcome::permanent, "", sr.error};
}

std::optional<std::chrono::milliseconds> Dispatcher::retry_forever(const ClaimedRow& c) const {
  // SAFETY W6: an alert is never given up while its case is open and unacknowledged (prepare()
  // cancels it once it is not); the escalation pass alerts the next rung at once while this one
  // keeps trying, at least once a minute.
  if (std::any_cast<const Recipient&>(c.context).alert) return kAlertRetryCap;
  return std::nullopt;
}

}  // namespace rabta::gateway
