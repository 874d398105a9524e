#include "gateway/inbound/ussd_service.hpp"

#include <spdlog/spdlog.h>

#include "adapters/common/crypto.hpp"
#include "gateway/inbound/effects.hpp"
#include "gateway/inbound/responder_ussd.hpp"

namespace rabta::gateway {

using flows::EffectKind;
using flows::SessionState;
using flows::StepResult;

UssdService::UssdService(std::shared_ptr<const flows::Engine> engine, SessionPolicy policy,
                         const common::Clock& clock, flows::IdSource& ids,
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

StepResult UssdService::step_new_session(const store::ContactRecord& contact,
                                         const std::string& path, flows::IdSource& ids) {
  // Always the ordinary first screen (SAFETY W4): whoever holds her phone next sees nothing of
  // an earlier session. A dropped session is offered back only after a choice on the first menu
  // (offer_resume_after).
  StepResult r = engine_->start(contact.language, ids);
  // Some networks pass inputs typed with the dialled code (*384*1*2#) on the first hop.
  if (!path.empty() && !r.end) {
    std::string rest = path;
    while (!r.end) {
      const auto star = rest.find('*');
      StepResult next = engine_->step(r.state, rest.substr(0, star), ids);
      next.effects.insert(next.effects.begin(), r.effects.begin(), r.effects.end());
      r = std::move(next);
      if (star == std::string::npos) break;
      rest = rest.substr(star + 1);
    }
  }
  return r;
}

bool UssdService::at_entry(const SessionState& state) const {
  const flows::FlowSet& set = engine_->flows();
  const flows::Node* entry = set.find(set.settings.entry);
  return entry && state.flow == entry->flow && state.node == entry->id && !state.resume_pending;
}

void UssdService::offer_resume_after(store::Tx& tx, std::int64_t contact_id,
                                     const SessionState& before, StepResult& result) {
  // SAFETY W4: she picked an entry of the first menu that leads into a flow; if she left that
  // same flow unfinished a short while ago, past its first screen, she may continue it.
  if (policy_.resume_window.count() <= 0 || result.end || !at_entry(before) ||
      result.state.flow == before.flow)
    return;
  const std::int64_t now = clock_.now_ms();
  auto old = tx.find_dropped_session(contact_id, "ussd", now - policy_.resume_window.count());
  if (!old) return;
  auto state = SessionState::from_json(old->state);
  if (!state || state->ended || state->resume_pending || state->flow != result.state.flow) return;
  const flows::Flow& flow = engine_->flows().flows.at(state->flow);
  if (state->node == flow.start) return;  // nothing answered there yet: nothing to continue
  old->status = store::session_status::resumed;
  old->end_reason = "resumed";
  old->updated_at = now;
  tx.update_session(*old);
  spdlog::info("offering to continue session {}", old->id);
  // "Start again" starts what she just chose, not the first menu once more.
  result = engine_->offer_resume(*state, result.state.flow + ":" + result.state.node);
}

UssdReply UssdService::handle_hop(store::Tx& tx, const UssdHop& hop) {
  if (responder_menu_) {
    // The duress code is always the women's service's, whoever dials it (SAFETY S4).
    const std::string& duress =
        hop.duress_code_sha256.empty() ? policy_.duress_code_sha256 : hop.duress_code_sha256;
    const bool duress_code =
        !duress.empty() && !hop.service_code.empty() &&
        common::constant_time_equal(common::sha256_hex(hop.service_code), duress);
    if (!duress_code)
      if (auto menu = responder_menu_->handle(tx, hop)) return std::move(*menu);
  }
  const std::int64_t now = clock_.now_ms();
  UssdReply reply;
  // SAFETY W5: a session belongs to the number that opened it. A hop carrying her session id
  // from another number is that number's own session (its own key), never a continuation.
  std::string session_key = hop.session_id;
  auto existing = tx.find_session(hop.provider, session_key);
  if (existing) {
    const auto caller = tx.find_contact(hop.pseudonym);
    if (!caller || caller->id != existing->contact_id) {
      spdlog::warn("session {}: a hop with its id came from another number: kept apart",
                   existing->id);
      session_key = hop.session_id + "#" + hop.pseudonym.substr(0, 16);
      existing = tx.find_session(hop.provider, session_key);
    }
  }
  // The path of inputs this hop makes, and the input it adds. An aggregator that sends only the
  // newest input (text_is_path false) has its path kept here, one '*' per hop.
  std::string path = hop.text;
  bool repeated = existing && hop.text == existing->last_input_path && existing->hop_count > 0;
  if (!hop.text_is_path) {
    // Without a path, only the aggregator's hop counter tells a retry from the same key again,
    // and a second "begin" of an open session is its first hop again; without either, a hop
    // is new.
    repeated = existing && existing->hop_count > 0 &&
               ((hop.sequence > 0 && hop.sequence <= existing->hop_count) || hop.begins);
    path = !existing ? std::string() : existing->last_input_path + "*" + hop.text;
  }
  if (repeated) {
    // The same hop again (a network retry): the same answer, nothing applied twice.
    reply.end = existing->last_reply.rfind("END ", 0) == 0;
    reply.text = existing->last_reply.substr(4);
    reply.session = existing->id;
    reply.contact = existing->contact_id;
    reply.hop = existing->hop_count;
    reply.outcome = "repeated";
    return reply;
  }
  if (existing && existing->status != store::session_status::active) {
    // She (or the network) goes on after the session ended: nothing more to do.
    reply.end = true;
    reply.text = existing->last_reply.size() > 4 ? existing->last_reply.substr(4) : "";
    reply.session = existing->id;
    reply.contact = existing->contact_id;
    reply.hop = existing->hop_count;
    reply.outcome = "after_end";
    return reply;
  }

  store::SessionRecord session;
  StepResult result;
  UniqueReferences references(ids_, tx);
  if (existing) {
    session = *existing;
    auto state = SessionState::from_json(session.state);
    if (!state)
      throw std::runtime_error("session " + std::to_string(session.id) +
                               " has an unreadable state");
    const std::string input =
        hop.text_is_path ? new_input(session.last_input_path, hop.text) : hop.text;
    result = engine_->step(*state, input, references);
    offer_resume_after(tx, session.contact_id, *state, result);
  } else {
    const store::ContactRecord contact = tx.upsert_contact(hop.pseudonym, now);
    // Dialling again means the session before is over: if it was left mid-report, that report
    // is raised now (SAFETY W4), before anything of the new one.
    if (auto previous = tx.find_resumable_session(contact.id, "ussd", 0);
        previous && previous->status == store::session_status::active)
      abandon_session(tx, *engine_, ids_, *previous,
                      {now, policy_.quiet_period, policy_.checkin_answer_key, "", cipher_},
                      "redialled");
    session.provider = hop.provider;
    session.provider_session_id = session_key;
    session.contact_id = contact.id;
    session.channel = "ussd";
    session.started_at = now;
    result = step_new_session(contact, path, references);
    session.state = result.state.to_json();
    session.updated_at = now;
    session.id = tx.insert_session(session);
    const std::string& duress =
        hop.duress_code_sha256.empty() ? policy_.duress_code_sha256 : hop.duress_code_sha256;
    if (!duress.empty() &&
        common::constant_time_equal(common::sha256_hex(hop.service_code), duress)) {
      // Silently, in this hop's transaction: the reply below is the ordinary one.
      const std::string reference =
          references.case_reference(engine_->flows().settings.reference_length);
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
  session.last_input_path = path;
  session.last_reply = (result.end ? "END " : "CON ") + result.screen;
  session.hop_count += 1;
  reply.contact = session.contact_id;
  reply.hop = session.hop_count;
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
                             const std::string& session_id, const std::string& status,
                             const std::string& pseudonym) {
  // SAFETY W5: a notification ends the session of the number it names, and only that one; one
  // that names no number ends nothing (the idle timeout ends a session left open).
  if (pseudonym.empty()) return false;
  auto s = tx.find_session(provider, session_id);
  if (s) {
    const auto caller = tx.find_contact(pseudonym);
    if (!caller || caller->id != s->contact_id)
      s = tx.find_session(provider, session_id + "#" + pseudonym.substr(0, 16));
  }
  if (!s) return false;
  // Ended by the network while she was still answering (she hung up, the call dropped):
  // hanging up is an exit (SAFETY W4).
  abandon_session(tx, *engine_, ids_, *s,
                  {clock_.now_ms(), policy_.quiet_period, policy_.checkin_answer_key, "", cipher_},
                  status);
  return true;
}

int UssdService::expire_idle(store::Tx& tx, std::int64_t idle_before, int limit) {
  int n = 0;
  if (responder_menu_) responder_menu_->expire(tx, idle_before);
  for (auto& s : tx.idle_sessions("ussd", idle_before, limit)) {
    abandon_session(
        tx, *engine_, ids_, s,
        {clock_.now_ms(), policy_.quiet_period, policy_.checkin_answer_key, "", cipher_}, "idle");
    ++n;
  }
  return n;
}

}  // namespace rabta::gateway
