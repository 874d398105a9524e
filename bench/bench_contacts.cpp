// Enrolled contacts at scale: builds the database through the real store (schema, indexes,
// group commit), then times what the weekly scheduler does to find the week's due check-ins:
// Tx::due_checkins paged by contact id, for the busiest weekday and hour. Prints one line of
// figures.
//   rabta_bench_contacts DB [COUNT] [--history] [--reuse] [--field-key FILE] [--sorted]
// --history: each contact also has a finished USSD session and a closed case behind her, with an
// answer and a consent (the database a deployment has after a year), for the hop benchmark on a
// full database.
// --reuse: a DB this tool completed before with the same COUNT and --history is used as it is
// (the 10M database takes minutes to build; scripts/bench builds it once).
// --field-key: seal what a deployment seals with that key file and record, as a finished
// re-encryption pass (and the first start's re-keying of numbers) does, that every value is
// sealed with its current key (as `rabta serve`
// finds a deployment's database: without it, a server started on the file would first check
// every sealed value).
// --sorted: pseudonyms that sort in enrolment order. A pseudonym is a keyed hash, so a real
// database receives them in random order: each insert lands on a random page of the unique
// index, which at 10M contacts (1 GB of index) takes hours to build here, and leaves those pages
// about 70% full. Sorted, they append: minutes, and full pages. Everything the scheduler reads
// (the schedule index, the rows) is the same either way; bytes_per_contact is then a lower
// bound.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "adapters/common/cipher.hpp"
#include "adapters/common/crypto.hpp"
#include "adapters/store/store.hpp"

using namespace rabta;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: rabta_bench_contacts DB [COUNT] [--history] [--reuse] [--field-key FILE] "
                 "[--sorted]\n";
    return 2;
  }
  const std::string path = argv[1];
  int count = 1'000'000;
  bool history = false;
  bool reuse = false;
  std::string field_key;
  bool sorted = false;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--sorted") {
      sorted = true;
    } else if (a == "--field-key" && i + 1 < argc) {
      field_key = argv[++i];
    } else if (a == "--history") {
      history = true;
    } else if (a == "--reuse") {
      reuse = true;
    } else {
      count = std::stoi(a);
    }
  }
  // What the database holds (its schema version is left out: opening it below migrates it to
  // this build's, as `rabta serve` would).
  const auto without_schema = [](std::string text) {
    if (const auto at = text.find(" schema="); at != std::string::npos)
      text.erase(at, text.find(' ', at + 1) == std::string::npos ? std::string::npos
                                                                 : text.find(' ', at + 1) - at);
    return text;
  };
  const std::string marker_text =
      "contacts=" + std::to_string(count) + " history=" + (history ? "1" : "0") +
      " schema=" + std::to_string(store::latest_schema_version()) +
      (field_key.empty() ? " plain=1" : "") + (sorted ? " sorted=1" : "") + "\n";
  const std::string marker = path + ".complete";
  std::string found;
  if (std::ifstream in(marker); in) std::getline(in, found);
  const bool reused = reuse && without_schema(found + "\n") == without_schema(marker_text) &&
                      std::filesystem::exists(path);
  store::StoreOptions so;
  so.path = path;
  if (!field_key.empty())
    so.cipher =
        std::make_shared<const common::FieldCipher>(common::FieldCipher::load(field_key, nullptr));
  double build_s = 0;
  if (!reused) {
    std::filesystem::remove(marker);
    std::filesystem::remove(path);
    auto store = store::open_sqlite_store(so);

    // Spread over every weekday and hour: windows starting 0..21, 2 to 6 hours long.
    const auto t0 = Clock::now();
    // Random pseudonyms: batches small enough that the pages one commit dirties fit the writer's
    // page cache (a larger batch spills them to the WAL and reads them back).
    const int kBatch = sorted ? 20'000 : 2'000;
    constexpr std::int64_t kNow = 1'790'000'000'000;
    for (int first = 0; first < count; first += kBatch) {
      const auto r = store->run([&](store::Tx& tx) {
        for (int i = first; i < std::min(count, first + kBatch); ++i) {
          store::ContactRecord c;
          // As long as a real one: the keyed SHA-256 of her number, in hex.
          c.pseudonym = common::sha256_hex("+92300" + std::to_string(1'000'000 + i));
          if (sorted) {
            char prefix[17];
            std::snprintf(prefix, sizeof prefix, "%016llx", static_cast<unsigned long long>(i));
            c.pseudonym.replace(0, 16, prefix);
          }
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
          const std::int64_t contact_id = tx.enrol_contact(c, kNow);
          if (!history) continue;
          store::SessionRecord s;
          s.provider = "africastalking";
          s.provider_session_id = "ATUid_hist_" + std::to_string(i);
          s.contact_id = contact_id;
          s.channel = "ussd";
          s.state = R"({"flow":"report","node":"done","vars":{},"ended":true})";
          s.last_input_path = "2*1*2";
          s.last_reply = "END Your report was received.";
          s.hop_count = 4;
          s.status = store::session_status::finished;
          s.end_reason = "end_screen";
          s.started_at = kNow - 60'000;
          s.updated_at = kNow;
          s.ended_at = kNow;
          const std::int64_t session_id = tx.insert_session(s);
          store::CaseRecord k;
          k.reference = "H" + std::to_string(i);
          k.contact_id = contact_id;
          k.session_id = session_id;
          k.flow = "report";
          k.category = "physical";
          k.severity = "high";
          k.status = "closed";
          k.created_at = kNow;
          k.district = c.district;
          k.team = "bench";
          k.closed_at = kNow;
          k.outcome = "resolved";
          k.id = tx.insert_case(k);
          // What her report left: an answer and a consent, tied to the case.
          store::AnswerRecord a;
          a.session_id = session_id;
          a.contact_id = contact_id;
          a.key = "category";
          a.value = "physical";
          a.created_at = kNow;
          a.case_id = k.id;
          tx.insert_answer(a);
          store::ConsentRecord consent;
          consent.contact_id = contact_id;
          consent.session_id = session_id;
          consent.purpose = "callback";
          consent.granted = i % 2 == 0;
          consent.created_at = kNow;
          consent.case_id = k.id;
          tx.insert_consent(consent);
        }
      });
      if (!r.ok) {
        std::cerr << "enrolment failed: " << r.error << "\n";
        return 1;
      }
    }
    build_s = std::chrono::duration<double>(Clock::now() - t0).count();
    store->close();
    std::ofstream(marker) << marker_text;
  }
  auto store = store::open_sqlite_store(so);  // a cold start, as after a restart
  if (so.cipher) {
    const auto r = store->run([&](store::Tx& tx) {
      tx.set_meta("sealed_key_id_v2", std::to_string(so.cipher->current_key_id()));
      // And, as after its first start, that every contact is keyed by her E.164 number.
      tx.set_meta("contacts_rekeyed_v1", "numbers canonical under +92");
    });
    if (!r.ok) {
      std::cerr << "could not record the sealing key: " << r.error << "\n";
      return 1;
    }
  }

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
      "RESULT contacts=%d history=%d sorted=%d reused=%d build_s=%.1f due_query_ms=%.1f "
      "due_contacts=%lld "
      "weekday=%d "
      "db_bytes=%llu bytes_per_contact=%.0f\n",
      count, history ? 1 : 0, sorted ? 1 : 0, reused ? 1 : 0, build_s, worst_ms,
      static_cast<long long>(worst_due), worst_day, static_cast<unsigned long long>(bytes),
      static_cast<double>(bytes) / count);
  return 0;
}
