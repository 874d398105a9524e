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

std::vector<ContactRecord> SqlTx::due_checkins(std::string_view week, int weekday, int hour,
                                               std::int64_t after_id, int limit) {
  return guarded("due_checkins", [&] {
    std::vector<ContactRecord> due;
    if (limit <= 0 || hour < 0) return due;  // hours are 0..23: nothing starts before 0
    std::int64_t max_id = 0;
    {
      Stmt st = use(Sql::max_contact_id);
      st->executeStep();
      max_id = st->getColumn(0).getInt64();
    }
    const std::string w(week);
    std::int64_t lo = after_id;
    std::int64_t span = std::max<std::int64_t>(limit, 64) * 16;
    while (lo < max_id && std::cmp_less(due.size(), limit)) {
      const std::int64_t hi = max_id - lo <= span ? max_id : lo + span;
      Stmt st = use(Sql::due_checkins);
      st->bindNoCopy(1, w);
      st->bind(2, weekday);
      st->bind(3, hour);
      st->bind(4, lo);
      st->bind(5, limit - static_cast<int>(due.size()));
      st->bind(6, hi);
      while (st->executeStep()) due.push_back(contact_from(st.get()));
      lo = hi;
      if (span <= std::numeric_limits<std::int64_t>::max() / 2) span *= 2;
    }
    return due;
  });
}

bool SqlTx::insert_checkin(const CheckinRecord& c) {
  return guarded("insert_checkin", [&] {
    CheckinRecord row = c;
    row.id = 0;
    Stmt st = use(Sql::insert_checkin);
    bind_checkin(*st, row, cipher_);
    if (!st->executeStep()) return false;  // she has that week's row already
    const std::int64_t id = st->getColumn(0).getInt64();
    if (!c.answer.empty()) {
      auto up = conn_.prepare("UPDATE checkins SET answer = ?1 WHERE id = ?2");
      bind_sealed(*up, 1, cipher_, c.answer, "checkins", "answer", id);
      up->bind(2, id);
      up->exec();
    }
    return true;
  });
}

std::optional<CheckinRecord> SqlTx::open_checkin(std::int64_t contact_id) {
  return guarded("open_checkin", [&]() -> std::optional<CheckinRecord> {
    Stmt st = use(writer_ ? Sql::open_checkin_locked : Sql::open_checkin);
    st->bind(1, contact_id);
    if (!st->executeStep()) return std::nullopt;
    return checkin_from(st.get(), cipher_);
  });
}

void SqlTx::update_checkin(const CheckinRecord& c) {
  guarded("update_checkin", [&] {
    Stmt st = use(Sql::update_checkin);
    bind_checkin(*st, c, cipher_);
    st->bind(10, c.id);
    if (st->exec() == 0) throw std::runtime_error("store: update_checkin: no such check-in");
  });
}

std::vector<CheckinRecord> SqlTx::checkins_to_remind(Millis now, int limit) {
  return guarded("checkins_to_remind", [&] {
    Stmt st = use(writer_ ? Sql::checkins_to_remind_locked : Sql::checkins_to_remind);
    st->bind(1, now);
    st->bind(2, limit);
    return all_rows(*st, [&](const Statement& row) { return checkin_from(row, cipher_); });
  });
}

std::vector<CheckinRecord> SqlTx::checkins_overdue(Millis now, int limit) {
  return guarded("checkins_overdue", [&] {
    Stmt st = use(writer_ ? Sql::checkins_overdue_locked : Sql::checkins_overdue);
    st->bind(1, now);
    st->bind(2, limit);
    return all_rows(*st, [&](const Statement& row) { return checkin_from(row, cipher_); });
  });
}

std::optional<CheckinRecord> SqlTx::previous_checkin(std::int64_t contact_id,
                                                     std::string_view week) {
  return guarded("previous_checkin", [&]() -> std::optional<CheckinRecord> {
    const std::string w(week);
    Stmt st = use(Sql::previous_checkin);
    st->bind(1, contact_id);
    st->bindNoCopy(2, w);
    if (!st->executeStep()) return std::nullopt;
    return checkin_from(st.get(), cipher_);
  });
}

}  // namespace rabta::store::sql
