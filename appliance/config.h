// beacond's configuration: the TOML file (appliance/examples/beacond.toml documents every
// key) over embedded defaults. The site registry has no default: the file or --sites names it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dpdk/data_plane.h"
#include "host/archive/archive_compressor.h"
#include "host/forward/forwarder.h"
#include "host/net/http_server.h"
#include "host/net/udp_relay.h"
#include "host/pipeline/worker_pipeline.h"

namespace beacon::app {

struct Listen {
  std::string address;
  uint16_t port = 0;
};

// [udp]: the beacon UDP relay over kernel sockets; off unless the section is present.
struct UdpIngressConfig {
  bool enabled = false;
  host::UdpRelayConfig relay;  // address and the beacon ports (hit_batch_port, syslog_port)
  int workers = 1;
};

// [dpdk]: the DPDK data plane (dpdk/data_plane.h, a DPDK-free header, so that this library
// builds without DPDK); off unless the section is present.
struct DpdkIngressConfig {
  bool enabled = false;
  std::vector<std::string> eal_args;  // without argv[0]
  int workers = 1;                    // worker lcores: the EAL needs one lcore more
  // Ports, beacon ports (hit_batch_port, syslog_port), bounds, the passive mirror (mirror_*;
  // its country headers are [http]'s) and the exception port.
  dpdk::DataPlaneConfig data_plane;
};

struct Config {
  // [node] id: this appliance's name, default the hostname. node_id = NodeIdOf(node_name) goes
  // into archive segment headers and batch ids, so it must stay the same across restarts.
  std::string node_name;
  uint64_t node_id = 0;
  std::string sites_path;             // [sites] registry
  host::HttpServerConfig http;        // [http]
  int http_workers = 0;               // 0: one per core
  host::HttpServerConfig management;  // [management]
  std::string management_token;       // [management] token or token_file's; "": none
  // [management] allowed_hosts: Host header names the listener answers besides IP literals,
  // localhost and its listen address (management.h, ManagementAccess).
  std::vector<std::string> management_allowed_hosts;
  int management_stall_ms = 5000;  // [management] stall_ms: liveness
  host::PipelineConfig pipeline;   // [pipeline]
  std::string
      backend;  // [pipeline] backend: "" (BEACON_BACKEND, else the best), simd, scalar, fpga
  std::string state_dir;        // [state] dir: visitor salts
  host::ArchiveConfig archive;  // [archive]; its directory defaults to <state dir>/archive
  host::CompressorMode archive_compressor = host::CompressorMode::kAuto;  // [archive] compressor
  std::string user_agent_regexes;      // [enrich] user_agents: uap-core's regexes.yaml; "": none
  host::ForwarderConfig forwarder;     // [clickhouse]
  host::SiteBudgetConfig site_budget;  // [limits] site_rate_per_s, site_burst, over_budget
  UdpIngressConfig udp;                // [udp]
  DpdkIngressConfig dpdk;              // [dpdk]
};

// The embedded defaults: HTTP on 127.0.0.1:8080, management on 127.0.0.1:9464, ClickHouse
// at http://127.0.0.1:8123 database "beacon", one-second epochs.
Config DefaultConfig();

// Reads a TOML file over the defaults. Throws std::runtime_error naming the file, the key
// and what was expected for a parse error, an unknown section or key, or a bad value.
Config LoadConfig(const std::string& path);
Config ParseConfig(std::string_view toml_text, const std::string& source);

// The content of the bearer-token file `path`, trailing whitespace trimmed; "" when it cannot
// be read or holds none.
std::string ReadTokenFile(const std::string& path);

// The effective config as TOML that ParseConfig reads back, defaults included. With
// `redact_secrets`, [management] token and [clickhouse] password read "(redacted)" and
// [pipeline] visitor_key is left out.
std::string PrintConfig(const Config& config, bool redact_secrets);

// The keys (as "section.key", or a section) whose value differs between `running` and `next`,
// leaving out those a reload applies live: [sites] registry, [enrich] user_agents and [limits]
// site_rate_per_s, site_burst, over_budget, sample_one_in and sites.
std::vector<std::string> RestartOnlyChanges(const Config& running, const Config& next);

// The stable 64-bit id of a node name (kernels::Hash64 with a fixed seed): never changes across
// releases, since archives and ClickHouse batch ids carry it.
uint64_t NodeIdOf(std::string_view name);

// "host:port" (IPv4 or name) -> Listen; throws std::runtime_error on a bad value.
Listen ParseListen(std::string_view value, std::string_view key);

// True for an IPv4 loopback literal (127.0.0.0/8), ::1 or "localhost".
bool IsLoopbackAddress(std::string_view address);

}  // namespace beacon::app
