#include "gateway/responders/case_service.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <utility>

#include "adapters/common/crypto.hpp"
#include "adapters/common/form.hpp"

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
  return (actor.via == "sms" ? "sms:" : "responder:") + std::to_string(actor.responder_id);
}

void audit(store::Tx& tx, std::int64_t now, const Actor& actor, std::string_view action,
           std::string_view reference, std::string_view detail) {
  tx.append_audit(now, actor_name(actor), action, reference,
                  actor.via == "sms" ? sms_audit_detail(detail, actor) : std::string(detail));
}

// Code points in valid UTF-8 (continuation bytes are not counted).
std::size_t utf8_length(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char ch) {
    return (static_cast<unsigned char>(ch) & 0xC0U) != 0x80U;
  }));
}

std::string filter_detail(const store::CaseFilter& f) {
  std::string d = "limit=" + std::to_string(f.limit);
  if (!f.status.empty()) d += ",status=" + f.status;
  if (!f.severity.empty()) d += ",severity=" + f.severity;
  if (f.open_only) d += ",open=1";
  if (f.after_id > 0) d += ",after=" + std::to_string(f.after_id);
  return d;
}

}  // namespace

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
  if (actor.via == "sms") {
    if (actor.responder_id > 0 && !actor.team.empty() && c.team == actor.team) return true;
  } else if (may_see(actor, c)) {
    return true;
  }
  // Whoever was alerted for the case may read and work it, even after it moved to the always-on
  // team (SAFETY W6): the alert on her phone must not answer "no case".
  if (actor.responder_id <= 0 || actor.name.empty()) return false;
  for (int rung = 1; rung <= c.rung; ++rung)
    if (tx.audit_has(c.reference, "case.alert",
                     "rung " + std::to_string(rung) + " to " + actor.name))
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
  if (actor.role == "supervisor") {
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
  audit(tx, now, actor, "case.ack", reference, "ok");
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
    audit(tx, now, actor, "case.claim", reference, "invalid,closed");
    return CaseResult::invalid;
  }
  const bool again = c->status == store::case_status::claimed;
  const std::int64_t previous = c->claimed_by;
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
  audit(tx, now, actor, "case.claim", reference, detail);
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
  if (text.empty() || !common::is_valid_utf8(text) || utf8_length(text) > kMaxNoteChars) {
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

CaseResult CaseService::close(store::Tx& tx, const Actor& actor, const std::string& reference,
                              const std::string& outcome) const {
  const std::int64_t now = clock_.now_ms();
  std::optional<store::CaseRecord> c = tx.find_case(reference);
  if (!c || !may_act(tx, actor, *c)) {
    audit(tx, now, actor, "case.close", reference, "not_found");
    return CaseResult::not_found;
  }
  if (std::find(outcomes_.begin(), outcomes_.end(), outcome) == outcomes_.end()) {
    // The rejected value is not echoed: it is free input.
    audit(tx, now, actor, "case.close", reference, "invalid");
    return CaseResult::invalid;
  }
  if (c->status == store::case_status::closed) {
    audit(tx, now, actor, "case.close", reference, "already_closed");
    return CaseResult::ok;
  }
  c->status = store::case_status::closed;
  c->closed_at = now;
  c->outcome = outcome;
  c->next_alert_at = 0;
  tx.update_case(*c);
  audit(tx, now, actor, "case.close", reference, "outcome=" + outcome);
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
