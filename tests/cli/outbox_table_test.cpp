// `rabta outbox list` (#15 operator chores): columns line up however long a value is, and times
// are the service's local time, named in the header.
#include <gtest/gtest.h>

#include <sstream>

#include "gateway/cli/operator_commands.hpp"

using namespace rabta;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

}  // namespace

TEST(OutboxTable, ColumnsLineUpAndTimesAreLocal) {
  // 2026-12-07 00:51 UTC is 05:51 in Karachi (UTC+5, no daylight saving).
  constexpr std::int64_t kAt = 1796604660000;
  std::vector<store::OutboxRecord> rows(3);
  rows[0].id = 7;
  rows[0].kind = "sms";
  rows[0].status = "sent";
  rows[0].attempts = 1;
  rows[0].created_at = kAt;
  rows[0].sent_at = kAt + 60'000;
  rows[0].delivery_status = "delivered";
  rows[0].segments = 1;
  rows[0].cause = "checkin:2026-W49";
  rows[1].id = 12345;
  rows[1].kind = "webhook:case_management";  // longer than the old fixed column
  rows[1].status = "pending";
  rows[1].attempts = 3;
  rows[1].created_at = kAt;
  rows[1].not_before = kAt + 3'600'000;
  rows[1].cause = "case:K7P3QX";
  rows[1].last_error = "HTTP 503";
  rows[2].id = 8;
  rows[2].kind = "ussd:bdapps";
  rows[2].status = "unconfirmed";
  rows[2].created_at = kAt;
  const std::string text = gateway::outbox_table(
      rows, {{"pending", 1}, {"sent", 1}, {"unconfirmed", 1}}, *flows::parse_zone("Asia/Karachi"));
  const std::vector<std::string> lines = lines_of(text);
  ASSERT_EQ(lines.size(), 6u) << text;
  EXPECT_EQ(lines[0], "times in Asia/Karachi");
  EXPECT_EQ(lines[5], "totals: pending=1 sent=1 unconfirmed=1");
  // Every column starts where its header starts, on every row.
  const std::string& header = lines[1];
  for (const char* column : {"kind", "status", "tries", "delivery", "parts", "created", "next try",
                             "sent", "cause", "last error"}) {
    const std::size_t at = header.find(column);
    ASSERT_NE(at, std::string::npos) << column;
    for (std::size_t i = 2; i <= 4; ++i) {
      ASSERT_GT(lines[i].size(), at) << column << " in " << lines[i];
      EXPECT_NE(lines[i][at], ' ') << column << " in row " << i << ":\n" << text;
      EXPECT_EQ(lines[i][at - 1], ' ') << column << " in row " << i << ":\n" << text;
    }
  }
  // The cell under a header column, trimmed.
  const auto cell = [&](std::size_t row, const std::string& column, const std::string& next) {
    const std::size_t from = header.find(column);
    const std::size_t to = next.empty() ? std::string::npos : header.find(next);
    std::string v = lines[row].substr(from, to == std::string::npos ? to : to - from);
    while (!v.empty() && v.back() == ' ') v.pop_back();
    return v;
  };
  EXPECT_EQ(cell(2, "created", "next try"), "2026-12-07 05:51");
  EXPECT_EQ(cell(2, "next try", "sent"), "-") << "no next try once sent";
  EXPECT_EQ(cell(2, "sent", "cause"), "2026-12-07 05:52");
  EXPECT_EQ(cell(2, "delivery", "parts"), "delivered");
  EXPECT_EQ(cell(3, "next try", "sent"), "2026-12-07 06:51");
  EXPECT_EQ(cell(3, "kind", "status"), "webhook:case_management");
  EXPECT_EQ(cell(3, "last error", ""), "HTTP 503");
  EXPECT_EQ(cell(4, "last error", ""), "-");
  EXPECT_NE(lines[3].find("HTTP 503"), std::string::npos);
}
