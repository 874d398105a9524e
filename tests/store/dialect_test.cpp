// The statements written for SQLite as PostgreSQL runs them (#14): pure text, no server.
#include "adapters/store/postgres/dialect.hpp"

#include <gtest/gtest.h>

#include <string>

#include "adapters/store/sql/statements.hpp"

namespace rabta::store::postgres {
namespace {

TEST(Dialect, NumberedParametersBecomeDollarParameters) {
  const Translated t = translate("SELECT a FROM t WHERE b = ?1 AND c = ?2 AND d = ?1 AND e = ?10");
  EXPECT_EQ(t.text, "SELECT a FROM t WHERE b = $1 AND c = $2 AND d = $1 AND e = $3");
  EXPECT_EQ(t.parameters, 3);
  EXPECT_TRUE(t.names.empty());
}

TEST(Dialect, NumbersATextSkipsArePacked) {
  // SQLite lets a statement use ?5..?7 only (update_session binds all of ?1..?14 and uses some);
  // PostgreSQL cannot type a parameter no text uses.
  const Translated t = translate("UPDATE s SET a = ?5, b = ?7 WHERE id = ?14");
  EXPECT_EQ(t.text, "UPDATE s SET a = $1, b = $2 WHERE id = $3");
  EXPECT_EQ(t.parameters, 3);
  ASSERT_EQ(t.slots.size(), 15U);
  EXPECT_EQ(t.slots[5], 1);
  EXPECT_EQ(t.slots[6], 0);
  EXPECT_EQ(t.slots[7], 2);
  EXPECT_EQ(t.slots[14], 3);
}

TEST(Dialect, NamedParametersGetOneNumberEach) {
  const Translated t =
      translate("UPDATE r SET x = :now WHERE n NOT IN (:n0, :n1) AND y = :now LIMIT :limit");
  EXPECT_EQ(t.text, "UPDATE r SET x = $1 WHERE n NOT IN ($2, $3) AND y = $1 LIMIT $4");
  EXPECT_EQ(t.names.at(":now"), 1);
  EXPECT_EQ(t.names.at(":n1"), 3);
  EXPECT_EQ(t.names.at(":limit"), 4);
  EXPECT_EQ(t.parameters, 4);
}

TEST(Dialect, QuotedTextAndCommentsAreCopiedAsTheyAre) {
  // An outbox key 'alert:' || ref, a literal with ?1 and :x in it, a doubled quote, a comment.
  const Translated t =
      translate("SELECT 'alert:' || ref, 'it''s ?1 :x', \"a:b\" FROM t -- why ?2 :y\nWHERE k = ?1");
  EXPECT_EQ(t.text,
            "SELECT 'alert:' || ref, 'it''s ?1 :x', \"a:b\" FROM t -- why ?2 :y\nWHERE k = $1");
  EXPECT_TRUE(t.names.empty());
  EXPECT_EQ(t.parameters, 1);
}

TEST(Dialect, SqlitesIndexHintIsDropped) {
  EXPECT_EQ(translate("SELECT id FROM cases INDEXED BY cases_closed_at WHERE x < ?1").text,
            "SELECT id FROM cases WHERE x < $1");
  // Only the keyword pair, never a column that merely starts so.
  EXPECT_EQ(translate("SELECT indexed_by FROM t").text, "SELECT indexed_by FROM t");
}

TEST(Dialect, EveryStatementTranslatesWithoutSqliteLeftovers) {
  for (std::size_t i = 0; i < sql::kSqlCount; ++i) {
    const std::string text = statement(static_cast<sql::Sql>(i)).text;
    SCOPED_TRACE(text);
    EXPECT_EQ(text.find('?'), std::string::npos);
    EXPECT_EQ(text.find("INDEXED BY"), std::string::npos);
    EXPECT_EQ(text.find("IMMEDIATE"), std::string::npos);
    EXPECT_EQ(text.find("MAX(id), 0) + 1"), std::string::npos) << "new ids come from the sequence";
  }
}

}  // namespace
}  // namespace rabta::store::postgres
