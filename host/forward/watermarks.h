// Durable watermarks: per worker and shard, the last archive sequence whose site_minutes rows
// and whose breakdown_minutes rows ClickHouse acknowledged. One file per worker, replaced
// atomically (temporary file, fdatasync, rename, directory fsync) after acknowledgements, at
// most every `coalesce_ms`; replay at start begins after them (docs/ARCHITECTURE.md,
// "Durability"). A watermark not yet written only makes a replay resend batches that the
// replicated tables drop.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "host/archive/file_system.h"

namespace beacon::host {

struct ShardWatermark {
  uint64_t site = 0;       // last sequence of acknowledged site_minutes rows; 0: none
  uint64_t breakdown = 0;  // likewise for breakdown_minutes rows
};

class WatermarkStore {
 public:
  // `fs` outlives the store; `dir` must exist (EnsurePrivateDirectory). `shards`: the
  // forwarder's shard count. A worker's file is written at most every `coalesce_ms` (0: at
  // every Advance); WriteDirty writes the rest.
  WatermarkStore(FileSystem& fs, std::string dir, size_t shards, int coalesce_ms = 0);

  // Reads every worker's file in `dir`. A file of another shard count (`[clickhouse] shards`
  // resized) is taken only when all its shards hold the same watermarks, which every shard
  // then gets. 0, or an errno, and then the store holds the files read before it: EINVAL, a
  // file whose magic, length or CRC is wrong; ESTALE, a file of another shard count whose
  // shards acknowledged different ranges (`detail`, when given, says which and what to do).
  // Such a file has no safe reading: the sites of a range some shards acknowledged now hash
  // to other shards, so a replay from the lowest watermark sends rows those shards hold again
  // in batches of other contents, which no deduplication drops, and one from the highest
  // skips the rows the lagging shards never took.
  int Load(std::string* detail = nullptr);
  // Whether `worker` has watermarks (a file, or a Set).
  bool Has(uint32_t worker) const;
  // The worker's watermark of every shard (zeros when it has none).
  std::vector<ShardWatermark> Get(uint32_t worker) const;
  // Gives every shard of `worker` the watermark `sequence` (both tables) and writes the file: a
  // first start over an existing archive. 0 or an errno.
  int SetAll(uint32_t worker, uint64_t sequence);
  // Raises one shard's watermark of one table (&ShardWatermark::site or ::breakdown; never
  // lowers it) and writes the file unless it was written less than coalesce_ms ago.
  // Thread-safe. 0 or an errno (the watermark stays raised in memory either way).
  int Advance(uint32_t worker, size_t shard, uint64_t ShardWatermark::*table, uint64_t sequence);
  // Writes the files of the workers raised since their last write. 0 or the first errno.
  int WriteDirty();
  // Where the worker's replay starts: the minimum over shards of the breakdown watermark, + 1.
  uint64_t ReplayStart(uint32_t worker) const;
  // The highest watermark of any shard and table of `worker`: its archive must number its
  // records above it (SegmentWriterOptions::min_first_sequence), even if emptied.
  uint64_t Highest(uint32_t worker) const;
  // ReplayStart - 1 of every worker: what ApplyRetention may delete through.
  std::map<uint32_t, uint64_t> RetentionLimits() const;

  uint64_t writes() const { return writes_.load(std::memory_order_relaxed); }
  uint64_t write_errors() const { return write_errors_.load(std::memory_order_relaxed); }
  uint64_t write_micros() const { return write_micros_.load(std::memory_order_relaxed); }

  static std::string FileName(uint32_t worker);
  // The file's bytes: "BWMK" | version 1 (UInt32) | shards (UInt32) | per shard site,
  // breakdown (UInt64) | CRC32C of everything before it. All little-endian.
  static std::string Encode(const std::vector<ShardWatermark>& shards);
  static bool Decode(std::string_view bytes, std::vector<ShardWatermark>* shards);

 private:
  int Write(uint32_t worker);  // with mu_ held

  FileSystem& fs_;
  const std::string dir_;
  const size_t shards_;
  const int coalesce_ms_;
  mutable std::mutex mu_;
  std::map<uint32_t, std::vector<ShardWatermark>> workers_;
  struct WriteState {
    bool dirty = false;
    std::chrono::steady_clock::time_point last;
  };
  std::map<uint32_t, WriteState> writes_state_;
  std::atomic<uint64_t> writes_{0};
  std::atomic<uint64_t> write_errors_{0};
  std::atomic<uint64_t> write_micros_{0};
};

}  // namespace beacon::host
