// The Forwarder against real clickhouse-server instances: merged epochs of two workers land
// with exact sums, failures are retried with backoff, and pending data is bounded.
#include "host/forward/forwarder.h"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "host/archive/file_system.h"
#include "host/forward/dead_letter.h"
#include "host/forward/schema.h"
#include "host/forward/shard_ring.h"
#include "host/forward/spool.h"
#include "host/forward/watermarks.h"
#include "tests/unit/host/forward/cluster/silent_proxy.h"
#include "tests/unit/host/forward/local_clickhouse.h"

namespace beacon::host {
namespace {

using std::chrono::milliseconds;

constexpr uint32_t kMinute = 29'000'000;  // 2025-02-19 21:20 UTC
// Where a test creates tables while the forwarder retries: on a loaded machine 18.16 was seen
// to hold an INSERT racing a CREATE TABLE for seconds; a request timeout there would resend
// (and could duplicate) the batch, so these requests wait instead.
constexpr int kSlowDdlTimeoutMs = 30'000;

void ApplySchema(ClickHouseClient& client, const std::string& database) {
  for (const std::string& statement : SchemaStatements(database)) {
    ClickHouseResult result = client.Execute(statement);
    ASSERT_TRUE(result.ok()) << statement << "\n" << result.error << result.body;
  }
}

std::string Query(ClickHouseClient& client, const std::string& sql) {
  ClickHouseResult result = client.Execute(sql + " FORMAT TSV");
  EXPECT_TRUE(result.ok()) << sql << "\n" << result.error << result.body;
  return result.body;
}

// The value of the sample `name` (labels included, e.g. `x{table="t"}`) in a scrape.
double Sample(const MetricsRegistry& registry, const std::string& name) {
  std::istringstream lines(registry.Scrape());
  std::string line;
  while (std::getline(lines, line)) {
    if (line.starts_with(name + " ")) return std::stod(line.substr(name.size() + 1));
  }
  ADD_FAILURE() << "no sample " << name << " in\n" << registry.Scrape();
  return -1;
}

ForwarderConfig Config(ClickHouseEndpoint endpoint, int flush_interval_ms = 1'000,
                       int retry_initial_ms = 100, int retry_max_ms = 10'000) {
  ForwarderConfig config;
  config.clickhouse = std::move(endpoint);
  config.flush_interval_ms = flush_interval_ms;
  config.retry_initial_ms = retry_initial_ms;
  config.retry_max_ms = retry_max_ms;
  return config;
}

// Flushes every 10 ms, retries within 10..50 ms, spools to `spool_dir` without fsync.
ForwarderConfig SpoolingConfig(ClickHouseEndpoint endpoint, const std::string& spool_dir) {
  ForwarderConfig config = Config(std::move(endpoint), /*flush_interval_ms=*/10,
                                  /*retry_initial_ms=*/10, /*retry_max_ms=*/50);
  config.spool_dir = spool_dir;
  config.spool_fsync = false;
  return config;
}

// A started forwarder with its metrics registered as "f".
struct Running {
  explicit Running(const ForwarderConfig& config) : forwarder(config) {
    forwarder.RegisterMetrics(&registry, "f");
    forwarder.Start();
  }
  Forwarder forwarder;
  MetricsRegistry registry;  // destroyed first: the forwarder outlives its scrapes
};

// Polls `done` every 10 ms for up to 10 s; the caller asserts the outcome.
template <typename Predicate>
void WaitUntil(Predicate done) {
  for (int i = 0; i < 1'000 && !done(); ++i) std::this_thread::sleep_for(milliseconds(10));
}

kernels::UniqHll12 Sketch(std::initializer_list<uint64_t> visitors) {
  kernels::UniqHll12 sketch;
  for (const uint64_t v : visitors) sketch.Add(v);
  return sketch;
}

kernels::BreakdownRow Page(uint32_t site, uint32_t minute, std::string path, uint64_t pageviews,
                           std::initializer_list<uint64_t> visitors = {}) {
  return {.site_id = site,
          .minute = minute,
          .dimension = kernels::Dimension::kPage,
          .value = std::move(path),
          .pageviews = pageviews,
          .visitors = Sketch(visitors)};
}

kernels::EpochRows WorkerZeroEpoch() {
  kernels::EpochRows rows;
  rows.worker = 0;
  rows.epoch = 0;
  rows.events = 9;
  rows.site_minutes = {
      {.site_id = 1,
       .minute = kMinute,
       .pageviews = 4,
       .events = 5,
       .visitors = Sketch({10, 11, 12})},
      {.site_id = 1, .minute = kMinute + 1, .pageviews = 1, .events = 1, .visitors = Sketch({10})},
      {.site_id = 2, .minute = kMinute, .pageviews = 2, .events = 3, .visitors = Sketch({20, 21})}};
  rows.breakdowns = {Page(1, kMinute, "/", 3, {10, 11}), Page(1, kMinute, "/a", 1, {12}),
                     Page(1, kMinute + 1, "/", 1, {10}), Page(2, kMinute, "/x", 2, {20})};
  return rows;
}

// Overlaps worker 0 on (1, kMinute) with one shared visitor (12) and path "/".
kernels::EpochRows WorkerOneEpoch(uint64_t epoch) {
  kernels::EpochRows rows;
  rows.worker = 1;
  rows.epoch = epoch;
  rows.events = 7;
  rows.site_minutes = {
      {.site_id = 1, .minute = kMinute, .pageviews = 6, .events = 7, .visitors = Sketch({12, 13})}};
  rows.breakdowns = {Page(1, kMinute, "/", 5, {12, 13}), Page(1, kMinute, "/b", 1, {13})};
  return rows;
}

TEST(ForwarderTest, MergesTwoWorkersEpochsIntoExactSums) {
  const std::string url = LocalClickHouse::Shared().url();
  ClickHouseClient client(Endpoint(url, "fwd_db"));
  ApplySchema(client, "fwd_db");
  ApplySchema(client, "fwd_db");

  Forwarder forwarder(Config(Endpoint(url, "fwd_db"), /*flush_interval_ms=*/50));
  MetricsRegistry registry;
  forwarder.RegisterMetrics(&registry, "beacon_forward");
  forwarder.Start();
  kernels::EpochRows a = WorkerZeroEpoch();
  kernels::EpochRows b = WorkerOneEpoch(0);
  ASSERT_TRUE(forwarder.Offer(a));
  ASSERT_TRUE(forwarder.Offer(b));
  // Let one flush go out, so the second epoch of worker 1 lands as a separate insert that
  // only ClickHouse's merge (or the query's GROUP BY) combines.
  WaitUntil([&] { return forwarder.acknowledged_events() >= 16; });
  ASSERT_EQ(forwarder.acknowledged_events(), 16u);
  kernels::EpochRows c = WorkerOneEpoch(1);
  ASSERT_TRUE(forwarder.Offer(c));
  ASSERT_TRUE(forwarder.Drain(milliseconds(60'000)));
  EXPECT_EQ(forwarder.acknowledged_events(), 23u);

  const std::string per_minute =
      "SELECT site_id, minute, sum(pageviews), sum(events), uniqHLL12Merge(visitors) "
      "FROM site_minutes GROUP BY site_id, minute ORDER BY site_id, minute";
  const std::string expected =
      "1\t2025-02-19 21:20:00\t16\t19\t4\n"
      "1\t2025-02-19 21:21:00\t1\t1\t1\n"
      "2\t2025-02-19 21:20:00\t2\t3\t2\n";
  EXPECT_EQ(Query(client, per_minute), expected);
  EXPECT_EQ(Query(client,
                  "SELECT site_id, sum(pageviews), uniqHLL12Merge(visitors) FROM "
                  "site_minutes GROUP BY site_id ORDER BY site_id"),
            "1\t17\t4\n2\t2\t2\n");
  EXPECT_EQ(Query(client,
                  "SELECT value, sum(pageviews) AS views, uniqHLL12Merge(visitors) FROM "
                  "breakdown_minutes WHERE site_id = 1 AND dimension = 'page' GROUP BY value "
                  "ORDER BY views DESC, value LIMIT 10"),
            "/\t14\t4\n/b\t2\t1\n/a\t1\t1\n");

  // Two inserts left two parts; the merge must sum the counters and merge the states.
  EXPECT_EQ(OptimizeUntilRows(client, "site_minutes", "3\n"), "3\n");
  EXPECT_EQ(Query(client, per_minute), expected);

  // Each worker's epoch is a batch of its own (no merging across workers): three epochs, three
  // batches of two inserts; (1, minute) and (1, minute, page, "/") of workers 0 and 1 are
  // separate rows that ClickHouse sums.
  EXPECT_EQ(Sample(registry, "beacon_forward_epochs_offered_total"), 3);
  EXPECT_EQ(Sample(registry, "beacon_forward_rows_sent_total{table=\"site_minutes\"}"), 5);
  EXPECT_EQ(Sample(registry, "beacon_forward_rows_sent_total{table=\"breakdown_minutes\"}"), 8);
  EXPECT_EQ(Sample(registry, "beacon_forward_inserts_total{result=\"ok\"}"), 6);
  EXPECT_EQ(Sample(registry, "beacon_forward_inserts_total{result=\"failed\"}"), 0);
  EXPECT_EQ(Sample(registry, "beacon_forward_pending_bytes"), 0);
  EXPECT_GT(Sample(registry, "beacon_forward_last_insert_seconds"), 0);
  EXPECT_EQ(Sample(registry, "beacon_forward_acknowledged_events_total"), 23);
}

TEST(ForwarderTest, RetriesWhileNothingListensAndDrainGivesUpAtTheDeadline) {
  Forwarder forwarder(Config(Endpoint(LoopbackUrl(UnusedPort()), "beacon", 1'000),
                             /*flush_interval_ms=*/10, /*retry_initial_ms=*/5,
                             /*retry_max_ms=*/40));
  MetricsRegistry registry;
  forwarder.RegisterMetrics(&registry, "f");
  forwarder.Start();
  kernels::EpochRows rows = WorkerZeroEpoch();
  ASSERT_TRUE(forwarder.Offer(rows));
  WaitUntil([&] { return Sample(registry, "f_retries_total") >= 5; });
  EXPECT_GE(Sample(registry, "f_retries_total"), 5);
  EXPECT_GE(Sample(registry, "f_inserts_total{result=\"failed\"}"), 6);
  EXPECT_GT(Sample(registry, "f_pending_bytes"), 0);

  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(forwarder.Drain(milliseconds(200)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1'500));
  EXPECT_EQ(forwarder.acknowledged_events(), 0u);
  EXPECT_EQ(Sample(registry, "f_inserts_total{result=\"ok\"}"), 0);
}

TEST(ForwarderTest, DeliversOnceClickHouseComesUpAndHasTheSchema) {
  const int port = UnusedPort();
  Forwarder forwarder(Config(Endpoint(LoopbackUrl(port), "late_db", kSlowDdlTimeoutMs),
                             /*flush_interval_ms=*/10, /*retry_initial_ms=*/10,
                             /*retry_max_ms=*/100));
  MetricsRegistry registry;
  forwarder.RegisterMetrics(&registry, "f");
  forwarder.Start();
  kernels::EpochRows rows = WorkerZeroEpoch();
  ASSERT_TRUE(forwarder.Offer(rows));
  WaitUntil([&] { return Sample(registry, "f_retries_total") >= 1; });
  ASSERT_GE(Sample(registry, "f_retries_total"), 1);

  // Up but without the tables: inserts now fail with ClickHouse's error (non-200).
  LocalClickHouse server(port);
  double failed_before = Sample(registry, "f_inserts_total{result=\"failed\"}");
  WaitUntil(
      [&] { return Sample(registry, "f_inserts_total{result=\"failed\"}") >= failed_before + 2; });
  ASSERT_GE(Sample(registry, "f_inserts_total{result=\"failed\"}"), failed_before + 2);
  EXPECT_EQ(forwarder.acknowledged_events(), 0u);

  ClickHouseClient client(Endpoint(server.url(), "late_db"));
  ApplySchema(client, "late_db");
  ASSERT_TRUE(forwarder.Drain(milliseconds(60'000)));
  EXPECT_EQ(forwarder.acknowledged_events(), 9u);
  EXPECT_EQ(Query(client,
                  "SELECT site_id, sum(pageviews), sum(events), "
                  "uniqHLL12Merge(visitors) FROM site_minutes GROUP BY site_id "
                  "ORDER BY site_id"),
            "1\t5\t6\t3\n2\t2\t3\t2\n");
  EXPECT_EQ(Query(client, "SELECT sum(pageviews) FROM breakdown_minutes"), "7\n");
}

TEST(ForwarderTest, RetriesOnlyTheTableThatFailed) {
  const std::string url = LocalClickHouse::Shared().url();
  ClickHouseClient client(Endpoint(url, "partial_db"));
  // breakdown_minutes comes later: inserts into it fail until then.
  std::vector<std::string> create_later;
  for (const std::string& statement : SchemaStatements("partial_db")) {
    if (statement.find("CREATE TABLE IF NOT EXISTS partial_db.breakdown_minutes ") !=
        std::string::npos) {
      create_later.push_back(statement);
      continue;
    }
    ASSERT_TRUE(client.Execute(statement).ok()) << statement;
  }
  ASSERT_EQ(create_later.size(), 1u);

  Forwarder forwarder(Config(Endpoint(url, "partial_db", kSlowDdlTimeoutMs),
                             /*flush_interval_ms=*/10,
                             /*retry_initial_ms=*/5, /*retry_max_ms=*/20));
  MetricsRegistry registry;
  forwarder.RegisterMetrics(&registry, "f");
  forwarder.Start();
  kernels::EpochRows rows = WorkerZeroEpoch();
  ASSERT_TRUE(forwarder.Offer(rows));
  WaitUntil([&] { return Sample(registry, "f_inserts_total{result=\"failed\"}") >= 3; });
  ASSERT_GE(Sample(registry, "f_inserts_total{result=\"failed\"}"), 3);
  for (const std::string& statement : create_later) {
    ASSERT_TRUE(client.Execute(statement).ok()) << statement;
  }
  ASSERT_TRUE(forwarder.Drain(milliseconds(60'000)));

  // site_minutes went in exactly once although breakdown_minutes failed several times.
  EXPECT_EQ(Sample(registry, "f_inserts_total{result=\"ok\"}"), 2);
  EXPECT_EQ(Query(client, "SELECT sum(pageviews), sum(events) FROM site_minutes"), "7\t9\n");
  EXPECT_EQ(Query(client, "SELECT sum(pageviews) FROM breakdown_minutes"), "7\n");
}

TEST(ForwarderTest, RefusesEpochsBeyondMaxPendingBytes) {
  // The thread never runs, so nothing drains: epochs are taken until the bound is reached.
  ForwarderConfig config = Config(Endpoint(LoopbackUrl(UnusedPort()), "beacon"));
  config.max_pending_bytes = 2'000;
  Forwarder forwarder(config);
  MetricsRegistry registry;
  forwarder.RegisterMetrics(&registry, "f");
  EXPECT_TRUE(forwarder.HasRoom());
  int taken = 0;
  kernels::EpochRows rows = WorkerOneEpoch(0);
  while (taken < 100 && forwarder.Offer(rows)) {
    ++taken;
    rows = WorkerOneEpoch(taken);
  }
  EXPECT_GT(taken, 1);
  EXPECT_LT(taken, 100);
  EXPECT_FALSE(forwarder.Offer(rows));
  EXPECT_EQ(rows.site_minutes.size(), 1u);  // a refused epoch is left untouched
  EXPECT_EQ(rows.breakdowns.size(), 2u);
  EXPECT_EQ(Sample(registry, "f_epochs_offered_total"), taken);
  EXPECT_EQ(Sample(registry, "f_epochs_refused_total"), 2);
  EXPECT_GT(Sample(registry, "f_pending_bytes"), 1'000);
  EXPECT_LE(Sample(registry, "f_pending_bytes"), 2'000);
}

TEST(ForwarderTest, TakesAnEpochLargerThanTheBoundWhenNothingIsPending) {
  // Otherwise the worker holding it would shed load forever.
  ForwarderConfig config = Config(Endpoint(LoopbackUrl(UnusedPort()), "beacon"));
  config.max_pending_bytes = 1;
  Forwarder forwarder(config);
  kernels::EpochRows first = WorkerOneEpoch(0);
  kernels::EpochRows second = WorkerOneEpoch(1);
  EXPECT_TRUE(forwarder.Offer(first));
  EXPECT_FALSE(forwarder.HasRoom());
  EXPECT_FALSE(forwarder.Offer(second));
}

TEST(ForwarderTest, HoldsBreakdownRowsAcrossFlushesUntilTheirIntervalOrTheDrain) {
  const std::string url = LocalClickHouse::Shared().url();
  ClickHouseClient client(Endpoint(url, "held_db"));
  ApplySchema(client, "held_db");
  ForwarderConfig config = Config(Endpoint(url, "held_db"), /*flush_interval_ms=*/50);
  config.breakdown_flush_interval_ms = 60'000;
  Forwarder forwarder(config);
  MetricsRegistry registry;
  forwarder.RegisterMetrics(&registry, "f");
  forwarder.Start();
  kernels::EpochRows a = WorkerZeroEpoch();
  ASSERT_TRUE(forwarder.Offer(a));
  WaitUntil([&] { return forwarder.acknowledged_events() >= 9; });
  kernels::EpochRows b = WorkerOneEpoch(0);
  ASSERT_TRUE(forwarder.Offer(b));
  WaitUntil([&] { return forwarder.acknowledged_events() >= 16; });
  // Two flushes sent their site rows; the breakdown rows of both wait, merged.
  EXPECT_EQ(Sample(registry, "f_rows_sent_total{table=\"site_minutes\"}"), 4);
  EXPECT_EQ(Sample(registry, "f_rows_sent_total{table=\"breakdown_minutes\"}"), 0);
  EXPECT_GT(Sample(registry, "f_pending_bytes"), 0);
  EXPECT_EQ(Query(client, "SELECT count() FROM breakdown_minutes"), "0\n");
  ASSERT_TRUE(forwarder.Drain(milliseconds(60'000)));
  // Held per worker: (1, kMinute, "/") of workers 0 and 1 are two rows, in one insert each.
  EXPECT_EQ(Sample(registry, "f_rows_sent_total{table=\"breakdown_minutes\"}"), 6);
  EXPECT_EQ(Sample(registry, "f_inserts_total{result=\"ok\"}"), 4);
  EXPECT_EQ(Sample(registry, "f_pending_bytes"), 0);
  EXPECT_EQ(Query(client,
                  "SELECT value, sum(pageviews), uniqHLL12Merge(visitors) FROM breakdown_minutes "
                  "WHERE site_id = 1 AND dimension = 'page' GROUP BY value ORDER BY value"),
            "/\t9\t4\n/a\t1\t1\n/b\t1\t1\n");
}

TEST(ForwarderTest, CapsMergedBreakdownsAtTopKPerSiteMinuteAndDimension) {
  const std::string url = LocalClickHouse::Shared().url();
  ClickHouseClient client(Endpoint(url, "cap_db"));
  ApplySchema(client, "cap_db");
  ForwarderConfig config = Config(Endpoint(url, "cap_db"), /*flush_interval_ms=*/50);
  config.breakdown_flush_interval_ms = 60'000;
  config.breakdown_limits.max_referrers_per_site_minute = 2;
  Forwarder forwarder(config);
  MetricsRegistry registry;
  forwarder.RegisterMetrics(&registry, "f");
  forwarder.Start();
  // Three epochs, each within K = 2, whose union holds 4 referrers and an (other) row.
  auto referrer = [](std::string host, uint64_t events, uint64_t visitor) {
    return kernels::BreakdownRow{.site_id = 3,
                                 .minute = kMinute,
                                 .dimension = kernels::Dimension::kReferrer,
                                 .value = std::move(host),
                                 .events = events,
                                 .visitors = Sketch({visitor})};
  };
  uint64_t epoch = 0;
  for (auto rows : {std::vector{referrer("a.example", 5, 1), referrer("b.example", 1, 2)},
                    std::vector{referrer("c.example", 4, 3), referrer("(other)", 2, 4)},
                    std::vector{referrer("d.example", 1, 5), referrer("a.example", 1, 6)}}) {
    kernels::EpochRows epoch_rows;
    epoch_rows.epoch = epoch++;
    uint64_t events = 0;
    for (const auto& row : rows) events += row.events;
    epoch_rows.events = events;
    epoch_rows.site_minutes = {{.site_id = 3, .minute = kMinute, .events = events, .visitors = {}}};
    epoch_rows.breakdowns = std::move(rows);
    ASSERT_TRUE(forwarder.Offer(epoch_rows));
  }
  ASSERT_TRUE(forwarder.Drain(milliseconds(60'000)));
  // Kept: a (6) and c (4); b (1) and d (1) join (other) (2) with their visitors.
  EXPECT_EQ(Query(client,
                  "SELECT value, sum(events), uniqHLL12Merge(visitors) FROM breakdown_minutes "
                  "WHERE site_id = 3 AND dimension = 'referrer' GROUP BY value ORDER BY value"),
            "(other)\t4\t3\na.example\t6\t2\nc.example\t4\t1\n");
  EXPECT_EQ(Sample(registry, "f_breakdown_folded_total{dimension=\"referrer\"}"), 2);
  EXPECT_EQ(Sample(registry, "f_breakdown_folded_total{dimension=\"page\"}"), 0);
  EXPECT_EQ(Sample(registry, "f_rows_sent_total{table=\"breakdown_minutes\"}"), 3);
}

// One site flooding distinct random paths (every epoch new ones) holds at most its
// breakdown_max_rows_per_site rows while they merge: pending bytes stay below their bound, so
// the other site's epochs are always taken, and every hit lands, the excess in (other).
TEST(ForwarderTest, ASiteFloodingRandomValuesHoldsAtMostItsCap) {
  const std::string url = LocalClickHouse::Shared().url();
  ClickHouseClient client(Endpoint(url, "flood_db"));
  ApplySchema(client, "flood_db");
  ForwarderConfig config = Config(Endpoint(url, "flood_db"), /*flush_interval_ms=*/20);
  config.breakdown_flush_interval_ms = 60'000;
  config.breakdown_max_rows_per_site = 50;
  config.max_pending_bytes = 256 << 10;  // without the cap, 1,600 held rows of ~1 KB
  Forwarder forwarder(config);
  MetricsRegistry registry;
  forwarder.RegisterMetrics(&registry, "f");
  forwarder.Start();
  std::mt19937_64 rng(7);
  constexpr int kEpochs = 80;
  constexpr int kValues = 20;
  for (int e = 0; e < kEpochs; ++e) {
    kernels::EpochRows rows;
    rows.epoch = static_cast<uint64_t>(e);
    rows.events = kValues + 1;
    rows.site_minutes = {
        {.site_id = 1, .minute = kMinute, .pageviews = kValues, .events = 0, .visitors = {}},
        {.site_id = 2, .minute = kMinute, .pageviews = 1, .events = 0, .visitors = {}}};
    for (int v = 0; v < kValues; ++v) {
      rows.breakdowns.push_back(
          Page(1, kMinute, "/" + std::to_string(rng()) + std::string(900, 'x'), 1));
    }
    rows.breakdowns.push_back(Page(2, kMinute, "/x", 1));
    // Until the earlier epochs were merged (held rows stay, the epochs' bytes leave).
    WaitUntil([&] { return Sample(registry, "f_pending_bytes") < 128 << 10; });
    ASSERT_TRUE(forwarder.Offer(rows)) << "epoch " << e;
  }
  ASSERT_TRUE(forwarder.Drain(milliseconds(60'000)));
  EXPECT_EQ(Query(client,
                  "SELECT site_id, count(), sum(pageviews) FROM (SELECT site_id, value, "
                  "sum(pageviews) AS pageviews FROM breakdown_minutes WHERE dimension = 'page' "
                  "GROUP BY site_id, value) GROUP BY site_id ORDER BY site_id"),
            "1\t51\t1600\n2\t1\t80\n");
  EXPECT_EQ(Sample(registry, "f_breakdown_capped_rows_total"), kEpochs * kValues - 50);
  EXPECT_EQ(Sample(registry, "f_epochs_refused_total"), 0);
}

kernels::UniqHll12 Range(uint64_t first, uint64_t end) {
  kernels::UniqHll12 sketch;
  for (uint64_t v = first; v < end; ++v) sketch.Add(v);
  return sketch;
}

// Large states merged by the forwarder (two epochs of one site-minute, held breakdown rows, a
// value folded into (other) by the per-batch top-K) and by ClickHouse (across inserts) give
// what the server's own uniqHLL12 gives over the union of the values.
TEST(ForwarderTest, MergesLargeVisitorSketchesAsTheServerDoes) {
  const std::string url = LocalClickHouse::Shared().url();
  ClickHouseClient client(Endpoint(url, "sketch_db"));
  ApplySchema(client, "sketch_db");
  ForwarderConfig config = Config(Endpoint(url, "sketch_db"), /*flush_interval_ms=*/50);
  config.breakdown_flush_interval_ms = 60'000;
  config.breakdown_limits.max_pages_per_site_minute = 1;
  Forwarder forwarder(config);
  MetricsRegistry registry;
  forwarder.RegisterMetrics(&registry, "f");
  forwarder.Start();
  auto epoch = [](uint64_t number, uint64_t first, uint64_t end, std::string page) {
    kernels::EpochRows rows;
    rows.epoch = number;
    rows.events = end - first;
    rows.site_minutes = {
        {.site_id = 5, .minute = kMinute, .pageviews = end - first, .visitors = Range(first, end)}};
    rows.breakdowns = {{.site_id = 5,
                        .minute = kMinute,
                        .dimension = kernels::Dimension::kPage,
                        .value = std::move(page),
                        .pageviews = end - first,
                        .visitors = Range(first, end)}};
    return rows;
  };
  kernels::EpochRows a = epoch(0, 0, 1000, "/");
  ASSERT_TRUE(forwarder.Offer(a));
  WaitUntil([&] { return forwarder.acknowledged_events() >= 1000; });
  kernels::EpochRows b = epoch(1, 500, 1500, "/");
  kernels::EpochRows c = epoch(2, 2000, 2020, "/x");  // folded into (other) at K = 1
  ASSERT_TRUE(forwarder.Offer(b));
  ASSERT_TRUE(forwarder.Offer(c));
  ASSERT_TRUE(forwarder.Drain(milliseconds(60'000)));

  kernels::UniqHll12 site = Range(0, 1500);
  site.Merge(Range(2000, 2020));
  const std::string server_union = Query(client, "SELECT uniqHLL12(number) FROM numbers(1500)");
  EXPECT_EQ(server_union, std::to_string(Range(0, 1500).Estimate()) + "\n");
  EXPECT_EQ(Query(client,
                  "SELECT sum(pageviews), uniqHLL12Merge(visitors) FROM site_minutes "
                  "WHERE site_id = 5"),
            "2020\t" + std::to_string(site.Estimate()) + "\n");
  EXPECT_EQ(Query(client,
                  "SELECT value, sum(pageviews), uniqHLL12Merge(visitors) FROM breakdown_minutes "
                  "WHERE site_id = 5 AND dimension = 'page' GROUP BY value ORDER BY value"),
            "(other)\t20\t" + std::to_string(Range(2000, 2020).Estimate()) + "\n/\t2000\t" +
                server_union);
  EXPECT_EQ(Sample(registry, "f_breakdown_folded_total{dimension=\"page\"}"), 20);
}

// A spool record of the layout before states (hash arrays for site_minutes_in) is dropped and
// counted, never inserted; what comes after it is sent.
TEST(ForwarderTest, DropsAndCountsSpoolRecordsOfAnEarlierLayout) {
  const std::string url = LocalClickHouse::Shared().url();
  ClickHouseClient client(Endpoint(url, "old_spool_db"));
  ApplySchema(client, "old_spool_db");
  const std::string dir = ::testing::TempDir() + "old_spool_" + std::to_string(::getpid());
  {
    Spool spool(dir + "/shard-1", 1 << 20, /*fsync=*/false);
    std::string record = "BNBRDK01";  // tag, then events, rows and sizes as that layout had
    record.append(32, '\0');
    record += "rows";
    std::string error;
    ASSERT_EQ(spool.Append(record, &error), SpoolAppend::kOk) << error;
  }
  ForwarderConfig config = Config(Endpoint(url, "old_spool_db"), /*flush_interval_ms=*/50);
  config.spool_dir = dir;
  config.spool_fsync = false;
  Forwarder forwarder(config);
  MetricsRegistry registry;
  forwarder.RegisterMetrics(&registry, "f");
  EXPECT_EQ(forwarder.spooled_records(), 1u);
  forwarder.Start();
  kernels::EpochRows rows = WorkerZeroEpoch();
  ASSERT_TRUE(forwarder.Offer(rows));
  ASSERT_TRUE(forwarder.Drain(milliseconds(60'000)));
  EXPECT_EQ(Sample(registry, "f_spool_dropped_total{shard=\"1\"}"), 1);
  EXPECT_EQ(forwarder.spooled_records(), 0u);
  EXPECT_EQ(forwarder.acknowledged_events(), 9u);
  EXPECT_EQ(Query(client, "SELECT sum(pageviews), sum(events) FROM site_minutes"), "7\t9\n");
  std::filesystem::remove_all(dir);
}

// Exactly once on one server after a real timeout: the first connection writes the insert
// but its answer never comes back, so the forwarder retries the same bytes, which the
// replicated table drops.
TEST(ForwarderTest, AnInsertRetriedAfterATimeoutCountsOnce) {
  const std::string url = LocalClickHouse::Shared().url();
  ClickHouseClient client(Endpoint(url, "timeout_db"));
  ApplySchema(client, "timeout_db");
  const std::string duplicates =
      "SELECT sum(value) FROM system.events WHERE event = 'DuplicatedInsertedBlocks'";
  const uint64_t duplicates_before = std::stoull("0" + Query(client, duplicates));
  SilentProxy proxy(std::stoi(url.substr(url.rfind(':') + 1)), /*silent_connections=*/1);
  Forwarder forwarder(Config(Endpoint(LoopbackUrl(proxy.port()), "timeout_db", 2'000),
                             /*flush_interval_ms=*/10, /*retry_initial_ms=*/10,
                             /*retry_max_ms=*/50));
  MetricsRegistry registry;
  forwarder.RegisterMetrics(&registry, "f");
  forwarder.Start();
  kernels::EpochRows rows = WorkerZeroEpoch();
  ASSERT_TRUE(forwarder.Offer(rows));
  ASSERT_TRUE(forwarder.Drain(milliseconds(30'000)));
  EXPECT_GE(Sample(registry, "f_retries_total"), 1);
  EXPECT_GE(proxy.connections(), 2);
  EXPECT_EQ(Query(client, "SELECT sum(pageviews), sum(events) FROM site_minutes"), "7\t9\n");
  EXPECT_EQ(Query(client, "SELECT sum(pageviews) FROM breakdown_minutes"), "7\n");
  EXPECT_GE(std::stoull("0" + Query(client, duplicates)), duplicates_before + 1);
}

// The spool an earlier run left: a forwarder spools WorkerZeroEpoch to <TempDir><name>_<pid>
// while <name>_db does not exist (every insert fails) and stops; then the database gets the
// schema. The config of the next forwarder on that spool.
ForwarderConfig LeaveASpool(const std::string& name) {
  const std::string url = LocalClickHouse::Shared().url();
  const std::string dir = ::testing::TempDir() + name + "_" + std::to_string(::getpid());
  ForwarderConfig config = SpoolingConfig(Endpoint(url, name + "_db"), dir);
  {
    Forwarder no_database(config);
    no_database.Start();
    kernels::EpochRows rows = WorkerZeroEpoch();
    EXPECT_TRUE(no_database.Offer(rows));
    EXPECT_FALSE(no_database.Drain(milliseconds(300)));
    EXPECT_EQ(no_database.spooled_records(), 1u);
  }
  ClickHouseClient client(Endpoint(url, name + "_db"));
  ApplySchema(client, name + "_db");
  return config;
}

// Exactly once on one server across a crash between ClickHouse's acknowledgement and the
// spool's delete: the spool as it was before the send (copied aside, put back after) makes
// the next forwarder resend the same bytes, which the replicated table drops.
TEST(ForwarderTest, ABatchReplayedFromTheSpoolAfterItsAckCountsOnce) {
  const ForwarderConfig config = LeaveASpool("respool");
  const std::string& dir = config.spool_dir;
  std::filesystem::copy(dir, dir + "_before_send", std::filesystem::copy_options::recursive);
  ClickHouseClient client(config.clickhouse);
  for (int run = 0; run < 2; ++run) {
    Forwarder forwarder(config);
    ASSERT_EQ(forwarder.spooled_records(), 1u) << "run " << run;
    forwarder.Start();
    ASSERT_TRUE(forwarder.Drain(milliseconds(60'000))) << "run " << run;
    EXPECT_EQ(forwarder.acknowledged_events(), 9u);
    EXPECT_EQ(Query(client, "SELECT sum(pageviews), sum(events) FROM site_minutes"), "7\t9\n");
    EXPECT_EQ(Query(client, "SELECT sum(pageviews) FROM breakdown_minutes"), "7\n");
    // The crash: the acknowledged record comes back.
    std::filesystem::remove_all(dir);
    std::filesystem::copy(dir + "_before_send", dir, std::filesystem::copy_options::recursive);
  }
  std::filesystem::remove_all(dir);
  std::filesystem::remove_all(dir + "_before_send");
}

// beacond_forward_acknowledged_events_total is what the lag is computed from (accepted minus it:
// the BeacondForwardLag rule, beaconctl top's "unacked"): it counts this run's events only. An
// earlier run's spool, acknowledged now, was accepted by that run; counting it here made the
// lag read N events low (negative on a quiet node) for the whole life of the process.
TEST(ForwarderTest, TheAcknowledgedMetricLeavesOutAnEarlierRunsSpool) {
  const ForwarderConfig config = LeaveASpool("inherited");
  Forwarder forwarder(config);
  MetricsRegistry registry;
  forwarder.RegisterMetrics(&registry, "f");
  forwarder.Start();
  ASSERT_TRUE(forwarder.Drain(milliseconds(60'000)));
  EXPECT_EQ(forwarder.acknowledged_events(), 9u);  // the stop line's total: both runs'
  EXPECT_EQ(Sample(registry, "f_acknowledged_events_total"), 0);
  std::filesystem::remove_all(config.spool_dir);
}

// A table of an earlier release (breakdown_minutes without batch_id) refuses the rows for what
// they are: the batch becomes a dead letter holding only the breakdown rows ClickHouse did not
// take, the batches behind it land, and once the table is fixed a retry lands it exactly once.
TEST(ForwarderTest, SetsARefusedBatchAsideLetsTheNextOnesThroughAndRetriesIt) {
  const std::string url = LocalClickHouse::Shared().url();
  ClickHouseClient client(Endpoint(url, "dead_db"));
  ApplySchema(client, "dead_db");
  ASSERT_TRUE(client.Execute("DROP TABLE dead_db.breakdown_minutes").ok());
  ASSERT_TRUE(client
                  .Execute("CREATE TABLE dead_db.breakdown_minutes (site_id UInt32, minute "
                           "DateTime, dimension " +
                           DimensionEnumType() +
                           ", value String, pageviews UInt64, events UInt64, visitors "
                           "AggregateFunction(uniqHLL12, UInt64)) ENGINE = MergeTree() "
                           "ORDER BY site_id")
                  .ok());
  const std::string dir = ::testing::TempDir() + "dead_spool_" + std::to_string(::getpid());
  ForwarderConfig config = SpoolingConfig(Endpoint(url, "dead_db"), dir);
  Forwarder forwarder(config);
  MetricsRegistry registry;
  forwarder.RegisterMetrics(&registry, "f");
  forwarder.Start();
  kernels::EpochRows refused = WorkerZeroEpoch();
  ASSERT_TRUE(forwarder.Offer(refused));
  WaitUntil([&] { return Sample(registry, "f_dead_letter_records") >= 1; });
  kernels::EpochRows behind = WorkerOneEpoch(0);
  behind.breakdowns.clear();
  ASSERT_TRUE(forwarder.Offer(behind));
  WaitUntil([&] { return forwarder.acknowledged_events() >= 7; });
  EXPECT_EQ(forwarder.acknowledged_events(), 7u);
  EXPECT_EQ(Query(client, "SELECT sum(pageviews), sum(events) FROM site_minutes"), "13\t16\n");
  EXPECT_EQ(Sample(registry, "f_dead_letter_total{shard=\"1\",table=\"breakdown_minutes\"}"), 1);
  EXPECT_EQ(Sample(registry, "f_dead_letter_total{shard=\"1\",table=\"site_minutes\"}"), 0);
  EXPECT_EQ(Sample(registry, "f_dead_letter_records"), 1);

  DeadLetters letters(dir, 1 << 20, false);
  const std::vector<DeadLetter> listed = letters.List();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].table, "breakdown_minutes");
  EXPECT_NE(listed[0].error.find("Code: 33"), std::string::npos) << listed[0].error;
  ASSERT_TRUE(client.Execute("DROP TABLE dead_db.breakdown_minutes").ok());
  ApplySchema(client, "dead_db");
  std::string error;
  ASSERT_TRUE(letters.Retry(listed[0].id, &error)) << error;
  ASSERT_TRUE(forwarder.Drain(milliseconds(60'000)));
  EXPECT_EQ(forwarder.acknowledged_events(), 16u);
  EXPECT_EQ(Query(client, "SELECT sum(pageviews), sum(events) FROM site_minutes"), "13\t16\n");
  EXPECT_EQ(Query(client, "SELECT sum(pageviews) FROM breakdown_minutes"), "7\n");
  EXPECT_EQ(Sample(registry, "f_dead_letter_records"), 0);
  const Forwarder::Ledger ledger = forwarder.ledger();
  EXPECT_EQ(ledger.offered, 16u);
  EXPECT_EQ(ledger.dead_lettered, 9u);  // where they were until the retry
  EXPECT_EQ(ledger.replayed, 9u);
  EXPECT_EQ(ledger.in_memory + ledger.spooled, 0u);
  std::filesystem::remove_all(dir);
}

// A server that takes the connection and the request and never answers: an insert in flight
// ends at the drain deadline (not at timeout_ms), its batch waits in the spool, and the next
// start sends it once.
TEST(ForwarderTest, DrainEndsAnInsertInFlightAtItsDeadlineAndSpoolsTheBatch) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(listener, 16), 0);  // never accepted: the kernel completes the handshake
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const std::string dir = ::testing::TempDir() + "silent_spool_" + std::to_string(::getpid());
  ForwarderConfig config =
      Config(Endpoint(LoopbackUrl(ntohs(address.sin_port)), "silent_db", 60'000),
             /*flush_interval_ms=*/10);
  config.spool_dir = dir;
  config.spool_fsync = true;
  {
    Forwarder forwarder(config);
    forwarder.Start();
    kernels::EpochRows rows = WorkerZeroEpoch();
    ASSERT_TRUE(forwarder.Offer(rows));
    std::this_thread::sleep_for(milliseconds(300));  // the insert is on the wire by now
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(forwarder.Drain(milliseconds(500)));
    EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(2'000));
    EXPECT_EQ(forwarder.spooled_records(), 1u);
    const Forwarder::Ledger ledger = forwarder.ledger();
    EXPECT_EQ(ledger.offered, 9u);
    EXPECT_EQ(ledger.spooled, 9u);
    EXPECT_EQ(ledger.in_memory + ledger.acknowledged + ledger.dead_lettered, 0u);
  }
  close(listener);

  const std::string url = LocalClickHouse::Shared().url();
  ClickHouseClient client(Endpoint(url, "silent_db"));
  ApplySchema(client, "silent_db");
  config.clickhouse.url = url;
  config.shards.clear();
  Forwarder restarted(config);
  restarted.Start();
  ASSERT_TRUE(restarted.Drain(milliseconds(60'000)));
  EXPECT_EQ(restarted.ledger().replayed, 9u);
  EXPECT_EQ(Query(client, "SELECT sum(pageviews), sum(events) FROM site_minutes"), "7\t9\n");
  EXPECT_EQ(Query(client, "SELECT sum(pageviews) FROM breakdown_minutes"), "7\n");
  std::filesystem::remove_all(dir);
}

// A spool record that cannot be read (EISDIR here: a directory where the file should be; EMFILE
// and EIO take the same path) is counted by errno and read again with backoff, never taken as
// torn; once readable it is sent.
TEST(ForwarderTest, RetriesASpoolRecordItCannotReadInsteadOfDeletingIt) {
  const std::string url = LocalClickHouse::Shared().url();
  const std::string dir = ::testing::TempDir() + "unreadable_" + std::to_string(::getpid());
  ForwarderConfig config = SpoolingConfig(Endpoint(url, "unreadable_db"), dir);
  {
    Forwarder no_database(config);  // unreadable_db does not exist yet: the batch is spooled
    no_database.Start();
    kernels::EpochRows rows = WorkerZeroEpoch();
    ASSERT_TRUE(no_database.Offer(rows));
    EXPECT_FALSE(no_database.Drain(milliseconds(300)));
    ASSERT_EQ(no_database.spooled_records(), 1u);
  }
  const std::string record = dir + "/shard-1/00000000000000000000.rec";
  std::filesystem::rename(record, dir + "/aside");
  std::filesystem::create_directory(record);
  ClickHouseClient client(Endpoint(url, "unreadable_db"));
  ApplySchema(client, "unreadable_db");
  Forwarder forwarder(config);
  MetricsRegistry registry;
  forwarder.RegisterMetrics(&registry, "f");
  forwarder.Start();
  const std::string errors = "f_spool_read_errors_total{shard=\"1\",errno=\"EISDIR\"}";
  auto read_errors = [&] {  // no EISDIR series before the first such error
    const std::string scrape = registry.Scrape();
    const size_t at = scrape.find(errors + " ");
    return at == std::string::npos ? 0.0 : std::stod(scrape.substr(at + errors.size() + 1));
  };
  WaitUntil([&] { return read_errors() >= 3; });
  EXPECT_GE(read_errors(), 3);
  EXPECT_EQ(Sample(registry, "f_spool_read_errors_total{shard=\"1\",errno=\"EMFILE\"}"), 0);
  EXPECT_EQ(Sample(registry, "f_spool_torn_total{shard=\"1\"}"), 0);
  EXPECT_EQ(forwarder.spooled_records(), 1u);
  std::filesystem::remove(record);
  std::filesystem::rename(dir + "/aside", record);
  ASSERT_TRUE(forwarder.Drain(milliseconds(60'000)));
  EXPECT_EQ(forwarder.acknowledged_events(), 9u);
  EXPECT_EQ(Query(client, "SELECT sum(pageviews), sum(events) FROM site_minutes"), "7\t9\n");
  std::filesystem::remove_all(dir);
}

// A batch whose spool append failed stays in memory until an append of it works; a newer batch
// spooled behind it must not be deleted when the older one is acknowledged.
TEST(ForwarderTest, ABatchTheSpoolRefusedNeverTakesTheHeadOfANewerOne) {
  const std::string url = LocalClickHouse::Shared().url();
  const std::string dir = ::testing::TempDir() + "refused_" + std::to_string(::getpid());
  ForwarderConfig config = SpoolingConfig(Endpoint(url, "refused_db"), dir);
  Forwarder forwarder(config);  // refused_db does not exist yet: every insert fails
  MetricsRegistry registry;
  forwarder.RegisterMetrics(&registry, "f");
  std::filesystem::remove_all(dir + "/shard-1");  // the spool cannot write
  forwarder.Start();
  kernels::EpochRows older = WorkerZeroEpoch();
  ASSERT_TRUE(forwarder.Offer(older));
  WaitUntil([&] { return Sample(registry, "f_spool_refusals_total{shard=\"1\"}") >= 1; });
  ASSERT_GE(Sample(registry, "f_spool_refusals_total{shard=\"1\"}"), 1);
  kernels::EpochRows newer = WorkerOneEpoch(0);
  ASSERT_TRUE(forwarder.Offer(newer));
  // Two more failures of the older batch while the newer one waits (a refused batch counts
  // once in spool_refusals_total).
  const auto failures = [&] { return Sample(registry, "f_inserts_total{result=\"failed\"}"); };
  const double failures_before = failures();
  WaitUntil([&] { return failures() >= failures_before + 2; });
  EXPECT_EQ(Sample(registry, "f_spool_refusals_total{shard=\"1\"}"), 1);
  // The disk works again: the older batch is spooled at its next failure, the newer behind it.
  std::filesystem::create_directory(dir + "/shard-1");
  WaitUntil([&] { return forwarder.spooled_records() >= 2; });
  ASSERT_EQ(forwarder.spooled_records(), 2u);
  const double failed = Sample(registry, "f_inserts_total{result=\"failed\"}");
  WaitUntil([&] { return Sample(registry, "f_inserts_total{result=\"failed\"}") >= failed + 2; });
  ClickHouseClient client(Endpoint(url, "refused_db"));
  ApplySchema(client, "refused_db");
  ASSERT_TRUE(forwarder.Drain(milliseconds(60'000)));
  EXPECT_EQ(forwarder.acknowledged_events(), 16u);
  EXPECT_EQ(Query(client, "SELECT sum(pageviews), sum(events) FROM site_minutes"), "13\t16\n");
  std::filesystem::remove_all(dir);
}

// Worker 0's epoch with the archive range first..last, cut: its batch raises the watermarks.
kernels::EpochRows Ranged(kernels::EpochRows rows, uint64_t first, uint64_t last) {
  rows.worker = 0;
  rows.first_sequence = first;
  rows.last_sequence = last;
  rows.breakdown_cut = true;
  return rows;
}

// A batch whose spool append failed is spooled before any newer one: were the newer one
// spooled first, the next start would acknowledge it first, its watermark would cover the
// older batch's range, and the older one would be released unsent.
TEST(ForwarderTest, ABatchTheSpoolRefusedIsSpooledBeforeNewerOnes) {
  const std::string dir = ::testing::TempDir() + "in_order_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir + "/watermarks");
  PosixFileSystem posix;
  ForwarderConfig config =
      SpoolingConfig(Endpoint(LoopbackUrl(UnusedPort()), "in_order_db"), dir + "/spool");
  {
    WatermarkStore watermarks(posix, dir + "/watermarks", 1);
    ASSERT_EQ(watermarks.Load(), 0);
    config.watermarks = &watermarks;
    Forwarder forwarder(config);  // nothing listens: every insert fails
    MetricsRegistry registry;
    forwarder.RegisterMetrics(&registry, "f");
    std::filesystem::remove_all(config.spool_dir + "/shard-1");  // the spool cannot write
    forwarder.Start();
    const auto refusals = [&] { return Sample(registry, "f_spool_refusals_total{shard=\"1\"}"); };
    kernels::EpochRows older = Ranged(WorkerZeroEpoch(), 1, 10);
    ASSERT_TRUE(forwarder.Offer(older));
    WaitUntil([&] { return refusals() >= 1; });
    kernels::EpochRows newer = Ranged(WorkerOneEpoch(0), 11, 20);
    ASSERT_TRUE(forwarder.Offer(newer));
    // Two more failures of the older batch while the newer one waits; each refused batch
    // counts once.
    const auto failures = [&] { return Sample(registry, "f_inserts_total{result=\"failed\"}"); };
    const double failures_before = failures();
    WaitUntil([&] { return failures() >= failures_before + 2; });
    ASSERT_GE(failures(), failures_before + 2);
    EXPECT_EQ(refusals(), 1);
    std::filesystem::create_directory(config.spool_dir + "/shard-1");  // the disk works again
    WaitUntil([&] { return forwarder.spooled_records() >= 1; });
    const double failed = Sample(registry, "f_inserts_total{result=\"failed\"}");
    WaitUntil([&] { return Sample(registry, "f_inserts_total{result=\"failed\"}") >= failed + 2; });
    EXPECT_FALSE(forwarder.Drain(milliseconds(200)));
    EXPECT_EQ(forwarder.spooled_records(), 2u);
  }
  const std::string url = LocalClickHouse::Shared().url();
  ClickHouseClient client(Endpoint(url, "in_order_db"));
  ApplySchema(client, "in_order_db");
  WatermarkStore watermarks(posix, dir + "/watermarks", 1);
  ASSERT_EQ(watermarks.Load(), 0);
  config.watermarks = &watermarks;
  config.clickhouse.url = url;
  config.shards.clear();
  Forwarder restarted(config);
  restarted.Start();
  ASSERT_TRUE(restarted.Drain(milliseconds(60'000)));
  EXPECT_EQ(Query(client, "SELECT sum(pageviews), sum(events) FROM site_minutes"), "13\t16\n");
  EXPECT_EQ(Query(client, "SELECT sum(pageviews) FROM breakdown_minutes"), "13\n");
  EXPECT_EQ(watermarks.Get(0)[0].site, 20u);
  std::filesystem::remove_all(dir);
}

// A replica's refusal of the site rows that another replica then took says nothing about the
// breakdown insert: when that one fails only for a while (no such table: 404), the batch is
// retried, not set aside as refused.
TEST(ForwarderTest, ARefusalOfAnInsertAnotherReplicaTookDoesNotSetTheNextOneAside) {
  LocalClickHouse refusing;  // replica 1: its site_minutes has no batch_id (500 Code: 33)
  const std::string url = LocalClickHouse::Shared().url();
  ClickHouseClient first(Endpoint(refusing.url(), "replica_db", kSlowDdlTimeoutMs));
  ClickHouseClient second(Endpoint(url, "replica_db", kSlowDdlTimeoutMs));
  ApplySchema(first, "replica_db");
  ApplySchema(second, "replica_db");
  ASSERT_TRUE(first.Execute("DROP TABLE replica_db.site_minutes").ok());
  ASSERT_TRUE(first
                  .Execute("CREATE TABLE replica_db.site_minutes (site_id UInt32, minute "
                           "DateTime, pageviews UInt64, events UInt64, visitors "
                           "AggregateFunction(uniqHLL12, UInt64)) ENGINE = MergeTree() "
                           "ORDER BY site_id")
                  .ok());
  for (ClickHouseClient* replica : {&first, &second}) {
    ASSERT_TRUE(replica->Execute("DROP TABLE replica_db.breakdown_minutes").ok());
  }
  const std::string dir = ::testing::TempDir() + "replica_" + std::to_string(::getpid());
  ForwarderConfig config = SpoolingConfig(Endpoint(url, "replica_db", kSlowDdlTimeoutMs), dir);
  config.shards = {{refusing.url(), url}};
  Running running(config);
  Forwarder& forwarder = running.forwarder;
  const MetricsRegistry& registry = running.registry;
  kernels::EpochRows rows = WorkerZeroEpoch();
  ASSERT_TRUE(forwarder.Offer(rows));
  // Site rows: refused by replica 1, taken by replica 2; breakdown rows: 404 on both, twice.
  const auto failed = [&] { return Sample(registry, "f_inserts_total{result=\"failed\"}"); };
  const auto letters = [&] { return Sample(registry, "f_dead_letter_records"); };
  WaitUntil([&] { return failed() >= 5 || letters() >= 1; });
  EXPECT_EQ(letters(), 0);
  ApplySchema(second, "replica_db");
  ASSERT_TRUE(forwarder.Drain(milliseconds(60'000)));
  EXPECT_EQ(forwarder.acknowledged_events(), 9u);
  EXPECT_EQ(Query(second, "SELECT sum(pageviews), sum(events) FROM site_minutes"), "7\t9\n");
  EXPECT_EQ(Query(second, "SELECT sum(pageviews) FROM breakdown_minutes"), "7\n");
  EXPECT_EQ(Sample(registry, "f_dead_letter_total{shard=\"1\",table=\"breakdown_minutes\"}"), 0);
  std::filesystem::remove_all(dir);
}

// Worker `worker`'s epoch with the range first..last: one site row, and `pages` breakdown
// rows of pages numbered from `from`, one pageview each.
kernels::EpochRows ManyPages(uint32_t worker, uint64_t first, uint64_t last, int from, int pages,
                             bool cut) {
  kernels::EpochRows rows;
  rows.worker = worker;
  rows.first_sequence = first;
  rows.last_sequence = last;
  rows.breakdown_cut = cut;
  rows.events = static_cast<uint64_t>(pages);
  rows.site_minutes = {{.site_id = 1,
                        .minute = kMinute,
                        .pageviews = static_cast<uint64_t>(pages),
                        .visitors = Sketch({1})}};
  for (int i = from; i < from + pages; ++i) {
    rows.breakdowns.push_back(Page(1, kMinute, "/page-" + std::to_string(i), 1, {1}));
  }
  return rows;
}

// Held breakdown rows of ranged epochs are released only by their worker's next cut epoch,
// which comes after the epochs that make them: when they fill max_pending_bytes, the next
// epochs are still taken (refusing them could never free the rows), up to the cut.
TEST(ForwarderTest, HeldRowsFillingTheBoundDoNotStopTheEpochsThatCutThem) {
  const std::string url = LocalClickHouse::Shared().url();
  ClickHouseClient client(Endpoint(url, "held_bound_db"));
  ApplySchema(client, "held_bound_db");
  ForwarderConfig config = Config(Endpoint(url, "held_bound_db"), /*flush_interval_ms=*/10);
  config.max_pending_bytes = 8'000;
  Running running(config);
  Forwarder& forwarder = running.forwarder;
  const MetricsRegistry& registry = running.registry;
  kernels::EpochRows first = ManyPages(0, 1, 100, 0, 100, false);
  ASSERT_TRUE(forwarder.Offer(first));
  WaitUntil([&] { return forwarder.acknowledged_events() >= 100; });  // its site rows
  ASSERT_GT(Sample(registry, "f_pending_bytes"), 8'000);              // its held breakdown rows
  kernels::EpochRows second = ManyPages(0, 101, 200, 100, 100, false);
  ASSERT_TRUE(forwarder.Offer(second));
  WaitUntil([&] { return forwarder.acknowledged_events() >= 200; });
  kernels::EpochRows cut = ManyPages(0, 201, 300, 200, 100, true);
  ASSERT_TRUE(forwarder.Offer(cut));
  ASSERT_TRUE(forwarder.Drain(milliseconds(60'000)));
  EXPECT_EQ(forwarder.acknowledged_events(), 300u);
  EXPECT_EQ(Query(client, "SELECT sum(pageviews) FROM site_minutes"), "300\n");
  EXPECT_EQ(Query(client, "SELECT sum(pageviews), count() FROM breakdown_minutes"), "300\t300\n");
  EXPECT_EQ(Sample(registry, "f_pending_bytes"), 0);
}

// Held rows still count, up to half the bound: with a batch unsent (nothing listens) beside
// them, the next epoch, of either worker, is refused.
TEST(ForwarderTest, HeldRowsCountTowardTheBoundUpToHalfOfIt) {
  ForwarderConfig config = Config(Endpoint(LoopbackUrl(UnusedPort()), "beacon"),
                                  /*flush_interval_ms=*/10);
  config.max_pending_bytes = 8'000;
  Running running(config);
  Forwarder& forwarder = running.forwarder;
  const MetricsRegistry& registry = running.registry;
  kernels::EpochRows first = ManyPages(0, 1, 100, 0, 100, false);
  ASSERT_TRUE(forwarder.Offer(first));
  WaitUntil([&] { return Sample(registry, "f_inserts_total{result=\"failed\"}") >= 1; });
  ASSERT_GT(Sample(registry, "f_pending_bytes"), 8'000);
  kernels::EpochRows same_worker = ManyPages(0, 101, 110, 100, 60, false);
  kernels::EpochRows other_worker = ManyPages(1, 1, 10, 0, 60, true);
  EXPECT_FALSE(forwarder.Offer(same_worker));
  EXPECT_FALSE(forwarder.Offer(other_worker));
  EXPECT_EQ(Sample(registry, "f_epochs_refused_total"), 2);
}

// Worker 0's epoch first..last: for each site in `sites`, one site row and one page of
// `pageviews` pageviews.
kernels::EpochRows SitesEpoch(uint64_t first, uint64_t last, bool cut,
                              const std::vector<uint32_t>& sites, uint64_t pageviews) {
  kernels::EpochRows rows;
  rows.first_sequence = first;
  rows.last_sequence = last;
  rows.breakdown_cut = cut;
  for (const uint32_t site : sites) {
    rows.events += pageviews;
    rows.site_minutes.push_back(
        {.site_id = site, .minute = kMinute, .pageviews = pageviews, .visitors = Sketch({site})});
    rows.breakdowns.push_back(Page(site, kMinute, "/", pageviews, {site}));
  }
  return rows;
}

// A drain whose worker's last (cut) epoch never reached the forwarder leaves the breakdown
// rows held for it to the next start's replay, which cuts them where the archive recorded:
// cut at the drain instead, a shard that acknowledged that cut would take them again in the
// replay's batch (a longer range: neither acknowledged nor a duplicate block), because the
// other shard's lagging watermark makes the replay start before them.
TEST(ForwarderTest, ADrainLeavesHeldRowsOfTheArchiveToTheReplay) {
  const std::string url = LocalClickHouse::Shared().url();
  ClickHouseClient client(Endpoint(url, "drain_cut_db"));
  ApplySchema(client, "drain_cut_db");
  const ShardRing ring(2);
  std::vector<uint32_t> sites;  // one on each shard
  for (uint32_t site = 1; sites.size() < 2; ++site) {
    if (ring.ShardOf(site) == sites.size()) sites.push_back(site);
  }
  const std::string dir = ::testing::TempDir() + "drain_cut_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir + "/watermarks");
  PosixFileSystem posix;
  ForwarderConfig config = SpoolingConfig(Endpoint(url, "drain_cut_db"), dir + "/spool");
  config.shards = {{url}, {LoopbackUrl(UnusedPort())}};  // shard 2 is down
  {
    WatermarkStore watermarks(posix, dir + "/watermarks", 2);
    ASSERT_EQ(watermarks.Load(), 0);
    ASSERT_EQ(watermarks.SetAll(0, 0), 0);
    config.watermarks = &watermarks;
    Forwarder forwarder(config);
    forwarder.Start();
    kernels::EpochRows held = SitesEpoch(1, 10, false, sites, 2);
    ASSERT_TRUE(forwarder.Offer(held));
    WaitUntil([&] { return forwarder.acknowledged_events() >= 2; });  // shard 1's site rows
    EXPECT_FALSE(forwarder.Drain(milliseconds(300)));
  }
  // The restart: replay from the least breakdown watermark, shard 2 back.
  WatermarkStore watermarks(posix, dir + "/watermarks", 2);
  ASSERT_EQ(watermarks.Load(), 0);
  ASSERT_EQ(watermarks.ReplayStart(0), 1u);
  config.watermarks = &watermarks;
  config.shards = {{url}, {url}};
  Forwarder restarted(config);
  restarted.Start();
  kernels::EpochRows replayed = SitesEpoch(1, 10, false, sites, 2);
  kernels::EpochRows cut = SitesEpoch(11, 20, true, sites, 3);  // the cut the archive recorded
  ASSERT_TRUE(restarted.Offer(replayed));
  ASSERT_TRUE(restarted.Offer(cut));
  ASSERT_TRUE(restarted.Drain(milliseconds(60'000)));
  EXPECT_EQ(Query(client,
                  "SELECT site_id, sum(pageviews) FROM site_minutes GROUP BY site_id "
                  "ORDER BY site_id"),
            std::to_string(sites[0]) + "\t5\n" + std::to_string(sites[1]) + "\t5\n");
  EXPECT_EQ(Query(client,
                  "SELECT site_id, sum(pageviews) FROM breakdown_minutes GROUP BY "
                  "site_id ORDER BY site_id"),
            std::to_string(sites[0]) + "\t5\n" + std::to_string(sites[1]) + "\t5\n");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace beacon::host
