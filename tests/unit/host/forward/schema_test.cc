// The schema applies twice on a real server, and rows encode to the exact RowBinary bytes.
#include "host/forward/schema.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

#include "host/forward/clickhouse_client.h"
#include "host/forward/schema_setup.h"
#include "tests/unit/host/forward/local_clickhouse.h"

namespace beacon::host {
namespace {

std::string Hex(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

kernels::UniqHll12 Sketch(std::initializer_list<uint64_t> visitors) {
  kernels::UniqHll12 sketch;
  for (const uint64_t v : visitors) sketch.Add(v);
  return sketch;
}

TEST(RowBinaryTest, SiteMinuteRowHasGoldenBytes) {
  kernels::SiteMinuteRow row{.site_id = 7,
                             .minute = 29'000'000,  // 2025-02-19 21:20 UTC
                             .pageviews = 300,
                             .events = 1,
                             .visitors = Sketch({2, 0x0102030405060708})};
  std::string out;
  AppendSiteMinuteRowBinary(row, &out);
  // site_id | minute*60 = 1'740'000'000 = 0x67b64b00 | pageviews | events | the uniqHLL12
  // state: 0 (small) | VarUInt 2 | the visitors in insertion order
  EXPECT_EQ(Hex(out),
            "07000000"
            "004bb667"
            "2c01000000000000"
            "0100000000000000"
            "00"
            "02"
            "0200000000000000"
            "0807060504030201");
}

TEST(RowBinaryTest, BreakdownRowHasGoldenBytes) {
  kernels::BreakdownRow row{.site_id = 0x01020304,
                            .minute = 1,
                            .dimension = kernels::Dimension::kReferrer,
                            .value = std::string(130, 'a'),
                            .pageviews = 5,
                            .events = 2,
                            .visitors = Sketch({9})};
  std::string out;
  AppendBreakdownRowBinary(row, &out);
  // dimension: Enum8 'referrer' = 2, one byte; the value length 130 is the two-byte varint
  // 0x82 0x01.
  EXPECT_EQ(Hex(out), "04030201" + std::string("3c000000") + "02" + "8201" + Hex(row.value) +
                          "0500000000000000" + "0200000000000000" + "00" + "01" +
                          "0900000000000000");
}

TEST(SchemaTest, DimensionEnumNamesEveryDimension) {
  EXPECT_EQ(DimensionEnumType(),
            "Enum8('page' = 1, 'referrer' = 2, 'utm_source' = 3, 'utm_medium' = 4, "
            "'utm_campaign' = 5, 'country' = 6, 'device' = 7, 'browser' = 8, 'os' = 9, "
            "'event' = 10)");
}

TEST(SchemaTest, RejectsADatabaseNameThatIsNotAnIdentifier) {
  EXPECT_THROW(SchemaStatements("beacon; DROP TABLE x"), std::invalid_argument);
  EXPECT_THROW(SchemaStatements(""), std::invalid_argument);
  EXPECT_THROW(SchemaStatements(SchemaOptions{.database = "beacon", .cluster = "c x"}),
               std::invalid_argument);
}

TEST(SchemaTest, OneServerModeWritesSingleReplicaTablesUnderTheAnalystNames) {
  std::string one_server;
  for (const auto& sql : SchemaStatements("b")) one_server += sql + ";";
  EXPECT_NE(one_server.find("b.site_minutes (site_id UInt32, minute DateTime, pageviews UInt64, "
                            "events UInt64, visitors AggregateFunction(uniqHLL12, UInt64), "
                            "batch_id UInt64, weighted_pageviews UInt64, weighted_events UInt64) "
                            "ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/b/"
                            "site_minutes_weighted', '{replica}', (pageviews, events, visitors, "
                            "weighted_pageviews, weighted_events))"),
            std::string::npos)
      << one_server;
  EXPECT_NE(one_server.find("ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/b/"
                            "breakdown_minutes_weighted', '{replica}', (pageviews, events, "
                            "visitors, weighted_pageviews, weighted_events))"),
            std::string::npos)
      << one_server;
  EXPECT_EQ(one_server.find("_local"), std::string::npos);
  EXPECT_EQ(one_server.find("Distributed"), std::string::npos);
}

TEST(SchemaTest, ClusterModeWritesTheLocalAndDistributedTables) {
  std::string cluster;
  for (const auto& sql : SchemaStatements(SchemaOptions{.database = "b", .cluster = "c"})) {
    cluster += sql + ";";
  }
  EXPECT_NE(cluster.find("ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/b/"
                         "site_minutes_local_weighted', '{replica}', (pageviews, events, "
                         "visitors, weighted_pageviews, weighted_events))"),
            std::string::npos)
      << cluster;
  EXPECT_NE(cluster.find("b.site_minutes AS b.site_minutes_local ENGINE = Distributed(c, b, "
                         "site_minutes_local)"),
            std::string::npos)
      << cluster;
  EXPECT_NE(cluster.find("ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/b/"
                         "breakdown_minutes_local_weighted', '{replica}', (pageviews, events, "
                         "visitors, weighted_pageviews, weighted_events))"),
            std::string::npos)
      << cluster;
  EXPECT_NE(cluster.find("b.breakdown_minutes AS b.breakdown_minutes_local ENGINE = "
                         "Distributed(c, b, breakdown_minutes_local)"),
            std::string::npos)
      << cluster;
}

TEST(RowBinaryTest, RowTailIsBatchIdAndWeightsLittleEndian) {
  std::string out;
  AppendRowTailBinary(0x0102030405060708, 10, 0x20, &out);
  EXPECT_EQ(Hex(out),
            "0807060504030201"
            "0a00000000000000"
            "2000000000000000");
}

TEST(SchemaTest, MigrationRebuildsOnlyTheUnweightedDataTables) {
  const SchemaOptions one{.database = "b", .cluster = ""};
  EXPECT_EQ(UnweightedTables(one, {"site_minutes", "old_minutes", "site_minutes_local"}),
            (std::vector<std::string>{"site_minutes"}));
  const SchemaOptions cluster{.database = "b", .cluster = "c"};
  EXPECT_EQ(UnweightedTables(cluster, {"site_minutes", "breakdown_minutes_local"}),
            (std::vector<std::string>{"breakdown_minutes_local"}));
  std::string replica;
  for (const auto& sql : MigrateWeightedStatements(cluster, "breakdown_minutes_local", false)) {
    replica += sql + ";";
  }
  // A shard's other replicas fetch the copied rows: they copy none themselves.
  EXPECT_EQ(replica.find("INSERT"), std::string::npos) << replica;
  EXPECT_NE(replica.find("RENAME TABLE b.breakdown_minutes_local TO "
                         "b.breakdown_minutes_local_unweighted, b.breakdown_minutes_local_weighted "
                         "TO b.breakdown_minutes_local"),
            std::string::npos)
      << replica;
  EXPECT_NE(replica.find("DROP TABLE IF EXISTS b.breakdown_minutes;"), std::string::npos)
      << replica;
}

// Tables made before the weighted columns are rebuilt with them: the old rows carry weights
// equal to their counts, and the weighted columns are summed on merge.
TEST(SchemaTest, MigratesUnweightedTablesKeepingTheirRows) {
  ClickHouseClient client(Endpoint(LocalClickHouse::Shared().url(), "migrate_db"));
  for (const std::string statement : {
           "CREATE DATABASE IF NOT EXISTS migrate_db",
           "CREATE TABLE migrate_db.site_minutes (site_id UInt32, minute DateTime, pageviews "
           "UInt64, events UInt64, visitors AggregateFunction(uniqHLL12, UInt64), batch_id "
           "UInt64) ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/migrate_db/"
           "site_minutes', '{replica}', (pageviews, events, visitors)) PARTITION BY "
           "toYYYYMMDD(minute) ORDER BY (site_id, minute)",
           "INSERT INTO migrate_db.site_minutes (site_id, minute, pageviews, events, batch_id) "
           "VALUES (1, 60, 2, 3, 1)",
       }) {
    ClickHouseResult result = client.Execute(statement);
    ASSERT_TRUE(result.ok()) << statement << "\n" << result.error << result.body;
  }
  const SchemaOptions options{.database = "migrate_db", .cluster = ""};
  ASSERT_EQ(UnweightedTables(options, {"site_minutes"}),
            (std::vector<std::string>{"site_minutes"}));
  std::vector<std::string> statements = MigrateWeightedStatements(options, "site_minutes", true);
  for (const std::string& statement : SchemaStatements(options)) statements.push_back(statement);
  for (const std::string& statement : statements) {
    ClickHouseResult result = client.Execute(statement);
    ASSERT_TRUE(result.ok()) << statement << "\n" << result.error << result.body;
  }
  const kernels::SiteMinuteRow row{
      .site_id = 1, .minute = 1, .pageviews = 1, .events = 0, .visitors = {}};
  for (const uint64_t batch_id : {2, 3}) {
    std::string data;
    AppendSiteMinuteRowBinary(row, &data);
    AppendRowTailBinary(batch_id, 10, 0, &data);
    ClickHouseResult result = client.InsertRowBinary(kSiteMinutesTable, data);
    ASSERT_TRUE(result.ok()) << result.error << result.body;
  }
  ASSERT_EQ(OptimizeUntilRows(client, "migrate_db.site_minutes", "1\n"), "1\n");
  ClickHouseResult sums = client.Execute(
      "SELECT pageviews, events, weighted_pageviews, weighted_events FROM "
      "migrate_db.site_minutes FORMAT TSV");
  ASSERT_TRUE(sums.ok()) << sums.body;
  EXPECT_EQ(sums.body, "4\t3\t22\t3\n");
  ClickHouseResult kept =
      client.Execute("SELECT count() FROM migrate_db.site_minutes_unweighted FORMAT TSV");
  ASSERT_TRUE(kept.ok()) << kept.body;
  EXPECT_EQ(kept.body, "1\n");
}

// A weighted rebuild interrupted after its copy, before its RENAME (beaconctl killed, the
// machine down), then run again: the rows land once. Site 1's minute is in two parts of the old
// table; with `merged`, a background merge (here OPTIMIZE) joins them before the re-run, so the
// second copy's blocks are not the first's and block deduplication cannot drop them.
TEST(SchemaTest, AWeightedRebuildRunAgainAfterItsCopyCopiesTheRowsOnce) {
  for (const bool merged : {false, true}) {
    const std::string db = merged ? "rerun_merged_db" : "rerun_db";
    ClickHouseClient client(Endpoint(LocalClickHouse::Shared().url(), db));
    for (const std::string& statement : {
             "CREATE DATABASE IF NOT EXISTS " + db,
             "CREATE TABLE " + db +
                 ".site_minutes (site_id UInt32, minute DateTime, pageviews UInt64, events "
                 "UInt64, visitors AggregateFunction(uniqHLL12, UInt64), batch_id UInt64) ENGINE "
                 "= ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/" +
                 db +
                 "/site_minutes', '{replica}', (pageviews, events, visitors)) PARTITION BY "
                 "toYYYYMMDD(minute) ORDER BY (site_id, minute)",
             "INSERT INTO " + db +
                 ".site_minutes (site_id, minute, pageviews, events, batch_id) VALUES (1, 60, 2, "
                 "1, 1), (2, 60, 7, 0, 1)",
             "INSERT INTO " + db +
                 ".site_minutes (site_id, minute, pageviews, events, batch_id) VALUES (1, 60, 3, "
                 "1, 2)",
         }) {
      ClickHouseResult result = client.Execute(statement);
      ASSERT_TRUE(result.ok()) << statement << "\n" << result.error << result.body;
    }
    const SchemaOptions options{.database = db, .cluster = ""};
    // The first run, up to its copy: the rebuilt table made, then every row copied into it.
    const std::vector<std::string> first = MigrateWeightedStatements(options, "site_minutes", true);
    for (const std::string& statement : first) {
      if (statement.starts_with("RENAME")) break;
      ClickHouseResult result = client.Execute(statement);
      ASSERT_TRUE(result.ok()) << statement << "\n" << result.error << result.body;
    }
    if (merged) {
      ASSERT_EQ(OptimizeUntilRows(client, db + ".site_minutes", "2\n"), "2\n");
    }
    ASSERT_TRUE(ApplySchema(Endpoint("", db), {{LocalClickHouse::Shared().url()}}, options));
    ClickHouseResult sums = client.Execute(
        "SELECT sum(pageviews), sum(events), sum(weighted_pageviews), sum(weighted_events) FROM " +
        db + ".site_minutes FORMAT TSV");
    ASSERT_TRUE(sums.ok()) << sums.body;
    EXPECT_EQ(sums.body, "12\t2\t12\t2\n") << (merged ? "merged" : "not merged");
  }
}

TEST(SchemaTest, AppliesTwiceCreatesEveryTableAndDropsTheArrayTables) {
  ClickHouseClient client(Endpoint(LocalClickHouse::Shared().url(), "schema_db"));
  // The input table and view of the release that inserted visitor-hash arrays through views
  // (here into a table of their own: the schema creates site_minutes anew).
  for (const std::string statement : {
           "CREATE DATABASE IF NOT EXISTS schema_db",
           "CREATE TABLE schema_db.old_minutes (site_id UInt32, minute DateTime, pageviews "
           "UInt64, events UInt64, visitors AggregateFunction(uniqHLL12, UInt64)) ENGINE = "
           "SummingMergeTree() PARTITION BY toYYYYMMDD(minute) ORDER BY (site_id, minute)",
           "CREATE TABLE schema_db.site_minutes_in (site_id UInt32, minute DateTime, pageviews "
           "UInt64, events UInt64, visitor_hashes Array(UInt64)) ENGINE = Null",
           "CREATE MATERIALIZED VIEW schema_db.site_minutes_mv TO schema_db.old_minutes AS "
           "SELECT site_id, minute, pageviews, events, arrayReduce('uniqHLL12State', "
           "visitor_hashes) AS visitors FROM schema_db.site_minutes_in",
           "INSERT INTO schema_db.site_minutes_in VALUES (1, 60, 2, 3, [7, 8])",
       }) {
    ClickHouseResult result = client.Execute(statement);
    ASSERT_TRUE(result.ok()) << statement << "\n" << result.error << result.body;
  }
  for (int pass = 0; pass < 2; ++pass) {
    for (const std::string& statement : SchemaStatements("schema_db")) {
      ClickHouseResult result = client.Execute(statement);
      ASSERT_TRUE(result.ok()) << "pass " << pass << ": " << statement << "\n"
                               << result.status << " " << result.error << result.body;
    }
  }
  ClickHouseResult tables = client.Execute(
      "SELECT name, engine FROM system.tables WHERE database = 'schema_db' ORDER BY name "
      "FORMAT TSV");
  ASSERT_TRUE(tables.ok()) << tables.body;
  EXPECT_EQ(tables.body,
            "breakdown_minutes\tReplicatedSummingMergeTree\n"
            "old_minutes\tSummingMergeTree\n"
            "site_minutes\tReplicatedSummingMergeTree\n");
  // The data written through the old view stays.
  ClickHouseResult kept =
      client.Execute("SELECT sum(pageviews), uniqHLL12Merge(visitors) FROM old_minutes FORMAT TSV");
  ASSERT_TRUE(kept.ok()) << kept.body;
  EXPECT_EQ(kept.body, "2\t2\n");
}

// Exactly once on one server: the same RowBinary block inserted twice (a retry after a lost
// answer) counts once; another batch with equal rows but its own batch_id counts again.
TEST(SchemaTest, OneServerDropsAResentBlockAndKeepsAnotherBatch) {
  ClickHouseClient client(Endpoint(LocalClickHouse::Shared().url(), "dedup_db"));
  for (const std::string& statement : SchemaStatements("dedup_db")) {
    ClickHouseResult result = client.Execute(statement);
    ASSERT_TRUE(result.ok()) << statement << "\n" << result.error << result.body;
  }
  const kernels::SiteMinuteRow site_row{
      .site_id = 7, .minute = 29'000'000, .pageviews = 3, .events = 4, .visitors = {}};
  const kernels::BreakdownRow breakdown_row{.site_id = 7,
                                            .minute = 29'000'000,
                                            .dimension = kernels::Dimension::kPage,
                                            .value = "/a",
                                            .pageviews = 3,
                                            .events = 4,
                                            .visitors = {}};
  auto block = [&](uint64_t batch_id, bool site) {
    std::string data;
    if (site) {
      AppendSiteMinuteRowBinary(site_row, &data);
    } else {
      AppendBreakdownRowBinary(breakdown_row, &data);
    }
    AppendRowTailBinary(batch_id, 3, 4, &data);
    return data;
  };
  for (const uint64_t batch_id : {11, 11, 12}) {
    for (const bool site : {true, false}) {
      ClickHouseResult result = client.InsertRowBinary(
          site ? kSiteMinutesTable : kBreakdownMinutesTable, block(batch_id, site));
      ASSERT_TRUE(result.ok()) << result.error << result.body;
    }
  }
  for (const std::string table : {"site_minutes", "breakdown_minutes"}) {
    ClickHouseResult sums = client.Execute(
        "SELECT sum(pageviews), sum(events), sum(weighted_pageviews), sum(weighted_events) FROM " +
        table + " FORMAT TSV");
    ASSERT_TRUE(sums.ok()) << sums.body;
    EXPECT_EQ(sums.body, "6\t8\t6\t8\n") << table;
  }
}

}  // namespace
}  // namespace beacon::host
