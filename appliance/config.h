// beacond's configuration: the TOML file (appliance/examples/beacond.toml documents every
// key) over embedded defaults. The site registry has no default: the file or --sites names it.
#pragma once

#include <cstdint>
#include <string>

#include "host/forward/forwarder.h"
#include "host/net/http_server.h"
#include "host/pipeline/worker_pipeline.h"

namespace beacon::app {

struct Listen {
  std::string address;
  uint16_t port = 0;
};

struct Config {
  std::string sites_path;             // [sites] registry
  host::HttpServerConfig http;        // [http]
  int http_workers = 0;               // 0: one per core
  host::HttpServerConfig management;  // [management]
  host::PipelineConfig pipeline;      // [pipeline]
  host::ForwarderConfig forwarder;    // [clickhouse]
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
