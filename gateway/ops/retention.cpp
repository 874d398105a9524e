#include "gateway/ops/retention.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <iostream>
#include <sstream>

#include "adapters/common/clock.hpp"
#include "gateway/ops/command_context.hpp"

namespace rabta::gateway {

namespace {

constexpr std::int64_t kDay = 86'400'000;

std::int64_t before(std::int64_t now, int days) {
  return days > 0 ? now - days * kDay : 0;
}

}  // namespace

store::PurgeCutoffs cutoffs_for(const RetentionConfig& r, std::int64_t now) {
  store::PurgeCutoffs c;
  c.sessions = before(now, r.sessions_days);
  c.closed_cases = before(now, r.closed_cases_days);
  c.outbox = before(now, r.outbox_days);
  c.inbound = before(now, r.inbound_days);
  c.checkins = before(now, r.checkins_days);
  return c;
}

std::string describe(const store::PurgeCounts& c) {
  std::ostringstream s;
  s << c.sessions << " sessions, " << c.answers << " answers, " << c.cases << " closed cases, "
    << c.notes << " notes, " << c.outbox << " outbox rows, " << c.inbound << " inbound records, "
    << c.checkins << " check-ins";
  return s.str();
}

PurgeReport run_purge(store::Store& store, const store::PurgeCutoffs& cutoffs, int batch) {
  PurgeReport report;
  store::PurgeCursor cursor;
  while (!cursor.done) {
    store::PurgeCounts step;
    // A copy per job: a failed job's cursor never moves the pass on.
    store::PurgeCursor next = cursor;
    const auto r = store.run([&](store::Tx& tx) {
      // Instances sharing a database (#14): one purges at a time; another ends its pass here.
      if (!tx.try_lock("retention")) {
        next.done = true;
        return;
      }
      step = tx.purge(cutoffs, batch, next);
    });
    if (!r.ok) {
      report.error = r.error;
      return report;
    }
    cursor = next;
    report.deleted += step;
  }
  // Even with nothing deleted now, earlier deletions' page images may still sit in the WAL.
  const auto c = store.checkpoint_wal();
  report.checkpointed = c.ok;
  if (!c.ok) report.error = c.error;
  return report;
}

int purge_command(const std::string& config_path, bool dry_run, std::ostream& out,
                  std::ostream& err) {
  auto ctx = open_command_context(config_path, err, false);
  if (!ctx) return 2;
  const Config& config = ctx->config;
  auto& store = ctx->store;
  const auto now = common::SystemClock().now_ms();
  const auto cut = cutoffs_for(config.retention, now);
  if (dry_run) {
    store::PurgeCounts would;
    store->read([&](store::Tx& tx) { would = tx.purgeable(cut); });
    out << "would delete: " << describe(would) << "\n";
    store->close();
    return 0;
  }
  const PurgeReport report = run_purge(*store, cut);
  out << "deleted: " << describe(report.deleted) << "\n";
  if (!report.error.empty()) {
    err << "rabta: " << report.error << "\n";
    store->close();
    return report.checkpointed ? 2 : 1;
  }
  out << "the write-ahead log was checkpointed and truncated\n";
  store->close();
  return 0;
}

}  // namespace rabta::gateway
