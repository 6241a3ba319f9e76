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
// inserts what is missing: the rest is deduplicated); 2: refused, nothing inserted, because the
// node is not done with the range: `to_ms` is in the future, or a record of the range is above
// the node's watermarks ([state] dir/watermarks: not yet acknowledged by ClickHouse, so beacond
// still forwards it itself, live, from its spool or when it starts) or they cannot be read.
int ArchiveReplay(const ArchiveReplayOptions& options, std::ostream& out, std::ostream& err);

}  // namespace beacon::app
