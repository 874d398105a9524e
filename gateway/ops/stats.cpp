#include "gateway/ops/stats.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <tuple>

#include "adapters/common/clock.hpp"
#include "adapters/store/store.hpp"
#include "gateway/settings/config.hpp"

namespace rabta::gateway {

namespace {

bool is_key(const std::string& s) {
  if (s.empty() || s.size() > 40) return false;
  for (const char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

bool is_week(const std::string& s) {
  // "YYYY-Www"
  if (s.size() != 8 || s[4] != '-' || s[5] != 'W') return false;
  for (const std::size_t i : {0u, 1u, 2u, 3u, 6u, 7u})
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

}  // namespace

std::string stats_csv(const std::vector<store::StatFact>& facts, const StatsOptions& o) {
  using Key = std::tuple<std::string, std::string, std::string, std::string>;
  std::map<Key, std::int64_t> cells;
  for (const auto& f : facts) {
    if (f.measure != "case" && f.measure != "checkin") continue;
    std::string week =
        f.measure == "case" ? flows::iso_week(flows::to_local(f.at, o.zone)) : f.week;
    if (!is_week(week)) week = "unknown";
    const std::string district = o.districts.count(f.district) ? f.district : "unknown";
    const std::string category = is_key(f.category) ? f.category : "other";
    ++cells[{f.measure, week, district, category}];
  }
  std::ostringstream out;
  out << "measure,week,district,category,count\n";
  for (const auto& [key, n] : cells) {
    const auto& [measure, week, district, category] = key;
    out << measure << ',' << week << ',' << district << ',' << category << ',';
    if (n < o.min_cell) {
      out << '<' << o.min_cell;
    } else {
      out << n;
    }
    out << '\n';
  }
  return out.str();
}

int stats_command(const std::string& config_path, int min_cell, int weeks, std::ostream& out,
                  std::ostream& err) {
  try {
    spdlog::set_level(spdlog::level::warn);
    const Config config = load_config(config_path);
    const flows::LoadResult flows = load_flows(config);
    if (!flows.flows) {
      for (const auto& e : flows.errors) err << e.to_string() << "\n";
      return 2;
    }
    StatsOptions o;
    o.zone = flows::require_zone(config.checkins.timezone);
    o.min_cell = min_cell;
    if (auto it = flows.flows->lists.find("districts"); it != flows.flows->lists.end())
      for (const auto& d : it->second) o.districts.insert(d.key);
    auto store = store::open_store(store_options(config));
    const auto now = common::SystemClock().now_ms();
    std::vector<store::StatFact> facts;
    store->read([&](store::Tx& tx) {
      facts = tx.stat_facts(now - static_cast<std::int64_t>(weeks) * 7 * 86'400'000, now + 1);
    });
    store->close();
    out << stats_csv(facts, o);
    return 0;
  } catch (const std::exception& e) {
    err << "rabta: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace rabta::gateway
