// rabta.toml read through the one TOML reader: every problem at once, each at file:line.
#include "gateway/settings/config.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/support/temp_dir.hpp"

namespace rabta {
namespace {

std::string problems_of(const std::string& path) {
  try {
    gateway::load_config(path);
  } catch (const gateway::ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, EveryProblemIsReportedAtOnceEachAtItsLine) {
  test::TempDir dir;
  std::filesystem::create_directory(dir.path() / "flows");
  std::ofstream(dir.file("flows/main.toml")) << "";
  const std::string path = dir.file("rabta.toml");
  std::ofstream(path) << "[server]\n"               // 1
                         "port = 70000\n"           // 2: out of range
                         "threads = \"two\"\n"      // 3: not an integer
                         "bodylimit = 1\n"          // 4: misspelt
                         "[log]\n"                  // 5
                         "level = \"loud\"\n"       // 6: not a level
                         "[channels.k]\n"           // 7
                         "kind = \"kannel\"\n"      // 8
                         "path = \"sms\"\n"         // 9
                         "rate_per_second = -1\n";  // 10
  const std::string all = problems_of(path);
  EXPECT_NE(all.find("rabta.toml:2: 'port' must be between 0 and 65535"), std::string::npos) << all;
  EXPECT_NE(all.find("rabta.toml:3: 'threads' must be an integer"), std::string::npos) << all;
  EXPECT_NE(all.find("rabta.toml:4: [server]: unknown key 'bodylimit'"), std::string::npos) << all;
  EXPECT_NE(all.find("rabta.toml:6: 'level' must be one of"), std::string::npos) << all;
  EXPECT_NE(all.find("rabta.toml:7: [channels.k]: 'path' must start with '/'"), std::string::npos)
      << all;
  EXPECT_NE(all.find("rabta.toml:10: [channels.k]: 'rate_per_second' must be a number >= 0"),
            std::string::npos)
      << all;
}

TEST(Config, NotTomlAndUnreadableAreSaidWithTheFile) {
  test::TempDir dir;
  const std::string path = dir.file("rabta.toml");
  EXPECT_EQ(problems_of(path), path + ": cannot read the file");
  std::ofstream(path) << "[server]\nport = \n";
  EXPECT_NE(problems_of(path).find("rabta.toml:2: not valid TOML"), std::string::npos)
      << problems_of(path);
}

TEST(Config, DatabaseUrlIsPostgresqlWithoutAPasswordAndNotBesideAPath) {
  // #14: the URL is refused with its line, and the reason never repeats what it holds.
  test::TempDir dir;
  std::filesystem::create_directory(dir.path() / "flows");
  std::ofstream(dir.file("flows/main.toml")) << "";
  const std::string path = dir.file("rabta.toml");
  const auto with = [&](const std::string& database) {
    std::ofstream(path) << "[database]\n" << database;
    return problems_of(path);
  };
  EXPECT_EQ(with("url = \"postgresql://rabta@db1:5432/rabta\"\n"), "");
  EXPECT_EQ(with("url = \"postgres:///rabta?host=/run/postgresql\"\n"), "");
  const gateway::Config c = gateway::load_config(path);
  EXPECT_EQ(c.database_url, "postgres:///rabta?host=/run/postgresql");
  EXPECT_EQ(gateway::store_options(c).url, c.database_url);
  EXPECT_EQ(gateway::database_name(c), "the database postgresql /run/postgresql/rabta");

  std::string e = with("url = \"mysql://db1/rabta\"\n");
  EXPECT_NE(e.find("rabta.toml:2: 'url' must be a PostgreSQL URL"), std::string::npos) << e;
  for (const char* secret : {"url = \"postgresql://rabta:s3cret-pw@db1/rabta\"\n",
                             "url = \"postgresql://db1/rabta?password=s3cret-pw\"\n"}) {
    e = with(secret);
    EXPECT_NE(e.find("rabta.toml:2: 'url' holds a password"), std::string::npos) << e;
    EXPECT_EQ(e.find("s3cret-pw"), std::string::npos) << e;
  }
  e = with("path = \"rabta.db\"\nurl = \"postgresql://db1/rabta\"\n");
  EXPECT_NE(e.find("rabta.toml:3: set one of [database] 'path' (SQLite) or 'url' (PostgreSQL)"),
            std::string::npos)
      << e;
}

}  // namespace
}  // namespace rabta
