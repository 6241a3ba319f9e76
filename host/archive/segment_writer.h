// One worker's archive writer: appends records to blocks on the worker thread, compresses them
// there, and hands them to its own I/O thread, which writes and fdatasyncs them (group commit),
// rotates segments by size and age, and publishes how far the worker's records are durable.
// The worker never waits for the disk.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "host/archive/file_system.h"
#include "kernels/archive/block_codec.h"
#include "kernels/archive/dictionary.h"

namespace beacon::host {

enum class CommitPolicy : uint8_t {
  kGroup,     // the caller answers once its records are durable; one fdatasync per group
  kInterval,  // blocks are cut every commit_interval_ms and synced; answers go at once
  kNone,      // written, never synced (benchmarks): "durable" means written
};

struct SegmentWriterOptions {
  std::string directory;  // created 0700 (or set to 0700) when opened
  uint64_t node = 0;
  uint32_t worker = 0;
  CommitPolicy commit = CommitPolicy::kGroup;
  // kInterval, kNone: the age at which Poll cuts the open block (kInterval's loss window).
  int64_t commit_interval_ms = 10;
  int compression_level = 1;
  const kernels::ArchiveDictionary* dictionary = nullptr;  // must outlive the writer
  // Makes the blocks' frames instead of libzstd (e.g. XrtZstdCompressor); null: libzstd at
  // compression_level with `dictionary`. Called on the worker thread, and beacond shares one
  // among every worker's writer (BlockCompressor is thread-safe); must outlive the writer.
  kernels::BlockCompressor* compressor = nullptr;
  size_t block_bytes = 128 << 10;        // raw bytes that cut a block
  uint64_t segment_bytes = 64ull << 20;  // a segment is closed before it would pass this
  int64_t segment_age_ms = 3'600'000;    // or when it is this old at its next block
  uint64_t min_first_sequence = 1;       // never number a record below this
  int64_t retry_interval_ms = 1000;      // after a failure, Poll tries a new segment this often
  std::function<int64_t()> clock_ms;     // unix ms; default: the system clock
};

// What Poll tells the worker. Every record with sequence <= durable_sequence is durable, except
// those <= dropped_through that were still pending when a failure was first reported: the
// caller answers, in sequence order, 2xx for last sequence <= durable_sequence, else 503 for
// last sequence <= dropped_through, and waits for the rest. dropped_through covers a failure's
// records only once the I/O thread has cut them from their segment (truncated it), possibly at
// a later retry: until then they are neither durable nor dropped.
struct CommitStatus {
  uint64_t durable_sequence = 0;
  uint64_t dropped_through = 0;
  bool healthy = true;  // false: Append refuses (answer 503 / drop datagrams) until it resumes
  int error = 0;        // errno of the last failure
};

// Counters (relaxed atomics; any thread may read them).
struct SegmentWriterStats {
  std::atomic<uint64_t> records{0};               // appended
  std::atomic<uint64_t> raw_bytes{0};             // of the records in written blocks
  std::atomic<uint64_t> blocks{0};                // written
  std::atomic<uint64_t> bytes{0};                 // written to segments, headers included
  std::atomic<uint64_t> syncs{0};                 // fdatasync calls that succeeded
  std::atomic<uint64_t> sync_micros{0};           // time spent in them
  std::atomic<uint64_t> segments{0};              // opened
  std::atomic<uint64_t> write_errors{0};          // failed writes, syncs or segment creations
  std::atomic<uint64_t> dropped_records{0};       // never made durable because of a failure
  std::atomic<uint64_t> refused_records{0};       // Append refused (failed, or too large)
  std::atomic<uint64_t> recovered_torn_bytes{0};  // cut from the last segment when opened
};

class SegmentWriter {
 public:
  // Recovers the worker's newest segment (cuts its torn tail; removes it when it holds no
  // valid block), numbers on from the last archived record, and starts the I/O thread. Returns
  // 0 or an errno. `fs` must outlive the writer.
  static int Open(FileSystem& fs, SegmentWriterOptions options,
                  std::unique_ptr<SegmentWriter>* writer);
  // Writes and syncs what was appended (when healthy), then stops the I/O thread.
  ~SegmentWriter();
  SegmentWriter(const SegmentWriter&) = delete;
  SegmentWriter& operator=(const SegmentWriter&) = delete;

  // Worker thread only. The record's sequence number, or 0 when refused (not healthy, or a
  // record too large for a block).
  uint64_t Append(const kernels::ArchiveRecord& record);
  // Worker thread only: the records appended so far are to become durable. kGroup: cuts the
  // block now when the I/O thread is idle, else at the Poll after its sync completes.
  void Commit();
  // Worker thread only, never blocks: drains notify_fd, submits deferred blocks, reports and
  // recovers from failures. Call it when notify_fd is readable and at least every
  // commit_interval_ms (kInterval) or retry_interval_ms (after a failure).
  CommitStatus Poll();
  // Worker thread only, blocks: cuts the open block and waits until every appended record is
  // durable or dropped, and a requested resume is done (shutdown, tools, tests). False when
  // the writer is failed or a record was not made durable.
  bool Flush();
  uint64_t next_sequence() const { return next_sequence_; }

  // Any thread.
  uint64_t durable_sequence() const { return durable_.load(std::memory_order_acquire); }
  // An eventfd, readable when durable_sequence or the failure state changed.
  int notify_fd() const { return notify_fd_; }
  const SegmentWriterStats& stats() const { return stats_; }

 private:
  struct Block;
  enum class State : uint8_t { kHealthy, kFailed, kResuming };

  SegmentWriter(FileSystem& fs, SegmentWriterOptions options, uint64_t next_sequence,
                int notify_fd);
  int64_t Now() const { return options_.clock_ms(); }
  void CutBlock();
  void DropOpenBlock();

  // I/O thread.
  void IoLoop();
  void WriteBlocks(std::vector<Block>& blocks);
  int WriteOne(const Block& block);
  int SyncSegment();
  int OpenSegment(uint64_t first_sequence);
  void Fail(int error);
  int CutUnsynced();
  void Resume(uint64_t first_sequence);
  void Publish(uint64_t durable);

  FileSystem& fs_;
  const SegmentWriterOptions options_;
  int notify_fd_ = -1;
  SegmentWriterStats stats_;
  std::atomic<uint64_t> durable_;

  // Worker thread.
  kernels::BlockEncoder encoder_;
  uint64_t next_sequence_;
  uint64_t block_first_sequence_;
  int64_t block_started_ms_ = 0;
  int64_t block_min_ms_ = 0;  // receive times of the open block's records
  int64_t block_max_ms_ = 0;
  bool commit_requested_ = false;
  uint64_t commit_after_group_ = 0;  // a deferred commit waits for the group after this one
  State state_ = State::kHealthy;
  uint64_t dropped_through_ = 0;
  uint64_t reported_dropped_through_ = 0;  // dropped_through_ once its records were cut
  int64_t failed_at_ms_ = 0;
  uint64_t resume_requested_ = 0;

  // Shared with the I/O thread, under mu_.
  std::mutex mu_;
  std::condition_variable wake_;      // the I/O thread: blocks, a resume, or stop
  std::condition_variable progress_;  // Flush: durable_ or the failure state moved
  std::vector<Block> queue_;
  std::vector<std::string> spare_buffers_;
  bool stop_ = false;
  uint64_t resume_sequence_ = 0;        // 0: none requested
  std::atomic<uint64_t> in_flight_{0};  // blocks submitted and not yet written or dropped
  std::atomic<bool> io_failed_{false};
  // The failed segment may still hold readable bytes past its last sync (not yet truncated); set
  // before io_failed_, cleared once the truncation succeeded.
  std::atomic<bool> cut_pending_{false};
  std::atomic<int> error_{0};
  std::atomic<uint64_t> resumes_done_{0};
  std::atomic<uint64_t> groups_done_{0};  // batches of blocks written (and synced) or dropped

  // I/O thread.
  std::unique_ptr<WritableFile> segment_;
  uint64_t offset_ = 0;         // end of the written bytes
  uint64_t synced_offset_ = 0;  // end of the durable bytes
  int64_t segment_created_ms_ = 0;
  // Receive times of the records written to the current (or last closed) segment, for the
  // header of the next one (SegmentHeader::previous_times).
  bool segment_has_records_ = false;
  int64_t segment_min_ms_ = 0;
  int64_t segment_max_ms_ = 0;
  uint64_t written_through_ = 0;  // last sequence written

  std::thread io_;
};

}  // namespace beacon::host
