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

bool SqlTx::outbox_cancel(std::int64_t id, std::string_view reason, Millis /*now*/) {
  return guarded("outbox_cancel", [&] {
    auto st = conn_.prepare(
        "UPDATE outbox SET status = 'cancelled', last_error = ?2, "
        "lease_until = 0 WHERE id = ?1 AND status IN ('pending', 'sending')");
    st->bind(1, id);
    st->bind(2, std::string(reason));
    return st->exec() > 0;
  });
}

bool SqlTx::outbox_cancel_key(std::string_view dedupe_key, std::string_view reason) {
  return guarded("outbox_cancel_key", [&] {
    auto st = conn_.prepare(
        "UPDATE outbox SET status = 'cancelled', last_error = ?2, "
        "lease_until = 0 WHERE dedupe_key = ?1 AND status = 'pending'");
    st->bind(1, std::string(dedupe_key));
    st->bind(2, std::string(reason));
    return st->exec() > 0;
  });
}

bool SqlTx::outbox_resend(std::int64_t id, Millis now) {
  return guarded("outbox_resend", [&] {
    auto st = conn_.prepare(
        "UPDATE outbox SET status = 'pending', attempts = 0, not_before = ?2, "
        "expires_at = 0, lease_until = 0, last_error = '' "
        "WHERE id = ?1 AND status IN ('dead', 'expired', 'unconfirmed')");
    st->bind(1, id);
    st->bind(2, now);
    return st->exec() > 0;
  });
}

bool SqlTx::insert_outbox(const OutboxRecord& o) {
  return guarded("insert_outbox", [&] {
    Stmt st = use(Sql::insert_outbox);
    st->bindNoCopy(1, o.kind);
    st->bindNoCopy(2, o.dedupe_key);
    st->bindNoCopy(3, o.payload);
    st->bindNoCopy(4, o.cause);
    st->bindNoCopy(5, o.status);
    st->bind(6, o.attempts);
    st->bind(7, o.created_at);
    st->bind(8, o.not_before);
    st->bind(9, o.expires_at);
    st->bindNoCopy(10, o.last_error);
    st->bind(11, o.contact_id);
    st->bindNoCopy(12, o.channel);
    st->bind(13, o.lease_until);
    st->bind(14, o.sent_at);
    st->bindNoCopy(15, o.provider_message_id);
    st->bindNoCopy(16, o.delivery_status);
    st->bindNoCopy(17, o.encoding);
    st->bind(18, o.segments);
    return st->exec() > 0;  // 0 changes: DO NOTHING took the conflict
  });
}

bool SqlTx::insert_inbound(const InboundRecord& m) {
  return guarded("insert_inbound", [&] {
    Stmt st = use(Sql::insert_inbound);
    st->bindNoCopy(1, m.provider);
    st->bindNoCopy(2, m.provider_message_id);
    st->bind(3, m.contact_id);
    st->bindNoCopy(4, m.text_hash);
    st->bind(5, std::string());
    st->bind(6, m.received_at);
    if (!st->executeStep()) return false;  // a redelivery
    const std::int64_t id = st->getColumn(0).getInt64();
    if (!m.reply.empty()) set_inbound_reply(id, m.reply);
    return true;
  });
}

std::optional<InboundRecord> SqlTx::find_inbound(std::string_view provider,
                                                 std::string_view provider_message_id) {
  return guarded("find_inbound", [&]() -> std::optional<InboundRecord> {
    const std::string p(provider);
    const std::string id(provider_message_id);
    Stmt st = use(Sql::find_inbound);
    st->bindNoCopy(1, p);
    st->bindNoCopy(2, id);
    if (!st->executeStep()) return std::nullopt;
    return inbound_from(st.get(), cipher_);
  });
}

void SqlTx::set_inbound_reply(std::int64_t inbound_id, std::string_view reply) {
  guarded("set_inbound_reply", [&] {
    const std::string value(reply);
    Stmt st = use(Sql::set_inbound_reply);
    bind_sealed(*st, 1, cipher_, value, "inbound", "reply", inbound_id);
    st->bind(2, inbound_id);
    if (st->exec() == 0) throw std::runtime_error("store: set_inbound_reply: no such message");
  });
}

int SqlTx::count_inbound_since(std::int64_t contact_id, Millis since) {
  return guarded("count_inbound_since", [&] {
    Stmt st = use(Sql::count_inbound_since);
    st->bind(1, contact_id);
    st->bind(2, since);
    st->executeStep();
    return st->getColumn(0).getInt();
  });
}

int SqlTx::count_inbound_text_since(std::int64_t contact_id, std::string_view text_hash,
                                    Millis since) {
  return guarded("count_inbound_text_since", [&] {
    const std::string hash(text_hash);
    Stmt st = use(Sql::count_inbound_text_since);
    st->bind(1, contact_id);
    st->bind(2, since);
    st->bindNoCopy(3, hash);
    st->executeStep();
    return st->getColumn(0).getInt();
  });
}

std::vector<OutboxRecord> SqlTx::claim_outbox(Millis now, Millis lease_until, int limit,
                                              std::string_view kind_prefix) {
  return claim(Sql::claim_outbox, now, lease_until, limit, kind_prefix);
}

std::vector<OutboxRecord> SqlTx::claim_outbox_exact(Millis now, Millis lease_until, int limit,
                                                    std::string_view kind) {
  return claim(Sql::claim_outbox_exact, now, lease_until, limit, kind);
}

// Expires what is past its TTL among the rows the claim could take (a kind is its own prefix),
// then claims.
std::vector<OutboxRecord> SqlTx::claim(Sql claim_sql, Millis now, Millis lease_until, int limit,
                                       std::string_view kind) {
  return guarded("claim_outbox", [&] {
    const std::string prefix(kind);
    {
      Stmt st = use(Sql::expire_outbox);
      st->bind(1, now);
      st->bindNoCopy(2, prefix);
      st->exec();
    }
    std::vector<OutboxRecord> claimed;
    if (limit <= 0) return claimed;  // SQLite would read a negative LIMIT as "no limit"
    {
      Stmt st = use(claim_sql);
      st->bind(1, now);
      st->bind(2, lease_until);
      st->bindNoCopy(3, prefix);
      st->bind(4, limit);
      claimed = all_rows(*st, outbox_from);
    }
    // RETURNING yields rows in no promised order.
    std::sort(claimed.begin(), claimed.end(), [](const OutboxRecord& a, const OutboxRecord& b) {
      return a.not_before != b.not_before ? a.not_before < b.not_before : a.id < b.id;
    });
    return claimed;
  });
}

std::pair<int, int> SqlTx::settle_in_doubt_outbox(std::string_view kind_prefix, Millis now) {
  return guarded("settle_in_doubt_outbox", [&] {
    const std::string prefix(kind_prefix);
    // PostgreSQL's text takes only rows whose lease ran out (statements.cpp).
    const bool shared = conn_.dialect() == Dialect::postgres;
    int to_pending = 0;
    {
      Stmt st = use(Sql::in_doubt_to_pending);
      st->bindNoCopy(1, prefix);
      if (shared) st->bind(2, now);
      to_pending = st->exec();
    }
    Stmt st = use(Sql::in_doubt_unconfirmed);
    st->bindNoCopy(1, prefix);
    if (shared) st->bind(2, now);
    return std::pair<int, int>(to_pending, st->exec());
  });
}

int SqlTx::release_stale_outbox(Millis now, std::string_view kind_prefix) {
  return guarded("release_stale_outbox", [&] {
    const std::string prefix(kind_prefix);
    Stmt st = use(Sql::release_stale_outbox);
    st->bind(1, now);
    st->bindNoCopy(2, prefix);
    return st->exec();
  });
}

void SqlTx::outbox_sent(std::int64_t id, std::string_view provider_message_id, Millis now) {
  guarded("outbox_sent", [&] {
    const std::string message_id(provider_message_id);
    Stmt st = use(Sql::outbox_sent);
    st->bind(1, id);
    st->bind(2, now);
    st->bindNoCopy(3, message_id);
    if (st->exec() == 0) throw std::runtime_error("store: outbox_sent: no such outbox row");
  });
}

void SqlTx::outbox_retry(std::int64_t id, Millis not_before, std::string_view error,
                         Millis /*now*/) {
  guarded("outbox_retry", [&] {
    const std::string reason(error);
    Stmt st = use(Sql::outbox_retry);
    st->bind(1, id);
    st->bind(2, not_before);
    st->bindNoCopy(3, reason);
    if (st->exec() == 0) throw std::runtime_error("store: outbox_retry: no such outbox row");
  });
}

void SqlTx::outbox_dead(std::int64_t id, std::string_view error, Millis /*now*/) {
  guarded("outbox_dead", [&] {
    const std::string reason(error);
    Stmt st = use(Sql::outbox_dead);
    st->bind(1, id);
    st->bindNoCopy(2, reason);
    if (st->exec() == 0) throw std::runtime_error("store: outbox_dead: no such outbox row");
  });
}

std::optional<OutboxRecord> SqlTx::find_outbox(std::int64_t id) {
  return guarded("find_outbox", [&]() -> std::optional<OutboxRecord> {
    Stmt st = use(Sql::find_outbox);
    st->bind(1, id);
    if (!st->executeStep()) return std::nullopt;
    return outbox_from(st.get());
  });
}

std::vector<OutboxRecord> SqlTx::list_outbox(std::string_view status, int limit) {
  return guarded("list_outbox", [&] {
    if (status.empty()) {
      Stmt st = use(Sql::list_outbox_all);
      st->bind(1, limit);
      return all_rows(*st, outbox_from);
    }
    const std::string value(status);
    Stmt st = use(Sql::list_outbox);
    st->bindNoCopy(1, value);
    st->bind(2, limit);
    return all_rows(*st, outbox_from);
  });
}

bool SqlTx::update_delivery(std::string_view channel, std::string_view provider_message_id,
                            std::string_view delivery_status, Millis /*now*/) {
  if (provider_message_id.empty()) return false;  // unsent rows all have ""
  return guarded("update_delivery", [&] {
    const std::string ch(channel);
    const std::string message_id(provider_message_id);
    const std::string value(delivery_status);
    Stmt st = use(Sql::update_delivery);
    st->bindNoCopy(1, ch);
    st->bindNoCopy(2, message_id);
    st->bindNoCopy(3, value);
    return st->exec() > 0;
  });
}

bool SqlTx::update_delivery_by_id(std::int64_t outbox_id, std::string_view delivery_status,
                                  Millis /*now*/) {
  return guarded("update_delivery_by_id", [&] {
    const std::string value(delivery_status);
    Stmt st = use(Sql::update_delivery_by_id);
    st->bind(1, outbox_id);
    st->bindNoCopy(2, value);
    return st->exec() > 0;
  });
}

std::vector<std::pair<std::string, std::int64_t>> SqlTx::outbox_counts() {
  return guarded("outbox_counts", [&] {
    std::vector<std::pair<std::string, std::int64_t>> counts;
    {
      Stmt st = use(Sql::outbox_status_counts);
      while (st->executeStep()) {
        counts.emplace_back(st->getColumn(0).getString(), st->getColumn(1).getInt64());
      }
    }
    Stmt st = use(Sql::outbox_oldest_pending);
    st->executeStep();
    counts.emplace_back("oldest_pending_created_at", st->getColumn(0).getInt64());
    return counts;
  });
}

}  // namespace rabta::store::sql
