#include "gateway/cli/operator_commands.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include "adapters/common/cipher.hpp"
#include "adapters/common/clock.hpp"
#include "adapters/common/crypto.hpp"
#include "adapters/store/store.hpp"
#include "gateway/checkins/enrolment.hpp"
#include "gateway/ops/backup.hpp"
#include "gateway/ops/command_context.hpp"
#include "gateway/responders/case_service.hpp"
#include "gateway/settings/config.hpp"

namespace rabta::gateway {

namespace {

std::int64_t now_ms() {
  return common::SystemClock().now_ms();
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot read the file");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

int contacts_import(const std::string& config_path, const std::string& csv_path, std::ostream& out,
                    std::ostream& err, bool progress) {
  auto ctx = open_command_context(config_path, err, true);
  if (!ctx) return 2;
  const flows::LoadResult flows = load_flows(ctx->config);
  if (!flows.flows) {
    for (const auto& e : flows.errors) err << e.to_string() << "\n";
    return 2;
  }
  EnrolmentRules rules;
  rules.languages = flows.flows->settings.languages;
  if (auto it = flows.flows->lists.find("districts"); it != flows.flows->lists.end())
    for (const auto& d : it->second) rules.districts.push_back(d.key);
  EnrolmentParse parsed;
  try {
    parsed = parse_enrolment_csv(read_all(csv_path), rules);
  } catch (const std::exception& e) {
    err << "rabta: " << e.what() << "\n";
    return 2;
  }
  if (!parsed.fatal.empty()) {
    err << csv_path << ": " << parsed.fatal << "\nnothing imported\n";
    return 2;
  }
  const std::size_t total = parsed.accepted.size();
  std::size_t done = 0;
  constexpr std::size_t batch = 500;
  for (std::size_t begin = 0; begin < total; begin += batch) {
    const std::size_t end = std::min(total, begin + batch);
    const auto r = ctx->store->run([&](store::Tx& tx) {
      const std::int64_t now = now_ms();
      for (std::size_t i = begin; i < end; ++i) {
        const EnrolmentRow& row = parsed.accepted[i];
        store::ContactRecord c;
        c.pseudonym = ctx->keys.pseudonymizer->pseudonym(row.phone);
        c.status = store::contact_status::active;
        c.language = row.language;
        c.district = row.district;
        c.checkin_weekday = row.weekday;
        c.window_start_hour = row.window_start_hour;
        c.window_end_hour = row.window_end_hour;
        c.channel = row.channel;
        c.sms_ok = row.sms_ok;
        c.confirm_ok = row.confirm_ok;
        const std::int64_t id = tx.enrol_contact(c, now);
        // Her number in clear only encrypted, bound to her row (SAFETY D1): sending needs it.
        tx.set_contact_phone(
            id,
            ctx->keys.cipher->encrypt(
                row.phone, common::FieldCipher::associated_data("contacts", "phone_enc", id)),
            now);
        tx.insert_consent({id, 0, "sms", row.sms_ok, now});
        tx.insert_consent({id, 0, "confirmation", row.confirm_ok, now});
      }
    });
    if (!r.ok) {
      err << "rabta: import stopped at row " << begin + 1 << " of " << total << ": " << r.error
          << "\n"
          << done << " contact(s) were imported before the failure\n";
      return 2;
    }
    done = end;
    if (progress) err << "\rimporting " << done << "/" << total << std::flush;
  }
  if (progress && total) err << "\n";
  out << "accepted " << parsed.accepted.size() << ", rejected " << parsed.rejected.size() << "\n";
  for (const auto& rej : parsed.rejected)
    out << csv_path << ":" << rej.line << ": " << rej.reason << "\n";
  ctx->store->close();
  return parsed.rejected.empty() ? 0 : 1;
}

int contacts_list(const std::string& config_path, std::ostream& out, std::ostream& err) {
  auto ctx = open_command_context(config_path, err, false);
  if (!ctx) return 2;
  out << std::left << std::setw(8) << "id" << std::setw(10) << "status" << std::setw(7) << "lang"
      << std::setw(16) << "district" << std::setw(8) << "weekday" << std::setw(8) << "window"
      << std::setw(8) << "channel" << std::setw(7) << "sms_ok"
      << "missed\n";
  std::int64_t after = 0;
  std::size_t count = 0;
  for (;;) {
    std::vector<store::ContactRecord> page;
    ctx->store->read([&](store::Tx& tx) { page = tx.list_contacts(after, 1000); });
    for (const auto& c : page) {
      after = c.id;
      if (c.status == store::contact_status::caller) continue;  // never enrolled
      ++count;
      out << std::left << std::setw(8) << c.id << std::setw(10) << c.status << std::setw(7)
          << c.language << std::setw(16) << (c.district.empty() ? "-" : c.district) << std::setw(8)
          << c.checkin_weekday << std::setw(8)
          << (std::to_string(c.window_start_hour) + "-" + std::to_string(c.window_end_hour))
          << std::setw(8) << c.channel << std::setw(7) << (c.sms_ok ? "yes" : "no")
          << c.missed_in_row << "\n";
    }
    if (page.size() < 1000) break;
  }
  out << count << " enrolled contact(s)\n";
  return 0;
}

int contacts_set_status(const std::string& config_path, const std::string& who,
                        const std::string& status, std::ostream& out, std::ostream& err) {
  auto ctx = open_command_context(config_path, err, true);
  if (!ctx) return 2;
  const bool by_id =
      !who.empty() && who.find_first_not_of("0123456789") == std::string::npos && who.size() < 8;
  bool found = false;
  const auto r = ctx->store->run([&](store::Tx& tx) {
    std::optional<store::ContactRecord> c =
        by_id ? tx.find_contact_by_id(std::stoll(who))
              : tx.find_contact(ctx->keys.pseudonymizer->pseudonym(who));
    if (!c) return;
    found = true;
    const std::int64_t now = now_ms();
    tx.set_contact_status(c->id, status, now);
    if (status == store::contact_status::removed) tx.set_contact_phone(c->id, "", now);
  });
  if (!r.ok) {
    err << "rabta: " << r.error << "\n";
    return 2;
  }
  if (!found) {
    err << "rabta: no such contact\n";
    return 1;
  }
  out << "contact " << (by_id ? who : std::string("(by number)")) << ": " << status
      << (status == store::contact_status::removed ? " (her stored number was erased)" : "")
      << "\n";
  return 0;
}

int outbox_resend(const std::string& config_path, std::int64_t id, std::ostream& out,
                  std::ostream& err) {
  auto ctx = open_command_context(config_path, err, false);
  if (!ctx) return 2;
  bool done = false;
  const auto now = common::SystemClock().now_ms();
  const auto r = ctx->store->run([&](store::Tx& tx) {
    done = tx.outbox_resend(id, now);
    if (done) tx.append_audit(now, "operator", "outbox.resend", "", "outbox " + std::to_string(id));
  });
  if (!r.ok) {
    err << "rabta outbox resend: " << r.error << "\n";
    return 2;
  }
  if (!done) {
    err << "rabta outbox resend: no dead, expired or unconfirmed outbox row " << id << "\n";
    return 1;
  }
  out << "outbox " << id << ": pending again; a running rabta sends it at its next pass\n";
  return 0;
}

int outbox_list(const std::string& config_path, const std::string& status, int limit,
                std::ostream& out, std::ostream& err) {
  auto ctx = open_command_context(config_path, err, false);
  if (!ctx) return 2;
  std::vector<store::OutboxRecord> rows;
  std::vector<std::pair<std::string, std::int64_t>> counts;
  ctx->store->read([&](store::Tx& tx) {
    rows = tx.list_outbox(status, limit);
    counts = tx.outbox_counts();
  });
  out << outbox_table(rows, counts, flows::require_zone(ctx->config.checkins.timezone));
  return 0;
}

namespace {

std::string local_minute(std::int64_t ms, const flows::Zone& zone) {
  if (ms <= 0) return "-";
  const flows::LocalTime t = flows::to_local(ms, zone);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d", t.year, t.month, t.day, t.hour,
                t.minute);
  return buf;
}

}  // namespace

std::string outbox_table(const std::vector<store::OutboxRecord>& rows,
                         const std::vector<std::pair<std::string, std::int64_t>>& counts,
                         const flows::Zone& zone) {
  std::vector<std::vector<std::string>> table;
  table.push_back({"id", "kind", "status", "tries", "delivery", "parts", "created", "next try",
                   "sent", "cause", "last error"});
  for (const auto& o : rows) {
    const bool waiting = o.status == store::outbox_status::pending;
    table.push_back(
        {std::to_string(o.id), o.kind, o.status, std::to_string(o.attempts),
         o.delivery_status.empty() ? "-" : o.delivery_status,
         o.segments > 0 ? std::to_string(o.segments) : "-", local_minute(o.created_at, zone),
         waiting ? local_minute(o.not_before, zone) : "-", local_minute(o.sent_at, zone),
         o.cause.empty() ? "-" : o.cause, o.last_error.empty() ? "-" : o.last_error});
  }
  std::vector<std::size_t> width(table.front().size(), 0);
  for (const auto& row : table)
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], utf8_length(row[i]));
  std::ostringstream out;
  out << "times in " << zone.name << "\n";
  for (const auto& row : table) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      // Two spaces between columns; the last one is not padded.
      if (i + 1 < row.size()) line += std::string(width[i] - utf8_length(row[i]) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  }
  out << "totals:";
  for (const auto& [k, v] : counts) out << " " << k << "=" << v;
  out << "\n";
  return out.str();
}

int migrate_store(const std::string& config_path, const std::string& from, const std::string& to,
                  std::ostream& out, std::ostream& err) {
  if (!from.starts_with("sqlite:") || from.size() == 7) {
    err << "rabta: --from takes sqlite:PATH (the SQLite file to copy)\n";
    return 2;
  }
  if (!to.starts_with("postgresql://") && !to.starts_with("postgres://")) {
    err << "rabta: --to takes a PostgreSQL URL: postgresql://USER@HOST:PORT/DATABASE\n";
    return 2;
  }
  {
    // As in rabta.toml: a password on the command line is in every `ps` listing.
    const auto authority = to.substr(
        to.find("://") + 3, to.find_first_of("/?", to.find("://") + 3) - to.find("://") - 3);
    const auto at = authority.rfind('@');
    if ((at != std::string::npos && authority.substr(0, at).find(':') != std::string::npos) ||
        to.find("password=") != std::string::npos) {
      err << "rabta: --to holds a password: give it in PGPASSWORD or ~/.pgpass instead\n";
      return 2;
    }
  }
  try {
    spdlog::set_level(spdlog::level::warn);
    const Config config = load_config(config_path);
    const Keys keys = load_keys(config);
    store::StoreOptions source;
    source.path = from.substr(7);
    // A serve still writing the source would write after the snapshot: its rows would be lost.
    const auto lock = DatabaseLock::try_acquire(source.path);
    if (!lock) {
      err << "rabta: refusing to copy: rabta serve is running on " << source.path
          << " (stop it first)\n";
      return 2;
    }
    source.cipher = keys.cipher;
    source.audit_key = audit_key(*keys.pseudonymizer);
    store::StoreOptions target = source;
    target.path.clear();
    target.url = to;
    const std::string where = store::describe_database(to);
    out << "copying " << source.path << " into " << where << "\n";
    const store::CopyReport report = store::copy_sqlite_to_postgres(
        source, target, [&](const std::string& table, std::int64_t rows) {
          out << "  " << std::left << std::setw(11) << table << std::right << std::setw(10) << rows
              << " rows\n";
        });
    bool agree = report.source == report.target;
    for (std::size_t i = 0; i < report.source.size() && i < report.target.size(); ++i) {
      if (report.source[i] != report.target[i]) {
        out << "  " << report.source[i].first << ": " << report.source[i].second
            << " in the source, " << report.target[i].second << " in the copy\n";
      }
    }
    out << (agree ? "row counts agree in every table\n" : "row counts differ\n");
    store::AuditCheck check;
    auto copy = store::open_store(target);
    copy->read([&](store::Tx& tx) { check = verify_audit_chain(tx, target.audit_key); });
    copy->close();
    if (check.broken_at) {
      out << "audit chain of the copy broken at row " << *check.broken_at << ": " << check.reason
          << "\n";
      return 1;
    }
    out << "audit chain of the copy ok: " << check.rows << " rows\n";
    if (!agree) return 1;
    out << "next: set [database] url in " << config_path
        << " (and remove path), then start rabta serve on it\n";
    return 0;
  } catch (const std::exception& e) {
    std::string why = e.what();
    if (why.find("written in clear") != std::string::npos) {
      why += " (values an older rabta left in clear: run `rabta keys rotate --config " +
             config_path + "` on the SQLite store first)";
    }
    err << "rabta: " << why << "\n";
    return 2;
  }
}

}  // namespace rabta::gateway
