// A PostgreSQL server of the tests' own (#14): initdb into a fresh temporary folder from Debian's
// binaries, the server listening only on a unix socket in that folder (no TCP), stopped by PID.
// As root (CI), initdb and the server run as the "postgres" user that Debian's package creates
// (PostgreSQL refuses to run as root).
#pragma once

#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace rabta::test {

class PgCluster {
 public:
  // Debian's server binaries, newest version first; "" when none is installed.
  static std::string bindir() {
    namespace fs = std::filesystem;
    std::string best;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
      const auto bin = e.path() / "bin";
      if (fs::exists(bin / "postgres") && (best.empty() || bin.string() > best)) best = bin;
    }
    return best;
  }

  // The server tests/support/pg_server.py started in `dir` for the whole ctest run (the "pg"
  // fixture: one server, not one per test process); this object neither starts nor stops it.
  struct Attach {
    std::string dir;
  };
  explicit PgCluster(Attach a) : dir_(std::move(a.dir)), data_(dir_ + "/data"), owned_(false) {
    std::ifstream pidfile(data_ + "/postmaster.pid");
    long pid = 0;
    pidfile >> pid;
    if (pid <= 0) throw std::runtime_error("no PostgreSQL server running in " + dir_);
    pid_ = static_cast<pid_t>(pid);
  }

  PgCluster() {
    namespace fs = std::filesystem;
    bin_ = bindir();
    if (bin_.empty())
      throw std::runtime_error("PostgreSQL is not installed (scripts/install-deps --test)");
    std::string tmpl = (fs::temp_directory_path() / "rabta-pg-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    data_ = dir_ + "/data";
    as_postgres_ = ::geteuid() == 0;
    if (as_postgres_) {
      const passwd* pw = ::getpwnam("postgres");
      if (pw == nullptr) throw std::runtime_error("no user postgres to run the server as");
      if (::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) throw std::runtime_error("chown");
    }
    run({bin_ + "/initdb", "-D", data_, "-A", "trust", "-U", "rabta", "-E", "UTF8", "--locale=C",
         "--no-sync"},
        "initdb");
    std::ofstream conf(data_ + "/postgresql.conf", std::ios::app);
    conf << "listen_addresses = ''\n"
         << "unix_socket_directories = '" << dir_ << "'\n"
         << "port = 5432\n"
         // The tests' server dies with the folder; its own crash safety is not under test.
         << "fsync = off\nfull_page_writes = off\n"
         << "max_connections = 100\nshared_buffers = 32MB\n"
         << "log_min_messages = warning\n";
    conf.close();
    start();
  }
  ~PgCluster() {
    if (!owned_) return;
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  // The server's PID (postmaster.pid's first line).
  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }
  const std::string& data() const { return data_; }

  std::string url(const std::string& db = "postgres") const {
    return "postgresql:///" + db + "?host=" + dir_ + "&port=5432&user=rabta";
  }

  // A fresh, empty database; returns its URL.
  std::string create_database() {
    const std::string name = "t" + std::to_string(::getpid()) + "_" + std::to_string(++databases_);
    exec("CREATE DATABASE " + name);
    return url(name);
  }

  // Runs SQL on database `db`; returns the first column of the first row ("" when none).
  std::string exec(const std::string& sql, const std::string& db = "postgres") const {
    PGconn* c = PQconnectdb(url(db).c_str());
    if (PQstatus(c) != CONNECTION_OK) {
      const std::string e = PQerrorMessage(c);
      PQfinish(c);
      throw std::runtime_error("psql: " + e);
    }
    PGresult* r = PQexec(c, sql.c_str());
    const auto status = PQresultStatus(r);
    std::string out;
    if (status == PGRES_TUPLES_OK && PQntuples(r) > 0) out = PQgetvalue(r, 0, 0);
    const std::string error = PQresultErrorMessage(r);
    PQclear(r);
    PQfinish(c);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
      throw std::runtime_error("SQL failed: " + error);
    }
    return out;
  }

  // Starts the server (again) and waits until it takes connections.
  void start() {
    run({bin_ + "/pg_ctl", "-D", data_, "-l", dir_ + "/server.log", "-w", "-t", "60", "start"},
        "pg_ctl start");
    std::ifstream pidfile(data_ + "/postmaster.pid");
    long pid = 0;
    pidfile >> pid;
    if (pid <= 0) throw std::runtime_error("no postmaster.pid");
    pid_ = static_cast<pid_t>(pid);
  }

  // Stops the server by PID (SIGINT, a fast shutdown) and waits until it is gone.
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGINT);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (::kill(pid_, 0) == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid_ = -1;
  }

 private:
  // Runs a command (as postgres when we are root) and waits; throws with its output on failure.
  void run(const std::vector<std::string>& argv, const std::string& what) const {
    std::string cmd;
    if (as_postgres_) cmd = "runuser -u postgres -- ";
    for (const auto& a : argv) cmd += "'" + a + "' ";
    const std::string out = dir_ + "/" + std::to_string(::getpid()) + "-cmd.log";
    cmd += "> '" + out + "' 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      std::ifstream in(out);
      std::ostringstream s;
      s << in.rdbuf();
      throw std::runtime_error(what + " failed: " + s.str());
    }
  }

  std::string bin_;
  std::string dir_;
  std::string data_;
  bool as_postgres_ = false;
  bool owned_ = true;  // started (and so stopped) by this object
  pid_t pid_ = -1;
  std::atomic<int> databases_{0};
};

// The tests' one server: the ctest fixture's when RABTA_TEST_PG_DIR names it, else one started
// for this process (a test binary run by hand).
inline PgCluster& shared_pg() {
  static const std::unique_ptr<PgCluster> cluster = [] {
    const char* dir = std::getenv("RABTA_TEST_PG_DIR");
    return dir != nullptr && *dir != '\0' ? std::make_unique<PgCluster>(PgCluster::Attach{dir})
                                          : std::make_unique<PgCluster>();
  }();
  return *cluster;
}

}  // namespace rabta::test
