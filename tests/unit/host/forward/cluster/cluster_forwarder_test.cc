// The cluster schema and the Forwarder against a real 2 x 2 ClickHouse 18.16 cluster with
// ZooKeeper: the schema applies twice, sites land on their ring shard, a resent batch is
// counted once, a dead replica is skipped, and a stopped shard's batches wait in the spool
// and land exactly once when it returns.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "host/archive/file_system.h"
#include "host/forward/clickhouse_client.h"
#include "host/forward/forwarder.h"
#include "host/forward/schema.h"
#include "host/forward/schema_setup.h"
#include "host/forward/shard_ring.h"
#include "host/forward/watermarks.h"
#include "host/metrics/metrics.h"
#include "tests/unit/host/forward/cluster/local_cluster.h"
#include "tests/unit/host/forward/cluster/silent_proxy.h"

namespace beacon::host {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr uint32_t kMinute = 29'000'000;  // 2025-02-19 21:20 UTC
constexpr uint32_t kSites = 60;

ClickHouseEndpoint Endpoint(const std::string& url, const std::string& database) {
  ClickHouseEndpoint endpoint;
  endpoint.url = url;
  endpoint.database = database;
  endpoint.timeout_ms = 30'000;
  return endpoint;
}

std::string Query(const std::string& url, const std::string& database, const std::string& sql) {
  ClickHouseClient client(Endpoint(url, database));
  ClickHouseResult result = client.Execute(sql + " FORMAT TSV");
  EXPECT_TRUE(result.ok()) << url << ": " << sql << "\n" << result.error << result.body;
  return result.body;
}

SchemaOptions ClusterSchema(const std::string& database) {
  SchemaOptions options;
  options.database = database;
  options.cluster = LocalCluster::kName;
  return options;
}

// What beaconctl schema does, on every server.
void ApplySchema(const std::string& database) {
  ASSERT_TRUE(host::ApplySchema(Endpoint("", database), LocalCluster::Shared().shard_urls(),
                                ClusterSchema(database)));
}

// Waits until every replica has fetched every part its peers wrote, so a Distributed query
// (which reads one replica per shard) sees everything.
void SyncReplicas(const std::string& database) {
  for (const std::string& url : LocalCluster::Shared().all_urls()) {
    for (const char* table : {"site_minutes_local", "breakdown_minutes_local"}) {
      ClickHouseClient client(Endpoint(url, database));
      ClickHouseResult result =
          client.Execute("SYSTEM SYNC REPLICA " + database + "." + std::string(table));
      EXPECT_TRUE(result.ok()) << url << ": " << result.error << result.body;
    }
  }
}

ForwarderConfig ClusterConfig(const std::string& database, int flush_interval_ms = 200) {
  ForwarderConfig config;
  config.clickhouse = Endpoint("", database);
  config.clickhouse.timeout_ms = 10'000;
  config.shards = LocalCluster::Shared().shard_urls();
  config.cluster = LocalCluster::kName;
  config.flush_interval_ms = flush_interval_ms;
  config.retry_initial_ms = 50;
  config.retry_max_ms = 500;
  return config;
}

kernels::UniqHll12 Visitor(uint64_t visitor) {
  kernels::UniqHll12 sketch;
  sketch.Add(visitor);
  return sketch;
}

// An epoch touching sites 1..kSites: site s has s pageviews, 1 event, visitors
// {s * 1000 + (seq % 7)}, and s pageviews on path "/p<seq % 3>".
kernels::EpochRows Epoch(uint64_t seq) {
  kernels::EpochRows rows;
  rows.epoch = seq;
  for (uint32_t site = 1; site <= kSites; ++site) {
    rows.site_minutes.push_back({.site_id = site,
                                 .minute = kMinute,
                                 .pageviews = site,
                                 .events = 1,
                                 .visitors = Visitor(site * 1000ull + seq % 7)});
    rows.breakdowns.push_back({.site_id = site,
                               .minute = kMinute,
                               .dimension = kernels::Dimension::kPage,
                               .value = "/p" + std::to_string(seq % 3),
                               .pageviews = site,
                               .visitors = Visitor(site * 1000ull + seq % 7)});
    rows.events += site + 1;
  }
  return rows;
}

// What `epochs` epochs add up to per site: pageviews, events, page pageviews.
struct Totals {
  std::map<uint32_t, uint64_t> pageviews, events, page_pageviews;
};

Totals Expected(uint64_t epochs) {
  Totals totals;
  for (uint32_t site = 1; site <= kSites; ++site) {
    totals.pageviews[site] = site * epochs;
    totals.events[site] = epochs;
    totals.page_pageviews[site] = site * epochs;
  }
  return totals;
}

// The documented queries on the Distributed tables, from `url`.
Totals Landed(const std::string& url, const std::string& database) {
  SyncReplicas(database);
  Totals totals;
  std::istringstream sites(Query(url, database,
                                 "SELECT site_id, sum(pageviews), sum(events) FROM " + database +
                                     ".site_minutes GROUP BY site_id"));
  uint32_t site;
  uint64_t pageviews, events;
  while (sites >> site >> pageviews >> events) {
    totals.pageviews[site] = pageviews;
    totals.events[site] = events;
  }
  std::istringstream pages(
      Query(url, database,
            "SELECT site_id, sum(pageviews) FROM " + database +
                ".breakdown_minutes WHERE dimension = 'page' GROUP BY site_id"));
  while (pages >> site >> pageviews) totals.page_pageviews[site] = pageviews;
  return totals;
}

void ExpectTotals(const Totals& landed, const Totals& expected) {
  EXPECT_EQ(landed.pageviews, expected.pageviews);
  EXPECT_EQ(landed.events, expected.events);
  EXPECT_EQ(landed.page_pageviews, expected.page_pageviews);
}

double Sample(const MetricsRegistry& registry, const std::string& name) {
  std::istringstream lines(registry.Scrape());
  std::string line;
  while (std::getline(lines, line)) {
    if (line.starts_with(name + " ")) return std::stod(line.substr(name.size() + 1));
  }
  ADD_FAILURE() << "no sample " << name;
  return -1;
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "beacon-spool-XXXXXX").string();
    EXPECT_NE(mkdtemp(pattern.data()), nullptr);
    path_ = pattern;
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The config of `database`, its schema applied, spooling into `spool` up to `spool_max_bytes`.
ForwarderConfig SpoolingConfig(const std::string& database, const TempDir& spool,
                               int flush_interval_ms, uint64_t spool_max_bytes) {
  ApplySchema(database);
  ForwarderConfig config = ClusterConfig(database, flush_interval_ms);
  config.spool_dir = spool.path();
  config.spool_max_bytes = spool_max_bytes;
  return config;
}

template <typename Predicate>
bool WaitUntil(Predicate done, milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return true;
}

TEST(ClusterSchemaTest, AppliesTwiceOnEveryServerAndTheSecondRunChangesNothing) {
  const std::string db = "schema_cluster";
  ApplySchema(db);
  const std::string tables_sql =
      "SELECT name, engine, metadata_modification_time FROM system.tables WHERE database = '" + db +
      "' ORDER BY name";
  std::vector<std::string> before;
  for (const auto& url : LocalCluster::Shared().all_urls()) {
    before.push_back(Query(url, db, tables_sql));
  }
  std::this_thread::sleep_for(milliseconds(1100));  // a re-creation would show a new mtime
  ApplySchema(db);
  const auto urls = LocalCluster::Shared().all_urls();
  for (size_t i = 0; i < urls.size(); ++i) {
    const std::string after = Query(urls[i], db, tables_sql);
    EXPECT_EQ(after, before[i]) << urls[i];
    for (const char* expected :
         {"breakdown_minutes\tDistributed", "breakdown_minutes_local\tReplicatedSummingMergeTree",
          "site_minutes\tDistributed", "site_minutes_local\tReplicatedSummingMergeTree"}) {
      EXPECT_NE(after.find(expected), std::string::npos) << urls[i] << " lacks " << expected;
    }
    // beacond inserts states into the _local tables: no Null tables, no views.
    EXPECT_EQ(after.find("_in\t"), std::string::npos) << urls[i] << ": " << after;
    EXPECT_EQ(after.find("_mv\t"), std::string::npos) << urls[i] << ": " << after;
  }
  // Each shard's replicas share one ZooKeeper path per table.
  EXPECT_EQ(Query(LocalCluster::Shared().url(2, 2), db,
                  "SELECT zookeeper_path, replica_name FROM system.replicas WHERE database = '" +
                      db + "' AND table = 'site_minutes_local'"),
            "/clickhouse/tables/2/" + db + "/site_minutes_local_weighted\ts2-r2\n");
}

// A cluster renamed in beacond's config — here a deployment made when the cluster was its
// first shard alone (beacon_cluster_one_shard), grown into beacon_cluster: the schema run
// again points the Distributed tables at the new name, so queries read every shard.
TEST(ClusterSchemaTest, ARenamedClusterMovesTheDistributedTablesToIt) {
  const std::string db = "renamed_cluster";
  SchemaOptions before = ClusterSchema(db);
  before.cluster = LocalCluster::kOneShardName;
  const auto& shards = LocalCluster::Shared().shard_urls();
  ASSERT_TRUE(host::ApplySchema(Endpoint("", db), shards, before));
  ASSERT_TRUE(host::ApplySchema(Endpoint("", db), shards, ClusterSchema(db)));
  for (int shard = 1; shard <= 2; ++shard) {
    std::string data;
    AppendSiteMinuteRowBinary({.site_id = static_cast<uint32_t>(shard),
                               .minute = kMinute,
                               .pageviews = 10u * shard,
                               .events = 0,
                               .visitors = {}},
                              &data);
    AppendRowTailBinary(1, 10u * shard, 0, &data);
    ClickHouseClient client(Endpoint(LocalCluster::Shared().url(shard, 1), db));
    const ClickHouseResult result = client.InsertRowBinary(kSiteMinutesLocalTable, data);
    ASSERT_TRUE(result.ok()) << result.error << result.body;
  }
  SyncReplicas(db);
  for (const std::string& url : LocalCluster::Shared().all_urls()) {
    EXPECT_EQ(Query(url, db,
                    "SELECT name, engine_full FROM system.tables WHERE database = '" + db +
                        "' AND engine = 'Distributed' ORDER BY name"),
              "breakdown_minutes\tDistributed(beacon_cluster, " + db +
                  ", breakdown_minutes_local)\nsite_minutes\tDistributed(beacon_cluster, " + db +
                  ", site_minutes_local)\n")
        << url;
    EXPECT_EQ(Query(url, db, "SELECT sum(pageviews) FROM site_minutes"), "30\n") << url;
  }
}

// The weighted rebuild on a cluster, interrupted on shard 1's first replica after its copy
// and before its RENAME, then run again after a merge of the old table: every shard's rows
// are counted once through the Distributed table, on every server, weights equal to counts.
TEST(ClusterSchemaTest, AWeightedRebuildRunAgainAfterItsCopyCountsTheRowsOnce) {
  const std::string db = "rerun_cluster";
  const std::string old_local =
      "CREATE TABLE " + db +
      ".site_minutes_local (site_id UInt32, minute DateTime, pageviews UInt64, events UInt64, "
      "visitors AggregateFunction(uniqHLL12, UInt64), batch_id UInt64) ENGINE = "
      "ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/" +
      db +
      "/site_minutes_local', '{replica}', (pageviews, events, visitors)) PARTITION BY "
      "toYYYYMMDD(minute) ORDER BY (site_id, minute)";
  auto execute = [&](const std::string& url, const std::string& sql) {
    ClickHouseResult result = ClickHouseClient(Endpoint(url, db)).Execute(sql);
    EXPECT_TRUE(result.ok()) << url << ": " << sql << "\n" << result.error << result.body;
  };
  for (const std::string& url : LocalCluster::Shared().all_urls()) {
    execute(url, "CREATE DATABASE IF NOT EXISTS " + db);
    execute(url, old_local);
  }
  // Site 1's minute in two parts on shard 1; one row on shard 2.
  const std::string insert =
      "INSERT INTO site_minutes_local (site_id, minute, pageviews, "
      "events, batch_id) VALUES ";
  execute(LocalCluster::Shared().url(1, 1), insert + "(1, 60, 2, 1, 1)");
  execute(LocalCluster::Shared().url(1, 1), insert + "(1, 60, 3, 1, 2)");
  execute(LocalCluster::Shared().url(2, 1), insert + "(2, 60, 7, 0, 1)");
  const SchemaOptions options = ClusterSchema(db);
  ClickHouseClient first(Endpoint(LocalCluster::Shared().url(1, 1), db));
  for (const std::string& sql : MigrateWeightedStatements(options, "site_minutes_local", true)) {
    if (sql.starts_with("RENAME")) break;
    ClickHouseResult result = first.Execute(sql);
    ASSERT_TRUE(result.ok()) << sql << "\n" << result.error << result.body;
  }
  // A merge (OPTIMIZE skips one while the parts are in a background merge of their own).
  ASSERT_TRUE(WaitUntil(
      [&] {
        execute(LocalCluster::Shared().url(1, 1), "OPTIMIZE TABLE site_minutes_local FINAL");
        return Query(LocalCluster::Shared().url(1, 1), db,
                     "SELECT count() FROM site_minutes_local") == "1\n";
      },
      milliseconds(10'000)));
  ApplySchema(db);
  SyncReplicas(db);
  for (const std::string& url : LocalCluster::Shared().all_urls()) {
    EXPECT_EQ(Query(url, db,
                    "SELECT sum(pageviews), sum(events), sum(weighted_pageviews), "
                    "sum(weighted_events) FROM site_minutes"),
              "12\t2\t12\t2\n")
        << url;
  }
}

TEST(ClusterForwarderTest, EachSiteLandsOnItsRingShardWithExactSums) {
  const std::string db = "ring_cluster";
  ApplySchema(db);
  Forwarder forwarder(ClusterConfig(db));
  forwarder.Start();
  for (uint64_t seq = 0; seq < 5; ++seq) {
    kernels::EpochRows rows = Epoch(seq);
    ASSERT_TRUE(forwarder.Offer(rows));
  }
  ASSERT_TRUE(forwarder.Drain(milliseconds(30'000)));
  EXPECT_EQ(forwarder.acknowledged_events(), 5 * (kSites * (kSites + 1) / 2 + kSites));
  ExpectTotals(Landed(LocalCluster::Shared().url(1, 1), db), Expected(5));
  // Every shard-local table holds exactly the sites the ring gives its shard.
  const ShardRing ring(2);
  for (int shard = 1; shard <= 2; ++shard) {
    std::istringstream sites(
        Query(LocalCluster::Shared().url(shard, 2), db,
              "SELECT DISTINCT site_id FROM " + db + ".site_minutes_local ORDER BY site_id"));
    uint32_t site;
    size_t count = 0;
    while (sites >> site) {
      EXPECT_EQ(ring.ShardOf(site), static_cast<uint32_t>(shard - 1)) << "site " << site;
      ++count;
    }
    EXPECT_GT(count, 0u) << "shard " << shard;
  }
}

TEST(ClusterForwarderTest, AResentBatchLandsOnceAndADifferentBatchWithEqualRowsTwice) {
  const std::string db = "dedup_cluster";
  ApplySchema(db);
  TempDir spool;
  // 1. Nothing listens: each shard's batch fails and goes to the spool, then the forwarder
  // stops with it unsent, as beacond does at the end of a drain.
  {
    ForwarderConfig config = ClusterConfig(db);
    config.shards = {{"http://127.0.0.1:9"}, {"http://127.0.0.1:9"}};
    config.spool_dir = spool.path();
    Forwarder forwarder(config);
    forwarder.Start();
    kernels::EpochRows rows = Epoch(0);
    ASSERT_TRUE(forwarder.Offer(rows));
    EXPECT_FALSE(forwarder.Drain(milliseconds(1'500)));
    EXPECT_EQ(forwarder.spooled_records(), 2u);
  }
  // 2. A copy of the spool stands for a forwarder that inserted the batches but died before
  // it could delete them: both forwarders below replay byte-identical batches, the second to
  // the other replica of each shard.
  const std::string copy = spool.path() + "-copy";
  fs::copy(spool.path(), copy, fs::copy_options::recursive);
  for (const std::string& dir : {spool.path(), copy}) {
    ForwarderConfig config = ClusterConfig(db);
    if (dir == copy) {
      for (auto& replicas : config.shards) std::swap(replicas[0], replicas[1]);
    }
    config.spool_dir = dir;
    Forwarder forwarder(config);
    EXPECT_EQ(forwarder.spooled_records(), 2u);
    forwarder.Start();
    ASSERT_TRUE(forwarder.Drain(milliseconds(30'000)));
    EXPECT_EQ(forwarder.spooled_records(), 0u);
  }
  fs::remove_all(copy);
  ExpectTotals(Landed(LocalCluster::Shared().url(2, 1), db), Expected(1));
  // 3. The same epoch offered again is a new batch (a new batch id): it counts again.
  {
    Forwarder forwarder(ClusterConfig(db));
    forwarder.Start();
    kernels::EpochRows rows = Epoch(0);
    ASSERT_TRUE(forwarder.Offer(rows));
    ASSERT_TRUE(forwarder.Drain(milliseconds(30'000)));
  }
  ExpectTotals(Landed(LocalCluster::Shared().url(1, 2), db), Expected(2));
}

// Blocks the replicated tables of shard 1 dropped as duplicates so far, over its replicas.
uint64_t DuplicateBlocksOfShardOne() {
  uint64_t total = 0;
  for (int replica = 1; replica <= 2; ++replica) {
    const std::string value = Query(LocalCluster::Shared().url(1, replica), "default",
                                    "SELECT sum(value) FROM system.events WHERE event = "
                                    "'DuplicatedInsertedBlocks'");
    total += std::stoull(value);
  }
  return total;
}

TEST(ClusterForwarderTest, AnInsertRetriedAfterATimeoutLandsOnce) {
  const std::string db = "timeout_cluster";
  ApplySchema(db);
  // Shard 1's first replica answers nothing on the first connection: the insert is written,
  // its acknowledgement lost, the client times out and fails over to the second replica
  // with the same bytes.
  const std::string& first = LocalCluster::Shared().url(1, 1);
  SilentProxy proxy(std::stoi(first.substr(first.rfind(':') + 1)), 1);
  ForwarderConfig config = ClusterConfig(db);
  config.clickhouse.timeout_ms = 2'000;
  config.shards[0][0] = "http://127.0.0.1:" + std::to_string(proxy.port());
  const uint64_t duplicates_before = DuplicateBlocksOfShardOne();
  MetricsRegistry metrics;
  {
    Forwarder forwarder(config);
    forwarder.RegisterMetrics(&metrics, "fwd");
    forwarder.Start();
    for (uint64_t seq = 0; seq < 3; ++seq) {
      kernels::EpochRows rows = Epoch(seq);
      ASSERT_TRUE(forwarder.Offer(rows));
    }
    ASSERT_TRUE(forwarder.Drain(milliseconds(30'000)));
    EXPECT_GE(Sample(metrics, "fwd_failovers_total{shard=\"1\"}"), 1);
  }
  EXPECT_GE(proxy.connections(), 1);
  ExpectTotals(Landed(LocalCluster::Shared().url(2, 1), db), Expected(3));
  // The resent block was recognised (by whichever replica received it second).
  EXPECT_GE(DuplicateBlocksOfShardOne(), duplicates_before + 1);
}

TEST(ClusterForwarderTest, WritesContinueThroughTheOtherReplicaWhenOneIsDown) {
  const std::string db = "failover_cluster";
  ApplySchema(db);
  LocalCluster::Shared().StopServer(1, 1);
  LocalCluster::Shared().StopServer(2, 1);
  MetricsRegistry metrics;
  {
    Forwarder forwarder(ClusterConfig(db));
    forwarder.RegisterMetrics(&metrics, "fwd");
    forwarder.Start();
    for (uint64_t seq = 0; seq < 4; ++seq) {
      kernels::EpochRows rows = Epoch(seq);
      ASSERT_TRUE(forwarder.Offer(rows));
      std::this_thread::sleep_for(milliseconds(250));
    }
    EXPECT_TRUE(forwarder.Drain(milliseconds(30'000)));
    // Each shard tried its first replica once, then stayed on the one that answers.
    EXPECT_EQ(Sample(metrics, "fwd_failovers_total{shard=\"1\"}"), 1);
    EXPECT_EQ(Sample(metrics, "fwd_failovers_total{shard=\"2\"}"), 1);
    EXPECT_EQ(Sample(metrics, "fwd_retries_total"), 0);
  }
  LocalCluster::Shared().StartServer(1, 1);
  LocalCluster::Shared().StartServer(2, 1);
  ExpectTotals(Landed(LocalCluster::Shared().url(1, 1), db), Expected(4));
}

// insert_quorum = 2: an insert is acknowledged only once both replicas of its shard hold it.
// With shard 1's second replica down, shard 1's inserts are refused (18.16: code 285, too few
// live replicas) and retried, none acknowledged, while shard 2's land; once the replica is
// back, they land, once.
TEST(ClusterForwarderTest, AQuorumOfTwoAcknowledgesNothingWhileAReplicaIsDown) {
  const std::string db = "quorum_cluster";
  ApplySchema(db);
  LocalCluster::Shared().StopServer(1, 2);
  MetricsRegistry metrics;
  {
    ForwarderConfig config = ClusterConfig(db);
    config.clickhouse.insert_quorum = 2;
    Forwarder forwarder(config);
    forwarder.RegisterMetrics(&metrics, "fwd");
    forwarder.Start();
    kernels::EpochRows rows = Epoch(0);
    ASSERT_TRUE(forwarder.Offer(rows));
    EXPECT_TRUE(WaitUntil(
        [&] { return Sample(metrics, "fwd_shard_inserts_total{shard=\"2\",result=\"ok\"}") > 0; },
        milliseconds(10'000)));
    std::this_thread::sleep_for(milliseconds(1'500));  // shard 1 retries meanwhile
    EXPECT_EQ(Sample(metrics, "fwd_shard_inserts_total{shard=\"1\",result=\"ok\"}"), 0);
    EXPECT_GT(Sample(metrics, "fwd_retries_total"), 0);
    EXPECT_EQ(Query(LocalCluster::Shared().url(1, 1), db, "SELECT count() FROM site_minutes_local"),
              "0\n");
    LocalCluster::Shared().StartServer(1, 2);
    EXPECT_TRUE(forwarder.Drain(milliseconds(60'000)));
    EXPECT_EQ(forwarder.acknowledged_events(), rows.events);
  }
  ExpectTotals(Landed(LocalCluster::Shared().url(1, 1), db), Expected(1));
}

TEST(ClusterForwarderTest, AStoppedShardSpoolsThenDrainsWithoutLossOrDuplicates) {
  const std::string db = "outage_cluster";
  ApplySchema(db);
  TempDir spool;
  ForwarderConfig config = ClusterConfig(db);
  config.spool_dir = spool.path();
  MetricsRegistry metrics;
  Forwarder forwarder(config);
  forwarder.RegisterMetrics(&metrics, "fwd");
  forwarder.Start();
  uint64_t seq = 0;
  auto offer = [&](int n) {
    for (int i = 0; i < n; ++i, ++seq) {
      kernels::EpochRows rows = Epoch(seq);
      ASSERT_TRUE(forwarder.Offer(rows));
      std::this_thread::sleep_for(milliseconds(100));
    }
  };
  offer(5);
  LocalCluster::Shared().StopServer(1, 1);
  LocalCluster::Shared().StopServer(1, 2);
  offer(20);  // shard 1 is down for these: its batches go to the spool
  EXPECT_GT(Sample(metrics, "fwd_spool_records{shard=\"1\"}"), 0);
  EXPECT_EQ(Sample(metrics, "fwd_spool_records{shard=\"2\"}"), 0);
  LocalCluster::Shared().StartServer(1, 2);
  LocalCluster::Shared().StartServer(1, 1);
  offer(5);
  EXPECT_TRUE(WaitUntil([&] { return forwarder.spooled_records() == 0; }, milliseconds(60'000)));
  ASSERT_TRUE(forwarder.Drain(milliseconds(30'000)));
  EXPECT_GT(Sample(metrics, "fwd_spooled_batches_total{shard=\"1\"}"), 0);
  EXPECT_EQ(Sample(metrics, "fwd_spooled_batches_total{shard=\"2\"}"), 0);
  EXPECT_EQ(forwarder.acknowledged_events(), seq * (kSites * (kSites + 1) / 2 + kSites));
  ExpectTotals(Landed(LocalCluster::Shared().url(2, 2), db), Expected(seq));
}

TEST(ClusterForwarderTest, AFullSpoolPushesBackOnTheWorkersAndNothingAcceptedIsLost) {
  const std::string db = "backpressure_cluster";
  TempDir spool;
  ForwarderConfig config = SpoolingConfig(db, spool, 100, 4096);  // about two of shard 2's batches
  config.max_pending_bytes = 16384;                               // a few epochs in memory
  MetricsRegistry metrics;
  Forwarder forwarder(config);
  forwarder.RegisterMetrics(&metrics, "fwd");
  forwarder.Start();
  LocalCluster::Shared().StopServer(2, 1);
  LocalCluster::Shared().StopServer(2, 2);
  uint64_t accepted = 0;
  uint64_t refused = 0;
  for (uint64_t seq = 0; seq < 60; ++seq) {
    kernels::EpochRows rows = Epoch(seq);
    if (forwarder.Offer(rows)) {
      ++accepted;
    } else {
      ++refused;
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_GT(refused, 0u);
  EXPECT_EQ(Sample(metrics, "fwd_epochs_refused_total"), static_cast<double>(refused));
  EXPECT_GT(Sample(metrics, "fwd_spool_refusals_total{shard=\"2\"}"), 0);
  EXPECT_LE(forwarder.spooled_bytes(), 4096u);
  LocalCluster::Shared().StartServer(2, 1);
  LocalCluster::Shared().StartServer(2, 2);
  ASSERT_TRUE(forwarder.Drain(milliseconds(60'000)));
  // Accepted epochs all landed, once; refused ones were never taken (the worker keeps them).
  EXPECT_EQ(forwarder.acknowledged_events(), accepted * (kSites * (kSites + 1) / 2 + kSites));
  ExpectTotals(Landed(LocalCluster::Shared().url(1, 1), db), Expected(accepted));
}

// While a shard is down and its spool full, the batches it cannot take wait in memory, and
// spool_refusals_total ("batches the spool could not take") counts each of them once, not
// again at every retry of the shard while they wait.
TEST(ClusterForwarderTest, SpoolRefusalsCountEachBatchOnce) {
  const std::string db = "refusals_cluster";
  TempDir spool;
  // The first batch only: a spool always takes one.
  ForwarderConfig config = SpoolingConfig(db, spool, 50, 1);
  MetricsRegistry metrics;
  Forwarder forwarder(config);
  forwarder.RegisterMetrics(&metrics, "fwd");
  LocalCluster::Shared().StopServer(2, 1);
  LocalCluster::Shared().StopServer(2, 2);
  forwarder.Start();
  for (uint64_t seq = 0; seq < 4; ++seq) {
    kernels::EpochRows rows = Epoch(seq);
    ASSERT_TRUE(forwarder.Offer(rows));
  }
  const auto failed = [&] {
    return Sample(metrics, "fwd_shard_inserts_total{shard=\"2\",result=\"failed\"}");
  };
  const auto refusals = [&] { return Sample(metrics, "fwd_spool_refusals_total{shard=\"2\"}"); };
  ASSERT_TRUE(WaitUntil([&] { return refusals() >= 3; }, milliseconds(10'000)));
  const double failed_then = failed();
  // The shard is retried several times more while the three batches wait in memory.
  ASSERT_TRUE(WaitUntil([&] { return failed() >= failed_then + 10; }, milliseconds(30'000)));
  EXPECT_EQ(Sample(metrics, "fwd_spooled_batches_total{shard=\"2\"}"), 1);
  EXPECT_EQ(refusals(), 3);
  LocalCluster::Shared().StartServer(2, 1);
  LocalCluster::Shared().StartServer(2, 2);
  ASSERT_TRUE(forwarder.Drain(milliseconds(60'000)));
  ExpectTotals(Landed(LocalCluster::Shared().url(1, 1), db), Expected(4));
}

// Epoch(seq) as worker 0's archive holds it: records seq * 10 + 1 .. seq * 10 + 10, cut.
kernels::EpochRows ArchivedEpoch(uint64_t seq) {
  kernels::EpochRows rows = Epoch(seq);
  rows.worker = 0;
  rows.first_sequence = seq * 10 + 1;
  rows.last_sequence = seq * 10 + 10;
  rows.breakdown_cut = true;
  return rows;
}

// A start of beacond over `shards` (replica URLs per shard) whose archive holds `epochs`
// epochs: loads the watermarks as beacond does and refuses to start when they cannot be read
// (false), else replays the epochs from the watermarks (as WorkerPipeline::Replay: the epochs
// ending before ReplayStart are skipped) and drains. `drained` gets the drain's result.
bool StartNode(const std::string& database, const std::string& marks_dir,
               std::vector<std::vector<std::string>> shards, uint64_t epochs, milliseconds drain,
               bool* drained = nullptr) {
  PosixFileSystem posix;
  WatermarkStore watermarks(posix, marks_dir, shards.size());
  std::string detail;
  if (const int error = watermarks.Load(&detail); error != 0) {
    EXPECT_EQ(error, ESTALE) << detail;
    EXPECT_NE(detail.find("start with the old [clickhouse] shards"), std::string::npos) << detail;
    return false;
  }
  ForwarderConfig config = ClusterConfig(database);
  config.shards = std::move(shards);
  config.watermarks = &watermarks;
  Forwarder forwarder(config);
  forwarder.Start();
  for (uint64_t seq = 0; seq < epochs; ++seq) {
    kernels::EpochRows rows = ArchivedEpoch(seq);
    if (rows.last_sequence < watermarks.ReplayStart(0)) continue;
    EXPECT_TRUE(forwarder.Offer(rows));
  }
  const bool done = forwarder.Drain(drain);
  if (drained != nullptr) *drained = done;
  return true;
}

// [clickhouse] shards resized while one shard lags: shard 1 acknowledged ranges shard 2 never
// took. Neither watermark fits the new ring (its sites now hash elsewhere): replayed from the
// lowest, shard 1 would take its sites' rows again in batches of other contents, which no
// deduplication drops. beacond refuses to start; with the old shards it catches up, and then
// the new shard count starts with nothing to resend.
TEST(ClusterForwarderTest, AShardCountChangeWaitsUntilTheShardsAgree) {
  const std::string db = "resize_cluster";
  ApplySchema(db);
  TempDir marks;
  const std::vector<std::vector<std::string>> two = LocalCluster::Shared().shard_urls();
  const std::vector<std::vector<std::string>> one = {two[0]};
  LocalCluster::Shared().StopServer(2, 1);
  LocalCluster::Shared().StopServer(2, 2);
  bool drained = true;
  ASSERT_TRUE(StartNode(db, marks.path(), two, 3, milliseconds(3'000), &drained));
  EXPECT_FALSE(drained);  // shard 2's batches are left to the archive
  LocalCluster::Shared().StartServer(2, 1);
  LocalCluster::Shared().StartServer(2, 2);
  EXPECT_FALSE(StartNode(db, marks.path(), one, 3, milliseconds(30'000)));
  ASSERT_TRUE(StartNode(db, marks.path(), two, 3, milliseconds(30'000), &drained));
  EXPECT_TRUE(drained);
  ASSERT_TRUE(StartNode(db, marks.path(), one, 3, milliseconds(30'000), &drained));
  EXPECT_TRUE(drained);
  ExpectTotals(Landed(LocalCluster::Shared().url(1, 1), db), Expected(3));
}

}  // namespace
}  // namespace beacon::host
