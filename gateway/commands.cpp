#include "gateway/commands.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "adapters/common/crypto.hpp"
#include "adapters/store/store.hpp"
#include "flows/text.hpp"
#include "gateway/app.hpp"
#include "gateway/clock.hpp"
#include "gateway/config.hpp"
#include "gateway/http_server.hpp"
#include "gateway/ussd_service.hpp"

namespace rabta::gateway {

namespace {

std::string read_secret(const AfricasTalkingConfig& c) {
  if (!c.secret_env.empty()) {
    if (const char* v = std::getenv(c.secret_env.c_str()); v && *v) return v;
  }
  if (c.secret_file.empty()) return {};
  std::ifstream in(c.secret_file);
  if (!in) return {};
  std::string s;
  std::getline(in, s);
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

void apply_listen(Config& c, const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos)
    throw ConfigError("--listen: expected HOST:PORT, got '" + listen + "'");
  c.host = listen.substr(0, colon);
  try {
    const int port = std::stoi(listen.substr(colon + 1));
    if (port < 0 || port > 65535) throw std::out_of_range("port");
    c.port = static_cast<std::uint16_t>(port);
  } catch (const std::exception&) {
    throw ConfigError("--listen: '" + listen.substr(colon + 1) + "' is not a port number");
  }
}

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("rabta");
  spdlog::set_default_logger(logger);
  // No timestamps when journald adds its own (INVOCATION_ID is set by systemd).
  spdlog::set_pattern(std::getenv("INVOCATION_ID") ? "[%l] %v" : "%Y-%m-%dT%H:%M:%S.%e [%l] %v");
  spdlog::set_level(spdlog::level::from_str(level));
}

// The config, or its problem written to `err`.
std::optional<Config> config_or_report(const std::string& path, std::ostream& err) {
  try {
    return load_config(path);
  } catch (const ConfigError& e) {
    err << e.what() << "\n";
    return std::nullopt;
  }
}

}  // namespace

int init(const std::string& config_path, std::ostream& out, std::ostream& err) {
  const std::optional<Config> loaded_config = config_or_report(config_path, err);
  if (!loaded_config) return 2;
  const Config& config = *loaded_config;
  namespace fs = std::filesystem;
  try {
    for (const std::string& p :
         {config.database, config.pseudonym_key_file, config.africastalking.secret_file}) {
      if (p.empty()) continue;
      const fs::path dir = fs::path(p).parent_path();
      if (!dir.empty() && !fs::exists(dir)) {
        fs::create_directories(dir);
        fs::permissions(dir, fs::perms::owner_all);
      }
    }
    if (!fs::exists(config.pseudonym_key_file)) {
      common::Pseudonymizer::create_key_file(config.pseudonym_key_file);
      out << "created pseudonym key " << config.pseudonym_key_file
          << " (keep it out of database backups)\n";
    }
    if (config.africastalking.enabled && !config.africastalking.secret_file.empty() &&
        !fs::exists(config.africastalking.secret_file)) {
      // The same generator as the key: 32 random bytes, hex.
      common::Pseudonymizer::create_key_file(config.africastalking.secret_file);
      out << "created Africa's Talking callback secret " << config.africastalking.secret_file
          << "\n";
    }
    store::StoreOptions so;
    so.path = config.database;
    auto store = store::open_sqlite_store(so);
    out << "database " << config.database << " at schema version " << store->schema_version()
        << "\n";
    store->close();
  } catch (const std::exception& e) {
    err << "rabta init: " << e.what() << "\n";
    return 2;
  }
  return 0;
}

int check(const std::string& config_path, std::ostream& out, std::ostream& err) {
  const std::optional<Config> loaded_config = config_or_report(config_path, err);
  if (!loaded_config) return 2;
  const Config& config = *loaded_config;
  const flows::LoadResult flows = load_flows(config);
  for (const auto& e : flows.errors) err << e.to_string() << "\n";
  for (const auto& w : flows.warnings) out << "warning: " << w.to_string() << "\n";
  if (!flows.errors.empty()) {
    err << flows.errors.size() << " error(s); rabta would refuse to start\n";
    return 2;
  }
  std::size_t nodes = 0;
  for (const auto& [id, f] : flows.flows->flows) nodes += f.nodes.size();
  out << "ok: " << config_path << ", " << flows.flows->flows.size() << " flows, " << nodes
      << " nodes, " << flows.flows->settings.languages.size()
      << " languages, every screen within the USSD limit\n";
  return 0;
}

int serve(const ServeOptions& options) {
  Config config;
  try {
    config = load_config(options.config_path);
    if (options.listen) apply_listen(config, *options.listen);
    if (options.database) config.database = *options.database;
  } catch (const ConfigError& e) {
    std::cerr << "rabta: " << e.what() << "\n";
    return 2;
  }
  setup_logging(config.log_level);

  const flows::LoadResult loaded = load_flows(config);
  if (!loaded.errors.empty()) {
    for (const auto& e : loaded.errors) spdlog::critical("{}", e.to_string());
    spdlog::critical("refusing to start: {} error(s) in the flow files", loaded.errors.size());
    return 2;
  }
  for (const auto& w : loaded.warnings) spdlog::warn("{}", w.to_string());

  std::unique_ptr<common::Pseudonymizer> pseudonymizer;
  try {
    pseudonymizer = std::make_unique<common::Pseudonymizer>(common::Pseudonymizer::load_key(
        config.pseudonym_key_file, config.pseudonym_key_env.c_str()));
  } catch (const std::exception& e) {
    spdlog::critical("refusing to start: pseudonym key: {}", e.what());
    return 2;
  }
  AppOptions app_options;
  app_options.africastalking = config.africastalking;
  if (config.africastalking.enabled) {
    app_options.africastalking_secret = read_secret(config.africastalking);
    if (app_options.africastalking_secret.size() < 16) {
      spdlog::critical(
          "refusing to start: the Africa's Talking secret (env {} or file {}) is missing or "
          "shorter than 16 characters",
          config.africastalking.secret_env, config.africastalking.secret_file);
      return 2;
    }
  }

  std::unique_ptr<store::Store> store;
  try {
    store::StoreOptions so;
    so.path = config.database;
    so.synchronous_full = config.synchronous_full;
    store = store::open_sqlite_store(so);
  } catch (const std::exception& e) {
    spdlog::critical("refusing to start: {}", e.what());
    return 2;
  }

  SystemClock clock;
  RandomIds ids;
  auto engine = std::make_shared<const flows::Engine>(loaded.flows);
  SessionPolicy policy{config.resume_window, config.quiet_period};
  UssdService ussd(engine, policy, clock, ids);

  HttpServerOptions ho;
  ho.host = config.host;
  ho.port = config.port;
  ho.body_limit = config.body_limit;
  ho.header_limit = config.header_limit;
  ho.read_timeout = config.read_timeout;
  ho.idle_timeout = config.idle_timeout;
  ho.max_connections_per_peer = config.max_connections_per_peer;
  ho.threads = config.threads;

  std::unique_ptr<App> app;
  HttpServer server(ho, [&app](HttpRequest&& req, Responder respond) {
    app->handle(std::move(req), std::move(respond));
  });
  boost::asio::io_context& ctx = server.context();
  app = std::make_unique<App>(
      app_options, *store, ussd, *pseudonymizer,
      [&ctx](std::chrono::milliseconds delay, std::function<void()> fn) {
        auto t = std::make_shared<boost::asio::steady_timer>(ctx, delay);
        t->async_wait([t, fn = std::move(fn)](const boost::system::error_code& ec) {
          if (!ec) fn();
        });
      });

  // Sessions with no hop for the idle time are marked incomplete (resumable), every 30 s.
  boost::asio::steady_timer sweep(ctx);
  std::function<void()> schedule_sweep = [&] {
    sweep.expires_after(std::chrono::seconds(30));
    sweep.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      const std::int64_t now = clock.now_ms();
      const std::int64_t before = now - config.session_idle.count();
      store->submit([before, now](store::Tx& tx) { tx.expire_idle_sessions(before, now); },
                    [](const store::JobResult& r) {
                      if (!r.ok) spdlog::error("idle-session sweep failed: {}", r.error);
                    });
      schedule_sweep();
    });
  };
  schedule_sweep();

  boost::asio::signal_set signals(ctx, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: finishing in-flight requests, then stopping", sig);
    sweep.cancel();
    server.stop();
  });

  try {
    server.listen();
  } catch (const std::exception& e) {
    spdlog::critical("refusing to start: {}", e.what());
    return 2;
  }
  spdlog::info("rabta listening on http://{}:{} ({} flows, Africa's Talking USSD at {})",
               config.host, server.port(), loaded.flows->flows.size(), config.africastalking.path);
  server.run();
  store->close();
  const auto st = store->stats();
  spdlog::info("stopped cleanly: {} jobs in {} commits", st.jobs, st.commits);
  return 0;
}

}  // namespace rabta::gateway
