// Retention (SAFETY D4): rows past their period are deleted in small transactions (the server's
// own writes interleave), with secure_delete on, and the WAL is then checkpointed and truncated
// so that no old page image of a deleted row stays on disk. Runs every [retention] interval_ms
// inside `rabta serve`, and on demand as `rabta purge`.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>

#include "adapters/store/store.hpp"
#include "gateway/settings/config.hpp"

namespace rabta::gateway {

// The cutoffs for `now` (epoch ms): now minus each period; 0 where the period is 0 (forever).
store::PurgeCutoffs cutoffs_for(const RetentionConfig& retention, std::int64_t now);

struct PurgeReport {
  store::PurgeCounts deleted;
  bool checkpointed = false;  // the WAL was truncated afterwards
  std::string error;          // why it stopped early or the checkpoint failed ("" = all went)
};

// Deletes in batches of `batch` until nothing is left to delete, then truncates the WAL.
PurgeReport run_purge(store::Store& store, const store::PurgeCutoffs& cutoffs, int batch = 500);

// One line for the log and the command: counts only, never an id or a value.
std::string describe(const store::PurgeCounts& c);

// `rabta purge --config FILE [--dry-run]`. Exit 0 done, 2 bad config or database, 1 purged but
// the WAL could not be truncated (a reader held it: run again).
int purge_command(const std::string& config_path, bool dry_run, std::ostream& out,
                  std::ostream& err);

}  // namespace rabta::gateway
