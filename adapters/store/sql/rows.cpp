#include "adapters/store/sql/rows.hpp"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <future>
#include <limits>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "adapters/common/cipher.hpp"
#include "adapters/common/crypto.hpp"
#include "adapters/store/audit_chain.hpp"
#include "adapters/store/queries.hpp"
#include "adapters/store/store.hpp"

namespace rabta::store::sql {

ContactRecord contact_from(const Statement& st) {
  ContactRecord c;
  c.id = st.getColumn(0).getInt64();
  c.pseudonym = st.getColumn(1).getString();
  c.language = st.getColumn(2).getString();
  c.quiet_until = st.getColumn(3).getInt64();
  c.created_at = st.getColumn(4).getInt64();
  c.updated_at = st.getColumn(5).getInt64();
  c.status = st.getColumn(6).getString();
  c.phone_enc = blob_from(st.getColumn(7));
  c.district = st.getColumn(8).getString();
  c.checkin_weekday = st.getColumn(9).getInt();
  c.window_start_hour = st.getColumn(10).getInt();
  c.window_end_hour = st.getColumn(11).getInt();
  c.channel = st.getColumn(12).getString();
  c.sms_ok = st.getColumn(13).getInt() != 0;
  c.confirm_ok = st.getColumn(14).getInt() != 0;
  c.missed_in_row = st.getColumn(15).getInt();
  return c;
}

OutboxRecord outbox_from(const Statement& st) {
  OutboxRecord o;
  o.id = st.getColumn(0).getInt64();
  o.kind = st.getColumn(1).getString();
  o.dedupe_key = st.getColumn(2).getString();
  o.payload = st.getColumn(3).getString();
  o.cause = st.getColumn(4).getString();
  o.status = st.getColumn(5).getString();
  o.attempts = st.getColumn(6).getInt();
  o.created_at = st.getColumn(7).getInt64();
  o.not_before = st.getColumn(8).getInt64();
  o.expires_at = st.getColumn(9).getInt64();
  o.last_error = st.getColumn(10).getString();
  o.contact_id = st.getColumn(11).getInt64();
  o.channel = st.getColumn(12).getString();
  o.lease_until = st.getColumn(13).getInt64();
  o.sent_at = st.getColumn(14).getInt64();
  o.provider_message_id = st.getColumn(15).getString();
  o.delivery_status = st.getColumn(16).getString();
  o.encoding = st.getColumn(17).getString();
  o.segments = st.getColumn(18).getInt();
  return o;
}

InboundRecord inbound_from(const Statement& st, const FieldCipher* cipher) {
  InboundRecord m;
  m.id = st.getColumn(0).getInt64();
  m.provider = st.getColumn(1).getString();
  m.provider_message_id = st.getColumn(2).getString();
  m.contact_id = st.getColumn(3).getInt64();
  m.text_hash = st.getColumn(4).getString();
  m.reply = read_sealed(st.getColumn(5), cipher, "inbound", "reply", m.id);
  m.received_at = st.getColumn(6).getInt64();
  return m;
}

CheckinRecord checkin_from(const Statement& st, const FieldCipher* cipher) {
  CheckinRecord c;
  c.id = st.getColumn(0).getInt64();
  c.contact_id = st.getColumn(1).getInt64();
  c.week = st.getColumn(2).getString();
  c.status = st.getColumn(3).getString();
  c.sent_at = st.getColumn(4).getInt64();
  c.remind_at = st.getColumn(5).getInt64();
  c.deadline_at = st.getColumn(6).getInt64();
  c.answered_at = st.getColumn(7).getInt64();
  c.answer = read_sealed(st.getColumn(8), cipher, "checkins", "answer", c.id);
  c.case_reference = st.getColumn(9).getString();
  return c;
}

void bind_checkin(Statement& st, const CheckinRecord& c, const FieldCipher* cipher) {
  st.bind(1, c.contact_id);
  st.bindNoCopy(2, c.week);
  st.bindNoCopy(3, c.status);
  st.bind(4, c.sent_at);
  st.bind(5, c.remind_at);
  st.bind(6, c.deadline_at);
  st.bind(7, c.answered_at);
  if (c.id > 0)
    bind_sealed(st, 8, cipher, c.answer, "checkins", "answer", c.id);
  else
    st.bind(8, std::string());
  st.bindNoCopy(9, c.case_reference);
}

SessionRecord session_from(const Statement& st, const FieldCipher* cipher) {
  SessionRecord s;
  s.id = st.getColumn(0).getInt64();
  s.provider = st.getColumn(1).getString();
  s.provider_session_id = st.getColumn(2).getString();
  s.contact_id = st.getColumn(3).getInt64();
  s.channel = st.getColumn(4).getString();
  s.state = read_sealed(st.getColumn(5), cipher, "sessions", "state", s.id);
  s.last_input_path = read_sealed(st.getColumn(6), cipher, "sessions", "last_input_path", s.id);
  s.last_reply = read_sealed(st.getColumn(7), cipher, "sessions", "last_reply", s.id);
  s.hop_count = st.getColumn(8).getInt();
  s.status = st.getColumn(9).getString();
  s.end_reason = st.getColumn(10).getString();
  s.started_at = st.getColumn(11).getInt64();
  s.updated_at = st.getColumn(12).getInt64();
  s.ended_at = st.getColumn(13).getInt64();
  return s;
}

CaseRecord case_from(const Statement& st) {
  CaseRecord c;
  c.id = st.getColumn(0).getInt64();
  c.reference = st.getColumn(1).getString();
  c.contact_id = st.getColumn(2).getInt64();
  c.session_id = st.getColumn(3).getInt64();  // NULL reads as 0
  c.flow = st.getColumn(4).getString();
  c.category = st.getColumn(5).getString();
  c.severity = st.getColumn(6).getString();
  c.status = st.getColumn(7).getString();
  c.created_at = st.getColumn(8).getInt64();
  c.district = st.getColumn(9).getString();
  c.team = st.getColumn(10).getString();
  c.rung = st.getColumn(11).getInt();
  c.next_alert_at = st.getColumn(12).getInt64();
  c.acknowledged_at = st.getColumn(13).getInt64();
  c.acknowledged_by = st.getColumn(14).getInt64();
  c.claimed_by = st.getColumn(15).getInt64();
  c.closed_at = st.getColumn(16).getInt64();
  c.outcome = st.getColumn(17).getString();
  c.ack_due_at = st.getColumn(18).getInt64();
  c.pending_outcome = st.getColumn(19).getString();
  c.pending_by = st.getColumn(20).getInt64();
  return c;
}

ResponderRecord responder_from(const Statement& st) {
  ResponderRecord r;
  r.id = st.getColumn(0).getInt64();
  r.name = st.getColumn(1).getString();
  r.team = st.getColumn(2).getString();
  r.role = st.getColumn(3).getString();
  r.can_export = st.getColumn(4).getInt() != 0;
  r.phone_pseudonym = st.getColumn(5).getString();
  r.phone_enc = blob_from(st.getColumn(6));
  r.token_hash = st.getColumn(7).getString();
  r.active = st.getColumn(8).getInt() != 0;
  r.updated_at = st.getColumn(9).getInt64();
  r.pin_hash = st.getColumn(10).getString();
  r.token_issued_at = st.getColumn(11).getInt64();
  r.token_expires_at = st.getColumn(12).getInt64();
  r.language = st.getColumn(13).getString();
  return r;
}

NoteRecord note_from(const Statement& st) {
  NoteRecord n;
  n.id = st.getColumn(0).getInt64();
  n.case_id = st.getColumn(1).getInt64();
  n.responder_id = st.getColumn(2).getInt64();
  n.text_enc = blob_from(st.getColumn(3));
  n.created_at = st.getColumn(4).getInt64();
  n.kind = st.getColumn(5).getString();
  return n;
}

AuditRecord audit_from(const Statement& st) {
  AuditRecord a;
  a.id = st.getColumn(0).getInt64();
  a.at = st.getColumn(1).getInt64();
  a.actor = st.getColumn(2).getString();
  a.action = st.getColumn(3).getString();
  a.case_reference = st.getColumn(4).getString();
  a.detail = st.getColumn(5).getString();
  a.prev_hash = st.getColumn(6).getString();
  a.hash = st.getColumn(7).getString();
  return a;
}

void bind_session(Statement& st, const SessionRecord& s, const FieldCipher* cipher,
                  std::int64_t id) {
  st.bindNoCopy(1, s.provider);
  st.bindNoCopy(2, s.provider_session_id);
  st.bind(3, s.contact_id);
  st.bindNoCopy(4, s.channel);
  bind_sealed(st, 5, cipher, s.state, "sessions", "state", id);
  bind_sealed(st, 6, cipher, s.last_input_path, "sessions", "last_input_path", id);
  bind_sealed(st, 7, cipher, s.last_reply, "sessions", "last_reply", id);
  st.bind(8, s.hop_count);
  st.bindNoCopy(9, s.status);
  st.bindNoCopy(10, s.end_reason);
  st.bind(11, s.started_at);
  st.bind(12, s.updated_at);
  st.bind(13, s.ended_at);
  st.bind(14, id);
}

}  // namespace rabta::store::sql
