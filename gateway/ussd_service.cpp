#include "gateway/ussd_service.hpp"

#include <spdlog/spdlog.h>

#include "adapters/common/crypto.hpp"
#include "gateway/effects.hpp"

namespace rabta::gateway {

using flows::EffectKind;
using flows::SessionState;
using flows::StepResult;

UssdService::UssdService(std::shared_ptr<const flows::Engine> engine, SessionPolicy policy,
                         const Clock& clock, flows::IdSource& ids,
                         const common::FieldCipher* cipher)
    : engine_(std::move(engine)), policy_(policy), clock_(clock), ids_(ids), cipher_(cipher) {}

std::string UssdService::new_input(const std::string& previous_path, const std::string& path) {
  if (previous_path.empty()) return path;
  if (path.size() > previous_path.size() &&
      path.compare(0, previous_path.size(), previous_path) == 0 &&
      path[previous_path.size()] == '*')
    return path.substr(previous_path.size() + 1);
  // Not an extension of the last path: an aggregator that sends only the newest input, or one
  // that restarted the path. The newest input is then the last '*'-separated element.
  const auto star = path.rfind('*');
  return star == std::string::npos ? path : path.substr(star + 1);
}

StepResult UssdService::step_new_session(store::Tx& tx, const store::ContactRecord& contact,
                                         const UssdHop& hop) {
  const std::int64_t now = clock_.now_ms();
  const flows::FlowSet& set = engine_->flows();
  // A dropped session of hers, recent enough and past the first screens, is offered to continue.
  if (policy_.resume_window.count() > 0) {
    if (auto old =
            tx.find_resumable_session(contact.id, "ussd", now - policy_.resume_window.count())) {
      auto state = SessionState::from_json(old->state);
      const flows::Node* entry = set.find(set.settings.entry);
      const flows::Node* lang = set.find(set.settings.language_node);
      const bool at_start =
          state && ((entry && state->flow == entry->flow && state->node == entry->id) ||
                    (lang && state->flow == lang->flow && state->node == lang->id));
      if (state && !state->ended && !at_start && old->provider_session_id != hop.session_id) {
        old->status = store::session_status::resumed;
        old->end_reason = "resumed";
        old->ended_at = now;
        old->updated_at = now;
        tx.update_session(*old);
        spdlog::info("offering to continue session {}", old->id);
        return engine_->offer_resume(*state);
      }
    }
  }
  StepResult r = engine_->start(contact.language, ids_);
  // Some networks pass inputs typed with the dialled code (*384*1*2#) on the first hop.
  if (!hop.text.empty() && !r.end) {
    std::string rest = hop.text;
    while (!r.end) {
      const auto star = rest.find('*');
      StepResult next = engine_->step(r.state, rest.substr(0, star), ids_);
      next.effects.insert(next.effects.begin(), r.effects.begin(), r.effects.end());
      r = std::move(next);
      if (star == std::string::npos) break;
      rest = rest.substr(star + 1);
    }
  }
  return r;
}

UssdReply UssdService::handle_hop(store::Tx& tx, const UssdHop& hop) {
  const std::int64_t now = clock_.now_ms();
  UssdReply reply;
  auto existing = tx.find_session(hop.provider, hop.session_id);
  if (existing && hop.text == existing->last_input_path && existing->hop_count > 0) {
    // The same hop again (a network retry): the same answer, nothing applied twice.
    reply.end = existing->last_reply.rfind("END ", 0) == 0;
    reply.text = existing->last_reply.substr(4);
    reply.session = existing->id;
    reply.outcome = "repeated";
    return reply;
  }
  if (existing && existing->status != store::session_status::active) {
    // She (or the network) goes on after the session ended: nothing more to do.
    reply.end = true;
    reply.text = existing->last_reply.size() > 4 ? existing->last_reply.substr(4) : "";
    reply.session = existing->id;
    reply.outcome = "after_end";
    return reply;
  }

  store::SessionRecord session;
  StepResult result;
  if (existing) {
    session = *existing;
    auto state = SessionState::from_json(session.state);
    if (!state)
      throw std::runtime_error("session " + std::to_string(session.id) +
                               " has an unreadable state");
    const std::string input = new_input(session.last_input_path, hop.text);
    result = with_unique_reference(tx, [&] { return engine_->step(*state, input, ids_); });
  } else {
    const store::ContactRecord contact = tx.upsert_contact(hop.pseudonym, now);
    session.provider = hop.provider;
    session.provider_session_id = hop.session_id;
    session.contact_id = contact.id;
    session.channel = "ussd";
    session.started_at = now;
    result = with_unique_reference(tx, [&] { return step_new_session(tx, contact, hop); });
    session.state = result.state.to_json();
    session.updated_at = now;
    session.id = tx.insert_session(session);
    if (!policy_.duress_code_sha256.empty() &&
        common::constant_time_equal(common::sha256_hex(hop.service_code),
                                    policy_.duress_code_sha256)) {
      // Silently, in this hop's transaction: the reply below is the ordinary one.
      std::string reference;
      do {
        reference = ids_.case_reference(engine_->flows().settings.reference_length);
      } while (tx.find_case(reference));
      open_case(tx, reference, contact.id, session.id, "duress", "duress", "critical", "ussd", now);
    }
  }
  record_effects(tx, result, session,
                 {now, policy_.quiet_period, policy_.checkin_answer_key, hop.phone, cipher_});

  reply.end = result.end;
  reply.text = result.screen;
  reply.session = session.id;
  reply.outcome = flows::to_string(result.outcome);

  session.state = result.state.to_json();
  session.last_input_path = hop.text;
  session.last_reply = (result.end ? "END " : "CON ") + result.screen;
  session.hop_count += 1;
  session.status = session_status_for(result);
  session.updated_at = now;
  if (result.end) {
    session.ended_at = now;
    session.end_reason = reply.outcome;
  }
  tx.update_session(session);
  return reply;
}

bool UssdService::handle_end(store::Tx& tx, const std::string& provider,
                             const std::string& session_id, const std::string& status) {
  auto s = tx.find_session(provider, session_id);
  if (!s) return false;
  const std::int64_t now = clock_.now_ms();
  if (s->status == store::session_status::active) {
    // Ended by the network while she was still answering: resumable when she dials again.
    s->status = store::session_status::incomplete;
    s->ended_at = now;
  }
  s->end_reason = status;
  s->updated_at = now;
  tx.update_session(*s);
  return true;
}

}  // namespace rabta::gateway
