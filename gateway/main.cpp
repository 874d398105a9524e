// rabta: an SMS/USSD gateway for well-being check-ins. Thin: parses the command line and calls
// the subcommands in gateway/commands.cpp.
#include <CLI/CLI.hpp>
#include <iostream>

#include "gateway/commands.hpp"
#include "gateway/simulator.hpp"

int main(int argc, char** argv) {
  CLI::App cli{"rabta: SMS/USSD gateway for well-being check-ins and incident reports"};
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
      cli.add_subcommand("simulate", "A phone in the terminal, speaking Africa's Talking USSD");
  sim_cmd->add_option("--url", sim.url, "the gateway's USSD URL, with ?key=...")->required();
  sim_cmd->add_option("--phone", sim.phone, "the phone number to dial from")->required();
  sim_cmd->add_option("--code", sim.code, "the USSD code dialled, e.g. *786#")
      ->default_val("*786#");
  sim_cmd->add_option("--session", sim.session_id, "session id (default: random)");

  CLI11_PARSE(cli, argc, argv);

  if (*serve_cmd) {
    if (!listen.empty()) serve.listen = listen;
    if (!database.empty()) serve.database = database;
    return rabta::gateway::serve(serve);
  }
  if (*init_cmd) return rabta::gateway::init(init_config, std::cout, std::cerr);
  if (*check_cmd) return rabta::gateway::check(check_config, std::cout, std::cerr);
  if (*sim_cmd) return rabta::gateway::run_simulator(sim, std::cin, std::cout, std::cerr);
  return 1;
}
