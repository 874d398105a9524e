#include "gateway/checkins/scheduler.hpp"

#include <spdlog/spdlog.h>

#include "flows/text.hpp"
#include "gateway/inbound/effects.hpp"
#include "gateway/outbound/outbound_sms.hpp"

namespace rabta::gateway {

Scheduler::Scheduler(store::Store& store, std::shared_ptr<const SmsTexts> texts,
                     std::shared_ptr<const flows::FlowSet> flows, const common::FieldCipher& cipher,
                     const common::Clock& clock, flows::IdSource& ids, SchedulerOptions options)
    : store_(store),
      texts_(std::move(texts)),
      flows_(std::move(flows)),
      cipher_(cipher),
      clock_(clock),
      ids_(ids),
      options_(std::move(options)) {}

std::string Scheduler::language_of(const store::ContactRecord& c) const {
  return c.language.empty() ? flows_->settings.default_language : c.language;
}

Scheduler::Result Scheduler::run_once() {
  Result result;
  const std::int64_t now = clock_.now_ms();
  const flows::LocalTime local = flows::to_local(now, options_.zone);
  const std::string week = flows::iso_week(local);
  const std::string& fallback = flows_->settings.default_language;

  // Her phone number, decrypted only to be re-encrypted into the outbox row that sends to it.
  auto phone_of = [&](const store::ContactRecord& c) -> std::optional<std::string> {
    if (c.phone_enc.empty()) return std::nullopt;
    auto phone = cipher_.decrypt(
        c.phone_enc, common::FieldCipher::associated_data("contacts", "phone_enc", c.id));
    if (!phone) {
      ++result.undecryptable;
      spdlog::error("contact {}: stored number does not decrypt (wrong field key?)", c.id);
    }
    return phone;
  };
  auto queue = [&](store::Tx& tx, const store::ContactRecord& c, const std::string& phone,
                   const std::string& key, const std::string& template_name,
                   const std::string& purpose, std::int64_t ttl) {
    SmsPayload p;
    p.to = phone;
    p.text = texts_->text(template_name, language_of(c), fallback);
    p.ucs2 = flows::measure(p.text).encoding == flows::Encoding::ucs2;
    p.solicited = false;
    p.purpose = purpose;
    return tx.insert_outbox(
        make_sms_outbox(options_.channel, key, key, c.id, p, now, now, ttl, cipher_));
  };

  // 1. Prompts for everyone due in this local hour, batch by batch.
  std::int64_t after = 0;
  for (;;) {
    int seen = 0;
    const auto r = store_.run([&](store::Tx& tx) {
      // Instances sharing a database (#14): one of them runs this step at a time; the others
      // find nothing to do this tick.
      if (!tx.try_lock("check-ins")) return;
      const auto due = tx.due_checkins(week, local.weekday, local.hour, after, options_.batch);
      seen = static_cast<int>(due.size());
      for (const auto& c : due) {
        after = c.id;
        store::CheckinRecord row;
        row.contact_id = c.id;
        row.week = week;
        row.sent_at = now;
        row.deadline_at = now + options_.deadline.count();
        const auto phone = c.sms_ok ? phone_of(c) : std::nullopt;
        row.remind_at = phone && c.channel == "sms" && options_.reminder_after.count() > 0
                            ? now + options_.reminder_after.count()
                            : 0;
        if (!tx.insert_checkin(row)) continue;
        ++result.prompted;
        if (!phone) continue;  // no consent to SMS: she answers by dialling, or the week is missed
        // The prompt is only worth sending inside today's window.
        const std::int64_t window_end = flows::local_to_utc_ms(local.year, local.month, local.day,
                                                               c.window_end_hour, options_.zone);
        const std::string key = "checkin:" + std::to_string(c.id) + ":" + week;
        if (queue(tx, c, *phone, key, c.channel == "sms" ? "checkin_prompt" : "checkin_dial",
                  "checkin_prompt", std::max<std::int64_t>(window_end - now, 60'000)))
          ++result.queued;
      }
    });
    if (!r.ok) {
      spdlog::error("check-in scheduling failed: {}", r.error);
      return result;
    }
    if (seen < options_.batch) break;
  }

  // 2. One reminder to those who have not answered (sent inside her window by the dispatcher).
  store_.run([&](store::Tx& tx) {
    if (!tx.try_lock("check-ins")) return;
    for (auto row : tx.checkins_to_remind(now, options_.batch)) {
      row.status = store::checkin_status::reminded;
      row.remind_at = 0;
      tx.update_checkin(row);
      const auto c = tx.find_contact_by_id(row.contact_id);
      if (!c || !c->sms_ok) continue;
      const auto phone = phone_of(*c);
      if (!phone) continue;
      const std::string key = "checkin-reminder:" + std::to_string(c->id) + ":" + row.week;
      if (queue(tx, *c, *phone, key, "checkin_reminder", "checkin_reminder",
                std::max<std::int64_t>(row.deadline_at - now, 60'000)))
        ++result.reminded;
    }
  });

  // 3. Silence is a signal: a missed week opens a case; the second in a row a more severe one.
  store_.run([&](store::Tx& tx) {
    if (!tx.try_lock("check-ins")) return;
    for (auto row : tx.checkins_overdue(now, options_.batch)) {
      const auto c = tx.find_contact_by_id(row.contact_id);
      if (!c) continue;
      const int missed = c->missed_in_row + 1;
      tx.set_contact_missed(c->id, missed, now);
      const std::string reference =
          UniqueReferences(ids_, tx).case_reference(flows_->settings.reference_length);
      // An unclear reply with an urgent word in it, then silence: treated as urgent (SAFETY W3).
      static const std::string urgent = "high";
      const std::string& severity =
          row.answer == "unclear_urgent"
              ? urgent
              : (missed >= 2 ? options_.missed_again_severity : options_.missed_severity);
      open_case(tx, reference, c->id, 0, "checkin", "missed_checkin", severity, c->channel, now);
      row.status = store::checkin_status::missed;
      row.remind_at = 0;
      row.case_reference = reference;
      tx.update_checkin(row);
      ++result.missed;
    }
  });
  if (result.prompted || result.reminded || result.missed)
    spdlog::info("check-ins: {} due ({} queued), {} reminders, {} missed", result.prompted,
                 result.queued, result.reminded, result.missed);
  return result;
}

}  // namespace rabta::gateway
