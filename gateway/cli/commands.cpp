#include "gateway/cli/commands.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "adapters/common/cipher.hpp"
#include "adapters/common/clock.hpp"
#include "adapters/common/crypto.hpp"
#include "adapters/sms/sms_adapter.hpp"
#include "adapters/store/store.hpp"
#include "flows/local_time.hpp"
#include "flows/text.hpp"
#include "gateway/checkins/enrolment.hpp"
#include "gateway/checkins/rekey.hpp"
#include "gateway/checkins/scheduler.hpp"
#include "gateway/cli/validate.hpp"
#include "gateway/cli/wiring.hpp"
#include "gateway/http/http_server.hpp"
#include "gateway/inbound/app.hpp"
#include "gateway/inbound/sms_service.hpp"
#include "gateway/inbound/ussd_service.hpp"
#include "gateway/ops/backup.hpp"
#include "gateway/ops/command_context.hpp"
#include "gateway/ops/keys.hpp"
#include "gateway/ops/retention.hpp"
#include "gateway/outbound/dispatcher.hpp"
#include "gateway/outbound/pass_loop.hpp"
#include "gateway/outbound/webhook_dispatcher.hpp"
#include "gateway/responders/case_service.hpp"
#include "gateway/responders/caseworker_api.hpp"
#include "gateway/responders/console.hpp"
#include "gateway/responders/escalation.hpp"
#include "gateway/responders/responders.hpp"
#include "gateway/responders/roster_sync.hpp"
#include "gateway/settings/config.hpp"
#include "gateway/settings/lint.hpp"
#include "gateway/settings/sms_texts.hpp"
#include "gateway/settings/toml_file.hpp"

namespace rabta::gateway {

namespace {

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

// "<N>" before each line: the syslog priority journald reads from a service's standard error.
class SyslogPriority final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    // trace, debug, info, warn, error, critical, off
    static constexpr std::string_view kPriority[] = {"<7>", "<7>", "<6>", "<4>",
                                                     "<3>", "<2>", "<6>"};
    const auto p = kPriority[static_cast<std::size_t>(msg.level)];
    dest.append(p.data(), p.data() + p.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<SyslogPriority>();
  }
};

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("rabta");
  spdlog::set_default_logger(logger);
  if (std::getenv("JOURNAL_STREAM") != nullptr) {
    // Under systemd, into the journal: its own timestamps, our priority per line.
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<SyslogPriority>('*').set_pattern("%*%v");
    spdlog::set_formatter(std::move(f));
  } else {
    spdlog::set_pattern(std::getenv("INVOCATION_ID") ? "[%l] %v" : "%Y-%m-%dT%H:%M:%S.%e [%l] %v");
  }
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

namespace {

// The signing secrets' files a responders file names: [webhook] secret_file and each
// [[partners]] secret_file, resolved against its folder, with what names them (none when the
// file cannot be read: check and serve report that).
std::vector<std::pair<std::string, std::string>> webhook_secret_files(
    const std::string& responders_file) {
  namespace fs = std::filesystem;
  std::vector<std::pair<std::string, std::string>> out;
  if (responders_file.empty()) return out;
  std::vector<flows::Diagnostic> ignored;
  const auto doc = parse_toml_file(responders_file, ignored);
  if (!doc) return out;
  const auto resolve = [&](const std::string& file) {
    const fs::path p(file);
    return p.is_absolute()
               ? file
               : (fs::path(responders_file).parent_path() / p).lexically_normal().string();
  };
  if (const auto file = (*doc)["webhook"]["secret_file"].value<std::string>();
      file && !file->empty())
    out.emplace_back(resolve(*file), "[webhook] secret");
  if (const toml::array* partners = (*doc)["partners"].as_array())
    for (const auto& node : *partners)
      if (const toml::table* t = node.as_table())
        if (const auto file = (*t)["secret_file"].value<std::string>(); file && !file->empty())
          out.emplace_back(
              resolve(*file),
              "[[partners]] " + (*t)["name"].value<std::string>().value_or("") + " secret");
  return out;
}

}  // namespace

int init(const std::string& config_path, std::ostream& out, std::ostream& err) {
  const std::optional<Config> loaded_config = config_or_report(config_path, err);
  if (!loaded_config) return 2;
  const Config& config = *loaded_config;
  namespace fs = std::filesystem;
  auto make_parent = [](const std::string& p) {
    const fs::path dir = fs::path(p).parent_path();
    if (!dir.empty() && !fs::exists(dir)) {
      fs::create_directories(dir);
      fs::permissions(dir, fs::perms::owner_all);
    }
  };
  // A secret that only rabta and the aggregator share: 32 random bytes, hex, mode 0600.
  auto make_secret = [&](const std::string& path, const std::string& what) {
    if (path.empty() || fs::exists(path)) return;
    make_parent(path);
    common::Pseudonymizer::create_key_file(path);
    out << "created " << what << " " << path << "\n";
  };
  try {
    // A database that already holds data was written with keys: a new key cannot open it (the
    // pseudonyms, sealed values and audit chain would all stop matching). A missing key file
    // then means a key that moved or was lost, never one to create (SECURITY #11).
    // (A PostgreSQL database is checked by opening it: see below.)
    const bool database_in_use = config.database_url.empty() && fs::exists(config.database) &&
                                 fs::file_size(config.database) > 0;
    const auto refuse_new_key = [&](const std::string& file, const std::string& env) {
      const char* from_env = env.empty() ? nullptr : std::getenv(env.c_str());
      if (!database_in_use || (from_env != nullptr && *from_env != '\0')) return;
      throw std::runtime_error(
          "the key file " + file + " is missing but the database " + config.database +
          " already exists and what it holds was written with the old key, which a new key "
          "cannot open. Restore the "
          "key file to that path (keys shipped in var/keys/ now live in keys/: move them, or "
          "point the config at them), or set " +
          env);
    };
    if (config.database_url.empty()) make_parent(config.database);
    if (!fs::exists(config.pseudonym_key_file)) {
      refuse_new_key(config.pseudonym_key_file, config.pseudonym_key_env);
      make_parent(config.pseudonym_key_file);
      common::Pseudonymizer::create_key_file(config.pseudonym_key_file);
      out << "created pseudonym key " << config.pseudonym_key_file
          << " (keep it out of database backups)\n";
    }
    if (!fs::exists(config.field_key_file)) {
      refuse_new_key(config.field_key_file, config.field_key_env);
      make_parent(config.field_key_file);
      common::FieldCipher::create_key_file(config.field_key_file);
      out << "created field encryption key " << config.field_key_file
          << " (keep it out of database backups)\n";
    }
    for (const auto& u : config.ussd)
      for (const auto& [setting, file] : u.files)
        make_secret(file, "[ussd." + u.name + "] " + setting);
    for (const auto& ch : config.channels)
      for (const auto& [setting, file] : ch.files)
        make_secret(file, "[channels." + ch.name + "] " + setting);
    // The case-management webhook's signing secret, named in the responders file (#15): a
    // secret the config names is created here like every other one.
    for (const auto& [file, what] : webhook_secret_files(config.responders_file))
      make_secret(file, what);
    auto store = store::open_store(store_options(config));
    out << database_name(config) << " at schema version " << store->schema_version() << "\n";
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
  // The very validation `rabta serve` runs before it opens the database (gateway/cli/validate.hpp).
  const StartupPlan plan = validate_config(config, config.public_url);
  for (const auto& e : plan.errors) err << e.to_string() << "\n";
  for (const auto& w : plan.warnings) out << "warning: " << w.to_string() << "\n";
  if (!plan.ok()) {
    err << plan.errors.size() << " error(s); rabta would refuse to start\n";
    return 2;
  }
  const flows::LoadResult& flows = plan.flows;
  const SmsTexts& texts = *plan.texts;
  const std::size_t teams = plan.roster ? plan.roster->teams.size() : 0;
  // What each outbound text costs on the air, in every language (SMS segments).
  out << "SMS templates (encoding, characters, segments):\n";
  for (const auto& [name, t] : texts.templates) {
    for (const auto& lang : flows.flows->settings.languages) {
      const std::string& text = t.in(lang, flows.flows->settings.default_language);
      const flows::TextLength len = flows::measure(text);
      out << "  " << name << " [" << lang
          << "]: " << (len.encoding == flows::Encoding::gsm7 ? "GSM-7" : "UCS-2") << ", "
          << len.units << ", " << flows::sms_segments(len) << " segment(s)\n";
      const auto chars = flows::non_gsm7_characters(text);
      if (len.encoding == flows::Encoding::ucs2 && lang != "ur" && !chars.empty()) {
        out << "warning: " << t.pos.file << ":" << t.pos.line << ": template '" << name << "' in '"
            << lang << "' needs UCS-2 because of";
        for (const auto& c : chars) out << " '" << c << "'";
        out << " (" << flows::sms_segments(len) << " segment(s) instead of "
            << flows::sms_segments({flows::Encoding::gsm7, len.units}) << ")\n";
      }
    }
  }
  std::size_t nodes = 0;
  for (const auto& [id, f] : flows.flows->flows) nodes += f.nodes.size();
  out << "ok: " << config_path << ", " << flows.flows->flows.size() << " flows, " << nodes
      << " nodes, " << flows.flows->settings.languages.size()
      << " languages, every screen within the USSD limit, " << texts.keywords.size()
      << " keyword sets, " << texts.templates.size() << " templates, " << config.channels.size()
      << " SMS channel(s), " << teams << " responder team(s)\n";
  return 0;
}

namespace {

std::string fmt_octal(unsigned mode) {
  char out[8];
  std::snprintf(out, sizeof out, "%04o", mode);
  return out;
}

// The database, its WAL and SHM made readable by the service user only (SECURITY #11): a database
// created by an older rabta, or copied in by hand, was 0644.
void tighten_database_files(const std::string& database) {
  for (const std::string& path : {database, database + "-wal", database + "-shm"}) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) continue;
    const auto mode = static_cast<unsigned>(st.st_mode) & 0777U;
    if ((mode & 0077U) == 0) continue;
    if (::chmod(path.c_str(), mode & 0700U) != 0)
      throw std::runtime_error(path + " has mode " + fmt_octal(mode) +
                               " and cannot be made readable by its owner only");
    spdlog::warn("files: {} was readable by group or others (mode {}); now {}", path,
                 fmt_octal(mode), fmt_octal(mode & 0700U));
  }
}

}  // namespace

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

  // Everything `rabta check` checks, by the same code (gateway/cli/validate.hpp).
  StartupPlan plan = validate_config(config, config.public_url);
  for (const auto& w : plan.warnings) spdlog::warn("{}", w.to_string());
  if (!plan.ok()) {
    for (const auto& e : plan.errors) spdlog::critical("{}", e.to_string());
    spdlog::critical("refusing to start: {} error(s) (`rabta check` lists the same)",
                     plan.errors.size());
    return 2;
  }
  const common::Pseudonymizer& pseudonymizer = *plan.keys.pseudonymizer;
  const std::shared_ptr<common::FieldCipher> cipher = plan.keys.cipher;
  const std::size_t flow_count = plan.flows.flows->flows.size();

  // One server per database: a second one (or `rabta restore`) is refused while this one runs.
  std::unique_ptr<DatabaseLock> db_lock;
  // One serve per SQLite file; any number share a PostgreSQL database (#14).
  try {
    if (config.database_url.empty()) db_lock = DatabaseLock::try_acquire(config.database);
  } catch (const std::exception& e) {
    spdlog::critical("refusing to start: {}", e.what());
    return 2;
  }
  if (!db_lock && config.database_url.empty()) {
    spdlog::critical("refusing to start: another rabta serve is running on {}", config.database);
    return 2;
  }
  std::unique_ptr<store::Store> store;
  try {
    store::StoreOptions so = store_options(config);
    so.cipher = cipher;
    so.audit_key = audit_key(pseudonymizer);
    store = store::open_store(so);
    if (config.database_url.empty()) tighten_database_files(config.database);
    // SECURITY #11: a chain written before the audit key is sealed with it, once.
    const AuditSeal seal = seal_audit_chain(*store, so.audit_key, common::SystemClock().now_ms());
    if (seal.rows > 0)
      spdlog::warn("audit: {} rows sealed with the audit key; the unkeyed chain before {}",
                   seal.rows,
                   seal.old_broken_at ? "was broken at row " + std::to_string(*seal.old_broken_at)
                                      : std::string("was whole"));
  } catch (const std::exception& e) {
    spdlog::critical("refusing to start: {}", e.what());
    return 2;
  }
  // SAFETY W1: contacts stored under another spelling of their number become one.
  try {
    const RekeyResult rk =
        rekey_contacts(*store, pseudonymizer, *cipher, common::SystemClock().now_ms());
    if (rk.rekeyed > 0 || rk.merged > 0)
      spdlog::info("numbers: {} contacts re-keyed to E.164, {} duplicates merged", rk.rekeyed,
                   rk.merged);
  } catch (const std::exception& e) {
    spdlog::critical("refusing to start: {}", e.what());
    return 2;
  }

  const HttpServerOptions ho = http_server_options(config);
  common::SystemClock clock;
  common::RandomIds ids;
  std::unique_ptr<Wiring> wiring;
  HttpServer server(ho, [&wiring](HttpRequest&& req, Responder respond) {
    wiring->app().handle(std::move(req), std::move(respond));
  });
  try {
    server.listen();
  } catch (const std::exception& e) {
    spdlog::critical("refusing to start: {}", e.what());
    return 2;
  }
  if (config.public_url.empty())
    config.public_url = "http://" + config.host + ":" + std::to_string(server.port());

  boost::asio::io_context& ctx = server.context();
  try {
    wiring = std::make_unique<Wiring>(
        config, plan, *store, clock, ids,
        [&ctx](std::chrono::milliseconds delay, std::function<void()> fn) {
          auto t = std::make_shared<boost::asio::steady_timer>(ctx, delay);
          t->async_wait([t, fn = std::move(fn)](const boost::system::error_code& ec) {
            if (!ec) fn();
          });
        });
  } catch (const std::exception& e) {
    spdlog::critical("refusing to start: {}", e.what());
    return 2;
  }
  wiring->start();

  boost::asio::signal_set signals(ctx, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: finishing in-flight requests, then stopping", sig);
    server.stop();
  });

  std::string ussd_paths;
  for (const auto& u : config.ussd)
    ussd_paths += (ussd_paths.empty() ? "" : ", ") + u.name + " at " + u.path;
  spdlog::info("rabta listening on http://{}:{} ({} flows, USSD: {}, {} SMS channel(s))",
               config.host, server.port(), flow_count, ussd_paths.empty() ? "none" : ussd_paths,
               config.channels.size());
  server.run();
  wiring->stop();
  store->close();
  const auto st = store->stats();
  spdlog::info("stopped cleanly: {} jobs in {} commits", st.jobs, st.commits);
  return 0;
}

}  // namespace rabta::gateway
