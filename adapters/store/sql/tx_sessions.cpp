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
#include "adapters/store/sql/tx.hpp"
#include "adapters/store/store.hpp"

namespace rabta::store::sql {

std::optional<SessionRecord> SqlTx::find_session(std::string_view provider,
                                                 std::string_view provider_session_id) {
  return guarded("find_session", [&]() -> std::optional<SessionRecord> {
    const std::string p(provider);
    const std::string id(provider_session_id);
    Stmt st = use(writer_ ? Sql::find_session_locked : Sql::find_session);
    st->bindNoCopy(1, p);
    st->bindNoCopy(2, id);
    if (!st->executeStep()) return std::nullopt;
    return session_from(st.get(), cipher_);
  });
}

std::optional<SessionRecord> SqlTx::find_resumable_session(std::int64_t contact_id,
                                                           std::string_view channel, Millis since) {
  return guarded("find_resumable_session", [&]() -> std::optional<SessionRecord> {
    const std::string ch(channel);
    Stmt st = use(Sql::find_resumable_session);
    st->bind(1, contact_id);
    st->bindNoCopy(2, ch);
    st->bind(3, since);
    if (!st->executeStep()) return std::nullopt;
    return session_from(st.get(), cipher_);
  });
}

std::int64_t SqlTx::insert_session(const SessionRecord& session) {
  return guarded("insert_session", [&] {
    std::int64_t id = 0;
    {
      Stmt next = use(Sql::next_session_id);
      next->executeStep();
      id = next->getColumn(0).getInt64();
    }
    Stmt st = use(Sql::insert_session);
    bind_session(*st, session, cipher_, id);  // sealed under its own id, in the same write
    st->exec();
    return id;
  });
}

void SqlTx::update_session(const SessionRecord& session) {
  guarded("update_session", [&] {
    Stmt st = use(Sql::update_session);
    bind_session(*st, session, cipher_, session.id);
    if (st->exec() == 0) throw std::runtime_error("store: update_session: no such session");
  });
}

void SqlTx::insert_answer(const AnswerRecord& a) {
  guarded("insert_answer", [&] {
    std::int64_t id = 0;
    {
      Stmt next = use(Sql::next_answer_id);
      next->executeStep();
      id = next->getColumn(0).getInt64();
    }
    Stmt st = use(Sql::insert_answer);
    bind_session_id(*st, 1, a.session_id);
    st->bind(2, a.contact_id);
    st->bindNoCopy(3, a.key);
    bind_sealed(*st, 4, cipher_, a.value, "answers", "value", id);
    st->bind(5, a.created_at);
    bind_session_id(*st, 6, a.case_id);
    st->bind(7, id);
    st->exec();
  });
}

void SqlTx::insert_consent(const ConsentRecord& c) {
  guarded("insert_consent", [&] {
    Stmt st = use(Sql::insert_consent);
    st->bind(1, c.contact_id);
    bind_session_id(*st, 2, c.session_id);
    st->bindNoCopy(3, c.purpose);
    st->bind(4, c.granted ? 1 : 0);
    st->bind(5, c.created_at);
    bind_session_id(*st, 6, c.case_id);
    st->exec();
  });
}

std::vector<SessionRecord> SqlTx::idle_sessions(std::string_view channel, Millis idle_before,
                                                int limit) {
  return guarded("idle_sessions", [&] {
    std::vector<SessionRecord> out;
    if (limit <= 0) return out;
    auto st = conn_.prepare(
        "SELECT id, provider, provider_session_id, contact_id, channel, state, "
        "last_input_path, last_reply, hop_count, status, end_reason, "
        "started_at, updated_at, ended_at FROM sessions WHERE status = "
        "'active' AND channel = ?1 AND updated_at < ?2 ORDER BY id LIMIT ?3" +
        // The sweep ends these: never one a hop on another instance holds (that hop is newer),
        // never one another instance's sweep is ending (her report raised once).
        std::string(writer_ && conn_.dialect() == Dialect::postgres ? " FOR UPDATE SKIP LOCKED"
                                                                    : ""));
    st->bind(1, std::string(channel));
    st->bind(2, idle_before);
    st->bind(3, limit);
    while (st->executeStep()) out.push_back(session_from(*st, cipher_));
    return out;
  });
}

std::optional<SessionRecord> SqlTx::find_dropped_session(std::int64_t contact_id,
                                                         std::string_view channel, Millis since) {
  return guarded("find_dropped_session", [&]() -> std::optional<SessionRecord> {
    auto st = conn_.prepare(
        "SELECT id, provider, provider_session_id, contact_id, channel, state, "
        "last_input_path, last_reply, hop_count, status, end_reason, "
        "started_at, updated_at, ended_at FROM sessions WHERE contact_id = ?1 "
        "AND channel = ?2 AND status = 'incomplete' AND updated_at >= ?3 "
        "ORDER BY updated_at DESC, id DESC LIMIT 1");
    st->bind(1, contact_id);
    st->bind(2, std::string(channel));
    st->bind(3, since);
    if (!st->executeStep()) return std::nullopt;
    return session_from(*st, cipher_);
  });
}

void SqlTx::bind_session_to_case(std::int64_t session_id, std::int64_t case_id) {
  guarded("bind_session_to_case", [&] {
    for (const Sql sql : {Sql::bind_answers_to_case, Sql::bind_consents_to_case}) {
      Stmt st = use(sql);
      st->bind(1, session_id);
      st->bind(2, case_id);
      st->exec();
    }
  });
}

std::optional<bool> SqlTx::case_consent(std::int64_t case_id, std::string_view purpose,
                                        bool later_refusal_counts) {
  return guarded("case_consent", [&]() -> std::optional<bool> {
    // The most restrictive answer given for this case wins (SAFETY W2).
    auto st = conn_.prepare(
        "SELECT COUNT(*), MIN(granted), MAX(id), MAX(contact_id) FROM consents "
        "WHERE case_id = ?1 AND purpose = ?2");
    st->bind(1, case_id);
    st->bind(2, std::string(purpose));
    if (!st->executeStep() || st->getColumn(0).getInt64() == 0) return std::nullopt;
    if (st->getColumn(1).getInt() == 0) return false;
    if (!later_refusal_counts) return true;
    auto later = conn_.prepare(
        "SELECT 1 FROM consents WHERE contact_id = ?1 AND purpose = ?2 AND "
        "granted = 0 AND id > ?3 LIMIT 1");
    later->bind(1, st->getColumn(3).getInt64());
    later->bind(2, std::string(purpose));
    later->bind(3, st->getColumn(2).getInt64());
    return !later->executeStep();
  });
}

std::string SqlTx::case_answer(std::int64_t case_id, std::string_view key) {
  return guarded("case_answer", [&] {
    auto st = conn_.prepare(
        "SELECT value, id FROM answers WHERE case_id = ?1 AND key = ?2 "
        "ORDER BY id DESC LIMIT 1");
    st->bind(1, case_id);
    st->bind(2, std::string(key));
    if (!st->executeStep()) return std::string();
    return read_sealed(st->getColumn(0), cipher_, "answers", "value", st->getColumn(1).getInt64());
  });
}

std::string SqlTx::session_answer(std::int64_t session_id, std::string_view key) {
  if (session_id == 0) return {};  // answers outside a session have session_id NULL
  return guarded("session_answer", [&] {
    const std::string k(key);
    Stmt st = use(Sql::session_answer);
    st->bind(1, session_id);
    st->bindNoCopy(2, k);
    if (!st->executeStep()) return std::string();
    return read_sealed(st->getColumn(0), cipher_, "answers", "value", st->getColumn(1).getInt64());
  });
}

std::optional<bool> SqlTx::latest_consent(std::int64_t contact_id, std::string_view purpose) {
  return guarded("latest_consent", [&]() -> std::optional<bool> {
    const std::string p(purpose);
    Stmt st = use(Sql::latest_consent);
    st->bind(1, contact_id);
    st->bindNoCopy(2, p);
    if (!st->executeStep()) return std::nullopt;
    return st->getColumn(0).getInt() != 0;
  });
}

}  // namespace rabta::store::sql
