// rabta: an SMS/USSD gateway for well-being check-ins. Thin: parses the command line and calls
// the subcommands in gateway/cli/commands.cpp.
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "gateway/cli/commands.hpp"
#include "gateway/cli/operator_commands.hpp"
#include "gateway/cli/responders_commands.hpp"
#include "gateway/cli/simulator.hpp"
#include "gateway/ops/backup.hpp"
#include "gateway/ops/keys.hpp"
#include "gateway/ops/retention.hpp"
#include "gateway/ops/stats.hpp"
#include "gateway/responders/caseworker_api.hpp"

int main(int argc, char** argv) {
  // Every file rabta creates (the database, its WAL and SHM, backups, keys, exports) is for the
  // service user alone (SECURITY #11): `rabta serve` also tightens an existing database at start.
  ::umask(077);
  CLI::App cli{"rabta: SMS/USSD gateway for well-being check-ins and incident reports"};
  cli.set_version_flag("--version", std::string("rabta ") + RABTA_VERSION);
  cli.require_subcommand(1);

  rabta::gateway::ServeOptions serve;
  std::string listen;
  std::string database;
  auto* serve_cmd = cli.add_subcommand("serve", "Serve the aggregators' webhooks");
  serve_cmd->add_option("--config", serve.config_path, "rabta.toml")
      ->required()
      ->check(CLI::ExistingFile);
  serve_cmd->add_option("--listen", listen, "HOST:PORT (overrides [server])");
  serve_cmd->add_option("--db", database, "SQLite database file (overrides [database] path)");

  std::string init_config;
  auto* init_cmd =
      cli.add_subcommand("init", "Create missing key and secret files and the database");
  init_cmd->add_option("--config", init_config, "rabta.toml")->required()->check(CLI::ExistingFile);

  std::string check_config;
  auto* check_cmd =
      cli.add_subcommand("check", "Validate the config and every flow, without serving");
  check_cmd->add_option("--config", check_config, "rabta.toml")
      ->required()
      ->check(CLI::ExistingFile);

  rabta::gateway::SimulatorOptions sim;
  auto* sim_cmd =
      cli.add_subcommand("simulate",
                         "A phone in the terminal, speaking Africa's Talking USSD or, with "
                         "--channel, any [ussd.NAME] gateway");
  sim_cmd->add_option("--url", sim.url, "the gateway's USSD URL, with ?key=...")->required();
  sim_cmd->add_option("--phone", sim.phone, "the phone number to dial from")->required();
  sim_cmd->add_option("--code", sim.code, "the USSD code dialled, e.g. *786#")
      ->default_val("*786#");
  sim_cmd->add_option("--session", sim.session_id, "session id (default: random)");
  std::string sim_config, sim_channel, sim_send;
  sim_cmd->add_option("--config", sim_config,
                      "with --channel: rabta.toml, whose [ussd.NAME] describes the gateway");
  sim_cmd->add_option("--channel", sim_channel,
                      "a [ussd.NAME] of kind \"http\": speak that gateway; --url is then where "
                      "rabta listens, e.g. http://127.0.0.1:8080");
  sim_cmd->add_option("--send", sim_send,
                      "HOST:PORT to play an asynchronous gateway's send API on (its send.url)");

  std::string config;
  auto* contacts_cmd =
      cli.add_subcommand("contacts", "Enrolled women: import, list, pause, resume, remove");
  contacts_cmd->require_subcommand(1);
  std::string csv;
  auto* import_cmd = contacts_cmd->add_subcommand("import", "Enrol the women listed in a CSV file");
  import_cmd->add_option("FILE", csv, "CSV with columns phone, language, weekday, window, ...")
      ->required()
      ->check(CLI::ExistingFile);
  auto* list_cmd =
      contacts_cmd->add_subcommand("list", "List enrolled contacts (no numbers shown)");
  std::string who;
  auto* pause_cmd = contacts_cmd->add_subcommand("pause", "Stop her weekly check-ins for now");
  auto* resume_cmd = contacts_cmd->add_subcommand("resume", "Resume her weekly check-ins");
  auto* remove_cmd =
      contacts_cmd->add_subcommand("remove", "Remove her and erase her stored number");
  for (auto* c : {pause_cmd, resume_cmd, remove_cmd})
    c->add_option("WHO", who, "contact id or phone number")->required();
  // --config may also follow the sub-command: `rabta contacts import FILE --config X`.
  for (auto* c : {import_cmd, list_cmd, pause_cmd, resume_cmd, remove_cmd}) c->fallthrough();
  contacts_cmd->add_option("--config", config, "rabta.toml")->required()->check(CLI::ExistingFile);

  std::string outbox_config;
  bool dead_only = false;
  int limit = 50;
  auto* outbox_cmd = cli.add_subcommand("outbox", "Outbound messages and alerts");
  outbox_cmd->require_subcommand(1);
  auto* outbox_list_cmd = outbox_cmd->add_subcommand("list", "List the newest outbox rows");
  outbox_list_cmd->add_flag("--dead", dead_only, "only dead letters");
  bool unconfirmed_only = false;
  outbox_list_cmd->add_flag("--unconfirmed", unconfirmed_only,
                            "only messages in doubt after a crash (never sent twice)");
  outbox_list_cmd->add_option("--limit", limit, "rows")->default_val(50);
  outbox_list_cmd->fallthrough();
  std::int64_t resend_id = 0;
  auto* outbox_resend_cmd = outbox_cmd->add_subcommand(
      "resend", "Send a dead, expired or unconfirmed message again (attempts reset)");
  outbox_resend_cmd->add_option("id", resend_id, "outbox row id")->required();
  outbox_resend_cmd->fallthrough();
  outbox_cmd->add_option("--config", outbox_config, "rabta.toml")
      ->required()
      ->check(CLI::ExistingFile);

  std::string responders_config;
  std::string responder_name;
  auto* responders_cmd = cli.add_subcommand("responders", "Caseworkers' access");
  responders_cmd->require_subcommand(1);
  int token_days = rabta::gateway::kDefaultTokenDays;
  auto* token_cmd = responders_cmd->add_subcommand(
      "token", "Issue a new API token for a responder (printed once, replaces her earlier one)");
  token_cmd->add_option("NAME", responder_name, "her name as in responders.toml")->required();
  token_cmd
      ->add_option(
          "--days", token_days,
          "days it stays valid (1 to " + std::to_string(rabta::gateway::kMaxTokenDays) + ")")
      ->default_val(rabta::gateway::kDefaultTokenDays);
  token_cmd->fallthrough();
  auto* tokens_cmd = responders_cmd->add_subcommand(
      "tokens", "List every responder's token: valid, expired or none, issued and valid until");
  tokens_cmd->fallthrough();
  auto* revoke_cmd = responders_cmd->add_subcommand("revoke", "Revoke a responder's API token now");
  revoke_cmd->add_option("NAME", responder_name, "her name as in responders.toml")->required();
  revoke_cmd->fallthrough();
  bool clear_pin = false;
  auto* pin_cmd = responders_cmd->add_subcommand(
      "pin", "Set a responder's SMS PIN (4 to 8 digits, read from standard input)");
  pin_cmd->add_option("NAME", responder_name, "her name as in responders.toml")->required();
  pin_cmd->add_flag("--clear", clear_pin, "remove her PIN: SMS commands without one");
  pin_cmd->fallthrough();
  responders_cmd->add_option("--config", responders_config, "rabta.toml")
      ->required()
      ->check(CLI::ExistingFile);

  std::string migrate_config, migrate_from, migrate_to;
  auto* migrate_cmd = cli.add_subcommand(
      "migrate-store",
      "Copy the SQLite store into an empty PostgreSQL database (then point [database] url at it)");
  migrate_cmd->add_option("--config", migrate_config, "rabta.toml (its keys)")
      ->required()
      ->check(CLI::ExistingFile);
  migrate_cmd->add_option("--from", migrate_from, "sqlite:PATH")->required();
  migrate_cmd
      ->add_option("--to", migrate_to,
                   "postgresql://USER@HOST:PORT/DATABASE (a password from PGPASSWORD or "
                   "~/.pgpass)")
      ->required();

  std::string audit_config;
  auto* audit_cmd = cli.add_subcommand("audit", "The audit log of caseworker access");
  audit_cmd->require_subcommand(1);
  std::string audit_head_line;
  auto* verify_cmd = audit_cmd->add_subcommand(
      "verify", "Check the MAC chain: exit 1 at the first removed, edited or reordered row");
  verify_cmd->add_option("--head", audit_head_line,
                         "a line `rabta audit head` printed earlier: also proves nothing up to it "
                         "was cut off");
  verify_cmd->fallthrough();
  auto* head_cmd = audit_cmd->add_subcommand(
      "head", "Print the chain's head (ROW:MAC) to keep outside this machine");
  head_cmd->fallthrough();
  audit_cmd->add_option("--config", audit_config, "rabta.toml")
      ->required()
      ->check(CLI::ExistingFile);

  std::string keys_config;
  int retire_id = 0;
  auto* keys_cmd =
      cli.add_subcommand("keys", "The field encryption keys: rotation without downtime");
  keys_cmd->require_subcommand(1);
  auto* keys_rotate_cmd =
      keys_cmd->add_subcommand("rotate", "Add a new key and re-encrypt every stored value with it");
  auto* keys_reseal_cmd =
      keys_cmd->add_subcommand("reseal", "Re-encrypt every stored value with the current key");
  auto* keys_status_cmd =
      keys_cmd->add_subcommand("status", "How many stored values each key encrypts");
  auto* keys_retire_cmd =
      keys_cmd->add_subcommand("retire", "Remove an old key once no stored value uses it");
  keys_retire_cmd->add_option("ID", retire_id, "the key id")->required();
  for (auto* c : {keys_rotate_cmd, keys_reseal_cmd, keys_status_cmd, keys_retire_cmd})
    c->fallthrough();
  keys_cmd->add_option("--config", keys_config, "rabta.toml")->required()->check(CLI::ExistingFile);

  std::string purge_config;
  bool purge_dry_run = false;
  auto* purge_cmd = cli.add_subcommand(
      "purge", "Delete what is past its retention period now (rabta serve also does it)");
  purge_cmd->add_option("--config", purge_config, "rabta.toml")
      ->required()
      ->check(CLI::ExistingFile);
  purge_cmd->add_flag("--dry-run", purge_dry_run, "only count what would be deleted");

  std::string stats_config;
  int min_cell = 5;
  int stats_weeks = 12;
  auto* stats_cmd = cli.add_subcommand(
      "stats", "Aggregate counts by week, district and category (CSV; small cells suppressed)");
  stats_cmd->add_option("--config", stats_config, "rabta.toml")
      ->required()
      ->check(CLI::ExistingFile);
  stats_cmd->add_option("--min-cell", min_cell, "counts under this are shown as <N")
      ->default_val(5)
      ->check(CLI::Range(2, 1000));
  stats_cmd->add_option("--weeks", stats_weeks, "how many weeks back")
      ->default_val(12)
      ->check(CLI::Range(1, 520));

  std::string backup_config, backup_path;
  auto* backup_cmd =
      cli.add_subcommand("backup", "Copy the database while rabta serves (online backup)");
  backup_cmd->add_option("PATH", backup_path, "the new backup file (never overwritten)")
      ->required();
  backup_cmd->add_option("--config", backup_config, "rabta.toml")
      ->required()
      ->check(CLI::ExistingFile);
  std::string restore_config, restore_path;
  auto* restore_cmd = cli.add_subcommand(
      "restore", "Replace the database with a backup (rabta serve must be stopped)");
  restore_cmd->add_option("PATH", restore_path, "the backup file")->required();
  restore_cmd->add_option("--config", restore_config, "rabta.toml")
      ->required()
      ->check(CLI::ExistingFile);

  CLI11_PARSE(cli, argc, argv);

  if (*backup_cmd)
    return rabta::gateway::backup_command(backup_config, backup_path, std::cout, std::cerr);
  if (*restore_cmd)
    return rabta::gateway::restore_command(restore_config, restore_path, std::cout, std::cerr);

  if (*stats_cmd)
    return rabta::gateway::stats_command(stats_config, min_cell, stats_weeks, std::cout, std::cerr);

  if (*purge_cmd)
    return rabta::gateway::purge_command(purge_config, purge_dry_run, std::cout, std::cerr);

  if (*keys_cmd) {
    using namespace rabta::gateway;
    if (*keys_rotate_cmd) return keys_rotate(keys_config, std::cout, std::cerr);
    if (*keys_reseal_cmd) return keys_reseal(keys_config, std::cout, std::cerr);
    if (*keys_status_cmd) return keys_status(keys_config, std::cout, std::cerr);
    if (*keys_retire_cmd) return keys_retire(keys_config, retire_id, std::cout, std::cerr);
  }

  if (*serve_cmd) {
    if (!listen.empty()) serve.listen = listen;
    if (!database.empty()) serve.database = database;
    return rabta::gateway::serve(serve);
  }
  if (*init_cmd) return rabta::gateway::init(init_config, std::cout, std::cerr);
  if (*check_cmd) return rabta::gateway::check(check_config, std::cout, std::cerr);
  if (*contacts_cmd) {
    using namespace rabta::gateway;
    if (*import_cmd) return contacts_import(config, csv, std::cout, std::cerr, isatty(2) != 0);
    if (*list_cmd) return contacts_list(config, std::cout, std::cerr);
    if (*pause_cmd) return contacts_set_status(config, who, "paused", std::cout, std::cerr);
    if (*resume_cmd) return contacts_set_status(config, who, "active", std::cout, std::cerr);
    if (*remove_cmd) return contacts_set_status(config, who, "removed", std::cout, std::cerr);
  }
  if (*responders_cmd && *token_cmd)
    return rabta::gateway::responders_token(responders_config, responder_name, token_days,
                                            std::cout, std::cerr);
  if (*responders_cmd && *tokens_cmd)
    return rabta::gateway::responders_tokens(responders_config, std::cout, std::cerr);
  if (*responders_cmd && *revoke_cmd)
    return rabta::gateway::responders_revoke(responders_config, responder_name, std::cout,
                                             std::cerr);
  if (*responders_cmd && *pin_cmd)
    return rabta::gateway::responders_pin(responders_config, responder_name, clear_pin, std::cin,
                                          std::cout, std::cerr);
  if (*migrate_cmd)
    return rabta::gateway::migrate_store(migrate_config, migrate_from, migrate_to, std::cout,
                                         std::cerr);
  if (*audit_cmd && *verify_cmd)
    return rabta::gateway::audit_verify(audit_config, audit_head_line, std::cout, std::cerr);
  if (*audit_cmd && *head_cmd)
    return rabta::gateway::audit_head(audit_config, std::cout, std::cerr);
  if (*outbox_cmd && *outbox_resend_cmd)
    return rabta::gateway::outbox_resend(outbox_config, resend_id, std::cout, std::cerr);
  if (*outbox_cmd)
    return rabta::gateway::outbox_list(outbox_config,
                                       dead_only ? "dead" : (unconfirmed_only ? "unconfirmed" : ""),
                                       limit, std::cout, std::cerr);
  if (*sim_cmd && !sim_channel.empty()) {
    if (sim_config.empty()) {
      std::cerr << "rabta simulate: --channel needs --config\n";
      return 2;
    }
    rabta::gateway::PresetSimulatorOptions o;
    o.base_url = sim.url;
    while (!o.base_url.empty() && o.base_url.back() == '/') o.base_url.pop_back();
    o.phone = sim.phone;
    o.code = sim.code;
    o.session_id = sim.session_id;
    o.send_listen = sim_send;
    return rabta::gateway::simulate_channel(sim_config, sim_channel, o, std::cin, std::cout,
                                            std::cerr);
  }
  if (*sim_cmd) return rabta::gateway::run_simulator(sim, std::cin, std::cout, std::cerr);
  return 1;
}
