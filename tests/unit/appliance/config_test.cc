// beacond configuration: the shipped example parses to the embedded defaults; every bad
// key or value is refused with a message naming it.
#include "appliance/config.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/site_registry.h"

namespace beacon::app {
namespace {

TEST(ConfigTest, ShippedExampleMatchesTheEmbeddedDefaults) {
  const Config example = LoadConfig(BEACON_EXAMPLE_CONFIG);
  const Config defaults = DefaultConfig();
  EXPECT_EQ(example.sites_path, "/etc/beacond/sites.conf");
  EXPECT_EQ(example.state_dir, defaults.state_dir);
  EXPECT_EQ(example.backend, defaults.backend);
  EXPECT_EQ(example.http.address, defaults.http.address);
  EXPECT_EQ(example.http.port, defaults.http.port);
  EXPECT_EQ(example.http_workers, defaults.http_workers);
  EXPECT_EQ(example.http.idle_timeout_ms, defaults.http.idle_timeout_ms);
  EXPECT_EQ(example.http.limits.max_body_bytes, defaults.http.limits.max_body_bytes);
  EXPECT_EQ(example.management.port, defaults.management.port);
  EXPECT_EQ(example.pipeline.epoch_ms, defaults.pipeline.epoch_ms);
  EXPECT_EQ(example.pipeline.epoch_max_events, defaults.pipeline.epoch_max_events);
  for (const kernels::Dimension d : kernels::kDimensions) {
    EXPECT_EQ(example.pipeline.aggregate.TopK(d), defaults.pipeline.aggregate.TopK(d));
    EXPECT_EQ(example.forwarder.breakdown_limits.TopK(d), example.pipeline.aggregate.TopK(d));
  }
  EXPECT_EQ(example.pipeline.visitor_key, defaults.pipeline.visitor_key);
  EXPECT_EQ(example.forwarder.clickhouse.url, defaults.forwarder.clickhouse.url);
  EXPECT_EQ(example.forwarder.clickhouse.database, defaults.forwarder.clickhouse.database);
  EXPECT_EQ(example.forwarder.flush_interval_ms, defaults.forwarder.flush_interval_ms);
  EXPECT_EQ(example.forwarder.max_pending_bytes, defaults.forwarder.max_pending_bytes);
  EXPECT_EQ(example.forwarder.retry_max_ms, defaults.forwarder.retry_max_ms);
  EXPECT_EQ(example.forwarder.breakdown_flush_interval_ms,
            defaults.forwarder.breakdown_flush_interval_ms);
  EXPECT_EQ(example.forwarder.shards, defaults.forwarder.shards);
  EXPECT_EQ(example.forwarder.cluster, defaults.forwarder.cluster);
  EXPECT_EQ(example.forwarder.spool_dir, defaults.forwarder.spool_dir);
  EXPECT_EQ(example.forwarder.spool_max_bytes, defaults.forwarder.spool_max_bytes);
  EXPECT_EQ(example.forwarder.spool_fsync, defaults.forwarder.spool_fsync);
  EXPECT_EQ(example.archive.enabled, defaults.archive.enabled);
  EXPECT_EQ(example.archive.writer.directory, defaults.archive.writer.directory);
  EXPECT_EQ(example.archive.writer.commit, defaults.archive.writer.commit);
  EXPECT_EQ(example.archive.writer.commit_interval_ms, defaults.archive.writer.commit_interval_ms);
  EXPECT_EQ(example.archive.writer.compression_level, defaults.archive.writer.compression_level);
  EXPECT_EQ(example.archive.writer.block_bytes, defaults.archive.writer.block_bytes);
  EXPECT_EQ(example.archive.writer.segment_bytes, defaults.archive.writer.segment_bytes);
  EXPECT_EQ(example.archive.writer.segment_age_ms, defaults.archive.writer.segment_age_ms);
  EXPECT_EQ(example.archive.retention_max_bytes, defaults.archive.retention_max_bytes);
  EXPECT_EQ(example.archive.retention_max_age_ms, defaults.archive.retention_max_age_ms);
}

TEST(ConfigTest, ReadsValues) {
  const Config c = ParseConfig(R"(
[sites]
registry = "s.conf"
[http]
listen = "0.0.0.0:0"
workers = 3
[pipeline]
epoch_ms = 250
visitor_key = "00000000000000ff"
[clickhouse]
url = "http://127.0.0.1:18123"
max_pending_mb = 2
)",
                               "t.toml");
  EXPECT_EQ(c.sites_path, "s.conf");
  EXPECT_EQ(c.http.address, "0.0.0.0");
  EXPECT_EQ(c.http.port, 0);
  EXPECT_EQ(c.http_workers, 3);
  EXPECT_EQ(c.pipeline.epoch_ms, 250);
  EXPECT_EQ(c.pipeline.visitor_key, 0xffu);
  EXPECT_EQ(c.forwarder.clickhouse.url, "http://127.0.0.1:18123");
  EXPECT_EQ(c.forwarder.max_pending_bytes, 2u << 20);
}

void ExpectError(const std::string& toml, std::string_view fragment) {
  try {
    ParseConfig(toml, "t.toml");
    FAIL() << "accepted: " << toml;
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(ConfigTest, RefusesBadInputNamingIt) {
  ExpectError("[htp]\n", "htp: unknown section");
  ExpectError("[http]\nworkrs = 2\n", "http.workrs: unknown key");
  ExpectError("[http]\nworkers = -1\n", "http.workers: expected an integer in 0..256");
  ExpectError("[http]\nworkers = \"2\"\n", "http.workers: expected an integer");
  ExpectError("[http]\nlisten = \"8080\"\n", "http.listen: expected \"address:port\"");
  ExpectError("[http]\nlisten = \"a:99999\"\n", "port \"99999\"");
  ExpectError("[pipeline]\nvisitor_key = \"xyz\"\n", "pipeline.visitor_key: expected 16 hex");
  ExpectError("[clickhouse]\nurl = 5\n", "clickhouse.url: expected a string");
  ExpectError("[http\n", "t.toml:1");
  ExpectError("[clickhouse]\nurl = \"http://a:1\"\nshards = [[\"http://b:1\"]]\n",
              "clickhouse.shards: give either url");
  ExpectError("[clickhouse]\nshards = [\"http://b:1\"]\n",
              "clickhouse.shards: expected an array of arrays of strings");
  ExpectError("[clickhouse]\nshards = [[]]\n", "clickhouse.shards: expected an array");
  ExpectError("[clickhouse]\nspool_fsync = 1\n", "clickhouse.spool_fsync: expected true");
}

TEST(ConfigTest, DpdkMirrorKeys) {
  const Config c = ParseConfig(
      "[http]\ncountry_headers = [\"X-Geo\"]\n[dpdk]\nports = [\"net_null0\"]\n"
      "mirror_ports = [80, 8080]\nmirror_flows = 100\nmirror_flow_bytes = 4096\n"
      "mirror_total_bytes = 1048576\nmirror_idle_ms = 1000\nmirror_gap_ms = 50\n"
      "mirror_client_ip_header = \"X-Forwarded-For\"\n",
      "t.toml");
  EXPECT_EQ(c.dpdk.data_plane.mirror.server_ports, (std::vector<uint16_t>{80, 8080}));
  EXPECT_EQ(c.dpdk.data_plane.mirror.max_flows, 100u);
  EXPECT_EQ(c.dpdk.data_plane.mirror.max_flow_bytes, 4096u);
  EXPECT_EQ(c.dpdk.data_plane.mirror.max_total_bytes, 1048576u);
  EXPECT_EQ(c.dpdk.data_plane.mirror.idle_ms, 1000u);
  EXPECT_EQ(c.dpdk.data_plane.mirror.gap_ms, 50u);
  EXPECT_EQ(c.dpdk.data_plane.mirror.client_ip_header, "X-Forwarded-For");
  EXPECT_EQ(c.dpdk.data_plane.mirror.country_headers, (std::vector<std::string>{"X-Geo"}));
  ExpectError("[dpdk]\nports = [\"p\"]\nmirror_ports = [0]\n",
              "dpdk.mirror_ports: expected an array of integers in 1..65535");
  ExpectError("[dpdk]\nports = [\"p\"]\n", "expected hit_batch_port, syslog_port or mirror_ports");
}

TEST(ConfigTest, ReadsTheArchive) {
  const Config c = ParseConfig(R"([state]
dir = "/srv/b"
[archive]
enabled = true
commit = "interval"
commit_interval_ms = 5
compression_level = 3
block_kb = 256
segment_mb = 16
segment_age_s = 60
max_gb = 2
max_age_h = 48
)",
                               "t.toml");
  EXPECT_TRUE(c.archive.enabled);
  EXPECT_EQ(c.archive.writer.directory, "/srv/b/archive");
  EXPECT_EQ(c.archive.writer.commit, host::CommitPolicy::kInterval);
  EXPECT_EQ(c.archive.writer.commit_interval_ms, 5);
  EXPECT_EQ(c.archive.writer.compression_level, 3);
  EXPECT_EQ(c.archive.writer.block_bytes, 256u << 10);
  EXPECT_EQ(c.archive.writer.segment_bytes, 16u << 20);
  EXPECT_EQ(c.archive.writer.segment_age_ms, 60'000);
  EXPECT_EQ(c.archive.retention_max_bytes, 2ull << 30);
  EXPECT_EQ(c.archive.retention_max_age_ms, 48 * 3'600'000);
  EXPECT_EQ(ParseConfig("[archive]\ndir = \"/a\"\n", "t.toml").archive.writer.directory, "/a");
  ExpectError("[archive]\ncommit = \"always\"\n", "archive.commit: expected \"group\"");
  ExpectError("[archive]\nblock_kb = 1\n", "archive.block_kb: expected an integer");
}

TEST(ConfigTest, ReadsAClusterOfShardsAndItsSpool) {
  const Config c = ParseConfig(R"([clickhouse]
shards = [["http://127.0.0.1:1", "http://127.0.0.1:2"], ["http://127.0.0.1:3"]]
cluster = "beacon_cluster"
spool_dir = "/var/spool/beacond"
spool_max_mb = 64
spool_fsync = false
breakdown_flush_interval_ms = 0
)",
                               "t.toml");
  const std::vector<std::vector<std::string>> shards = {
      {"http://127.0.0.1:1", "http://127.0.0.1:2"}, {"http://127.0.0.1:3"}};
  EXPECT_EQ(c.forwarder.shards, shards);
  EXPECT_EQ(c.forwarder.cluster, "beacon_cluster");
  EXPECT_EQ(c.forwarder.spool_dir, "/var/spool/beacond");
  EXPECT_EQ(c.forwarder.spool_max_bytes, uint64_t{64} << 20);
  EXPECT_FALSE(c.forwarder.spool_fsync);
  EXPECT_EQ(c.forwarder.breakdown_flush_interval_ms, 0);
}

TEST(ConfigTest, ShippedSiteRegistryParses) {
  EXPECT_EQ(kernels::SiteRegistry::Load(BEACON_EXAMPLE_SITES).size(), 3u);
}

}  // namespace
}  // namespace beacon::app
