// beacond configuration: the shipped example parses to the embedded defaults; every bad
// key or value is refused with a message naming it.
#include "appliance/config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
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
  EXPECT_EQ(example.http.header_timeout_ms, defaults.http.header_timeout_ms);
  EXPECT_EQ(example.http.request_timeout_ms, defaults.http.request_timeout_ms);
  EXPECT_EQ(example.http.max_request_bytes, defaults.http.max_request_bytes);
  EXPECT_EQ(example.http.max_connections_per_peer, defaults.http.max_connections_per_peer);
  EXPECT_EQ(example.http.accept_backoff_ms, defaults.http.accept_backoff_ms);
  EXPECT_EQ(example.http.source_rate_per_s, defaults.http.source_rate_per_s);
  EXPECT_EQ(example.http.source_burst, defaults.http.source_burst);
  EXPECT_EQ(example.http.source_prefix_v4, defaults.http.source_prefix_v4);
  EXPECT_EQ(example.http.source_prefix_v6, defaults.http.source_prefix_v6);
  EXPECT_EQ(example.site_budget.every_site.rate_per_s, defaults.site_budget.every_site.rate_per_s);
  EXPECT_EQ(example.site_budget.every_site.burst, defaults.site_budget.every_site.burst);
  EXPECT_EQ(example.site_budget.over_budget, defaults.site_budget.over_budget);
  EXPECT_EQ(example.forwarder.breakdown_max_rows_per_site,
            defaults.forwarder.breakdown_max_rows_per_site);
  EXPECT_EQ(example.site_budget.sample_one_in, defaults.site_budget.sample_one_in);
  EXPECT_EQ(example.management.port, defaults.management.port);
  EXPECT_EQ(example.management_allowed_hosts, defaults.management_allowed_hosts);
  EXPECT_EQ(example.pipeline.epoch_ms, defaults.pipeline.epoch_ms);
  EXPECT_EQ(example.pipeline.epoch_max_events, defaults.pipeline.epoch_max_events);
  for (const kernels::Dimension d : kernels::kDimensions) {
    EXPECT_EQ(example.pipeline.aggregate.TopK(d), defaults.pipeline.aggregate.TopK(d));
    EXPECT_EQ(example.forwarder.breakdown_limits.TopK(d), example.pipeline.aggregate.TopK(d));
  }
  EXPECT_EQ(example.pipeline.visitor_key, defaults.pipeline.visitor_key);
  EXPECT_EQ(example.forwarder.clickhouse.url, defaults.forwarder.clickhouse.url);
  EXPECT_EQ(example.forwarder.clickhouse.database, defaults.forwarder.clickhouse.database);
  EXPECT_EQ(example.forwarder.clickhouse.insert_quorum,
            defaults.forwarder.clickhouse.insert_quorum);
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
  EXPECT_EQ(example.archive_compressor, defaults.archive_compressor);
}

// A path that opens but cannot be read (a directory; an I/O error) is no config, not an empty
// one: `beacond --config /etc/beacond` must not run on the embedded defaults.
TEST(ConfigTest, APathThatCannotBeReadIsRefused) {
  const std::string dir = ::testing::TempDir();
  try {
    LoadConfig(dir);
    FAIL() << "a directory loaded as a config";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot read config file"), std::string::npos) << e.what();
  }
  EXPECT_THROW(LoadConfig(dir + "/no-such-beacond.toml"), std::runtime_error);
  EXPECT_EQ(ReadTokenFile(dir), "");
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
insert_quorum = 2
)",
                               "t.toml");
  EXPECT_EQ(c.sites_path, "s.conf");
  EXPECT_EQ(c.http.address, "0.0.0.0");
  EXPECT_EQ(c.http.port, 0);
  EXPECT_EQ(c.http_workers, 3);
  EXPECT_EQ(c.pipeline.epoch_ms, 250);
  EXPECT_EQ(c.pipeline.visitor_key, 0xffu);
  EXPECT_EQ(c.forwarder.clickhouse.url, "http://127.0.0.1:18123");
  EXPECT_EQ(c.forwarder.clickhouse.insert_quorum, 2);
  EXPECT_EQ(c.forwarder.max_pending_bytes, 2u << 20);
}

TEST(ConfigTest, HttpServerLimits) {
  const Config c = ParseConfig(R"([http]
header_timeout_ms = 2000
request_timeout_ms = 5000
max_request_bytes = 200000
max_connections_per_peer = 0
accept_backoff_ms = 50
)",
                               "t.toml");
  EXPECT_EQ(c.http.header_timeout_ms, 2000);
  EXPECT_EQ(c.http.request_timeout_ms, 5000);
  EXPECT_EQ(c.http.max_request_bytes, 200000u);
  EXPECT_EQ(c.http.max_connections_per_peer, 0u);
  EXPECT_EQ(c.http.accept_backoff_ms, 50);
}

void ExpectError(const std::string& toml, std::string_view fragment);

TEST(ConfigTest, Limits) {
  const Config c = ParseConfig(R"([limits]
site_rate_per_s = 100
site_burst = 20
source_rate_per_s = 10
source_burst = 5
source_prefix_v4 = 24
source_prefix_v6 = 48
over_budget = "sample"
sample_one_in = 20
[limits.sites.shop]
rate_per_s = 500
burst = 1000
[limits.sites.2]
rate_per_s = 0
)",
                               "t.toml");
  EXPECT_EQ(c.site_budget.every_site.rate_per_s, 100);
  EXPECT_EQ(c.site_budget.every_site.burst, 20);
  // In key order, as toml++ keeps a table.
  ASSERT_EQ(c.site_budget.sites.size(), 2u);
  EXPECT_EQ(c.site_budget.sites[0].first, "2");
  EXPECT_EQ(c.site_budget.sites[0].second.rate_per_s, 0);
  EXPECT_EQ(c.site_budget.sites[1].first, "shop");
  EXPECT_EQ(c.site_budget.sites[1].second.rate_per_s, 500);
  EXPECT_EQ(c.site_budget.sites[1].second.burst, 1000);
  EXPECT_EQ(c.http.source_rate_per_s, 10);
  EXPECT_EQ(c.http.source_burst, 5);
  EXPECT_EQ(c.http.source_prefix_v4, 24);
  EXPECT_EQ(c.http.source_prefix_v6, 48);
  EXPECT_EQ(c.site_budget.over_budget, host::OverBudget::kSample);
  EXPECT_EQ(c.site_budget.sample_one_in, 20u);
  EXPECT_EQ(ParseConfig("[limits]\nsite_rate_per_s = 1\n", "t.toml").site_budget.over_budget,
            host::OverBudget::kRefuse);
  ExpectError("[limits]\nover_budget = \"drop\"\n",
              "limits.over_budget: expected \"refuse\" or \"sample\"");
  ExpectError("[limits]\nsample_one_in = 0\n", "limits.sample_one_in: expected an integer");
  ExpectError("[limits]\nsource_prefix_v4 = 33\n", "limits.source_prefix_v4: expected an integer");
  ExpectError("[limits]\nsite_rate = 1\n", "limits.site_rate: unknown key");
  ExpectError("[limits.sites.shop]\nrate = 1\n", "shop.rate: unknown key");
  ExpectError("[limits]\nsites = 1\n", "limits.sites: expected a table");
}

TEST(ConfigTest, ManagementOffLoopbackNeedsAToken) {
  EXPECT_TRUE(ParseConfig("[management]\nlisten = \"127.0.0.2:9464\"\n", "t.toml")
                  .management_token.empty());
  EXPECT_EQ(ParseConfig("[management]\nlisten = \"0.0.0.0:9464\"\ntoken = \"abc\"\n", "t.toml")
                .management_token,
            "abc");
  const std::string file = ::testing::TempDir() + "/beacond-token";
  {
    std::ofstream out(file);
    out << "from-file\n";
  }
  const Config c = ParseConfig(
      "[management]\nlisten = \"10.0.0.1:9464\"\ntoken_file = \"" + file + "\"\nstall_ms = 900\n",
      "t.toml");
  EXPECT_EQ(c.management_token, "from-file");
  EXPECT_EQ(c.management_stall_ms, 900);
}

void ExpectError(const std::string& toml, std::string_view fragment) {
  try {
    ParseConfig(toml, "t.toml");
    FAIL() << "accepted: " << toml;
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

// [management] allowed_hosts: host names only (the Host check compares the name without the
// port); printed back; a change needs a restart.
TEST(ConfigTest, ManagementAllowedHostsAreHostNames) {
  EXPECT_TRUE(DefaultConfig().management_allowed_hosts.empty());
  const Config c = ParseConfig(
      "[management]\nallowed_hosts = [\"beacon-1.pop1.example\", \"MGMT\"]\n", "t.toml");
  EXPECT_EQ(c.management_allowed_hosts,
            (std::vector<std::string>{"beacon-1.pop1.example", "MGMT"}));
  EXPECT_EQ(ParseConfig(PrintConfig(c, true), "printed").management_allowed_hosts,
            c.management_allowed_hosts);
  EXPECT_EQ(RestartOnlyChanges(DefaultConfig(), c),
            std::vector<std::string>{"management.allowed_hosts"});
  for (const std::string bad : {"node:9464", "*", "*.example", "a..b", "-a.example", "a.example.",
                                "http://a.example", "a b"}) {
    SCOPED_TRACE(bad);
    ExpectError("[management]\nallowed_hosts = [\"" + bad + "\"]\n",
                "management.allowed_hosts: \"" + bad + "\" is not a host name");
  }
  ExpectError("[management]\nallowed_hosts = \"a.example\"\n",
              "management.allowed_hosts: expected an array of strings");
}

TEST(ConfigTest, RefusesBadInputNamingIt) {
  ExpectError("[htp]\n", "htp: unknown section");
  ExpectError("[http]\nworkrs = 2\n", "http.workrs: unknown key");
  ExpectError("[management]\nlisten = \"0.0.0.0:9464\"\n",
              "management.listen: a non-loopback address needs a bearer token");
  ExpectError("[management]\ntoken = \"a\"\ntoken_file = \"/x\"\n", "not both");
  ExpectError("[management]\ntoken_file = \"/nonexistent/token\"\n", "cannot read a token");
  ExpectError("[http]\nheader_timeout_ms = 0\n", "http.header_timeout_ms: expected an integer");
  ExpectError("[http]\naccept_backoff_ms = 0\n", "http.accept_backoff_ms: expected an integer");
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

TEST(ConfigTest, AllowedSourcesOfTheUdpRelays) {
  const Config c = ParseConfig(
      "[udp]\nhit_batch_port = 5140\nallowed_sources = [\"10.0.0.0/8\", \"2001:db8::/32\"]\n"
      "[dpdk]\nports = [\"net_null0\"]\nhit_batch_port = 5140\nallowed_sources = [\"192.0.2.7\"]\n",
      "t.toml");
  ASSERT_EQ(c.udp.relay.allowed_sources.size(), 2u);
  EXPECT_EQ(c.udp.relay.allowed_sources[0].bits, 96 + 8);
  EXPECT_EQ(c.udp.relay.allowed_sources[1].bits, 32);
  ASSERT_EQ(c.dpdk.data_plane.allowed_sources.size(), 1u);
  EXPECT_EQ(c.dpdk.data_plane.allowed_sources[0].bits, 128);
  EXPECT_TRUE(DefaultConfig().udp.relay.allowed_sources.empty());
  ExpectError("[udp]\nhit_batch_port = 1\nallowed_sources = [\"10.0.0.1/8\"]\n",
              "udp.allowed_sources: expected CIDR prefixes");
  ExpectError("[dpdk]\nports = [\"p\"]\nhit_batch_port = 1\nallowed_sources = [\"x\"]\n",
              "dpdk.allowed_sources: expected CIDR prefixes");
}

// One port for both beacon formats: the kernel would spread the datagrams over the two
// SO_REUSEPORT sockets (the DPDK relay would send them all to one decoder), so some relayed
// beacons would be decoded as the other format and rejected.
TEST(ConfigTest, HitBatchAndSyslogPortsMustDiffer) {
  ExpectError("[udp]\nhit_batch_port = 5140\nsyslog_port = 5140\n",
              "udp.syslog_port: 5140 is hit_batch_port too");
  ExpectError("[dpdk]\nports = [\"p\"]\nhit_batch_port = 5514\nsyslog_port = 5514\n",
              "dpdk.syslog_port: 5514 is hit_batch_port too");
  const Config c = ParseConfig("[udp]\nhit_batch_port = 5140\nsyslog_port = 5514\n", "t.toml");
  EXPECT_EQ(c.udp.relay.ports.size(), 2u);
}

// The HTTP ingress and the management listener on one address and port: both bind with
// SO_REUSEPORT, so the kernel would hand beacons to the management listener (404) and scrapes
// to the ingress (404) at random.
TEST(ConfigTest, HttpAndManagementCannotShareAListener) {
  ExpectError("[http]\nlisten = \"127.0.0.1:8080\"\n[management]\nlisten = \"127.0.0.1:8080\"\n",
              "management.listen: 127.0.0.1:8080 overlaps http.listen");
  ExpectError("[http]\nlisten = \"0.0.0.0:9464\"\n", "management.listen: 127.0.0.1:9464 overlaps");
  ExpectError("[http]\nlisten = \"localhost:9464\"\n", "overlaps http.listen");
  // Port 0 picks a free port for each; another address or port is another listener.
  ParseConfig("[http]\nlisten = \"127.0.0.1:0\"\n[management]\nlisten = \"127.0.0.1:0\"\n",
              "t.toml");
  ParseConfig("[http]\nlisten = \"127.0.0.2:9464\"\n", "t.toml");
  ParseConfig("[http]\nlisten = \"127.0.0.1:9465\"\n", "t.toml");
}

// The exception port's queues have their own descriptor counts, bounded like rx_descriptors.
TEST(ConfigTest, DpdkExceptionDescriptors) {
  const Config c = ParseConfig(
      "[dpdk]\nports = [\"net_null0\"]\nhit_batch_port = 5140\n"
      "exception_port = \"net_tap0\"\nexception_rx_descriptors = 128\n"
      "exception_tx_descriptors = 64\n",
      "t.toml");
  EXPECT_EQ(c.dpdk.data_plane.exception_rx_descriptors, 128u);
  EXPECT_EQ(c.dpdk.data_plane.exception_tx_descriptors, 64u);
  EXPECT_EQ(DefaultConfig().dpdk.data_plane.exception_rx_descriptors, 256u);
  EXPECT_EQ(DefaultConfig().dpdk.data_plane.exception_tx_descriptors, 256u);
  ExpectError("[dpdk]\nports = [\"p\"]\nhit_batch_port = 1\nexception_rx_descriptors = 32\n",
              "dpdk.exception_rx_descriptors");
  ExpectError("[dpdk]\nports = [\"p\"]\nhit_batch_port = 1\nexception_tx_descriptors = 65536\n",
              "dpdk.exception_tx_descriptors");
}

TEST(ConfigTest, DpdkMirrorKeys) {
  const Config c = ParseConfig(
      "[http]\ncountry_headers = [\"X-Geo\"]\n[dpdk]\nports = [\"net_null0\"]\n"
      "mirror_ports = [80, 8080]\nmirror_flows = 100\nmirror_flow_bytes = 4096\n"
      "mirror_total_bytes = 1048576\nmirror_idle_ms = 1000\nmirror_syn_idle_ms = 200\n"
      "mirror_gap_ms = 50\n"
      "mirror_client_ip_header = \"X-Forwarded-For\"\n",
      "t.toml");
  EXPECT_EQ(c.dpdk.data_plane.mirror.server_ports, (std::vector<uint16_t>{80, 8080}));
  EXPECT_EQ(c.dpdk.data_plane.mirror.max_flows, 100u);
  EXPECT_EQ(c.dpdk.data_plane.mirror.max_flow_bytes, 4096u);
  EXPECT_EQ(c.dpdk.data_plane.mirror.max_total_bytes, 1048576u);
  EXPECT_EQ(c.dpdk.data_plane.mirror.idle_ms, 1000u);
  EXPECT_EQ(c.dpdk.data_plane.mirror.syn_idle_ms, 200u);
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
compressor = "cpu"
when_forwarder_full = "shed"
)",
                               "t.toml");
  EXPECT_TRUE(c.archive.enabled);
  EXPECT_EQ(c.archive_compressor, host::CompressorMode::kCpu);
  EXPECT_EQ(DefaultConfig().archive_compressor, host::CompressorMode::kAuto);
  EXPECT_EQ(c.archive.writer.directory, "/srv/b/archive");
  EXPECT_EQ(c.archive.writer.commit, host::CommitPolicy::kInterval);
  EXPECT_EQ(c.archive.writer.commit_interval_ms, 5);
  EXPECT_EQ(c.archive.writer.compression_level, 3);
  EXPECT_EQ(c.archive.writer.block_bytes, 256u << 10);
  EXPECT_EQ(c.archive.writer.segment_bytes, 16u << 20);
  EXPECT_EQ(c.archive.writer.segment_age_ms, 60'000);
  EXPECT_EQ(c.archive.retention_max_bytes, 2ull << 30);
  EXPECT_EQ(c.archive.retention_max_age_ms, 48 * 3'600'000);
  EXPECT_FALSE(c.archive.behind_when_forwarder_full);
  EXPECT_TRUE(DefaultConfig().archive.behind_when_forwarder_full);  // "archive"
  ExpectError("[archive]\nwhen_forwarder_full = \"wait\"\n",
              "archive.when_forwarder_full: expected \"shed\" or \"archive\"");
  EXPECT_EQ(ParseConfig("[archive]\ndir = \"/a\"\n", "t.toml").archive.writer.directory, "/a");
  ExpectError("[archive]\ncommit = \"always\"\n", "archive.commit: expected \"group\"");
  ExpectError("[archive]\nblock_kb = 1\n", "archive.block_kb: expected an integer");
  EXPECT_EQ(ParseConfig("[archive]\nmax_mb = 3\n", "t.toml").archive.retention_max_bytes,
            3ull << 20);
  ExpectError("[archive]\nmax_gb = 1\nmax_mb = 3\n", "archive.max_mb: give max_gb or max_mb");
  ExpectError("[archive]\ncompressor = \"gpu\"\n", "archive.compressor: expected \"auto\"");
}

TEST(ConfigTest, NodeIdIsAStableHashOfTheNameDefaultingToTheHostname) {
  const Config c = ParseConfig("[node]\nid = \"beacon-1\"\n", "t.toml");
  EXPECT_EQ(c.node_name, "beacon-1");
  EXPECT_EQ(c.node_id, NodeIdOf("beacon-1"));
  EXPECT_EQ(c.archive.writer.node, c.node_id);
  EXPECT_EQ(c.forwarder.node, c.node_id);
  EXPECT_NE(NodeIdOf("beacon-1"), NodeIdOf("beacon-2"));
  // Pinned: archives and ClickHouse batch ids carry the value.
  EXPECT_EQ(NodeIdOf("beacon-1"), 0x35ee5e97bf3dbf05ULL);
  const Config defaults = DefaultConfig();
  EXPECT_FALSE(defaults.node_name.empty());
  EXPECT_EQ(defaults.node_id, NodeIdOf(defaults.node_name));
  EXPECT_EQ(defaults.archive.writer.node, defaults.node_id);
  ExpectError("[node]\nid = \"\"\n", "node.id: expected a non-empty name");
  ExpectError("[node]\nname = \"x\"\n", "node.name");
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

// A config with every section and the non-default shapes: udp, dpdk with a mirror, shards,
// per-site budgets, allowed sources of both families, a token.
constexpr char kEverySection[] = R"([sites]
registry = "/etc/beacond/sites.conf"
[http]
listen = "0.0.0.0:80"
workers = 3
country_headers = ["X-Geo"]
[management]
listen = "0.0.0.0:9464"
token = "s3cret"
allowed_hosts = ["beacon-1.pop1.example"]
[pipeline]
visitor_key = "0123456789abcdef"
epoch_ms = 250
[clickhouse]
shards = [["http://127.0.0.1:1", "http://127.0.0.1:2"], ["http://127.0.0.1:3"]]
cluster = "c"
password = "pw"
spool_dir = "/var/spool/beacond"
[limits]
site_rate_per_s = 100
site_burst = 20
[limits.sites.shop]
rate_per_s = 5
burst = 2
[udp]
hit_batch_port = 5140
allowed_sources = ["10.0.0.0/8", "2001:db8::/32"]
[dpdk]
eal_args = ["-l", "0-1"]
ports = ["net_null0"]
syslog_port = 5514
mirror_ports = [80]
allowed_sources = ["192.0.2.7"]
[archive]
commit = "interval"
max_gb = 3
)";

// --print-config's text parses back to the same config: printing that again gives the same
// text, secrets in the clear or redacted.
TEST(ConfigTest, PrintedConfigRoundTrips) {
  for (const Config& config :
       {DefaultConfig(), LoadConfig(BEACON_EXAMPLE_CONFIG), ParseConfig(kEverySection, "t.toml")}) {
    for (const bool redact : {false, true}) {
      const std::string printed = PrintConfig(config, redact);
      EXPECT_EQ(PrintConfig(ParseConfig(printed, "printed.toml"), redact), printed) << printed;
    }
  }
  const Config every = ParseConfig(kEverySection, "t.toml");
  const Config back = ParseConfig(PrintConfig(every, false), "printed.toml");
  EXPECT_EQ(back.pipeline.visitor_key, 0x0123456789abcdefULL);
  EXPECT_EQ(back.management_token, "s3cret");
  EXPECT_EQ(back.udp.relay.allowed_sources.size(), 2u);
  EXPECT_EQ(back.site_budget.sites.size(), 1u);
  const std::string redacted = PrintConfig(every, true);
  for (const char* secret : {"s3cret", "pw'", "0123456789abcdef"}) {
    EXPECT_EQ(redacted.find(secret), std::string::npos) << secret;
  }
  EXPECT_NE(redacted.find("token = '(redacted)'"), std::string::npos);
}

// Every key the shipped example documents (commented out or not) is printed: a key added to
// the parser must be added to PrintConfig too (and to RestartOnlyChanges' live keys when a
// reload applies it).
TEST(ConfigTest, PrintedConfigHasEveryDocumentedKey) {
  // kEverySection has shards, the defaults a url.
  const std::string printed = PrintConfig(ParseConfig(kEverySection, "t.toml"), false) +
                              PrintConfig(DefaultConfig(), false);
  std::ifstream example(BEACON_EXAMPLE_CONFIG);
  std::string line;
  size_t keys = 0;
  // Key lines, commented out or not ("# key = value"), matched by hand: GCC 12's std::regex
  // trips -Wmaybe-uninitialized in sanitizer builds.
  while (std::getline(example, line)) {
    std::string_view rest(line);
    if (rest.starts_with("# ")) rest.remove_prefix(2);
    const size_t end = rest.find(" = ");
    if (end == std::string_view::npos || end == 0) continue;
    const std::string_view key = rest.substr(0, end);
    const bool name =
        (key[0] >= 'a' && key[0] <= 'z') &&
        key.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") == std::string_view::npos;
    if (!name || key == "token_file") continue;
    ++keys;
    bool found = false;
    for (size_t at = printed.find(std::string(key) + " = "); at != std::string::npos && !found;
         at = printed.find(std::string(key) + " = ", at + 1)) {
      const size_t line_start = printed.rfind('\n', at);
      found =
          line_start != std::string::npos && printed.find_first_not_of(' ', line_start + 1) == at;
    }
    EXPECT_TRUE(found) << key;
  }
  EXPECT_GT(keys, 80u);
}

TEST(ConfigTest, RestartOnlyChangesLeaveOutWhatReloadsLive) {
  const Config running = ParseConfig(kEverySection, "t.toml");
  Config next = running;
  next.sites_path = "/elsewhere.conf";
  next.user_agent_regexes = "";
  next.site_budget.every_site.rate_per_s = 7;
  next.site_budget.sites.clear();
  EXPECT_TRUE(RestartOnlyChanges(running, next).empty());
  next.http_workers = 4;
  next.udp.enabled = false;
  next.forwarder.clickhouse.password = "other";
  EXPECT_EQ(RestartOnlyChanges(running, next),
            (std::vector<std::string>{"clickhouse.password", "http.workers", "udp"}));
}

}  // namespace
}  // namespace beacon::app
