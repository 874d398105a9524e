#include "gateway/responders/case_service.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <stdexcept>
#include <utility>

#include "adapters/common/crypto.hpp"
#include "adapters/common/form.hpp"
#include "gateway/responders/case_events.hpp"

namespace rabta::gateway {

namespace {

// The answers a caseworker may read: what the shipped flows save. Anything else a flow saves
// (e.g. internal flags) stays out of the case view.
constexpr std::array<const char*, 8> kAnswerKeys = {"category",     "when",      "safe_now",
                                                    "safe_to_call", "call_time", "district",
                                                    "referral",     "wellbeing"};
constexpr std::array<const char*, 3> kConsentPurposes = {"callback", "referral_ngo",
                                                         "referral_police"};
constexpr std::size_t kMaxNoteChars = 2000;

std::string actor_name(const Actor& actor) {
  return (by_phone(actor) ? actor.via + ":" : std::string("responder:")) +
         std::to_string(actor.responder_id);
}

// Appends the audit row; its id names the step (the webhook events it causes carry it).
std::int64_t audit(store::Tx& tx, std::int64_t now, const Actor& actor, std::string_view action,
                   std::string_view reference, std::string_view detail) {
  return tx
      .append_audit(now, actor_name(actor), action, reference,
                    by_phone(actor) ? sms_audit_detail(detail, actor) : std::string(detail))
      .id;
}

// What a search asked for, for the audit row: codes in full, typed values by name only.
std::string filter_detail(const store::CaseFilter& f, const CaseQuery* q = nullptr) {
  std::string d = "limit=" + std::to_string(f.limit);
  if (!f.status.empty()) d += ",status=" + f.status;
  if (!f.severity.empty()) d += ",severity=" + f.severity;
  if (f.open_only) d += ",open=1";
  if (f.after_id > 0) d += ",after=" + std::to_string(f.after_id);
  if (!q) return d;
  if (!q->view.empty()) d += ",view=" + q->view;
  if (!q->team.empty()) d += ",team";
  if (!f.category.empty()) d += ",category";
  if (!f.reference.empty()) d += ",reference";
  if (!f.district.empty()) d += ",district";
  if (!q->assignee.empty()) d += ",assignee";
  if (f.created_from > 0) d += ",from=" + std::to_string(f.created_from);
  if (f.created_to > 0) d += ",to=" + std::to_string(f.created_to);
  if (q->overdue) d += ",overdue=1";
  return d;
}

bool valid_text(std::string_view text) {
  return !text.empty() && common::is_valid_utf8(text) && utf8_length(text) <= kMaxNoteChars;
}

// The id of a note named in an audit detail ("...,note=12,..."), or 0.
std::int64_t note_id_in(std::string_view detail) {
  const auto at = detail.find("note=");
  if (at == std::string_view::npos || (at > 0 && detail[at - 1] != ',')) return 0;
  std::int64_t id = 0;
  for (std::size_t i = at + 5; i < detail.size() && detail[i] >= '0' && detail[i] <= '9'; ++i)
    id = id * 10 + (detail[i] - '0');
  return id;
}

// The value of `key=` in an audit detail ("outcome=resolved,note=3"), or "".
std::string detail_value(std::string_view detail, std::string_view key) {
  std::size_t at = 0;
  while (at < detail.size()) {
    const auto end = std::min(detail.find(',', at), detail.size());
    const std::string_view part = detail.substr(at, end - at);
    if (part.size() > key.size() && part.substr(0, key.size()) == key && part[key.size()] == '=')
      return std::string(part.substr(key.size() + 1));
    at = end + 1;
  }
  return {};
}

}  // namespace

std::size_t utf8_length(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char ch) {
    return (static_cast<unsigned char>(ch) & 0xC0U) != 0x80U;
  }));
}

std::string sms_audit_detail(std::string_view detail, const Actor& actor) {
  // What an aggregator wrote is kept only as printable ASCII, at most 64 bytes.
  const auto printable = [](std::string_view s) {
    std::string out;
    for (const char c : s.substr(0, 64)) out.push_back(c > 0x20 && c < 0x7f && c != ',' ? c : '_');
    return out;
  };
  return std::string(detail) + ",channel=" + printable(actor.channel) +
         ",message=" + printable(actor.message_id);
}

CaseService::CaseService(std::shared_ptr<const Roster> roster, const common::FieldCipher& cipher,
                         const common::Clock& clock, std::vector<std::string> outcomes)
    : roster_(std::move(roster)), cipher_(cipher), clock_(clock), outcomes_(std::move(outcomes)) {}

bool CaseService::may_act(store::Tx& tx, const Actor& actor, const store::CaseRecord& c) const {
  // By SMS the number alone identifies her, and whoever holds the aggregator's credentials can
  // send from it: a supervisor's number is limited to her own team, like a caseworker's.
  if (by_phone(actor)) {
    if (actor.responder_id > 0 && !actor.team.empty() && c.team == actor.team) return true;
  } else if (may_see(actor, c)) {
    return true;
  }
  // Whoever was alerted for the case may read and work it, even after it moved to the always-on
  // team (SAFETY W6): the alert on her phone must not answer "no case".
  if (actor.responder_id <= 0 || actor.name.empty()) return false;
  for (int rung = 1; rung <= c.rung; ++rung)
    if (tx.audit_has(c.reference, "case.alert",
                     "rung " + std::to_string(rung) + " to " + actor.name, c.created_at))
      return true;
  return false;
}

bool CaseService::may_see(const Actor& actor, const store::CaseRecord& c) const {
  if (actor.responder_id <= 0) return false;
  if (actor.role == "supervisor") return true;
  // A caseworker sees the cases routed to her team; an unrouted case is nobody's team yet.
  return actor.role == "caseworker" && !actor.team.empty() && c.team == actor.team;
}

std::vector<store::CaseRecord> CaseService::list(store::Tx& tx, const Actor& actor,
                                                 store::CaseFilter filter) const {
  const std::int64_t now = clock_.now_ms();
  std::vector<store::CaseRecord> out;
  if (by_phone(actor) && !actor.team.empty()) {
    filter.teams = {actor.team};  // by phone a supervisor too is limited to her own team
  } else if (actor.role == "supervisor") {
    filter.teams.clear();
  } else if (actor.role == "caseworker" && !actor.team.empty()) {
    filter.teams = {actor.team};
  } else {
    audit(tx, now, actor, "case.list", "", filter_detail(filter) + ",denied");
    return out;
  }
  out = tx.list_cases(filter);
  // The store filters by team already; checking again keeps the rule in one place.
  std::erase_if(out, [&](const store::CaseRecord& c) { return !may_see(actor, c); });
  audit(tx, now, actor, "case.list", "", filter_detail(filter));
  return out;
}

CaseResult CaseService::detail(store::Tx& tx, const Actor& actor, const std::string& reference,
                               CaseDetail& out) const {
  const std::int64_t now = clock_.now_ms();
  const std::optional<store::CaseRecord> c = tx.find_case(reference);
  if (!c || !may_act(tx, actor, *c)) {
    audit(tx, now, actor, "case.read", reference, "not_found");
    return CaseResult::not_found;
  }
  out = CaseDetail{};
  out.record = *c;
  // Only what she answered for this case (SAFETY W2): never a later or unfinished session's.
  for (const char* key : kAnswerKeys) {
    std::string value = tx.case_answer(c->id, key);
    if (!value.empty()) out.answers.emplace_back(key, std::move(value));
  }
  std::optional<bool> callback;
  if (c->contact_id > 0) {
    for (const char* purpose : kConsentPurposes) {
      const std::optional<bool> granted = consent_for_case(tx, c->id, purpose);
      if (!granted) continue;
      out.consents.emplace_back(purpose, *granted);
      if (std::string_view(purpose) == "callback") callback = granted;
    }
  }
  for (store::NoteRecord n : tx.list_notes(c->id)) {
    const std::optional<std::string> text = cipher_.decrypt(
        n.text_enc, common::FieldCipher::associated_data("notes", "text_enc", c->id));
    n.text_enc = text ? *text : "(this note cannot be read)";
    out.notes.push_back(std::move(n));
  }
  // Her context: language, the channel of this report, her earlier cases (references and
  // outcomes of those the reader may see; only a count of the others).
  if (c->contact_id > 0) {
    if (const auto contact = tx.find_contact_by_id(c->contact_id)) out.language = contact->language;
    for (auto& e : tx.list_contact_cases(c->contact_id, 50)) {
      if (e.id >= c->id) continue;
      if (may_see(actor, e))
        out.earlier.push_back(std::move(e));
      else
        ++out.earlier_elsewhere;
    }
  }
  out.channel = tx.session_channel(c->session_id);
  // Her number only when she said a call is welcome (SAFETY D3: consent gates it, fail closed).
  if (callback.value_or(false)) {
    if (const auto contact = tx.find_contact_by_id(c->contact_id);
        contact && !contact->phone_enc.empty()) {
      if (auto phone = cipher_.decrypt(
              contact->phone_enc,
              common::FieldCipher::associated_data("contacts", "phone_enc", contact->id)))
        out.phone = std::move(*phone);
    }
  }
  audit(tx, now, actor, "case.read", reference, out.phone.empty() ? "ok" : "ok,phone");
  return CaseResult::ok;
}

CaseResult CaseService::acknowledge(store::Tx& tx, const Actor& actor,
                                    const std::string& reference) const {
  const std::int64_t now = clock_.now_ms();
  std::optional<store::CaseRecord> c = tx.find_case(reference);
  if (!c || !may_act(tx, actor, *c)) {
    audit(tx, now, actor, "case.ack", reference, "not_found");
    return CaseResult::not_found;
  }
  if (c->status != store::case_status::open) {
    audit(tx, now, actor, "case.ack", reference, "already_" + c->status);
    return CaseResult::ok;
  }
  c->status = store::case_status::acknowledged;
  c->acknowledged_at = now;
  c->acknowledged_by = actor.responder_id;
  c->next_alert_at = 0;  // the ladder stops
  tx.update_case(*c);
  const std::int64_t step = audit(tx, now, actor, "case.ack", reference, "ok");
  publish_case_event(tx, *roster_, *c, "acknowledged", cipher_, now, step);
  return CaseResult::ok;
}

CaseResult CaseService::claim(store::Tx& tx, const Actor& actor,
                              const std::string& reference) const {
  const std::int64_t now = clock_.now_ms();
  std::optional<store::CaseRecord> c = tx.find_case(reference);
  if (!c || !may_act(tx, actor, *c)) {
    audit(tx, now, actor, "case.claim", reference, "not_found");
    return CaseResult::not_found;
  }
  if (c->status == store::case_status::closed) {
    audit(tx, now, actor, "case.claim", reference, "conflict,closed");
    return CaseResult::conflict;
  }
  const bool again = c->status == store::case_status::claimed;
  const std::int64_t previous = c->claimed_by;
  const bool was_open = c->status == store::case_status::open;
  c->status = store::case_status::claimed;
  c->claimed_by = actor.responder_id;
  c->next_alert_at = 0;
  if (c->acknowledged_at == 0) {
    c->acknowledged_at = now;
    c->acknowledged_by = actor.responder_id;
  }
  tx.update_case(*c);
  std::string detail = "ok";
  if (again && previous != actor.responder_id)
    detail += ",from=responder:" + std::to_string(previous);
  const std::int64_t step = audit(tx, now, actor, "case.claim", reference, detail);
  if (was_open) publish_case_event(tx, *roster_, *c, "acknowledged", cipher_, now, step);
  if (previous != actor.responder_id)
    publish_case_event(tx, *roster_, *c, "assigned", cipher_, now, step);
  return CaseResult::ok;
}

CaseResult CaseService::add_note(store::Tx& tx, const Actor& actor, const std::string& reference,
                                 const std::string& text) const {
  const std::int64_t now = clock_.now_ms();
  const std::optional<store::CaseRecord> c = tx.find_case(reference);
  if (!c || !may_act(tx, actor, *c)) {
    audit(tx, now, actor, "case.note", reference, "not_found");
    return CaseResult::not_found;
  }
  if (!valid_text(text)) {
    audit(tx, now, actor, "case.note", reference, "invalid");
    return CaseResult::invalid;
  }
  store::NoteRecord n;
  n.case_id = c->id;
  n.responder_id = actor.responder_id;
  n.text_enc =
      cipher_.encrypt(text, common::FieldCipher::associated_data("notes", "text_enc", c->id));
  n.created_at = now;
  const std::int64_t id = tx.insert_note(n);
  audit(tx, now, actor, "case.note", reference, "ok,note=" + std::to_string(id));
  return CaseResult::ok;
}

bool CaseService::needs_approval(std::string_view outcome) const {
  const auto& list = roster_->outcomes_needing_approval;
  return std::find(list.begin(), list.end(), outcome) != list.end();
}

namespace {

// Seals a reason given with a step as a note of its kind; returns its id.
std::int64_t seal_note(store::Tx& tx, const common::FieldCipher& cipher, std::int64_t case_id,
                       std::int64_t responder_id, const std::string& text, std::string kind,
                       std::int64_t now) {
  store::NoteRecord n;
  n.case_id = case_id;
  n.responder_id = responder_id;
  n.text_enc =
      cipher.encrypt(text, common::FieldCipher::associated_data("notes", "text_enc", case_id));
  n.created_at = now;
  n.kind = std::move(kind);
  return tx.insert_note(n);
}

}  // namespace

CaseResult CaseService::close(store::Tx& tx, const Actor& actor, const std::string& reference,
                              const std::string& outcome, const std::string& reason) const {
  const std::int64_t now = clock_.now_ms();
  std::optional<store::CaseRecord> c = tx.find_case(reference);
  if (!c || !may_act(tx, actor, *c)) {
    audit(tx, now, actor, "case.close", reference, "not_found");
    return CaseResult::not_found;
  }
  if (std::find(outcomes_.begin(), outcomes_.end(), outcome) == outcomes_.end() ||
      !valid_text(reason)) {
    // The rejected value is not echoed: it is free input.
    audit(tx, now, actor, "case.close", reference, "invalid");
    return CaseResult::invalid;
  }
  if (c->status == store::case_status::closed) {
    audit(tx, now, actor, "case.close", reference, "conflict,closed");
    return CaseResult::conflict;
  }
  const bool supervisor = actor.role == "supervisor" && !by_phone(actor);
  if (!c->pending_outcome.empty() && !supervisor) {
    audit(tx, now, actor, "case.close", reference, "conflict,pending");
    return CaseResult::conflict;
  }
  const std::int64_t note =
      seal_note(tx, cipher_, c->id, actor.responder_id, reason, "closing", now);
  if (needs_approval(outcome) && !supervisor) {
    c->pending_outcome = outcome;
    c->pending_by = actor.responder_id;
    // Someone has plainly worked it: asking to close acknowledges it, and the ladder stops.
    const bool was_open = c->status == store::case_status::open;
    if (was_open) {
      c->status = store::case_status::acknowledged;
      c->acknowledged_at = now;
      c->acknowledged_by = actor.responder_id;
    }
    c->next_alert_at = 0;
    tx.update_case(*c);
    const std::int64_t step = audit(tx, now, actor, "case.close", reference,
                                    "pending,outcome=" + outcome + ",note=" + std::to_string(note));
    if (was_open) publish_case_event(tx, *roster_, *c, "acknowledged", cipher_, now, step);
    return CaseResult::accepted;
  }
  c->status = store::case_status::closed;
  c->closed_at = now;
  c->outcome = outcome;
  c->next_alert_at = 0;
  c->pending_outcome.clear();
  c->pending_by = 0;
  tx.update_case(*c);
  const std::int64_t step = audit(tx, now, actor, "case.close", reference,
                                  "outcome=" + outcome + ",note=" + std::to_string(note));
  publish_case_event(tx, *roster_, *c, "closed", cipher_, now, step);
  return CaseResult::ok;
}

namespace {

// The checks a supervisor's step (approve, decline, reopen) begins with, each refusal audited
// under `action`: a case she may act on, a supervisor in the console or the API, a reason when
// the step takes one, and the case in the state the step needs. nullopt, with `result`, when one
// fails.
std::optional<store::CaseRecord> supervisor_step(const CaseService& cases, store::Tx& tx,
                                                 const Actor& actor, std::int64_t now,
                                                 const std::string& reference,
                                                 std::string_view action, const std::string* reason,
                                                 bool (*ready)(const store::CaseRecord&),
                                                 std::string_view conflict, CaseResult& result) {
  std::optional<store::CaseRecord> c = tx.find_case(reference);
  if (!c || !cases.may_act(tx, actor, *c)) {
    audit(tx, now, actor, action, reference, "not_found");
    result = CaseResult::not_found;
  } else if (actor.role != "supervisor" || by_phone(actor)) {
    audit(tx, now, actor, action, reference, "forbidden");
    result = CaseResult::forbidden;
  } else if (reason && !valid_text(*reason)) {
    audit(tx, now, actor, action, reference, "invalid");
    result = CaseResult::invalid;
  } else if (!ready(*c)) {
    audit(tx, now, actor, action, reference, conflict);
    result = CaseResult::conflict;
  } else {
    return c;
  }
  return std::nullopt;
}

bool closing_waits(const store::CaseRecord& c) {
  return c.status != store::case_status::closed && !c.pending_outcome.empty();
}

bool is_closed(const store::CaseRecord& c) {
  return c.status == store::case_status::closed;
}

}  // namespace

CaseResult CaseService::approve(store::Tx& tx, const Actor& actor,
                                const std::string& reference) const {
  const std::int64_t now = clock_.now_ms();
  CaseResult refused = CaseResult::ok;
  std::optional<store::CaseRecord> c =
      supervisor_step(*this, tx, actor, now, reference, "case.approve", nullptr, closing_waits,
                      "conflict,nothing_pending", refused);
  if (!c) return refused;
  const std::string outcome = c->pending_outcome;
  c->status = store::case_status::closed;
  c->closed_at = now;
  c->outcome = outcome;
  c->next_alert_at = 0;
  c->pending_outcome.clear();
  c->pending_by = 0;
  tx.update_case(*c);
  const std::int64_t step = audit(tx, now, actor, "case.approve", reference, "outcome=" + outcome);
  publish_case_event(tx, *roster_, *c, "closed", cipher_, now, step);
  return CaseResult::ok;
}

CaseResult CaseService::decline(store::Tx& tx, const Actor& actor, const std::string& reference,
                                const std::string& reason) const {
  const std::int64_t now = clock_.now_ms();
  CaseResult refused = CaseResult::ok;
  std::optional<store::CaseRecord> c =
      supervisor_step(*this, tx, actor, now, reference, "case.decline", &reason, closing_waits,
                      "conflict,nothing_pending", refused);
  if (!c) return refused;
  const std::string outcome = c->pending_outcome;
  c->pending_outcome.clear();
  c->pending_by = 0;
  tx.update_case(*c);
  const std::int64_t note =
      seal_note(tx, cipher_, c->id, actor.responder_id, reason, "declining", now);
  audit(tx, now, actor, "case.decline", reference,
        "outcome=" + outcome + ",note=" + std::to_string(note));
  return CaseResult::ok;
}

CaseResult CaseService::reopen(store::Tx& tx, const Actor& actor, const std::string& reference,
                               const std::string& reason) const {
  const std::int64_t now = clock_.now_ms();
  CaseResult refused = CaseResult::ok;
  std::optional<store::CaseRecord> c =
      supervisor_step(*this, tx, actor, now, reference, "case.reopen", &reason, is_closed,
                      "conflict,not_closed", refused);
  if (!c) return refused;
  const std::string outcome = c->outcome;
  // Someone worked it already: it comes back acknowledged (no new alerts), to its assignee if
  // she is still someone the case can go to; else to nobody, so that it shows as unassigned.
  if (c->claimed_by > 0) {
    const auto who = tx.find_responder(c->claimed_by);
    if (!who || !who->active || (who->role != "supervisor" && who->team != c->team))
      c->claimed_by = 0;
  }
  c->status = c->claimed_by > 0 ? store::case_status::claimed : store::case_status::acknowledged;
  if (c->acknowledged_at == 0) {
    c->acknowledged_at = now;
    c->acknowledged_by = actor.responder_id;
  }
  c->closed_at = 0;
  c->outcome.clear();
  c->next_alert_at = 0;
  tx.update_case(*c);
  const std::int64_t note =
      seal_note(tx, cipher_, c->id, actor.responder_id, reason, "reopening", now);
  const std::int64_t step = audit(tx, now, actor, "case.reopen", reference,
                                  "was=" + outcome + ",note=" + std::to_string(note));
  publish_case_event(tx, *roster_, *c, "reopened", cipher_, now, step);
  return CaseResult::ok;
}

CaseResult CaseService::assign(store::Tx& tx, const Actor& actor, const std::string& reference,
                               const std::string& to) const {
  const std::int64_t now = clock_.now_ms();
  std::optional<store::CaseRecord> c = tx.find_case(reference);
  if (!c || !may_act(tx, actor, *c)) {
    audit(tx, now, actor, "case.assign", reference, "not_found");
    return CaseResult::not_found;
  }
  std::optional<store::ResponderRecord> target;
  for (auto& r : tx.list_responders())
    if (r.name == to && r.active) target = std::move(r);
  // To a member of the case's team, or a supervisor (who sees every case).
  if (!target || (target->role != "supervisor" && target->team != c->team)) {
    audit(tx, now, actor, "case.assign", reference, "invalid");
    return CaseResult::invalid;
  }
  if (c->status == store::case_status::closed) {
    audit(tx, now, actor, "case.assign", reference, "conflict,closed");
    return CaseResult::conflict;
  }
  const std::int64_t previous = c->claimed_by;
  const bool was_open = c->status == store::case_status::open;
  c->status = store::case_status::claimed;
  c->claimed_by = target->id;
  c->next_alert_at = 0;  // someone has it: the ladder stops
  if (c->acknowledged_at == 0) {
    c->acknowledged_at = now;
    c->acknowledged_by = actor.responder_id;
  }
  tx.update_case(*c);
  std::string detail = "ok,to=responder:" + std::to_string(target->id);
  if (previous > 0 && previous != target->id)
    detail += ",from=responder:" + std::to_string(previous);
  const std::int64_t step = audit(tx, now, actor, "case.assign", reference, detail);
  if (was_open) publish_case_event(tx, *roster_, *c, "acknowledged", cipher_, now, step);
  if (previous != target->id) publish_case_event(tx, *roster_, *c, "assigned", cipher_, now, step);
  return CaseResult::ok;
}

CaseResult CaseService::refer(store::Tx& tx, const Actor& actor, const std::string& reference,
                              const std::string& partner) const {
  const std::int64_t now = clock_.now_ms();
  std::optional<store::CaseRecord> c = tx.find_case(reference);
  if (!c || !may_act(tx, actor, *c)) {
    audit(tx, now, actor, "case.refer", reference, "not_found");
    return CaseResult::not_found;
  }
  const auto& partners = roster_->partners;
  const auto p =
      std::find_if(partners.begin(), partners.end(),
                   [&](const adapters::webhook::WebhookSink& s) { return s.name == partner; });
  if (p == partners.end()) {
    audit(tx, now, actor, "case.refer", reference, "invalid");
    return CaseResult::invalid;
  }
  if (c->status == store::case_status::closed) {
    audit(tx, now, actor, "case.refer", reference, "conflict,closed,partner=" + p->name);
    return CaseResult::conflict;
  }
  // Her consent for this kind of partner, given in THIS case (SAFETY D3, W2): a consent never
  // asked, or asked and refused, is a no.
  if (!consent_for_case(tx, c->id, p->consent_purpose).value_or(false)) {
    audit(tx, now, actor, "case.refer", reference, "no_consent,partner=" + p->name);
    return CaseResult::no_consent;
  }
  if (referred_to(tx, *c, *p)) {
    audit(tx, now, actor, "case.refer", reference, "conflict,referred,partner=" + p->name);
    return CaseResult::conflict;
  }
  const std::int64_t step = audit(tx, now, actor, "case.refer", reference, referral_detail(*p));
  publish_case_event(tx, *roster_, *c, "referred", cipher_, now, step);
  return CaseResult::ok;
}

CaseResult CaseService::search(store::Tx& tx, const Actor& actor, const CaseQuery& query,
                               std::vector<store::CaseRecord>& out) const {
  const std::int64_t now = clock_.now_ms();
  out.clear();
  store::CaseFilter f = query.filter;
  if (query.view == "mine") {
    f.claimed_by = actor.responder_id;
    f.not_closed = true;
  } else if (query.view == "unassigned") {
    f.claimed_by = 0;
    f.not_closed = true;
  } else if (query.view == "team") {
    f.not_closed = true;
  } else if (query.view == "closed") {
    if (!f.status.empty() && f.status != store::case_status::closed) f.status = "none";
    f.status = f.status.empty() ? store::case_status::closed : f.status;
  }
  if (!query.assignee.empty()) {
    std::optional<std::int64_t> id;
    if (query.assignee == "none") id = 0;
    // Only someone she could assign to (as GET /me lists them): the roster of other teams is not
    // hers to probe.
    for (const auto& r : tx.list_responders())
      if (!id && r.name == query.assignee &&
          (actor.role == "supervisor" || r.team == actor.team || r.role == "supervisor"))
        id = r.id;
    if (!id) {
      audit(tx, now, actor, "case.list", "", filter_detail(f, &query) + ",invalid");
      return CaseResult::invalid;
    }
    // An assignee asked for beside a view that names one must be the same person.
    if (f.claimed_by && *f.claimed_by != *id) f.status = "none";
    f.claimed_by = id;
  }
  if (query.overdue) f.overdue_at = now;
  if (actor.role == "supervisor") {
    f.teams.clear();
    if (!query.team.empty()) f.teams = {query.team};
  } else if (actor.role == "caseworker" && !actor.team.empty()) {
    f.teams = {actor.team};
    if (!query.team.empty() && query.team != actor.team) f.status = "none";  // nothing of hers
  } else {
    audit(tx, now, actor, "case.list", "", filter_detail(f, &query) + ",denied");
    return CaseResult::ok;
  }
  if (f.status != "none") out = tx.list_cases(f);
  std::erase_if(out, [&](const store::CaseRecord& c) { return !may_see(actor, c); });
  if (f.status == "none") f.status.clear();
  audit(tx, now, actor, "case.list", "", filter_detail(f, &query));
  return CaseResult::ok;
}

namespace {

// What a row of the audit log says happened to the case, or "" for reads and refused steps.
// Only the details a step that happened writes count (a refused step, e.g. an SMS ACK with a
// wrong PIN, is audited under the same action with another detail).
std::string timeline_event(const store::AuditRecord& a) {
  const std::string_view d = a.detail;
  bool done = d == "ok" || d.substr(0, 3) == "ok,";
  for (const std::string_view prefix :
       {"outcome=", "pending,outcome=", "was=", "team ", "rung ", "partner="})
    done = done || d.substr(0, prefix.size()) == prefix;
  if (!done) return {};
  if (a.action == "case.route") return "routed";
  if (a.action == "case.alert") return "alerted";
  if (a.action == "case.alert_failed") return "alert_failed";
  if (a.action == "case.fallback") return "moved";
  if (a.action == "case.ack") return "acknowledged";
  if (a.action == "case.claim") return "claimed";
  if (a.action == "case.assign") return "assigned";
  if (a.action == "case.note") return "note";
  if (a.action == "case.close")
    return d.substr(0, 8) == "pending," ? "closing_requested" : "closed";
  if (a.action == "case.approve") return "approved";
  if (a.action == "case.decline") return "declined";
  if (a.action == "case.reopen") return "reopened";
  if (a.action == "case.refer") return "referred";
  return {};
}

}  // namespace

CaseResult CaseService::timeline(store::Tx& tx, const Actor& actor, const std::string& reference,
                                 std::vector<TimelineEvent>& out) const {
  constexpr int kMaxRows = 1000;
  const std::int64_t now = clock_.now_ms();
  out.clear();
  const std::optional<store::CaseRecord> c = tx.find_case(reference);
  if (!c || !may_act(tx, actor, *c)) {
    audit(tx, now, actor, "case.timeline", reference, "not_found");
    return CaseResult::not_found;
  }
  std::map<std::int64_t, std::string> names;
  for (const auto& r : tx.list_responders()) names[r.id] = r.name;
  const auto name_of = [&](std::string_view who) -> std::string {
    for (const std::string_view prefix : {"responder:", "sms:", "ussd:"})
      if (who.substr(0, prefix.size()) == prefix) {
        std::int64_t id = 0;
        for (const char ch : who.substr(prefix.size()))
          id = ch >= '0' && ch <= '9' ? id * 10 + (ch - '0') : id;
        const auto it = names.find(id);
        return it == names.end() ? std::string("(removed)") : it->second;
      }
    return who == "system" ? "rabta" : std::string(who);
  };
  std::map<std::int64_t, std::string> texts;
  for (const store::NoteRecord& n : tx.list_notes(c->id)) {
    const std::optional<std::string> text = cipher_.decrypt(
        n.text_enc, common::FieldCipher::associated_data("notes", "text_enc", c->id));
    texts[n.id] = text ? *text : "(this note cannot be read)";
  }

  TimelineEvent opened;
  opened.at = c->created_at;
  opened.event = "opened";
  opened.detail = c->flow;
  // The way she came: "ussd" or "sms" (the session's channel; unknown once the session is gone).
  if (const std::string channel = tx.session_channel(c->session_id); !channel.empty())
    opened.via = channel.substr(0, channel.find(':'));
  out.push_back(std::move(opened));
  for (const store::AuditRecord& a : tx.list_case_audit(reference, kMaxRows)) {
    if (a.at < c->created_at) continue;  // an earlier case that had this reference
    TimelineEvent e;
    e.event = timeline_event(a);
    if (e.event.empty()) continue;
    e.at = a.at;
    e.by = name_of(a.actor);
    e.via = a.actor.rfind("sms:", 0) == 0    ? "sms"
            : a.actor.rfind("ussd:", 0) == 0 ? "ussd"
            : a.actor == "system"            ? ""
                                             : "console/api";
    const std::string_view d = a.detail;
    if (e.event == "routed" || e.event == "alerted" || e.event == "moved") {
      e.detail = d.substr(0, d.find(','));
      if (e.event == "routed" && e.detail.rfind("team ", 0) == 0) e.detail.erase(0, 5);
    } else if (e.event == "alert_failed") {
      e.detail = d.substr(0, d.find(','));
    } else if (e.event == "assigned") {
      e.detail = name_of(detail_value(d, "to"));
    } else if (e.event == "closed" || e.event == "closing_requested" || e.event == "approved" ||
               e.event == "declined") {
      e.detail = detail_value(d, "outcome");
    } else if (e.event == "reopened") {
      e.detail = detail_value(d, "was");
    } else if (e.event == "referred") {  // "partner=<name>,purpose=<purpose>"
      const std::string name = detail_value(d, "partner");
      e.detail = name;
      for (const auto& p : roster_->partners)
        if (p.name == name) e.detail = p.label;
    }
    if (const std::int64_t note = note_id_in(d); note > 0) {
      const auto it = texts.find(note);
      if (it != texts.end()) e.text = it->second;
    }
    out.push_back(std::move(e));
  }
  // The outbox says what became of each alert and webhook event: an alert's state goes on the
  // audit row that queued it (times the outbox does not keep are not made up), and a sent one is
  // an event at the time it was sent.
  std::map<std::string, std::size_t> alerted;  // "rung N" -> its event
  for (std::size_t i = 0; i < out.size(); ++i)
    if (out[i].event == "alerted") alerted[out[i].detail.substr(0, out[i].detail.find(" to "))] = i;
  std::vector<TimelineEvent> sent;
  for (const store::OutboxRecord& o : tx.list_case_outbox(reference, kMaxRows)) {
    if (o.created_at < c->created_at) continue;
    const bool alert = o.dedupe_key.rfind("alert:", 0) == 0;
    const bool webhook = o.kind.rfind("webhook:", 0) == 0;
    if (!alert && !webhook) continue;
    std::string state;
    if (o.status == store::outbox_status::sent)
      state = o.delivery_status.empty() ? "sent" : o.delivery_status;
    else if (o.status == store::outbox_status::cancelled)
      state = "cancelled";
    else if (o.status == store::outbox_status::dead || o.status == store::outbox_status::expired)
      state = "failed";
    else if (o.status == store::outbox_status::unconfirmed)
      state = "unconfirmed";
    else
      state = o.attempts > 0 ? "retrying" : "queued";
    TimelineEvent e;
    e.by = "rabta";
    e.delivery = state;
    if (alert) {
      e.event = "alert_sent";
      e.detail = "rung " + o.dedupe_key.substr(o.dedupe_key.rfind(':') + 1);
      if (const auto it = alerted.find(e.detail); it != alerted.end())
        out[it->second].delivery = state;
      if (o.status != store::outbox_status::sent || o.sent_at <= 0) continue;
      e.at = o.sent_at;
    } else {
      // "<kind>:<event>:<reference>[:<n>]": "<sink>:<event>" (the sink's name, e.g.
      // case_management or a partner's).
      const std::string_view k = o.dedupe_key;
      if (k.size() <= o.kind.size() || k.substr(0, o.kind.size()) != o.kind ||
          k[o.kind.size()] != ':')
        continue;
      const std::string_view rest = k.substr(o.kind.size() + 1);
      e.event = "webhook";
      e.detail = o.kind.substr(std::string_view(adapters::webhook::webhook_kind_prefix).size()) +
                 ":" + std::string(rest.substr(0, rest.find(':')));
      e.at = o.status == store::outbox_status::sent && o.sent_at > 0 ? o.sent_at : o.created_at;
    }
    sent.push_back(std::move(e));
  }
  for (auto& e : sent) out.push_back(std::move(e));
  std::stable_sort(out.begin(), out.end(),
                   [](const TimelineEvent& a, const TimelineEvent& b) { return a.at < b.at; });
  audit(tx, now, actor, "case.timeline", reference, "ok");
  return CaseResult::ok;
}

std::string audit_key(const common::Pseudonymizer& pseudonymizer) {
  return pseudonymizer.keyed("rabta audit chain key v1");
}

store::AuditCheck verify_audit_chain(store::Tx& tx, std::string_view key) {
  constexpr int kPage = 500;
  store::AuditCheck check;
  std::int64_t after = 0;
  while (!check.broken_at) {
    const std::vector<store::AuditRecord> rows = tx.list_audit(after, kPage);
    if (rows.empty()) break;
    for (const store::AuditRecord& r : rows) store::audit_check_next(key, r, check);
    after = rows.back().id;
  }
  return check;
}

AuditSeal seal_audit_chain(store::Store& store, std::string_view key, std::int64_t now) {
  AuditSeal seal;
  const store::JobResult r = store.run([&](store::Tx& tx) {
    seal = {};
    // Rows are sealed all at once: when the first carries a MAC, every one does (the common case,
    // at every start, costs one row).
    const auto first = tx.list_audit(0, 1);
    if (first.empty() || first.front().hash.rfind(store::kAuditMacPrefix, 0) == 0) return;
    std::vector<store::AuditRecord> rows;
    for (std::int64_t after = 0;;) {
      auto page = tx.list_audit(after, 1000);
      if (page.empty()) break;
      after = page.back().id;
      for (auto& row : page) rows.push_back(std::move(row));
    }
    std::string prev;
    for (const auto& row : rows) {
      if (!seal.old_broken_at &&
          (row.prev_hash != prev || store::legacy_audit_hash(row) != row.hash))
        seal.old_broken_at = row.id;
      prev = row.hash;
    }
    std::string mac;
    for (auto row : rows) {
      row.prev_hash = mac;
      mac = store::audit_mac(key, row);
      tx.reseal_audit_row(row.id, row.prev_hash, mac);
    }
    seal.rows = static_cast<std::int64_t>(rows.size());
    tx.append_audit(now, "system", "audit.sealed", "",
                    "rows=" + std::to_string(seal.rows) + ",old_chain=" +
                        (seal.old_broken_at ? "broken_at_" + std::to_string(*seal.old_broken_at)
                                            : std::string("ok")));
  });
  if (!r.ok) throw std::runtime_error("audit: sealing the chain with its key failed: " + r.error);
  return seal;
}

}  // namespace rabta::gateway
