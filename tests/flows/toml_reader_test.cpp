// The one TOML reader: typed reads, misspelt keys and every problem at file:line, none stopping it.
#include "flows/toml_reader.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace rabta::flows {
namespace {

std::string all(const std::vector<Diagnostic>& errors) {
  std::string out;
  for (const auto& e : errors) out += e.to_string() + "\n";
  return out;
}

TEST(TomlReader, ReadsTypedValuesAndReportsEachProblemAtItsLine) {
  std::vector<Diagnostic> errors;
  TomlReader r("x.toml", errors);
  const auto doc = r.parse(
      "name = \"a\"\n"            // 1
      "count = 3\n"               // 2
      "big = 500\n"               // 3
      "flag = \"yes\"\n"          // 4
      "rate = 2.5\n"              // 5
      "list = [\"a\", 1]\n"       // 6
      "[[team]]\nid = 1\n"        // 7-8
      "[t]\nx = 1\ncolour = 2\n"  // 9-11
  );
  ASSERT_TRUE(doc);
  EXPECT_EQ(r.str(*doc, "name", "top"), "a");
  EXPECT_EQ(r.integer(*doc, "count", "top", 1, 10), 3);
  EXPECT_EQ(r.integer(*doc, "big", "top", 1, 10), std::nullopt);
  EXPECT_EQ(r.boolean(*doc, "flag", "top"), std::nullopt);
  EXPECT_EQ(r.number(*doc, "rate", "top"), 2.5);
  EXPECT_EQ(r.integer(*doc, "rate", "top"), std::nullopt) << "a float is not silently cut";
  EXPECT_EQ(r.str(*doc, "absent", "top"), std::nullopt);
  EXPECT_EQ(r.str(*doc, "absent", "[t]", true), std::nullopt);
  EXPECT_EQ(r.strings(*doc->get("list"), "top 'list'"), std::vector<std::string>{"a"});
  EXPECT_EQ(r.tables(*doc, "team", "top").size(), 1u);
  const toml::table* t = r.table(*doc, "t", "top");
  ASSERT_NE(t, nullptr);
  r.known(*t, {"x"}, "[t]");
  EXPECT_EQ(r.table(*doc, "name", "top"), nullptr);

  const std::string text = all(errors);
  for (const char* expected :
       {"x.toml:3: top: 'big' must be between 1 and 10",
        "x.toml:4: top: 'flag' must be true or false", "x.toml:5: top: 'rate' must be an integer",
        "x.toml:1: [t]: missing 'absent'", "x.toml:6: top 'list': each entry must be a string",
        "x.toml:11: [t]: unknown key 'colour'", "x.toml:1: top: 'name' must be a table"})
    EXPECT_NE(text.find(expected), std::string::npos) << expected << " in\n" << text;
  EXPECT_EQ(r.errors(), 7u) << text;
}

TEST(TomlReader, NotTomlIsOneDiagnosticAtItsLine) {
  std::vector<Diagnostic> errors;
  TomlReader r("bad.toml", errors);
  EXPECT_FALSE(r.parse("a = 1\nb = \n"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].pos.line, 2u);
  EXPECT_EQ(errors[0].to_string().rfind("bad.toml:2: not valid TOML: ", 0), 0u)
      << errors[0].to_string();
  r.error(0u, "about the whole file");
  EXPECT_EQ(errors[1].to_string(), "bad.toml: about the whole file");
}

}  // namespace
}  // namespace rabta::flows
