#include "gateway/inbound/sms_service.hpp"

#include <spdlog/spdlog.h>

#include "adapters/common/crypto.hpp"
#include "flows/text.hpp"
#include "gateway/inbound/effects.hpp"
#include "gateway/outbound/outbound_sms.hpp"

namespace rabta::gateway {

using flows::StepResult;

namespace {
// A weekly check-in whose reply was unclear once carries this as its answer while still open.
constexpr const char* kUnclearAnswer = "unclear";
// ... and this when that unclear reply had an urgent word in it (kept for the second reply and
// for a missed week).
constexpr const char* kUnclearUrgentAnswer = "unclear_urgent";
// The check-in menu's "I would like to talk" (the same three choices on every channel, W3).
constexpr int kTalkOption = 2;
}  // namespace

SmsService::SmsService(std::shared_ptr<const flows::Engine> engine,
                       std::shared_ptr<const SmsTexts> texts, SmsPolicy policy,
                       SessionPolicy sessions, const common::Clock& clock, flows::IdSource& ids,
                       const common::FieldCipher& cipher, const common::Pseudonymizer& key)
    : engine_(std::move(engine)),
      texts_(std::move(texts)),
      policy_(policy),
      sessions_(std::move(sessions)),
      clock_(clock),
      ids_(ids),
      cipher_(cipher),
      key_(key) {}

std::string SmsService::reply_text(const store::ContactRecord& contact, const StepResult& r) const {
  // An SMS stays in her inbox: a screen that would confirm a report (it shows the case
  // reference) is replaced by a neutral goodbye unless she asked for confirmations (SAFETY S5).
  const bool confirms = r.end && !r.state.case_reference.empty() &&
                        r.screen.find(r.state.case_reference) != std::string::npos;
  if (confirms && !contact.confirm_ok) {
    const auto& lang =
        r.state.language.empty() ? engine_->flows().settings.default_language : r.state.language;
    return texts_->text("closing", lang, engine_->flows().settings.default_language);
  }
  return r.screen;
}

namespace {

// Wrong PINs allowed per responder and hour; past it every command answers like an unknown
// reference until the hour has passed (audited as "locked").
constexpr int kMaxWrongPins = 5;
constexpr std::int64_t kPinWindowMs = 60LL * 60 * 1000;

}  // namespace

std::string SmsService::responder_reply(store::Tx& tx, const store::ResponderRecord& responder,
                                        const SmsIn& in, const std::string& normalised) {
  const auto command = parse_responder_sms(normalised);
  const bool has_pin = !responder.pin_hash.empty();
  if (!command)
    return has_pin ? "Reply ACK <reference> <PIN> to acknowledge or CLAIM <reference> <PIN> to "
                     "take the case."
                   : "Reply ACK <reference> to acknowledge or CLAIM <reference> to take the case.";
  Actor actor;
  actor.responder_id = responder.id;
  actor.name = responder.name;
  actor.role = responder.role;
  actor.team = responder.team;
  actor.can_export = responder.can_export;
  actor.via = "sms";
  actor.channel = in.channel;
  actor.message_id = in.provider_message_id;
  const char* action = command->kind == ResponderCommand::Kind::ack ? "case.ack" : "case.claim";
  // The same answer for a reference that does not exist, one out of her scope, a missing or
  // wrong PIN and a locked PIN: none of them may tell a sender whether the reference exists.
  const std::string unknown = "No case " + command->reference + " in your queue.";
  if (has_pin) {
    const std::int64_t now = clock_.now_ms();
    const std::string who = "sms:" + std::to_string(responder.id);
    // Wrong PINs by SMS and by the USSD menu count together (responder_ussd.cpp).
    if (tx.count_audit_since(who, "pin_wrong,", now - kPinWindowMs) +
            tx.count_audit_since("ussd:" + std::to_string(responder.id), "pin_wrong,",
                                 now - kPinWindowMs) >=
        kMaxWrongPins) {
      tx.append_audit(now, who, action, command->reference, sms_audit_detail("locked", actor));
      return unknown;
    }
    const bool right =
        !command->pin.empty() &&
        common::constant_time_equal(responder.pin_hash,
                                    responder_pin_hash(key_, responder.id, command->pin));
    if (!right) {
      tx.append_audit(now, who, action, command->reference,
                      sms_audit_detail(command->pin.empty() ? "pin_missing" : "pin_wrong", actor));
      return unknown;
    }
  }
  CaseResult r = CaseResult::invalid;
  std::string done;
  switch (command->kind) {
    case ResponderCommand::Kind::ack:
      r = cases_->acknowledge(tx, actor, command->reference);
      done = "acknowledged";
      break;
    case ResponderCommand::Kind::claim:
      r = cases_->claim(tx, actor, command->reference);
      done = "claimed";
      break;
  }
  switch (r) {
    case CaseResult::ok:
    case CaseResult::accepted:
      return "Case " + command->reference + " " + done + ".";
    case CaseResult::invalid:
    case CaseResult::conflict:
      return "Case " + command->reference + " is closed.";
    case CaseResult::not_found:
    case CaseResult::forbidden:
    case CaseResult::no_consent:
      break;
  }
  return unknown;
}

int SmsService::expire_idle(store::Tx& tx, std::int64_t idle_before, int limit) {
  int n = 0;
  for (auto& s : tx.idle_sessions("sms", idle_before, limit)) {
    abandon_session(
        tx, *engine_, ids_, s,
        {clock_.now_ms(), sessions_.quiet_period, sessions_.checkin_answer_key, "", &cipher_},
        "idle");
    ++n;
  }
  return n;
}

SmsOut SmsService::handle(store::Tx& tx, const SmsIn& in, bool reply_in_band) {
  const std::int64_t now = clock_.now_ms();
  const auto& settings = engine_->flows().settings;
  SmsOut out;
  store::ContactRecord contact = tx.upsert_contact(in.pseudonym, now);
  const std::string normalised = flows::normalise_input(in.text);

  store::InboundRecord rec;
  rec.provider = in.channel;
  rec.provider_message_id = in.provider_message_id;
  rec.contact_id = contact.id;
  rec.text_hash = key_.keyed("sms-text:" + std::to_string(contact.id) + ":" + normalised);
  rec.received_at = now;
  if (!tx.insert_inbound(rec)) {
    // The aggregator delivered the same message again: the same answer, no second effect (T2).
    const auto prev = tx.find_inbound(in.channel, in.provider_message_id);
    out.duplicate = true;
    out.outcome = "duplicate";
    if (prev && reply_in_band) {
      out.reply = prev->reply;
      out.ucs2 = flows::measure(out.reply).encoding == flows::Encoding::ucs2;
    }
    return out;
  }
  const auto inbound = tx.find_inbound(in.channel, in.provider_message_id);
  const std::int64_t inbound_id = inbound ? inbound->id : 0;

  // Loops and floods get no answer at all (SAFETY T6): counts include this message.
  if (tx.count_inbound_since(contact.id, now - policy_.throttle_window.count()) >
      policy_.throttle_max_messages) {
    out.outcome = "throttled";
    return out;
  }
  // A responder answering an alert. Someone else's "ACK <ref>" is ignored: any answer would say
  // whether that reference exists.
  if (cases_) {
    if (const auto responder = tx.find_responder_by_phone(in.pseudonym)) {
      const std::string reply = responder_reply(tx, *responder, in, normalised);
      out.outcome = "responder";
      out.ucs2 = false;
      if (reply_in_band) {
        out.reply = reply;
        tx.set_inbound_reply(inbound_id, reply);
      } else {
        SmsPayload p;
        p.to = in.phone;
        p.text = reply;
        p.solicited = true;
        p.purpose = "reply";
        tx.insert_outbox(make_sms_outbox(in.channel,
                                         "reply:" + in.channel + ":" + in.provider_message_id,
                                         "inbound:" + std::to_string(inbound_id), 0, p, now, now,
                                         policy_.reply_ttl.count(), cipher_));
        out.queued = true;
      }
      return out;
    }
    if (parse_responder_sms(normalised)) {
      spdlog::info("an acknowledgement from a number that is not a responder was ignored");
      out.outcome = "ack from unknown sender";
      return out;
    }
  }

  std::string language = contact.language;
  auto conversation =
      tx.find_resumable_session(contact.id, "sms", now - policy_.conversation_timeout.count());
  // The same text again and again outside a conversation is another machine's auto-reply: stop
  // answering it. Inside a conversation a repeated valid answer ("1", "1", ...) moves her on, and
  // a repeated invalid one ends the conversation after the flows' invalid-answer limit.
  if (!conversation &&
      tx.count_inbound_text_since(contact.id, rec.text_hash, now - policy_.loop_window.count()) >
          policy_.loop_max_repeats) {
    out.outcome = "loop";
    return out;
  }
  auto close_conversation = [&](const char* reason) {
    if (!conversation) return;
    // Leaving a conversation half-way is leaving (SAFETY W4): a report or a request to talk she
    // had started is raised, as when she hangs up.
    abandon_session(tx, *engine_, ids_, *conversation,
                    {now, sessions_.quiet_period, sessions_.checkin_answer_key, "", &cipher_},
                    reason);
    conversation->status = store::session_status::finished;
    conversation->end_reason = reason;
    conversation->ended_at = now;
    conversation->updated_at = now;
    tx.update_session(*conversation);
    conversation.reset();
  };

  const KeywordMatch match = texts_->match_keyword(normalised);
  std::string reply;
  std::optional<StepResult> result;
  UniqueReferences references(ids_, tx);
  if (match.keyword && match.keyword->action != KeywordAction::flow) {
    const bool stop = match.keyword->action == KeywordAction::stop;
    if (language.empty() && !match.language.empty()) {
      language = match.language;
      tx.set_contact_language(contact.id, language, now);
    }
    close_conversation(stop ? "stop" : "start");
    if (stop) {
      tx.set_contact_status(contact.id, store::contact_status::opted_out, now);
    } else if (contact.status == store::contact_status::opted_out) {
      tx.set_contact_status(contact.id,
                            contact.checkin_weekday > 0 ? store::contact_status::active
                                                        : store::contact_status::caller,
                            now);
    }
    tx.insert_consent({contact.id, 0, "sms", !stop, now});
    reply = texts_->text(stop ? "opt_out" : "opt_in",
                         language.empty() ? settings.default_language : language,
                         settings.default_language);
    out.outcome = stop ? "opted_out" : "opted_in";
  } else {
    store::SessionRecord session;
    if (match.keyword) {
      if (language.empty() && !match.language.empty()) language = match.language;
      close_conversation("restarted");
      result = engine_->start_at(match.keyword->target, language, references);
      if (contact.language.empty() && !language.empty())
        tx.set_contact_language(contact.id, language, now);
      out.outcome = "keyword " + match.keyword->name;
    } else if (conversation) {
      session = *conversation;
      auto state = flows::SessionState::from_json(session.state);
      if (!state || state->ended)
        throw std::runtime_error("sms session " + std::to_string(session.id) +
                                 " has an unreadable state");
      result = engine_->step(*state, in.text, references);
      out.outcome = "step";
    } else if (auto open = tx.open_checkin(contact.id)) {
      // Her answer to the weekly check-in SMS, read whole (SAFETY W3). Unclear ("theek nahi",
      // two options, a negation) gets one clarifying question, never "fine"; unclear again
      // after it is read as "I would like to talk", so that a person looks.
      const CheckinReading reading = texts_->read_checkin_answer(normalised);
      int option = reading.option;
      const bool asked = open->answer == kUnclearAnswer || open->answer == kUnclearUrgentAnswer;
      if (option == 0 && !asked) {
        // Still open: the clarifying question is asked once.
        open->answer = reading.urgent ? kUnclearUrgentAnswer : kUnclearAnswer;
        tx.update_checkin(*open);
        reply =
            texts_->text("checkin_clarify", language.empty() ? settings.default_language : language,
                         settings.default_language);
        out.outcome = "checkin unclear";
      } else {
        // Unclear twice: a person looks. Urgent words, even negated, are read as urgent.
        if (option == 0)
          option = reading.urgent || open->answer == kUnclearUrgentAnswer ? texts_->urgent_option
                                                                          : kTalkOption;
        StepResult first = engine_->start_at(texts_->checkin_node, language, references);
        StepResult next = engine_->step(first.state, std::to_string(option), references);
        next.effects.insert(next.effects.begin(), first.effects.begin(), first.effects.end());
        result = std::move(next);
        out.outcome = reading.option > 0 ? "checkin answer" : "checkin unclear twice";
      }
    } else {
      result = engine_->start(language, references);
      out.outcome = "new conversation";
    }
    if (!result) {
      // Only the clarifying question: no conversation starts.
    } else if (session.id == 0) {  // a new conversation
      session.provider = in.channel;
      session.provider_session_id = "sms-" + std::to_string(inbound_id);
      session.contact_id = contact.id;
      session.channel = "sms";
      session.started_at = now;
      session.state = result->state.to_json();
      session.updated_at = now;
      session.id = tx.insert_session(session);
    }
    if (result) {
      record_effects(
          tx, *result, session,
          {now, sessions_.quiet_period, sessions_.checkin_answer_key, in.phone, &cipher_});
      reply = reply_text(contact, *result);
      session.state = result->state.to_json();
      session.last_reply = reply;
      session.hop_count += 1;
      session.status = session_status_for(*result);
      session.updated_at = now;
      if (result->end) {
        session.ended_at = now;
        session.end_reason = flows::to_string(result->outcome);
      }
      tx.update_session(session);
      out.session = session.id;
    }
  }

  out.ucs2 = flows::measure(reply).encoding == flows::Encoding::ucs2;
  if (reply_in_band) {
    out.reply = reply;
    tx.set_inbound_reply(inbound_id, reply);
  } else if (!reply.empty()) {
    // The aggregator cannot answer in the HTTP response: the reply is an outbox row.
    SmsPayload p;
    p.to = in.phone;
    p.text = reply;
    p.ucs2 = out.ucs2;
    p.solicited = true;
    p.purpose = "reply";
    tx.insert_outbox(make_sms_outbox(in.channel,
                                     "reply:" + in.channel + ":" + in.provider_message_id,
                                     "inbound:" + std::to_string(inbound_id), contact.id, p, now,
                                     now, policy_.reply_ttl.count(), cipher_));
    out.queued = true;
  }
  return out;
}

}  // namespace rabta::gateway
