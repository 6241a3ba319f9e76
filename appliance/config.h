// beacond's configuration: the TOML file (appliance/examples/beacond.toml documents every
// key) over embedded defaults. The site registry has no default: the file or --sites names it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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

// [dpdk]: the DPDK UDP relay (dpdk/udp_relay.h); off unless the section is present. Plain
// values, so that this library builds without DPDK.
struct DpdkIngressConfig {
  bool enabled = false;
  std::vector<std::string> eal_args;  // without argv[0]
  std::vector<std::string> ports;     // PCI addresses or vdev strings
  int workers = 1;                    // worker lcores: the EAL needs one lcore more
  uint16_t hit_batch_port = 0;        // UDP port of hit-batch datagrams; 0: none
  uint16_t syslog_port = 0;           // UDP port of syslog relay lines; 0: none
  uint16_t rx_descriptors = 1024;
  uint16_t burst = 32;
  uint32_t mbufs = 0;  // 0: sized from descriptors, bursts and reassembly
  uint32_t reassembly_flows = 1024;
  uint32_t reassembly_timeout_ms = 2000;
  std::string exception_port;  // vdev facing the kernel, "net_tap0,iface=beacon0"; "": none
  // Passive HTTP mirror (dpdk/tcp_mirror.h): TCP server ports whose client-to-server bytes are
  // reassembled into HTTP requests; empty: off. Bounds per worker lcore.
  std::vector<uint16_t> mirror_ports;
  uint32_t mirror_flows = 16384;
  uint32_t mirror_flow_bytes = 128 * 1024;
  uint64_t mirror_total_bytes = 64ull << 20;
  uint32_t mirror_idle_ms = 30'000;
  uint32_t mirror_gap_ms = 500;
  std::string mirror_client_ip_header;  // e.g. "X-Forwarded-For"; "": the flow's source address
  std::vector<std::string> country_headers;  // [http] country_headers, for mirrored requests
};

struct Config {
  std::string sites_path;             // [sites] registry
  host::HttpServerConfig http;        // [http]
  int http_workers = 0;               // 0: one per core
  host::HttpServerConfig management;  // [management]
  host::PipelineConfig pipeline;      // [pipeline]
  std::string
      backend;  // [pipeline] backend: "" (BEACON_BACKEND, else the best), simd, scalar, fpga
  std::string state_dir;            // [state] dir: visitor salts
  std::string user_agent_regexes;   // [enrich] user_agents: uap-core's regexes.yaml; "": none
  host::ForwarderConfig forwarder;  // [clickhouse]
  UdpIngressConfig udp;             // [udp]
  DpdkIngressConfig dpdk;           // [dpdk]
};

// The embedded defaults: HTTP on 127.0.0.1:8080, management on 127.0.0.1:9464, ClickHouse
// at http://127.0.0.1:8123 database "beacon", one-second epochs.
Config DefaultConfig();

// Reads a TOML file over the defaults. Throws std::runtime_error naming the file, the key
// and what was expected for a parse error, an unknown section or key, or a bad value.
Config LoadConfig(const std::string& path);
Config ParseConfig(std::string_view toml_text, const std::string& source);

// "host:port" (IPv4 or name) -> Listen; throws std::runtime_error on a bad value.
Listen ParseListen(std::string_view value, std::string_view key);

}  // namespace beacon::app
