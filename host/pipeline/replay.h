// Replay of the raw archive (the batch tier: a backfill after a schema change or a bug fix): a
// time range of every worker's records through the live path's decode and aggregation, as a
// oneTBB parallel_pipeline — read segments, decompress blocks, decode, aggregate, forward.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "host/archive/file_system.h"
#include "host/forward/clickhouse_client.h"
#include "kernels/aggregate/minute_aggregator.h"
#include "kernels/archive/dictionary.h"
#include "kernels/enrich/user_agent.h"
#include "kernels/reject_reason.h"
#include "kernels/site_registry.h"

namespace beacon::kernels {
struct ByteKernels;
}

namespace beacon::host {

struct ReplayConfig {
  std::string directory;                                  // the node's archive
  int64_t from_ms = std::numeric_limits<int64_t>::min();  // records received in [from, to)
  int64_t to_ms = std::numeric_limits<int64_t>::max();
  std::vector<uint32_t> sites;  // only these sites' events; empty: every site
  int threads = 1;              // oneTBB's concurrency; results never depend on it
  // A replay batch: the records of one worker numbered [k·N + 1, (k+1)·N + 1), by the first
  // record of their block, aggregated together (one MinuteAggregator, as a live epoch). Whatever
  // the threads, range or damage, a rerun cuts the same batches.
  uint64_t records_per_batch = 8192;
  // The live path's decode and aggregation settings; `registry` is required.
  uint64_t visitor_key = 0;
  kernels::AggregateLimits aggregate;
  const kernels::ByteKernels* bytes = nullptr;
  const kernels::UserAgentClassifier* user_agents = nullptr;
  const kernels::SiteRegistry* registry = nullptr;
  const kernels::DictionaryStore* dictionaries = nullptr;
};

// One replay batch's rows.
struct ReplayBatch {
  uint32_t worker = 0;
  uint64_t first_sequence = 0;  // the batch's sequence range [first, end)
  uint64_t end_sequence = 0;
  kernels::EpochRows rows;  // sorted; rows.events: the events aggregated
};

// Takes a batch's rows; called from several threads at once. False: they were not delivered.
using ReplaySink = std::function<bool(ReplayBatch& batch)>;

struct ReplayStats {
  std::atomic<uint64_t> segments{0};        // read (the others lie outside the time range)
  std::atomic<uint64_t> blocks{0};          // decompressed
  std::atomic<uint64_t> beacons{0};         // beacon records in the time range, decoded
  std::atomic<uint64_t> other_records{0};   // records of a kind the decoders do not know
  std::atomic<uint64_t> events{0};          // accepted (and of the selected sites)
  std::atomic<uint64_t> damaged_blocks{0};  // torn, corrupt or undecodable: skipped
  std::atomic<uint64_t> read_errors{0};     // segments that could not be read
  std::atomic<uint64_t> batches{0};         // delivered to the sink
  std::atomic<uint64_t> failed_batches{0};  // the sink refused
  kernels::RejectCounters rejects;          // summed once the replay ends
};

// Runs the replay over `fs`; rows go to `sink`. Returns 0, or the errno of listing the
// directory. A segment is skipped only when the receive times of its records, which the
// writer recorded in the next segment's header (kernels/archive/README.md), all lie outside
// [from, to); creation times are not used, since a wall clock step defeats them.
int ReplayArchive(FileSystem& fs, const ReplayConfig& config, const ReplaySink& sink,
                  ReplayStats* stats);

// The batch id of a replay batch's rows for one shard: derived from (node, "replay", worker,
// sequence range, shard), so that rerunning a replay inserts byte-identical blocks, which the
// Replicated tables drop as duplicates (until DROP PARTITION forgets them with the partition).
uint64_t ReplayBatchId(uint64_t node, const ReplayBatch& batch, uint32_t shard);

// Where replay batches are inserted: [clickhouse] of the node's config.
struct ReplayTarget {
  ClickHouseEndpoint clickhouse;
  std::vector<std::vector<std::string>> shards;  // empty: one shard, clickhouse.url
  std::string cluster;                           // non-empty: the shard-local tables
  uint64_t node = 0;
  int attempts = 5;  // per table and shard, every replica each time, 0.2 s doubling between
};

// A ReplaySink inserting each batch's rows into ClickHouse: split by the forwarder's shard ring,
// site_minutes then breakdown_minutes, each with its ReplayBatchId. Thread-safe.
ReplaySink ClickHouseReplaySink(const ReplayTarget& target);

}  // namespace beacon::host
