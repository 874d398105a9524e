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

std::optional<ContactRecord> SqlTx::find_contact(std::string_view pseudonym) {
  return guarded("find_contact", [&]() -> std::optional<ContactRecord> {
    const std::string key(pseudonym);
    Stmt st = use(Sql::find_contact);
    st->bindNoCopy(1, key);
    if (!st->executeStep()) return std::nullopt;
    return contact_from(st.get());
  });
}

ContactRecord SqlTx::upsert_contact(std::string_view pseudonym, Millis now) {
  if (auto found = find_contact(pseudonym)) return *std::move(found);
  return guarded("upsert_contact", [&] {
    const std::string key(pseudonym);
    Stmt st = use(Sql::insert_contact);
    st->bindNoCopy(1, key);
    st->bind(2, now);
    // RETURNING: the row as stored, with every column's default.
    if (st->executeStep()) return contact_from(st.get());
    // Another instance inserted her meanwhile (and has committed: the insert waited for it).
    if (auto found = find_contact(pseudonym)) return *std::move(found);
    throw std::runtime_error("store: upsert_contact: no row returned");
  });
}

void SqlTx::set_contact_language(std::int64_t contact_id, std::string_view language, Millis now) {
  guarded("set_contact_language", [&] {
    const std::string value(language);
    Stmt st = use(Sql::set_contact_language);
    st->bindNoCopy(1, value);
    st->bind(2, now);
    st->bind(3, contact_id);
    if (st->exec() == 0) throw std::runtime_error("store: set_contact_language: no such contact");
  });
}

void SqlTx::set_contact_quiet_until(std::int64_t contact_id, Millis until, Millis now) {
  guarded("set_contact_quiet_until", [&] {
    Stmt st = use(Sql::set_contact_quiet_until);
    st->bind(1, until);
    st->bind(2, now);
    st->bind(3, contact_id);
    if (st->exec() == 0) {
      throw std::runtime_error("store: set_contact_quiet_until: no such contact");
    }
  });
}

void SqlTx::set_contact_pseudonym(std::int64_t contact_id, std::string_view pseudonym, Millis now) {
  guarded("set_contact_pseudonym", [&] {
    auto st = conn_.prepare("UPDATE contacts SET pseudonym = ?2, updated_at = ?3 WHERE id = ?1");
    st->bind(1, contact_id);
    st->bind(2, std::string(pseudonym));
    st->bind(3, now);
    st->exec();
  });
}

void SqlTx::merge_contact_into(std::int64_t keep, std::int64_t drop, Millis now) {
  guarded("merge_contact_into", [&] {
    if (keep == drop) return;
    auto exec = [&](const char* sql) {
      auto st = conn_.prepare(sql);
      st->bind(1, keep);
      st->bind(2, drop);
      st->exec();
    };
    // An opt-out always wins; the later quiet period wins; her enrolment is kept.
    {
      auto st = conn_.prepare(
          "UPDATE contacts SET "
          "status = CASE WHEN (SELECT status FROM contacts WHERE id = ?2) = "
          "'opted_out' THEN 'opted_out' ELSE status END, "
          "quiet_until = CASE WHEN quiet_until < (SELECT quiet_until FROM "
          "contacts WHERE id = ?2) THEN (SELECT quiet_until FROM contacts "
          "WHERE id = ?2) ELSE quiet_until END, "
          "language = CASE WHEN language = '' THEN (SELECT language FROM "
          "contacts WHERE id = ?2) ELSE language END, "
          "updated_at = ?3 WHERE id = ?1");
      st->bind(1, keep);
      st->bind(2, drop);
      st->bind(3, now);
      st->exec();
    }
    exec("UPDATE sessions SET contact_id = ?1 WHERE contact_id = ?2");
    exec("UPDATE cases SET contact_id = ?1 WHERE contact_id = ?2");
    exec("UPDATE answers SET contact_id = ?1 WHERE contact_id = ?2");
    exec("UPDATE consents SET contact_id = ?1 WHERE contact_id = ?2");
    exec("UPDATE inbound SET contact_id = ?1 WHERE contact_id = ?2");
    exec("UPDATE outbox SET contact_id = ?1 WHERE contact_id = ?2");
    // Her check-in of a week moves unless the kept contact has one for that week already.
    exec(
        "UPDATE checkins SET contact_id = ?1 WHERE contact_id = ?2 AND NOT EXISTS (SELECT 1 "
        "FROM checkins k WHERE k.contact_id = ?1 AND k.week = checkins.week)");
    for (const char* sql :
         {"DELETE FROM checkins WHERE contact_id = ?1", "DELETE FROM contacts WHERE id = ?1"}) {
      auto st = conn_.prepare(sql);
      st->bind(1, drop);
      st->exec();
    }
    // An opt-out recorded on the merged contact stays her current SMS choice.
    {
      auto st = conn_.prepare("SELECT status FROM contacts WHERE id = ?1");
      st->bind(1, keep);
      if (st->executeStep() && st->getColumn(0).getString() == "opted_out") {
        auto c = conn_.prepare(
            "INSERT INTO consents (contact_id, session_id, purpose, granted, "
            "created_at) VALUES (?1, NULL, 'sms', 0, ?2)");
        c->bind(1, keep);
        c->bind(2, now);
        c->exec();
      }
    }
  });
}

std::optional<ContactRecord> SqlTx::find_contact_by_id(std::int64_t id) {
  return guarded("find_contact_by_id", [&]() -> std::optional<ContactRecord> {
    Stmt st = use(Sql::find_contact_by_id);
    st->bind(1, id);
    if (!st->executeStep()) return std::nullopt;
    return contact_from(st.get());
  });
}

std::int64_t SqlTx::enrol_contact(const ContactRecord& c, Millis now) {
  return guarded("enrol_contact", [&] {
    Stmt st = use(Sql::enrol_contact);
    st->bindNoCopy(1, c.pseudonym);
    st->bindNoCopy(2, c.language);
    st->bind(3, now);
    st->bindNoCopy(4, c.status);
    bind_blob(*st, 5, c.phone_enc);
    st->bindNoCopy(6, c.district);
    st->bind(7, c.checkin_weekday);
    st->bind(8, c.window_start_hour);
    st->bind(9, c.window_end_hour);
    st->bindNoCopy(10, c.channel);
    st->bind(11, c.sms_ok ? 1 : 0);
    st->bind(12, c.confirm_ok ? 1 : 0);
    if (!st->executeStep()) throw std::runtime_error("store: enrol_contact: no row returned");
    return st->getColumn(0).getInt64();
  });
}

void SqlTx::set_contact_status(std::int64_t contact_id, std::string_view status, Millis now) {
  guarded("set_contact_status", [&] {
    const std::string value(status);
    Stmt st = use(Sql::set_contact_status);
    st->bindNoCopy(1, value);
    st->bind(2, now);
    st->bind(3, contact_id);
    if (st->exec() == 0) throw std::runtime_error("store: set_contact_status: no such contact");
  });
}

void SqlTx::set_contact_phone(std::int64_t contact_id, std::string_view phone_enc, Millis now) {
  guarded("set_contact_phone", [&] {
    const std::string value(phone_enc);
    Stmt st = use(Sql::set_contact_phone);
    bind_blob(*st, 1, value);
    st->bind(2, now);
    st->bind(3, contact_id);
    if (st->exec() == 0) throw std::runtime_error("store: set_contact_phone: no such contact");
  });
}

void SqlTx::set_contact_missed(std::int64_t contact_id, int missed_in_row, Millis now) {
  guarded("set_contact_missed", [&] {
    Stmt st = use(Sql::set_contact_missed);
    st->bind(1, missed_in_row);
    st->bind(2, now);
    st->bind(3, contact_id);
    if (st->exec() == 0) throw std::runtime_error("store: set_contact_missed: no such contact");
  });
}

std::vector<ContactRecord> SqlTx::list_contacts(std::int64_t after_id, int limit) {
  return guarded("list_contacts", [&] {
    Stmt st = use(Sql::list_contacts);
    st->bind(1, after_id);
    st->bind(2, limit);
    return all_rows(*st, contact_from);
  });
}

}  // namespace rabta::store::sql
