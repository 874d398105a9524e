#include "gateway/cli/responders_commands.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iomanip>
#include <istream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <string_view>
#include <utility>
#include <variant>

#include "adapters/common/clock.hpp"
#include "adapters/common/form.hpp"
#include "gateway/responders/caseworker_api.hpp"
#include "gateway/responders/roster_sync.hpp"
#include "gateway/settings/config.hpp"

namespace rabta::gateway {

namespace {

std::int64_t wall_ms() {
  return common::SystemClock().now_ms();
}

std::unique_ptr<store::Store> open_store(const Config& config, std::ostream& err,
                                         const std::string& audit_key) {
  try {
    store::StoreOptions so = store_options(config);
    so.audit_key = audit_key;
    return store::open_store(so);
  } catch (const std::exception& e) {
    err << "rabta: " << e.what() << "\n";
    return nullptr;
  }
}

std::optional<Config> load_quietly(const std::string& config_path, std::ostream& err) {
  spdlog::set_level(spdlog::level::warn);
  try {
    return load_config(config_path);
  } catch (const std::exception& e) {
    err << "rabta: " << e.what() << "\n";
    return std::nullopt;
  }
}

}  // namespace

namespace {

// Loads the keys and the roster, syncs the roster into the database and runs `work` in the same
// transaction. 0, or 2 for a bad config, keys, roster or database.
using RosterWork = std::function<void(store::Tx&, const common::Pseudonymizer&, std::int64_t now)>;
int with_synced_roster(const std::string& config_path, std::ostream& err, const RosterWork& work) {
  const std::optional<Config> config = load_quietly(config_path, err);
  if (!config) return 2;
  if (sodium_init() < 0) {
    err << "rabta: libsodium could not be initialised\n";
    return 2;
  }
  std::unique_ptr<common::Pseudonymizer> pseudonymizer;
  std::unique_ptr<common::FieldCipher> cipher;
  try {
    pseudonymizer = std::make_unique<common::Pseudonymizer>(common::Pseudonymizer::load_key(
        config->pseudonym_key_file, config->pseudonym_key_env.c_str()));
    cipher = std::make_unique<common::FieldCipher>(
        common::FieldCipher::load(config->field_key_file, config->field_key_env.c_str()));
  } catch (const std::exception& e) {
    err << "rabta: " << e.what() << "\n";
    return 2;
  }
  const flows::LoadResult flows = load_flows(*config);
  if (!flows.flows || !flows.errors.empty()) {
    for (const auto& e : flows.errors) err << e.to_string() << "\n";
    return 2;
  }
  if (config->responders_file.empty()) {
    err << "rabta: " << config_path << " has no [responders] file: there is nobody to change\n";
    return 2;
  }
  std::vector<flows::Diagnostic> errors;
  const Roster roster = load_roster(config->responders_file, *flows.flows, errors);
  if (!errors.empty()) {
    for (const auto& e : errors) err << e.to_string() << "\n";
    return 2;
  }
  auto store = open_store(*config, err, audit_key(*pseudonymizer));
  if (!store) return 2;
  const store::JobResult r = store->run([&](store::Tx& tx) {
    const std::int64_t now = wall_ms();
    sync_roster(tx, roster, *pseudonymizer, *cipher, now);
    work(tx, *pseudonymizer, now);
  });
  store->close();
  if (!r.ok) {
    err << "rabta: the database refused the change: " << r.error << "\n";
    return 2;
  }
  return 0;
}

// with_synced_roster() running `change` on the active member called `name`. 0, 1 (no such
// member) or 2 (anything else).
using MemberChange = std::function<void(store::Tx&, const store::ResponderRecord&,
                                        const common::Pseudonymizer&, std::int64_t now)>;
int change_member(const std::string& config_path, const std::string& name, std::ostream& err,
                  const MemberChange& change, std::optional<store::ResponderRecord>& member) {
  const int rc = with_synced_roster(
      config_path, err, [&](store::Tx& tx, const common::Pseudonymizer& key, std::int64_t now) {
        for (auto& rec : tx.list_responders())
          if (rec.name == name && rec.active) member = rec;
        if (member) change(tx, *member, key, now);
      });
  if (rc != 0) return rc;
  if (!member) {
    err << "rabta: no member named '" << name << "' in the roster ([responders] file of "
        << config_path << ")\n";
    return 1;
  }
  return 0;
}

// "2026-12-05 17:42 UTC"
std::string utc_minute(std::int64_t ms) {
  const std::chrono::sys_seconds t{std::chrono::seconds{ms / 1000}};
  const auto day = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{t - day};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02lld:%02lld UTC", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<long long>(hms.hours().count()),
                static_cast<long long>(hms.minutes().count()));
  return buf;
}

}  // namespace

int responders_token(const std::string& config_path, const std::string& name, int days,
                     std::ostream& out, std::ostream& err) {
  if (days < 1 || days > kMaxTokenDays) {
    err << "rabta: --days must be 1 to " << kMaxTokenDays << "\n";
    return 2;
  }
  std::array<unsigned char, 32> raw{};
  std::string token;
  std::int64_t expires_at = 0;
  std::optional<store::ResponderRecord> member;
  const int rc = change_member(
      config_path, name, err,
      [&](store::Tx& tx, const store::ResponderRecord& m, const common::Pseudonymizer&,
          std::int64_t now) {
        randombytes_buf(raw.data(), raw.size());
        token = format_api_token(m.id, raw);
        sodium_memzero(raw.data(), raw.size());
        expires_at = now + static_cast<std::int64_t>(days) * 24 * 3600 * 1000;
        tx.set_responder_token(m.id, common::sha256_hex(token), now, expires_at);
        tx.append_audit(now, "operator", "responder.token_issued", "",
                        "responder=" + std::to_string(m.id) + " days=" + std::to_string(days));
      },
      member);
  if (rc != 0) return rc;
  out << token << "\n";
  err << "issued an API token for " << member->name << " (" << member->role << ", team "
      << member->team << "), valid until " << utc_minute(expires_at)
      << "; it is shown only this once and replaces any earlier token\n";
  return 0;
}

int responders_revoke(const std::string& config_path, const std::string& name, std::ostream& out,
                      std::ostream& err) {
  bool had = false;
  std::optional<store::ResponderRecord> member;
  const int rc = change_member(
      config_path, name, err,
      [&](store::Tx& tx, const store::ResponderRecord& m, const common::Pseudonymizer&,
          std::int64_t now) {
        had = !m.token_hash.empty();
        if (!had) return;
        tx.set_responder_token(m.id, "", now, 0);
        tx.append_audit(now, "operator", "responder.token_revoked", "",
                        "responder=" + std::to_string(m.id));
      },
      member);
  if (rc != 0) return rc;
  out << (had ? "revoked the API token of " : "there was no API token to revoke for ")
      << member->name << (had ? ": it stops working now\n" : "\n");
  return 0;
}

int responders_tokens(const std::string& config_path, std::ostream& out, std::ostream& err) {
  std::vector<store::ResponderRecord> all;
  std::int64_t at = 0;
  const int rc = with_synced_roster(
      config_path, err, [&](store::Tx& tx, const common::Pseudonymizer&, std::int64_t now) {
        all = tx.list_responders();
        at = now;
      });
  if (rc != 0) return rc;
  std::size_t width = 4;
  for (const auto& r : all) width = std::max(width, r.name.size());
  out << std::left << std::setw(static_cast<int>(width)) << "name"
      << "  state     issued                valid until\n";
  for (const auto& r : all) {
    const char* state = !r.active                  ? "removed"
                        : r.token_hash.empty()     ? "none"
                        : r.token_expires_at <= at ? "expired"
                                                   : "valid";
    out << std::left << std::setw(static_cast<int>(width)) << r.name << "  " << std::setw(8)
        << state << "  ";
    if (r.token_hash.empty())
      out << std::setw(20) << "-"
          << "  -";
    else
      out << std::setw(20)
          << (r.token_issued_at == 0 ? "before schema 7" : utc_minute(r.token_issued_at)) << "  "
          << utc_minute(r.token_expires_at);
    out << "\n";
  }
  return 0;
}

int responders_pin(const std::string& config_path, const std::string& name, bool clear,
                   std::istream& in, std::ostream& out, std::ostream& err) {
  std::string pin;
  if (!clear) {
    std::getline(in, pin);
    while (!pin.empty() && (pin.back() == '\r' || pin.back() == ' ')) pin.pop_back();
    if (!valid_pin(pin)) {
      err << "rabta: a PIN is 4 to 8 digits (read from standard input)\n";
      return 2;
    }
  }
  std::optional<store::ResponderRecord> member;
  const int rc = change_member(
      config_path, name, err,
      [&](store::Tx& tx, const store::ResponderRecord& m, const common::Pseudonymizer& key,
          std::int64_t now) {
        tx.set_responder_pin(m.id, clear ? "" : responder_pin_hash(key, m.id, pin), now);
        tx.append_audit(now, "operator", clear ? "responder.pin_cleared" : "responder.pin_set", "",
                        "responder=" + std::to_string(m.id));
      },
      member);
  if (rc != 0) return rc;
  out << (clear ? "cleared the SMS PIN of " : "set the SMS PIN of ") << member->name
      << (clear ? ": her SMS commands need no PIN now\n"
                : ": her SMS commands must end in it, e.g. ACK <reference> <PIN>\n");
  return 0;
}

namespace {

// For `rabta audit ...`: opens the store with the audit key and runs `read` in one read
// transaction. 0, or 2 after telling why.
int read_audit(const std::string& config_path, std::ostream& err,
               const std::function<void(store::Tx&, const std::string& key)>& read) {
  const std::optional<Config> config = load_quietly(config_path, err);
  if (!config) return 2;
  std::string key;
  try {
    key = audit_key(common::Pseudonymizer(common::Pseudonymizer::load_key(
        config->pseudonym_key_file, config->pseudonym_key_env.c_str())));
  } catch (const std::exception& e) {
    err << "rabta: " << e.what() << "\n";
    return 2;
  }
  auto store = open_store(*config, err, key);
  if (!store) return 2;
  try {
    store->read([&](store::Tx& tx) { read(tx, key); });
  } catch (const std::exception& e) {
    store->close();
    err << "rabta: " << e.what() << "\n";
    return 2;
  }
  store->close();
  return 0;
}

}  // namespace

int audit_verify(const std::string& config_path, const std::string& head, std::ostream& out,
                 std::ostream& err) {
  std::int64_t head_id = 0;
  std::string head_mac;
  if (!head.empty()) {
    const auto colon = head.find(':');
    const auto id_text = head.substr(0, colon);
    const auto [end, ec] =
        std::from_chars(id_text.data(), id_text.data() + id_text.size(), head_id);
    if (colon == std::string::npos || ec != std::errc() || end != id_text.data() + id_text.size() ||
        head_id <= 0) {
      err << "rabta: --head takes what `rabta audit head` printed: ROW:MAC\n";
      return 2;
    }
    head_mac = head.substr(colon + 1);
  }
  store::AuditCheck check;
  std::optional<store::AuditRecord> anchored;
  const int rc = read_audit(config_path, err, [&](store::Tx& tx, const std::string& key) {
    check = verify_audit_chain(tx, key);
    if (head_id > 0) {
      const auto rows = tx.list_audit(head_id - 1, 1);
      if (!rows.empty() && rows.front().id == head_id) anchored = rows.front();
    }
  });
  if (rc != 0) return rc;
  if (check.broken_at) {
    out << "audit chain broken at row " << *check.broken_at << ": " << check.reason << "\n";
    return 1;
  }
  if (head_id > 0) {
    if (!anchored) {
      out << "audit chain cut short: row " << head_id
          << " of the kept head is gone (the log ends at row " << check.last_id << ")\n";
      return 1;
    }
    if (!common::constant_time_equal(anchored->hash, head_mac)) {
      out << "audit chain rewritten: row " << head_id << " no longer has the kept head's MAC\n";
      return 1;
    }
  }
  out << "audit chain ok: " << check.rows << " rows"
      << (head_id > 0 ? ", and it holds the kept head at row " + std::to_string(head_id) : "")
      << "\n";
  return 0;
}

int audit_head(const std::string& config_path, std::ostream& out, std::ostream& err) {
  store::AuditCheck check;
  const int rc = read_audit(config_path, err, [&](store::Tx& tx, const std::string& key) {
    check = verify_audit_chain(tx, key);
  });
  if (rc != 0) return rc;
  if (check.broken_at) {
    err << "rabta: audit chain broken at row " << *check.broken_at << ": " << check.reason
        << "; no head printed\n";
    return 1;
  }
  if (check.rows == 0) {
    err << "rabta: the audit log is empty\n";
    return 1;
  }
  out << check.last_id << ":" << check.last_mac << "\n";
  err << "keep this line outside this machine (e.g. in the operator's log book or a mail to "
         "yourself); `rabta audit verify --head LINE` later proves no row up to it was removed\n";
  return 0;
}

}  // namespace rabta::gateway
