// ClickHouseClient against a real clickhouse-server 18.16: statements, errors, compressed
// RowBinary inserts spanning several native blocks, and an unreachable server.
#include "host/forward/clickhouse_client.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "tests/unit/host/forward/local_clickhouse.h"

namespace beacon::host {
namespace {

ClickHouseClient ClientFor(const std::string& database) {
  return ClickHouseClient(Endpoint(LocalClickHouse::Shared().url(), database));
}

void PutUInt64(uint64_t v, std::string* out) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

TEST(ClickHouseClientTest, PingsAndRunsStatements) {
  ClickHouseClient client = ClientFor("client_db");
  EXPECT_TRUE(client.Ping());
  ClickHouseResult created = client.Execute("CREATE DATABASE IF NOT EXISTS client_db");
  ASSERT_TRUE(created.ok()) << created.status << " " << created.error << created.body;
  ClickHouseResult current = client.Execute("SELECT currentDatabase(), 1 + 1 FORMAT TSV");
  ASSERT_TRUE(current.ok()) << current.body;
  EXPECT_EQ(current.body, "client_db\t2\n");
}

TEST(ClickHouseClientTest, ReportsServerErrorsWithTheirText) {
  ClickHouseClient client = ClientFor("");
  ClickHouseResult result = client.Execute("SELECT no_such_column FROM system.one");
  EXPECT_FALSE(result.ok());
  EXPECT_TRUE(result.error.empty());
  EXPECT_NE(result.status, 200);
  EXPECT_NE(result.body.find("Code: 47"), std::string::npos) << result.body;
}

TEST(ClickHouseClientTest, InsertsRowBinaryAcrossSeveralCompressedBlocks) {
  ClickHouseClient client = ClientFor("client_db");
  ASSERT_TRUE(client.Execute("CREATE DATABASE IF NOT EXISTS client_db").ok());
  ClickHouseResult created = client.Execute(
      "CREATE TABLE IF NOT EXISTS numbers_in (n UInt64, s String) ENGINE = MergeTree ORDER BY n");
  ASSERT_TRUE(created.ok()) << created.body;
  // 200k rows of 8 + 1 + 5 bytes: 2.8 MB, three 1 MiB blocks, rows split across blocks.
  constexpr uint64_t kRows = 200'000;
  std::string rows;
  for (uint64_t n = 0; n < kRows; ++n) {
    PutUInt64(n, &rows);
    rows.push_back(5);
    rows.append("row-x");
  }
  ASSERT_GT(rows.size(), 2u << 20);
  ClickHouseResult inserted = client.InsertRowBinary("numbers_in", rows);
  ASSERT_TRUE(inserted.ok()) << inserted.status << " " << inserted.error << inserted.body;
  ClickHouseResult check =
      client.Execute("SELECT count(), sum(n), countIf(s = 'row-x') FROM numbers_in FORMAT TSV");
  ASSERT_TRUE(check.ok()) << check.body;
  EXPECT_EQ(check.body, std::to_string(kRows) + "\t" + std::to_string(kRows * (kRows - 1) / 2) +
                            "\t" + std::to_string(kRows) + "\n");
}

TEST(ClickHouseClientTest, RejectsRowsThatDoNotMatchTheColumnTypes) {
  ClickHouseClient client = ClientFor("client_db");
  ASSERT_TRUE(client.Execute("CREATE DATABASE IF NOT EXISTS client_db").ok());
  ASSERT_TRUE(client
                  .Execute("CREATE TABLE IF NOT EXISTS pairs (a UInt64, b UInt64) "
                           "ENGINE = MergeTree ORDER BY a")
                  .ok());
  ClickHouseResult result = client.InsertRowBinary("pairs", std::string(12, '\1'));
  EXPECT_FALSE(result.ok());
  EXPECT_NE(result.body.find("Code:"), std::string::npos) << result.body;
}

TEST(ClickHouseClientTest, FailsWithATransportErrorWhenNothingListens) {
  ClickHouseClient client(Endpoint(LoopbackUrl(UnusedPort()), "", 2'000));
  EXPECT_FALSE(client.Ping());
  ClickHouseResult result = client.Execute("SELECT 1");
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.status, 0);
  EXPECT_FALSE(result.error.empty());
}

}  // namespace
}  // namespace beacon::host
