#include "gateway/outbound/webhook_dispatcher.hpp"

#include <spdlog/spdlog.h>

#include <any>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "adapters/common/crypto.hpp"
#include "gateway/outbound/consent.hpp"

namespace rabta::gateway {

namespace {
// curl's message for a transport failure, with anything that could be a URL's query cut off.
std::string transport_error(const std::string& message) {
  std::string m = message.substr(0, message.find('?'));
  if (m.size() > 200) m.resize(200);
  return "transport error: " + m;
}

// Her consent for the row's case as it stands at claim time.
struct Consents {
  std::optional<bool> referral;
  std::optional<bool> callback;
};

adapters::webhook::WebhookSink checked(adapters::webhook::WebhookSink sink) {
  if (sink.name.empty()) throw std::invalid_argument("webhook: the sink has no name");
  if (sink.secret.empty())
    throw std::invalid_argument("webhook " + sink.name + ": no secret: nothing is sent unsigned");
  if (const std::string problem = adapters::webhook::webhook_url_problem(sink.url);
      !problem.empty())
    throw std::invalid_argument("webhook " + sink.name + ": " + problem);
  return sink;
}

}  // namespace

WebhookDispatcher::WebhookDispatcher(store::Store& store, adapters::webhook::WebhookSink sink,
                                     const common::Clock& clock, WebhookDispatcherOptions options,
                                     std::function<double()> random01)
    : OutboxDispatcher("webhook " + sink.name, store, clock, options, std::move(random01)),
      sink_(checked(std::move(sink))),
      kind_(adapters::webhook::webhook_kind(sink_.name)),
      clock_(clock),
      rate_per_second_(options.rate_per_second),
      backoff_cap_(options.backoff_cap) {
  consumer_.take_lanes();
}

WebhookDispatcher::~WebhookDispatcher() {
  stop();  // before the members a pass uses go
}

std::vector<OutboxSender::Lane> WebhookDispatcher::lanes() const {
  return {{kind_, rate_per_second_}};
}

void WebhookDispatcher::settle(store::Tx& tx, std::int64_t now) {
  // Only this sink's rows: an SMS row to a woman left "sending" is in doubt and is the SMS
  // dispatcher's to settle (held, never sent twice), not this one's to release.
  released_ = tx.release_stale_outbox(now, kind_);
}

void WebhookDispatcher::report_settled() {
  if (released_ > 0) spdlog::info("outbox: {} stale sending rows back to pending", released_);
}

std::any WebhookDispatcher::read(store::Tx& tx, const store::OutboxRecord& row) {
  // Her consent as it stands now, read in the claim's transaction (SAFETY D3): what she said
  // for THIS case (SAFETY W2).
  Consents c;
  const std::string reference = adapters::webhook::webhook_reference(row);
  if (!reference.empty()) {
    if (const auto k = tx.find_case(reference)) {
      c.referral = consent_for_case(tx, k->id, sink_.consent_purpose);
      c.callback = consent_for_case(tx, k->id, "callback");
    }
  }
  return c;
}

std::string WebhookDispatcher::describe(const ClaimedRow& c) const {
  return "webhook " + sink_.name + ": outbox " + std::to_string(c.row.id) + " (" +
         adapters::webhook::webhook_reference(c.row) + ")";
}

Prepared WebhookDispatcher::prepare(const ClaimedRow& c, std::int64_t now) {
  using Action = Prepared::Action;
  const auto& row = c.row;
  if (row.kind != kind_)
    // Not claimed by the lane (it claims its exact kind): should one come here, it waits.
    return {Action::retry, {}, "no such webhook sink", now + backoff_cap_.count()};
  const auto& consents = std::any_cast<const Consents&>(c.context);
  // A referral partner gets nothing at all once she no longer agrees to that kind of referral
  // in this case (or the case is gone): the event is dropped, not sent without its fields.
  if (sink_.requires_consent && !consents.referral.value_or(false))
    return {Action::cancel, {}, "her consent to this referral is withdrawn", 0};
  std::optional<adapters::webhook::WebhookDelivery> d;
  try {
    d = adapters::webhook::read_webhook_payload(sink_, row, consents.referral, consents.callback);
  } catch (const std::exception&) {
    d.reset();
  }
  if (!d) return {Action::dead, {}, "unreadable payload (was the webhook secret changed?)", 0};
  const std::int64_t t = clock_.now_ms() / 1000;  // signed now: the timestamp is fresh
  Prepared p;
  p.call.method = "POST";
  p.call.url = sink_.url;
  p.call.headers = {{"Content-Type", "application/json"},
                    {"Idempotency-Key", d->idempotency_key},
                    {adapters::webhook::webhook_signature_header,
                     adapters::webhook::sign(sink_.secret, t, d->body)},
                    {"User-Agent", "rabta-webhook/1"}};
  p.call.body = std::move(d->body);
  return p;
}

SendVerdict WebhookDispatcher::judge(const ClaimedRow&, long status, const std::string& body) {
  const std::string error = status == 0 ? transport_error(body) : "http " + std::to_string(status);
  switch (adapters::webhook::classify_webhook_status(status)) {
    case adapters::webhook::WebhookOutcome::sent:
      return {SendVerdict::Outcome::sent, "", ""};
    case adapters::webhook::WebhookOutcome::retry:
      return {SendVerdict::Outcome::retry, "", error};
    case adapters::webhook::WebhookOutcome::dead:
      break;
  }
  return {SendVerdict::Outcome::permanent, "", error};
}

}  // namespace rabta::gateway
