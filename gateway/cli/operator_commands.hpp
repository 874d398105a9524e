// Commands the operator runs beside the server (they open the same database; SQLite's WAL lets
// them work while rabta serves).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

#include "adapters/store/records.hpp"
#include "flows/local_time.hpp"

namespace rabta::gateway {

// Enrols the women listed in a CSV file (see docs/OPERATIONS.md for the columns). Prints a
// summary and every rejected line with its reason; exit 0 = all imported, 1 = some rows were
// rejected (the others were imported), 2 = nothing imported (bad file or config).
int contacts_import(const std::string& config_path, const std::string& csv_path, std::ostream& out,
                    std::ostream& err, bool progress);
int contacts_list(const std::string& config_path, std::ostream& out, std::ostream& err);
// `who` is a contact id or a phone number. status: "active" (resume), "paused", "removed"
// (removal also erases her stored number).
int contacts_set_status(const std::string& config_path, const std::string& who,
                        const std::string& status, std::ostream& out, std::ostream& err);
// Outbound messages and alerts; `status` "" = all, else only that status ("dead",
// "unconfirmed", ...). Never prints numbers or texts.
// `rabta outbox resend ID`: a dead, expired or unconfirmed row is sent again (attempts reset).
// Exit 0 done, 1 no such row in one of those states, 2 config/database error.
int outbox_resend(const std::string& config_path, std::int64_t id, std::ostream& out,
                  std::ostream& err);
int outbox_list(const std::string& config_path, const std::string& status, int limit,
                std::ostream& out, std::ostream& err);
// The table `rabta outbox list` prints: columns as wide as their widest value, times in `zone`
// (the service's zone, named in the header) as "YYYY-MM-DD HH:MM", "-" for none; then totals.
std::string outbox_table(const std::vector<store::OutboxRecord>& rows,
                         const std::vector<std::pair<std::string, std::int64_t>>& counts,
                         const flows::Zone& zone);

// `rabta migrate-store --from sqlite:PATH --to postgresql://...` (#14): copies the SQLite store
// into an empty PostgreSQL database with the config's keys, then compares the row counts of every
// table and verifies the copied audit chain. 0 when all agree, 1 when they do not, 2 on an error.
int migrate_store(const std::string& config_path, const std::string& from, const std::string& to,
                  std::ostream& out, std::ostream& err);

}  // namespace rabta::gateway
