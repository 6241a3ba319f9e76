// The forwarder: takes closed epochs from every worker, splits their rows by shard
// (ShardRing on site_id), merges them into one batch per shard about once per flush
// interval, and inserts each batch into one replica of its shard, failing over to the next
// replica and retrying with capped exponential backoff and jitter. While a shard fails, its
// batches wait in a bounded on-disk spool. Memory is bounded: when full (e.g. the spool is
// full too), Offer refuses and the workers shed load (HTTP 503).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "host/forward/clickhouse_client.h"
#include "host/forward/dead_letter.h"
#include "host/forward/watermarks.h"
#include "host/metrics/metrics.h"
#include "kernels/aggregate/minute_aggregator.h"

namespace beacon::host {

namespace forward_internal {
struct ShardRows;      // one shard's rows of a batch; defined in forwarder.cc
struct HeldRows;       // a worker's breakdown rows held until its next cut
struct DispatchState;  // the dispatcher's held rows and caps, kept across its runs
}  // namespace forward_internal

struct ForwarderConfig {
  // Database, user, password and timeout for every server; `url` is the one server when
  // `shards` is empty.
  ClickHouseEndpoint clickhouse;
  // Replica HTTP URLs per shard, in shard order (the ring's shard i is shards[i]). Empty: one
  // shard whose one replica is clickhouse.url.
  std::vector<std::vector<std::string>> shards;
  // SchemaOptions::cluster: empty for one server's tables; otherwise the cluster's
  // shard-local tables are written. Rows carry a batch id either way (see schema.h).
  std::string cluster;
  uint64_t node = 0;  // this node's id ([node] id), part of every batch id
  int flush_interval_ms = 1000;
  // Epochs without an archive range (last_sequence 0): breakdown rows (breakdown_minutes) are
  // merged this long, across flushes, before they are sent: one row per (site, minute,
  // dimension, value) per interval instead of per flush. 0: with every flush. Epochs with a
  // range are cut where the worker recorded it (EpochRows::breakdown_cut).
  int breakdown_flush_interval_ms = 0;
  // The top-K per (site, minute, dimension) of each batch (the workers' limits): merged epochs
  // are capped again, the rest folded into (other).
  kernels::AggregateLimits breakdown_limits;
  // Breakdown rows one site may hold per worker while they merge (SiteRowCap); a new value past it
  // is folded into its (other) row, counted. 0: no cap.
  uint64_t breakdown_max_rows_per_site = 20'000;
  // Epochs and batches held in memory, estimated, and breakdown rows held for a cut up to
  // half of it: held rows past that are not counted (see Offer), so memory can pass the bound
  // by them (at most one breakdown interval of rows per worker, under the per-site cap).
  size_t max_pending_bytes = 256 << 20;
  int retry_initial_ms = 100;
  int retry_max_ms = 10'000;
  // Per shard, <spool_dir>/shard-<i> (i from 1), and the dead letters in
  // <spool_dir>/dead-letter. Empty: no spool; failed batches wait in memory (still bounded by
  // max_pending_bytes), and a batch ClickHouse refuses for its contents is discarded (counted).
  std::string spool_dir;
  uint64_t spool_max_bytes = uint64_t{1} << 30;  // per shard, and for the dead letters
  bool spool_fsync = true;  // fdatasync each record and its directory before counting it
  // Where acknowledged archive ranges are recorded, and what is skipped as acknowledged
  // already (a replayed epoch); null: none. Outlives the forwarder.
  WatermarkStore* watermarks = nullptr;
};

class Forwarder {
 public:
  explicit Forwarder(ForwarderConfig config);
  ~Forwarder();  // stops the thread without draining; call Drain for a clean stop
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // Starts the sending thread.
  void Start();
  // Thread-safe. Takes a closed epoch, or refuses it (returns false, `rows` untouched) when
  // pending data is at its bound (held breakdown rows counted up to half of it, see
  // max_pending_bytes); refusals are counted.
  bool Offer(kernels::EpochRows& rows);
  // Whether an epoch would be taken now; a relaxed read, cheap enough once per event loop.
  bool HasRoom() const;
  // Sends everything pending, retrying until `deadline` passes, then stops the threads;
  // what is still unsent then goes to the spool (when there is one). Breakdown rows of
  // archive ranges held for a cut epoch that never came are left to the next start's replay
  // (with watermarks; without, they are cut and sent). Returns true when every offered
  // epoch, and every spooled batch, was acknowledged by ClickHouse.
  bool Drain(std::chrono::milliseconds deadline);

  // This run's batches and an earlier run's spool.
  uint64_t acknowledged_events() const {
    return run_acked_events_.load(std::memory_order_relaxed) +
           replayed_events_.load(std::memory_order_relaxed);
  }
  // Where the events of the epochs this Forwarder took are now; exact once Drain returned.
  struct Ledger {
    uint64_t offered = 0;        // events of the epochs Offer took
    uint64_t acknowledged = 0;   // of those, acknowledged by ClickHouse
    uint64_t spooled = 0;        // of those, in spool records for the next start
    uint64_t dead_lettered = 0;  // of those, refused by ClickHouse for their contents
    uint64_t in_memory = 0;      // of those, only in memory: lost when the process ends
    uint64_t replayed = 0;       // events of earlier runs' spool records acknowledged since
  };
  Ledger ledger() const;
  // What ClickHouse acknowledged so far, over all shards.
  struct Totals {
    uint64_t site_rows = 0;
    uint64_t breakdown_rows = 0;
    uint64_t inserts = 0;          // successful INSERT requests
    uint64_t rowbinary_bytes = 0;  // RowBinary of the acknowledged inserts
    uint64_t wire_bytes = 0;       // the same, as sent: zstd in ClickHouse's block framing
  };
  Totals totals() const;
  // Bytes and records in the spools of all shards (0 without a spool).
  uint64_t spooled_bytes() const;
  uint64_t spooled_records() const;
  void RegisterMetrics(MetricsRegistry* registry, std::string prefix) const;

 private:
  struct Batch;  // one shard's merged rows, encoded; defined in forwarder.cc
  struct Shard;  // one shard's replicas, inbox, spool, thread and counters
  void StartThreads();
  void Dispatch();  // the flush loop: epochs -> batches per (worker, shard)
  // Appends to (*out)[shard] one batch per shard of `worker`'s site `rows` of the archive range
  // first..last (0: none; then only shards with rows), with the breakdown rows of `cut` when
  // given. Returns the batches' bytes.
  size_t BuildBatches(uint32_t worker, uint64_t first, uint64_t last,
                      std::vector<forward_internal::ShardRows>& rows,
                      forward_internal::HeldRows* cut, std::mt19937_64& random_ids,
                      std::vector<std::vector<Batch>>* out);
  // Waits for the next flush and takes the offered epochs; false when the dispatcher ends
  // (stopping, or draining with nothing offered and nothing `holding`).
  bool AwaitFlush(std::chrono::milliseconds interval, bool holding,
                  std::chrono::steady_clock::time_point* next_flush,
                  std::deque<kernels::EpochRows>* epochs, bool* draining);
  void RunShard(Shard& shard);  // one shard's sending loop
  enum class ShardWake { kWork, kIdle, kDeadline, kStop };
  // Waits until the shard has a batch due, the drain deadline passes, or it should stop;
  // kIdle after a while with nothing to do.
  ShardWake AwaitShardWork(Shard& shard);
  // Out of drain time: moves the batch in flight and the inbox to the spool.
  void SpoolAtDeadline(Shard& shard);
  enum class Taken { kBatch, kNone, kUnreadable };
  // Makes the spool's head, else the inbox's oldest batch, the current one; kNone when there
  // is none (or the head was of another layout and was dropped), kUnreadable when the spool's
  // head cannot be read now (counted; it stays, to be read again after a backoff).
  Taken TakeNextBatch(Shard& shard);
  void Acknowledge(Shard& shard);  // the current batch was inserted: release it
  // The current batch was refused for its contents: keeps it as a dead letter (discards it
  // without a spool) and releases it; false when it could not be kept (retried as any failure).
  bool DeadLetterBatch(Shard& shard, std::string_view table, const std::string& failure);
  // The current batch is settled — acknowledged, or a dead letter — so nothing more will be
  // sent for it: deletes its spool record (or frees its memory) and clears it. Every batch
  // leaves its shard through here exactly once, so progress that must count dead letters as
  // done (e.g. durable watermarks) belongs here.
  void Release(Shard& shard);
  void SpoolFailedBatch(Shard& shard);  // the current batch failed: make it the spool's head
  // The spool could not take `batch` (full or failing), so it stays in memory: counts it in
  // spool_refusals_total unless it was counted already.
  static void CountSpoolRefusal(Shard& shard, Batch& batch);
  void ScheduleRetry(Shard& shard, std::mt19937_64& jitter);
  struct SendFailure {
    std::string text;        // the table, the last replica tried and ClickHouse's answer
    std::string_view table;  // the table that failed: site_minutes or breakdown_minutes
    // A replica refused `table`'s rows themselves (IsDeterministicRefusal) in the insert that
    // failed; refusals of an insert that then succeeded elsewhere, or of the other table's
    // insert, do not count.
    bool refused = false;
  };
  // Inserts what `batch` still lacks, replica by replica; true when acknowledged, else
  // `failure` says why.
  bool Send(Shard& shard, std::vector<std::unique_ptr<ClickHouseClient>>& clients, Batch& batch,
            SendFailure* failure);
  // Whether the site (`site`) or breakdown rows of `batch` need no insert: none, or the
  // watermark shows their range acknowledged (a batch rebuilt by replay, or spooled twice).
  bool Acknowledged(const Shard& shard, const Batch& batch, bool site) const;
  // Those rows were acknowledged: raises the watermark to their range.
  void RecordAck(const Shard& shard, const Batch& batch, bool site);
  // Moves the shard's unsent in-memory batches to the end of its spool, oldest first, until
  // the spool refuses one.
  void SpoolInbox(Shard& shard);
  bool Done() const;  // with mu_ held: nothing offered, queued, in flight or spooled
  // What Offer weighs against max_pending_bytes: pending bytes with the held breakdown rows
  // counted up to half the bound; `unheld` gets the pending bytes that are not held rows.
  size_t CountedBytes(size_t* unheld) const;

  ForwarderConfig config_;
  std::array<uint32_t, kernels::kDimensionCount> top_k_{};  // from breakdown_limits
  std::array<std::atomic<uint64_t>, kernels::kDimensionCount> breakdown_folded_{};
  std::atomic<uint64_t> breakdown_capped_rows_{0};  // SiteRowCap::folded_rows, per Dispatch
  std::vector<std::unique_ptr<Shard>> shards_;
  std::unique_ptr<forward_internal::DispatchState> dispatch_;  // the dispatcher's thread only
  std::unique_ptr<DeadLetters> dead_letters_;                  // null without a spool_dir
  std::atomic<uint64_t> offered_events_{0};
  std::atomic<uint64_t> replayed_events_{0};       // acknowledged from inherited records
  std::atomic<uint64_t> run_acked_events_{0};      // acknowledged of this run's batches
  std::atomic<uint64_t> spooled_events_{0};        // in records this run appended
  std::atomic<uint64_t> dead_lettered_events_{0};  // of this run's batches
  // The drain deadline for requests in flight (steady clock, ns); far ahead unless draining.
  std::atomic<int64_t> drain_deadline_ns_{INT64_MAX};
  std::atomic<size_t> pending_bytes_{0};  // held in memory: offered epochs, unspooled batches
  // Of pending_bytes_, the breakdown rows held for the workers' next cuts; set by the
  // dispatcher under mu_.
  std::atomic<size_t> held_bytes_{0};
  std::atomic<uint64_t> epochs_offered_{0};
  std::atomic<uint64_t> epochs_refused_{0};

  mutable std::mutex mu_;  // guards the members below and every Shard's inbox / current batch
  std::condition_variable wake_;
  std::deque<kernels::EpochRows> offered_;  // taken by the dispatcher at each flush
  bool stopping_ = false;                   // destructor: end now
  bool draining_ = false;                   // Drain: send everything until drain_deadline_
  bool dispatch_done_ = false;              // draining and the dispatcher has ended
  std::chrono::steady_clock::time_point drain_deadline_;
  std::thread dispatcher_;
};

}  // namespace beacon::host
