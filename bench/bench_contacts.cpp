// 1,000,000 enrolled contacts: builds the database through the real store (schema, indexes,
// group commit), then times what the weekly scheduler does to find the week's due check-ins:
// Tx::due_checkins paged by contact id, for the busiest weekday and hour. Prints one line of
// figures. Usage: rabta_bench_contacts DB [COUNT]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include "adapters/store/store.hpp"

using namespace rabta;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: rabta_bench_contacts DB [COUNT]\n";
    return 2;
  }
  const std::string path = argv[1];
  const int count = argc > 2 ? std::stoi(argv[2]) : 1'000'000;
  std::filesystem::remove(path);
  store::StoreOptions so;
  so.path = path;
  auto store = store::open_sqlite_store(so);

  // Spread over every weekday and hour: windows starting 0..21, 2 to 6 hours long.
  const auto t0 = Clock::now();
  constexpr int kBatch = 20'000;
  for (int first = 0; first < count; first += kBatch) {
    const auto r = store->run([&](store::Tx& tx) {
      for (int i = first; i < std::min(count, first + kBatch); ++i) {
        store::ContactRecord c;
        c.pseudonym = "p" + std::to_string(i) + "-0123456789abcdef0123456789abcdef0123456789ab";
        c.language = i % 3 == 0 ? "ur" : (i % 3 == 1 ? "roman" : "en");
        c.status = "active";
        c.district = "district_" + std::to_string(i % 36);
        c.checkin_weekday = 1 + i % 7;
        c.window_start_hour = (i / 7) % 22;
        c.window_end_hour = std::min(24, c.window_start_hour + 2 + (i / 161) % 5);
        // She answers by dialling: the bench measures finding and recording the week's
        // check-ins, not sending SMS (the dispatcher has its own figure).
        c.channel = "ussd";
        c.sms_ok = false;
        tx.enrol_contact(c, 1'790'000'000'000);
      }
    });
    if (!r.ok) {
      std::cerr << "enrolment failed: " << r.error << "\n";
      return 1;
    }
  }
  const double build_s = std::chrono::duration<double>(Clock::now() - t0).count();
  store->close();
  store = store::open_sqlite_store(so);  // a cold start, as after a restart

  // The scheduler's query for every weekday at the hour most windows contain.
  double worst_ms = 0;
  std::int64_t worst_due = 0;
  int worst_day = 0;
  for (int weekday = 1; weekday <= 7; ++weekday) {
    const auto t = Clock::now();
    std::int64_t due = 0;
    std::int64_t after = 0;
    store->read([&](store::Tx& tx) {
      for (;;) {
        const auto page = tx.due_checkins("2026-W48", weekday, 12, after, 500);
        due += static_cast<std::int64_t>(page.size());
        if (page.size() < 500) break;
        after = page.back().id;
      }
    });
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t).count();
    if (ms > worst_ms) {
      worst_ms = ms;
      worst_due = due;
      worst_day = weekday;
    }
  }
  store->close();
  const auto bytes = std::filesystem::file_size(path);
  std::printf(
      "RESULT contacts=%d build_s=%.1f due_query_ms=%.1f due_contacts=%lld weekday=%d "
      "db_bytes=%llu bytes_per_contact=%.0f\n",
      count, build_s, worst_ms, static_cast<long long>(worst_due), worst_day,
      static_cast<unsigned long long>(bytes), static_cast<double>(bytes) / count);
  return 0;
}
