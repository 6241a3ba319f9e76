// `beaconctl archive replay`: re-aggregates a time range of a node's raw archive into ClickHouse
// with the node's own decode, aggregation and [clickhouse] settings (host/pipeline/replay.h).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace beacon::app {

struct ArchiveReplayOptions {
  std::string config_path;  // beacond.toml: registry, visitor key, limits, archive, ClickHouse
  std::string dir;          // "": the config's [archive] dir
  int64_t from_ms = 0;      // receive time in [from, to)
  int64_t to_ms = 0;
  std::vector<uint32_t> sites;  // empty: every site
  int threads = 1;
};

// Runs the replay; a summary (records, events, rows, batches, beacons/s) goes to `out`, problems
// to `err`. 0: every batch was inserted; 1: a batch failed or a block was damaged (a rerun
// inserts what is missing: the rest is deduplicated).
int ArchiveReplay(const ArchiveReplayOptions& options, std::ostream& out, std::ostream& err);

}  // namespace beacon::app
