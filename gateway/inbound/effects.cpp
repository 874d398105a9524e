#include "gateway/inbound/effects.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace rabta::gateway {

using flows::EffectKind;

const char* session_status_for(const flows::StepResult& r) {
  if (!r.end) return store::session_status::active;
  return r.outcome == flows::Outcome::quick_exit ? store::session_status::quick_exit
                                                 : store::session_status::finished;
}

std::string UniqueReferences::case_reference(std::size_t length) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::string reference = ids_.case_reference(length);
    if (handed_out_.count(reference) == 0 && !tx_.find_case(reference)) {
      handed_out_.insert(reference);
      return reference;
    }
  }
  throw std::runtime_error("could not find a free case reference");
}

std::int64_t open_case(store::Tx& tx, const std::string& reference, std::int64_t contact_id,
                       std::int64_t session_id, const std::string& flow,
                       const std::string& category, const std::string& severity,
                       const std::string& channel, std::int64_t now) {
  store::CaseRecord c;
  c.reference = reference;
  c.contact_id = contact_id;
  c.session_id = session_id;
  c.flow = flow;
  c.category = category;
  c.severity = severity;
  c.created_at = now;
  const std::int64_t case_id = tx.insert_case(c);
  // What she answered in this session so far is what this case shows and forwards (SAFETY W2).
  if (session_id > 0) tx.bind_session_to_case(session_id, case_id);
  // The responder queue picks this up; same transaction as the case (transactional outbox).
  store::OutboxRecord o;
  o.kind = "case_alert";
  o.dedupe_key = "case:" + reference;
  o.cause = "case:" + reference;
  o.payload =
      nlohmann::json{{"reference", reference}, {"category", category}, {"severity", severity},
                     {"flow", flow},           {"channel", channel},   {"session", session_id},
                     {"created_at", now}}
          .dump();
  o.created_at = now;
  o.not_before = now;
  tx.insert_outbox(o);
  // The category is derived from her answers: it stays out of the logs (SAFETY D5).
  spdlog::info("case {} opened, severity {} (session {})", reference, severity, session_id);
  return case_id;
}

bool abandon_session(store::Tx& tx, const flows::Engine& engine, flows::IdSource& ids,
                     store::SessionRecord& session, const EffectContext& ctx,
                     const std::string& end_reason) {
  bool raised = false;
  if (session.status == store::session_status::active) {
    if (auto state = flows::SessionState::from_json(session.state); state && !state->ended) {
      UniqueReferences references(ids, tx);
      const flows::StepResult r = engine.abandon(*state, references);
      for (const auto& e : r.effects) raised = raised || e.kind == EffectKind::open_case;
      record_effects(tx, r, session, ctx);
      session.state = r.state.to_json();
      if (raised)
        spdlog::info("session {} left unfinished ({}): the interrupted report is raised",
                     session.id, end_reason);
    }
    session.status = store::session_status::incomplete;
    session.ended_at = ctx.now;
  }
  // updated_at stays the time of her last input: the resume window and the SMS conversation
  // timeout count from it.
  session.end_reason = end_reason;
  tx.update_session(session);
  return raised;
}

void record_effects(store::Tx& tx, const flows::StepResult& r, const store::SessionRecord& session,
                    const EffectContext& ctx) {
  // The case this session's answers are for: one opened earlier in it or in the session it
  // resumes (the state carries its reference), or one opened by this step (set below).
  std::int64_t case_id = 0;
  if (!r.state.case_reference.empty())
    if (const auto c = tx.find_case(r.state.case_reference)) case_id = c->id;
  for (const auto& e : r.effects) {
    switch (e.kind) {
      case EffectKind::save_answer:
        tx.insert_answer({session.id, session.contact_id, e.key, e.value, ctx.now, case_id});
        if (!ctx.checkin_answer_key.empty() && e.key == ctx.checkin_answer_key) {
          if (auto open = tx.open_checkin(session.contact_id)) {
            open->status = store::checkin_status::answered;
            open->answer = e.value;
            open->answered_at = ctx.now;
            open->remind_at = 0;
            tx.update_checkin(*open);
            tx.set_contact_missed(session.contact_id, 0, ctx.now);
          }
        }
        break;
      case EffectKind::open_case:
        case_id = open_case(tx, e.reference, session.contact_id, session.id, r.state.flow,
                            e.category, e.severity, session.channel, ctx.now);
        break;
      case EffectKind::consent: {
        const bool granted = e.value == "granted";
        tx.insert_consent({session.contact_id, session.id, e.key, granted, ctx.now, case_id});
        if (e.key != "callback" || !ctx.cipher) break;
        const auto contact = tx.find_contact_by_id(session.contact_id);
        if (!contact) break;
        if (granted && !ctx.phone.empty()) {
          tx.set_contact_phone(
              contact->id,
              ctx.cipher->encrypt(ctx.phone, common::FieldCipher::associated_data(
                                                 "contacts", "phone_enc", contact->id)),
              ctx.now);
        } else if (!granted && contact->status == store::contact_status::caller) {
          // Not enrolled for check-ins: nothing else needs her number.
          tx.set_contact_phone(contact->id, "", ctx.now);
        }
        break;
      }
      case EffectKind::set_language:
        tx.set_contact_language(session.contact_id, e.value, ctx.now);
        break;
      case EffectKind::quick_exit:
        tx.set_contact_quiet_until(session.contact_id, ctx.now + ctx.quiet_period.count(), ctx.now);
        break;
    }
  }
}

}  // namespace rabta::gateway
