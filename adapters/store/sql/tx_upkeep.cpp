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

void SqlTx::heartbeat(Millis now) {
  guarded("heartbeat", [&] {
    Stmt st = use(Sql::heartbeat);
    st->bind(1, std::to_string(now));
    if (conn_.dialect() == Dialect::postgres) st->bind(2, std::to_string(now - 86'400'000));
    st->exec();
  });
}

bool SqlTx::try_lock(std::string_view name) {
  // The lock's id: the name's 64-bit FNV-1a hash, in a range of rabta's own.
  std::uint64_t h = 14695981039346656037ULL;
  for (const char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return guarded("try_lock",
                 [&] { return conn_.try_lock_for_transaction(static_cast<std::int64_t>(h >> 1)); });
}

int SqlTx::reseal(ResealCursor& cursor, int limit) {
  if (cipher_ == nullptr) throw std::runtime_error("store: reseal: the store has no field key");
  if (cursor.done) return 0;
  limit = std::max(1, limit);
  return guarded("reseal", [&] {
    const bool outbox = cursor.column >= kSealedColumns.size();
    const std::uint8_t current = cipher_->current_key_id();
    std::string sql;
    if (outbox) {
      sql = "SELECT id, dedupe_key, payload FROM outbox WHERE id > ?1 ORDER BY id LIMIT ?2";
    } else {
      const SealedColumn& c = kSealedColumns[cursor.column];
      sql = std::string("SELECT id, ") + c.ad_row + ", " + c.column + " FROM " + c.table +
            " WHERE id > ?1 ORDER BY id LIMIT ?2";
    }
    // Rewritten below from what is read here: on PostgreSQL the rows are locked, so a hop or an
    // answer another instance commits meanwhile is not overwritten with the older value.
    if (conn_.dialect() == Dialect::postgres) sql += " FOR UPDATE";
    struct Change {
      std::int64_t id;
      std::string value;
    };
    std::vector<Change> changes;
    int seen = 0;
    std::int64_t last = cursor.after_id;
    {
      auto sel = conn_.prepare(sql);
      sel->bind(1, cursor.after_id);
      sel->bind(2, limit);
      while (sel->executeStep()) {
        ++seen;
        last = sel->getColumn(0).getInt64();
        auto changed = outbox ? reseal_outbox_row(*sel, current)
                              : reseal_value(kSealedColumns[cursor.column], *sel, current);
        if (changed) changes.push_back({last, *std::move(changed)});
      }
    }
    if (!changes.empty()) {
      const std::string upd =
          outbox ? std::string("UPDATE outbox SET payload = ?1 WHERE id = ?2")
                 : std::string("UPDATE ") + kSealedColumns[cursor.column].table + " SET " +
                       kSealedColumns[cursor.column].column + " = ?1 WHERE id = ?2";
      auto st = conn_.prepare(upd);
      for (const Change& ch : changes) {
        if (outbox) {
          st->bind(1, ch.value);
        } else {
          st->bind_blob(1, ch.value);
        }
        st->bind(2, ch.id);
        st->exec();
        st->reset();
      }
    }
    if (seen < limit) {
      ++cursor.column;
      cursor.after_id = 0;
      cursor.done = cursor.column > kSealedColumns.size();
    } else {
      cursor.after_id = last;
    }
    return static_cast<int>(changes.size());
  });
}

PurgeCounts SqlTx::purge(const PurgeCutoffs& cut, int limit, PurgeCursor& cursor) {
  return guarded("purge", [&] { return purge_or_count(cut, std::max(1, limit), true, cursor); });
}

PurgeCounts SqlTx::purgeable(const PurgeCutoffs& cut) {
  return guarded("purgeable", [&] {
    // The whole pass in one step of one read (on the reader, never holding the writer): the
    // count `rabta purge --dry-run` shows.
    PurgeCursor cursor;
    return purge_or_count(cut, std::numeric_limits<int>::max(), false, cursor);
  });
}

std::vector<StatFact> SqlTx::stat_facts(Millis from, Millis to) {
  return guarded("stat_facts", [&] {
    std::vector<StatFact> out;
    auto cases = conn_.prepare(
        "SELECT created_at, district, category FROM cases "
        "WHERE created_at >= ?1 AND created_at < ?2");
    cases->bind(1, from);
    cases->bind(2, to);
    while (cases->executeStep()) {
      StatFact f;
      f.measure = "case";
      f.at = cases->getColumn(0).getInt64();
      f.district = cases->getColumn(1).getString();
      f.category = cases->getColumn(2).getString();
      out.push_back(std::move(f));
    }
    auto checkins = conn_.prepare(
        "SELECT k.sent_at, k.week, c.district, k.status FROM checkins k "
        "JOIN contacts c ON c.id = k.contact_id "
        "WHERE k.sent_at >= ?1 AND k.sent_at < ?2");
    checkins->bind(1, from);
    checkins->bind(2, to);
    while (checkins->executeStep()) {
      StatFact f;
      f.measure = "checkin";
      f.at = checkins->getColumn(0).getInt64();
      f.week = checkins->getColumn(1).getString();
      f.district = checkins->getColumn(2).getString();
      f.category = checkins->getColumn(3).getString();
      out.push_back(std::move(f));
    }
    return out;
  });
}

MetricsSnapshot SqlTx::metrics_snapshot() {
  return guarded("metrics_snapshot", [&] {
    MetricsSnapshot m;
    for (auto& [status, n] : outbox_counts()) {
      if (status == "oldest_pending_created_at") {
        m.oldest_pending_at = n;
        continue;
      }
      if (status == "dead") m.dead_letters = n;
      if (status == "unconfirmed") m.unconfirmed = n;
      m.outbox_by_status.emplace_back(status, n);
    }
    m.failing_alerts = static_cast<std::int64_t>(cases_with_failing_alert(1'000'000).size());
    {
      auto failures = conn_.prepare(
          "SELECT COUNT(*) FROM outbox WHERE delivery_status IN "
          "('failed', 'rejected', 'undelivered')");
      m.delivery_failures = failures->executeStep() ? failures->getColumn(0).getInt64() : 0;
    }
    auto st = conn_.prepare(
        "SELECT severity, COUNT(*), MIN(created_at) FROM cases "
        "WHERE status = 'open' GROUP BY severity");
    while (st->executeStep()) {
      m.open_cases[st->getColumn(0).getString()] = st->getColumn(1).getInt64();
      const Millis at = st->getColumn(2).getInt64();
      if (m.oldest_open_case_at == 0 || at < m.oldest_open_case_at) m.oldest_open_case_at = at;
    }
    return m;
  });
}

std::string SqlTx::meta(std::string_view key) {
  return guarded("meta", [&] {
    auto st = conn_.prepare("SELECT value FROM meta WHERE key = ?1");
    st->bind(1, std::string(key));
    return st->executeStep() ? st->getColumn(0).getString() : std::string();
  });
}

void SqlTx::set_meta(std::string_view key, std::string_view value) {
  guarded("set_meta", [&] {
    auto st = conn_.prepare(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    st->bind(1, std::string(key));
    st->bind(2, std::string(value));
    st->exec();
  });
}

int SqlTx::delete_meta(std::string_view prefix, std::string_view below) {
  return guarded("delete_meta", [&] {
    // A range on the primary key: the keys that start with `prefix` sort from it up to it with
    // its last byte raised (prefixes here are ASCII and end in ':').
    std::string end(prefix);
    if (end.empty()) throw std::invalid_argument("store: delete_meta: an empty prefix");
    end.back() = static_cast<char>(end.back() + 1);
    auto st = conn_.prepare(std::string("DELETE FROM meta WHERE key >= ?1 AND key < ?2") +
                            (below.empty() ? "" : " AND value < ?3"));
    st->bind(1, std::string(prefix));
    st->bind(2, end);
    if (!below.empty()) st->bind(3, std::string(below));
    return st->exec();
  });
}

KeyUsage SqlTx::sealed_key_usage() {
  return guarded("sealed_key_usage", [&] {
    KeyUsage usage;
    for (const SealedColumn& c : kSealedColumns) {
      const std::string col = c.column;
      // The key id is the value's second byte. PostgreSQL's sealed columns are bytea and hold
      // no value in clear (the connection refuses one: postgres/connection.cpp).
      auto st = conn_.prepare(
          conn_.dialect() == Dialect::postgres
              ? "SELECT to_hex(get_byte(" + col + ", 1)), COUNT(*) FROM " + c.table +
                    " WHERE length(" + col + ") > 0 GROUP BY 1"
              : "SELECT CASE WHEN typeof(" + col + ") = 'blob' THEN hex(substr(" + col +
                    ", 2, 1)) ELSE '' END, COUNT(*) FROM " + c.table + " WHERE (typeof(" + col +
                    ") = 'blob' AND length(" + col + ") > 0) OR (typeof(" + col +
                    ") = 'text' AND " + col + " <> '') GROUP BY 1");
      while (st->executeStep()) {
        const std::string hex = st->getColumn(0).getString();
        const int id = hex.empty() ? 0 : std::stoi(hex, nullptr, 16);
        usage[id] += st->getColumn(1).getInt64();
      }
    }
    auto st = conn_.prepare("SELECT payload FROM outbox");
    while (st->executeStep()) {
      const auto j = nlohmann::json::parse(st->getColumn(0).getString(), nullptr, false);
      if (!j.is_object() || !j.contains("to_enc") || !j["to_enc"].is_string()) continue;
      const auto blob = common::base64_decode(j["to_enc"].get<std::string>());
      const auto id = blob ? FieldCipher::key_id_of(*blob) : std::nullopt;
      if (id) usage[*id] += 1;
    }
    return usage;
  });
}

std::vector<std::int64_t> SqlTx::ids(Sql sql, Millis before, int limit) {
  std::vector<std::int64_t> out;
  Stmt st = use(sql);
  st->bind(1, before);
  st->bind(2, limit);
  while (st->executeStep()) out.push_back(st->getColumn(0).getInt64());
  return out;
}

std::int64_t SqlTx::for_each_id(const std::string& sql, const std::vector<std::int64_t>& list) {
  std::int64_t changed = 0;
  auto st = conn_.prepare(sql);
  for (const auto id : list) {
    st->bind(1, id);
    changed += st->exec();
    st->reset();
  }
  return changed;
}

std::int64_t SqlTx::count_of(const std::string& sql, const std::vector<std::int64_t>& list) {
  std::int64_t n = 0;
  auto st = conn_.prepare(sql);
  for (const auto id : list) {
    st->bind(1, id);
    if (st->executeStep()) n += st->getColumn(0).getInt64();
    st->reset();
  }
  return n;
}

PurgeCounts SqlTx::purge_or_count(const PurgeCutoffs& cut, int limit, bool remove,
                                  PurgeCursor& cursor) {
  PurgeCounts n;
  bool more = false;  // a kind filled its limit: the pass goes on
  const auto note = [&](std::size_t got) {
    if (got >= static_cast<std::size_t>(limit)) more = true;
  };
  // Sessions first are those no case points to; a closed case takes its session along.
  if (cut.closed_cases > 0) {
    const auto cases = ids(Sql::purge_closed_cases, cut.closed_cases, limit);
    note(cases.size());
    n.cases = static_cast<std::int64_t>(cases.size());
    n.notes = count_of("SELECT COUNT(*) FROM notes WHERE case_id = ?1", cases);
    std::vector<std::int64_t> sessions;
    {
      auto st = conn_.prepare(
          "SELECT session_id FROM cases WHERE id = ?1 AND session_id IS NOT "
          "NULL AND NOT EXISTS (SELECT 1 FROM cases o WHERE o.session_id = "
          "cases.session_id AND o.id != cases.id)");
      for (const auto id : cases) {
        st->bind(1, id);
        if (st->executeStep()) sessions.push_back(st->getColumn(0).getInt64());
        st->reset();
      }
    }
    n.answers += count_of("SELECT COUNT(*) FROM answers WHERE session_id = ?1", sessions);
    n.sessions += static_cast<std::int64_t>(sessions.size());
    if (remove) {
      for_each_id("DELETE FROM notes WHERE case_id = ?1", cases);
      for_each_id("UPDATE consents SET case_id = NULL WHERE case_id = ?1", cases);
      for_each_id("DELETE FROM answers WHERE case_id = ?1", cases);
      for_each_id("DELETE FROM cases WHERE id = ?1", cases);
      drop_sessions(sessions);
    }
  }
  if (cut.sessions > 0) {
    // Ended sessions in id order from the cursor: those a case keeps are stepped over, so no
    // step reads them again.
    std::vector<std::int64_t> sessions;
    int seen = 0;
    {
      Stmt st = use(Sql::purge_ended_sessions);
      st->bind(1, cut.sessions);
      st->bind(2, cursor.session_id);
      st->bind(3, limit);
      while (st->executeStep()) {
        ++seen;
        cursor.session_id = st->getColumn(0).getInt64();
        if (st->getColumn(1).getInt() == 0) sessions.push_back(cursor.session_id);
      }
    }
    note(static_cast<std::size_t>(seen));
    n.answers += count_of("SELECT COUNT(*) FROM answers WHERE session_id = ?1", sessions);
    n.sessions += static_cast<std::int64_t>(sessions.size());
    if (remove) drop_sessions(sessions);
    const auto loose = ids(Sql::purge_loose_answers, cut.sessions, limit);
    note(loose.size());
    n.answers += static_cast<std::int64_t>(loose.size());
    if (remove) for_each_id("DELETE FROM answers WHERE id = ?1", loose);
  }
  const auto simple = [&](Millis before, Sql select, const char* del, std::int64_t& count) {
    if (before <= 0) return;
    const auto rows = ids(select, before, limit);
    note(rows.size());
    count += static_cast<std::int64_t>(rows.size());
    if (remove) for_each_id(del, rows);
  };
  simple(cut.outbox, Sql::purge_finished_outbox, "DELETE FROM outbox WHERE id = ?1", n.outbox);
  simple(cut.inbound, Sql::purge_inbound, "DELETE FROM inbound WHERE id = ?1", n.inbound);
  simple(cut.checkins, Sql::purge_finished_checkins, "DELETE FROM checkins WHERE id = ?1",
         n.checkins);
  cursor.done = !more;
  return n;
}

void SqlTx::drop_sessions(const std::vector<std::int64_t>& sessions) {
  for_each_id("UPDATE consents SET session_id = NULL WHERE session_id = ?1", sessions);
  for_each_id("DELETE FROM answers WHERE session_id = ?1", sessions);
  for_each_id("DELETE FROM sessions WHERE id = ?1", sessions);
}

std::optional<std::string> SqlTx::reseal_value(const SealedColumn& c, const Statement& sel,
                                               std::uint8_t current) const {
  const Column value = sel.getColumn(2);
  const std::string ad =
      FieldCipher::associated_data(c.table, c.column, sel.getColumn(1).getInt64());
  std::string plain;
  if (value.getType() == Type::blob) {
    const std::string blob = value.getBlob();
    if (blob.empty()) return std::nullopt;
    if (!stale(blob, current)) return std::nullopt;
    auto opened = cipher_->decrypt(blob, ad);
    if (!opened) {
      throw std::runtime_error(std::string("store: ") + c.table + "." + c.column + " of row " +
                               std::to_string(sel.getColumn(0).getInt64()) +
                               " does not decrypt with any key of the key file");
    }
    plain = *std::move(opened);
  } else {
    if (!c.may_be_clear) return std::nullopt;
    plain = value.getString();
    if (plain.empty()) return std::nullopt;
  }
  return cipher_->encrypt(plain, ad);
}

bool SqlTx::stale(std::string_view blob, std::uint8_t current) {
  return FieldCipher::key_id_of(blob) != current ||
         static_cast<std::uint8_t>(blob[0]) != FieldCipher::kVersion;
}

std::optional<std::string> SqlTx::reseal_outbox_row(const Statement& sel,
                                                    std::uint8_t current) const {
  auto j = nlohmann::json::parse(sel.getColumn(2).getString(), nullptr, false);
  if (!j.is_object() || !j.contains("to_enc") || !j["to_enc"].is_string()) return std::nullopt;
  const std::string key = sel.getColumn(1).getString();
  const auto where = [&] { return std::to_string(sel.getColumn(0).getInt64()); };
  bool changed = false;
  const auto reseal = [&](const char* name, const std::string& ad) {
    if (!j.contains(name) || !j[name].is_string()) return;
    const auto blob = common::base64_decode(j[name].get<std::string>());
    if (!blob || !stale(*blob, current)) return;
    auto plain = cipher_->decrypt(*blob, ad);
    if (!plain) {
      throw std::runtime_error("store: the " + std::string(name) + " of outbox row " + where() +
                               " does not decrypt with any key of the key file");
    }
    j[name] = common::base64_encode(cipher_->encrypt(*plain, ad));
    changed = true;
  };
  reseal("to_enc", outbox_to_associated_data(key));
  reseal("text_enc", outbox_text_associated_data(key));
  if (j.contains("text") && j["text"].is_string()) {
    j["text_enc"] = common::base64_encode(
        cipher_->encrypt(j["text"].get<std::string>(), outbox_text_associated_data(key)));
    j.erase("text");
    changed = true;
  }
  if (!changed) return std::nullopt;
  return j.dump();
}

}  // namespace rabta::store::sql
