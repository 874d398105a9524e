#include "gateway/outbound/ussd_reply.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "adapters/common/crypto.hpp"

namespace rabta::gateway {

namespace ussd = adapters::ussd;

std::string ussd_reply_kind(std::string_view channel) {
  return std::string(ussd_reply_kind_prefix) + std::string(channel);
}

store::OutboxRecord make_ussd_reply_outbox(const std::string& channel, std::int64_t session,
                                           int hop, std::int64_t contact_id,
                                           const ussd::AsyncReply& reply, std::int64_t now_ms,
                                           std::int64_t deadline_ms,
                                           const common::FieldCipher& cipher) {
  store::OutboxRecord row;
  row.kind = ussd_reply_kind(channel);
  row.dedupe_key = "ussd:" + channel + ":" + std::to_string(session) + ":" + std::to_string(hop);
  const nlohmann::json payload = {
      {"to_enc", common::base64_encode(
                     cipher.encrypt(reply.to, store::outbox_to_associated_data(row.dedupe_key)))},
      {"text_enc", common::base64_encode(cipher.encrypt(
                       reply.text, store::outbox_text_associated_data(row.dedupe_key)))},
      {"session_id", reply.session_id},
      {"end", reply.end}};
  row.payload = payload.dump();
  row.cause = "session:" + std::to_string(session);
  row.status = store::outbox_status::pending;
  row.created_at = now_ms;
  row.not_before = now_ms;
  row.expires_at = now_ms + deadline_ms;
  row.contact_id = contact_id;
  row.channel = channel;
  return row;
}

std::optional<ussd::AsyncReply> read_ussd_reply(const store::OutboxRecord& row,
                                                const common::FieldCipher& cipher) {
  const auto j = nlohmann::json::parse(row.payload, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  for (const char* k : {"to_enc", "text_enc", "session_id"})
    if (!j.contains(k) || !j[k].is_string()) return std::nullopt;
  if (!j.contains("end") || !j["end"].is_boolean()) return std::nullopt;
  const auto to = common::base64_decode(j["to_enc"].get<std::string>());
  const auto text = common::base64_decode(j["text_enc"].get<std::string>());
  if (!to || !text) return std::nullopt;
  auto to_clear = cipher.decrypt(*to, store::outbox_to_associated_data(row.dedupe_key));
  auto text_clear = cipher.decrypt(*text, store::outbox_text_associated_data(row.dedupe_key));
  if (!to_clear || !text_clear) return std::nullopt;
  ussd::AsyncReply r;
  r.to = std::move(*to_clear);
  r.text = std::move(*text_clear);
  r.session_id = j["session_id"].get<std::string>();
  r.end = j["end"].get<bool>();
  return r;
}

namespace {

std::vector<UssdReplyChannel> checked(std::vector<UssdReplyChannel> channels) {
  std::set<std::string> names;
  for (const auto& ch : channels) {
    if (ch.name.empty()) throw std::invalid_argument("ussd replies: a channel has no name");
    if (!ch.adapter || ch.adapter->replies_in_band())
      throw std::invalid_argument("ussd replies: channel " + ch.name +
                                  " does not answer by a separate call");
    if (!names.insert(ch.name).second)
      throw std::invalid_argument("ussd replies: channel " + ch.name + " is listed twice");
  }
  return channels;
}

}  // namespace

UssdReplyDispatcher::UssdReplyDispatcher(store::Store& store,
                                         std::vector<UssdReplyChannel> channels,
                                         const common::FieldCipher& cipher,
                                         const common::Clock& clock, UssdReplyOptions options,
                                         std::function<double()> random01)
    : OutboxDispatcher("outbox: ussd replies", store, clock, options, std::move(random01)),
      channels_(checked(std::move(channels))),
      cipher_(cipher) {
  consumer_.take_lanes();
}

UssdReplyDispatcher::~UssdReplyDispatcher() {
  stop();  // before the members a pass uses go
}

std::vector<OutboxSender::Lane> UssdReplyDispatcher::lanes() const {
  std::vector<Lane> out;
  for (const auto& ch : channels_) out.push_back({ussd_reply_kind(ch.name), 0});
  return out;
}

void UssdReplyDispatcher::settle(store::Tx& tx, std::int64_t now) {
  // Every screen goes to a woman: in doubt, it is held as unconfirmed and never sent again.
  settled_ = tx.settle_in_doubt_outbox(ussd_reply_kind_prefix, now);
}

void UssdReplyDispatcher::report_settled() {
  if (settled_.second > 0)
    spdlog::warn(
        "outbox: {} USSD screens were being sent when rabta stopped: held as unconfirmed, never "
        "sent twice",
        settled_.second);
}

std::any UssdReplyDispatcher::read(store::Tx&, const store::OutboxRecord&) {
  return {};
}

const UssdReplyChannel* UssdReplyDispatcher::channel_of(const store::OutboxRecord& row) const {
  const auto ch = std::find_if(channels_.begin(), channels_.end(), [&row](const auto& x) {
    return row.kind == ussd_reply_kind(x.name);
  });
  return ch == channels_.end() ? nullptr : &*ch;
}

std::string UssdReplyDispatcher::describe(const ClaimedRow& c) const {
  return "ussd screen " + std::to_string(c.row.id) + " via " + c.row.channel;
}

Prepared UssdReplyDispatcher::prepare(const ClaimedRow& c, std::int64_t now) {
  using Action = Prepared::Action;
  const UssdReplyChannel* ch = channel_of(c.row);
  if (!ch) return {Action::retry, {}, "no such USSD channel configured", now + 1000};
  // Her session is over when the deadline passed: claim_outbox expired those rows already.
  const auto reply = read_ussd_reply(c.row, cipher_);
  if (!reply) return {Action::dead, {}, "unreadable payload", 0};
  Prepared p;
  p.call = ch->adapter->build_send(*reply);
  return p;
}

namespace {

// Whether a call that got no answer surely never reached the gateway (nothing was connected).
bool never_arrived(const std::string& curl_message) {
  for (const char* m : {"Couldn't connect", "Could not connect", "Failed to connect",
                        "Could not resolve", "Couldn't resolve", "Connection refused"})
    if (curl_message.find(m) != std::string::npos) return true;
  return false;
}

}  // namespace

SendVerdict UssdReplyDispatcher::judge(const ClaimedRow& c, long status, const std::string& body) {
  // At most once: a call that may have reached the gateway is never made again. No answer at all
  // (a timeout) or a gateway timeout (504) may have shown the screen: the row is given up, not
  // retried. Only a call that surely never arrived, or one the gateway refused to take for now
  // (429, and 5xx other than 504), is tried again within the deadline.
  if ((status == 0 && !never_arrived(body)) || status == 504)
    return {SendVerdict::Outcome::permanent, "",
            status == 0 ? "no answer: the screen may have been shown, not sent again"
                        : "http 504: the screen may have been shown, not sent again"};
  const auto* ch = channel_of(c.row);
  const auto sr = ch->adapter->parse_send(status, body);
  switch (sr.outcome) {
    case adapters::sms::SendOutcome::sent:
      return {SendVerdict::Outcome::sent, sr.provider_message_id, ""};
    case adapters::sms::SendOutcome::retry:
      return {SendVerdict::Outcome::retry, "", sr.error};
    case adapters::sms::SendOutcome::permanent:
      break;
  }
  return {SendVerdict::Outcome::permanent, "", sr.error};
}

}  // namespace rabta::gateway
