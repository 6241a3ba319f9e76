// The per-worker archive writer and its I/O thread; see segment_writer.h.
#include "host/archive/segment_writer.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <utility>

#include "host/archive/segment_files.h"
#include "kernels/archive/segment_scanner.h"

namespace beacon::host {
namespace {

constexpr size_t kSpareBuffers = 8;

int64_t SystemClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The sequence after the last record archived in `segment`, or 0 when it holds no valid block;
// `valid_end` is where its valid bytes end.
int ScanEnd(FileSystem& fs, const SegmentFile& segment, uint64_t* next, uint64_t* valid_end,
            uint64_t* size) {
  std::string bytes;
  if (const int error = fs.ReadFile(segment.path, &bytes); error != 0) return error;
  kernels::SegmentScanner scanner(bytes);
  kernels::ScannedBlock block;
  *next = 0;
  while (scanner.Next(&block)) {
    *next = block.header.first_sequence + block.header.record_count;
  }
  *valid_end = scanner.valid_end();
  *size = bytes.size();
  return 0;
}

// Repairs the worker's newest segment after a crash: a torn tail is cut, a segment without a
// valid block removed. Sets `*next` past every archived record and every name in use. The
// newest segment holding a valid block is synced whole before its records count as archived:
// a process killed between a write and its sync leaves blocks that only the page cache holds,
// and the next one replays and forwards what it finds. Older segments were synced before the
// next one was created (except under CommitPolicy::kNone, which never syncs).
int RecoverWorker(FileSystem& fs, const SegmentWriterOptions& options, uint64_t* next,
                  uint64_t* torn_bytes) {
  std::vector<SegmentFile> segments;
  if (const int error = ListSegments(fs, options.directory, &segments); error != 0) return error;
  std::erase_if(segments, [&](const SegmentFile& s) { return s.worker != options.worker; });
  for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
    const bool newest = it == segments.rbegin();
    uint64_t end = 0;
    uint64_t valid_end = 0;
    uint64_t size = 0;
    if (const int error = ScanEnd(fs, *it, &end, &valid_end, &size); error != 0) return error;
    *next = std::max(*next, it->first_sequence);
    if (end == 0 && newest) {
      if (const int error = fs.Unlink(it->path); error != 0) return error;
      if (const int error = fs.SyncDirectory(options.directory); error != 0) return error;
      continue;
    }
    if (end == 0) continue;
    *next = std::max(*next, end);
    std::unique_ptr<WritableFile> file;
    int error = fs.OpenFile(it->path, &file);
    if (error == 0 && newest && valid_end < size) error = file->Truncate(valid_end);
    if (error == 0) error = file->DataSync();
    if (error != 0) return error;
    if (newest) *torn_bytes += size - valid_end;
    return 0;
  }
  return 0;
}

}  // namespace

struct SegmentWriter::Block {
  std::string bytes;
  uint64_t first = 0;
  uint64_t last = 0;
  uint32_t records = 0;
  uint64_t raw_bytes = 0;
  int64_t min_ms = 0;  // receive times of its records
  int64_t max_ms = 0;
};

int SegmentWriter::Open(FileSystem& fs, SegmentWriterOptions options,
                        std::unique_ptr<SegmentWriter>* writer) {
  if (!options.clock_ms) options.clock_ms = SystemClockMs;
  if (const int error = fs.EnsureDirectory(options.directory); error != 0) return error;
  uint64_t next = std::max<uint64_t>(options.min_first_sequence, 1);
  uint64_t torn_bytes = 0;
  if (const int error = RecoverWorker(fs, options, &next, &torn_bytes); error != 0) return error;
  const int notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (notify_fd < 0) return errno;
  writer->reset(new SegmentWriter(fs, std::move(options), next, notify_fd));
  (*writer)->stats_.recovered_torn_bytes = torn_bytes;
  return 0;
}

SegmentWriter::SegmentWriter(FileSystem& fs, SegmentWriterOptions options, uint64_t next_sequence,
                             int notify_fd)
    : fs_(fs),
      options_(std::move(options)),
      notify_fd_(notify_fd),
      durable_(next_sequence - 1),
      encoder_(options_.compression_level, options_.dictionary),
      next_sequence_(next_sequence),
      block_first_sequence_(next_sequence) {
  io_ = std::thread([this] { IoLoop(); });
}

SegmentWriter::~SegmentWriter() {
  if (state_ == State::kHealthy && !encoder_.empty()) CutBlock();
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_one();
  io_.join();
  close(notify_fd_);
}

uint64_t SegmentWriter::Append(const kernels::ArchiveRecord& record) {
  if (state_ != State::kHealthy) {
    stats_.refused_records.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  if (!encoder_.empty() && encoder_.WouldOverflow(record)) CutBlock();
  const bool first = encoder_.empty();
  if (first) block_started_ms_ = Now();
  if (encoder_.Add(record) != kernels::ArchiveError::kOk) {
    stats_.refused_records.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  const int64_t time = record.receive_time_ms;
  block_min_ms_ = first ? time : std::min(block_min_ms_, time);
  block_max_ms_ = first ? time : std::max(block_max_ms_, time);
  stats_.records.fetch_add(1, std::memory_order_relaxed);
  const uint64_t sequence = next_sequence_++;
  if (encoder_.raw_bytes() >= options_.block_bytes) CutBlock();
  return sequence;
}

void SegmentWriter::Commit() {
  if (state_ != State::kHealthy || encoder_.empty() || options_.commit != CommitPolicy::kGroup) {
    return;
  }
  // Group commit: while a group is being written and synced, later records join the next
  // block, cut once that group is done.
  if (in_flight_.load() == 0) {
    CutBlock();
  } else if (!commit_requested_) {
    commit_requested_ = true;
    commit_after_group_ = groups_done_.load();
  }
}

CommitStatus SegmentWriter::Poll() {
  uint64_t counter = 0;
  while (read(notify_fd_, &counter, sizeof(counter)) > 0) {
  }
  const int64_t now = Now();
  if (state_ == State::kHealthy && io_failed_.load()) {
    DropOpenBlock();
    state_ = State::kFailed;
    dropped_through_ = next_sequence_ - 1;
    failed_at_ms_ = now;
  } else if (state_ == State::kFailed && now - failed_at_ms_ >= options_.retry_interval_ms &&
             in_flight_.load() == 0) {
    resume_requested_ = resumes_done_.load() + 1;
    {
      std::lock_guard lock(mu_);
      resume_sequence_ = next_sequence_;
    }
    wake_.notify_one();
    state_ = State::kResuming;
  } else if (state_ == State::kResuming && resumes_done_.load() >= resume_requested_) {
    state_ = io_failed_.load() ? State::kFailed : State::kHealthy;
    failed_at_ms_ = now;
  }
  if (state_ == State::kHealthy && !encoder_.empty()) {
    const bool group_due =
        commit_requested_ && (in_flight_.load() == 0 || groups_done_.load() > commit_after_group_);
    const bool age_due = options_.commit != CommitPolicy::kGroup &&
                         now - block_started_ms_ >= options_.commit_interval_ms;
    if (group_due || age_due) CutBlock();
  }
  // The lost records are reported once the I/O thread has truncated them from their segment.
  if (!cut_pending_.load()) reported_dropped_through_ = dropped_through_;
  return {durable_sequence(), reported_dropped_through_, state_ == State::kHealthy, error_.load()};
}

bool SegmentWriter::Flush() {
  if (state_ == State::kHealthy && !encoder_.empty()) CutBlock();
  std::unique_lock lock(mu_);
  progress_.wait(
      lock, [this] { return in_flight_.load() == 0 && resumes_done_.load() >= resume_requested_; });
  return !io_failed_.load() && durable_sequence() + 1 >= next_sequence_;
}

void SegmentWriter::CutBlock() {
  Block block;
  {
    std::lock_guard lock(mu_);
    if (!spare_buffers_.empty()) {
      block.bytes = std::move(spare_buffers_.back());
      spare_buffers_.pop_back();
    }
  }
  block.first = block_first_sequence_;
  block.records = encoder_.record_count();
  block.last = block.first + block.records - 1;
  block.raw_bytes = encoder_.raw_bytes();
  block.min_ms = block_min_ms_;
  block.max_ms = block_max_ms_;
  encoder_.Finish(block.first, &block.bytes, options_.compressor);
  block_first_sequence_ = next_sequence_;
  commit_requested_ = false;
  in_flight_.fetch_add(1);
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(block));
  }
  wake_.notify_one();
}

void SegmentWriter::DropOpenBlock() {
  stats_.dropped_records.fetch_add(encoder_.record_count(), std::memory_order_relaxed);
  encoder_.Reset();
  block_first_sequence_ = next_sequence_;
  commit_requested_ = false;
}

void SegmentWriter::IoLoop() {
  for (;;) {
    std::vector<Block> blocks;
    uint64_t resume = 0;
    bool stop = false;
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [this] { return stop_ || !queue_.empty() || resume_sequence_ != 0; });
      blocks.swap(queue_);
      resume = std::exchange(resume_sequence_, 0);
      stop = stop_ && blocks.empty();
    }
    if (resume != 0) Resume(resume);
    if (!blocks.empty()) WriteBlocks(blocks);
    {
      std::lock_guard lock(mu_);
      for (Block& block : blocks) {
        if (spare_buffers_.size() < kSpareBuffers) spare_buffers_.push_back(std::move(block.bytes));
      }
      in_flight_.fetch_sub(blocks.size());
      if (!blocks.empty()) groups_done_.fetch_add(1);
    }
    progress_.notify_all();
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = write(notify_fd_, &one, sizeof(one));
    if (stop) break;
  }
  // A clean stop leaves nothing unsynced, whatever the policy.
  if (segment_ != nullptr && !io_failed_.load() && offset_ > synced_offset_ && SyncSegment() == 0) {
    Publish(written_through_);
  }
  segment_.reset();
}

void SegmentWriter::WriteBlocks(std::vector<Block>& blocks) {
  int error = 0;
  if (!io_failed_.load()) {
    for (const Block& block : blocks) {
      if ((error = WriteOne(block)) != 0) break;
    }
    if (error == 0 && options_.commit != CommitPolicy::kNone) error = SyncSegment();
    if (error == 0) Publish(written_through_);
    if (error != 0) Fail(error);
  }
  if (!io_failed_.load()) return;
  const uint64_t durable = durable_sequence();
  for (const Block& block : blocks) {
    if (block.last > durable) {
      stats_.dropped_records.fetch_add(block.records, std::memory_order_relaxed);
    }
  }
}

int SegmentWriter::WriteOne(const Block& block) {
  const bool full = offset_ > kernels::kSegmentHeaderBytes &&
                    offset_ + block.bytes.size() > options_.segment_bytes;
  if (segment_ != nullptr && (full || Now() - segment_created_ms_ >= options_.segment_age_ms)) {
    // A closed segment is complete and durable before the next one exists.
    if (options_.commit != CommitPolicy::kNone) {
      if (const int error = SyncSegment(); error != 0) return error;
      Publish(written_through_);
    }
    segment_.reset();
  }
  if (segment_ == nullptr) {
    if (const int error = OpenSegment(block.first); error != 0) return error;
  }
  if (const int error = segment_->PWrite(offset_, block.bytes); error != 0) return error;
  offset_ += block.bytes.size();
  written_through_ = block.last;
  segment_min_ms_ = segment_has_records_ ? std::min(segment_min_ms_, block.min_ms) : block.min_ms;
  segment_max_ms_ = segment_has_records_ ? std::max(segment_max_ms_, block.max_ms) : block.max_ms;
  segment_has_records_ = true;
  stats_.blocks.fetch_add(1, std::memory_order_relaxed);
  stats_.bytes.fetch_add(block.bytes.size(), std::memory_order_relaxed);
  stats_.raw_bytes.fetch_add(block.raw_bytes, std::memory_order_relaxed);
  return 0;
}

int SegmentWriter::SyncSegment() {
  const auto start = std::chrono::steady_clock::now();
  if (const int error = segment_->DataSync(); error != 0) return error;
  synced_offset_ = offset_;
  stats_.syncs.fetch_add(1, std::memory_order_relaxed);
  stats_.sync_micros.fetch_add(
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                std::chrono::steady_clock::now() - start)
                                .count()),
      std::memory_order_relaxed);
  return 0;
}

int SegmentWriter::OpenSegment(uint64_t first_sequence) {
  const std::string path =
      options_.directory + "/" + SegmentFileName(options_.worker, first_sequence);
  std::unique_ptr<WritableFile> file;
  int error = fs_.CreateFile(path, &file);
  if (error == EEXIST) {
    // Left by a failed attempt: named after a block that never became durable.
    error = fs_.Unlink(path);
    if (error == 0) error = fs_.CreateFile(path, &file);
  }
  if (error != 0) return error;
  kernels::SegmentHeader header;
  header.worker = options_.worker;
  header.node = options_.node;
  header.first_sequence = first_sequence;
  header.created_ms = Now();
  // The previous segment's records' times (a failed one's too: a superset of what it kept).
  header.previous_times = segment_has_records_;
  header.previous_min_ms = segment_min_ms_;
  header.previous_max_ms = segment_max_ms_;
  char bytes[kernels::kSegmentHeaderBytes];
  kernels::EncodeSegmentHeader(header, bytes);
  // Header and name are durable before any record in the file can be: a segment never has a
  // torn header, and a resume after a failed sync proves that syncs work again.
  if ((error = file->PWrite(0, {bytes, sizeof(bytes)})) != 0) return error;
  if ((error = file->DataSync()) != 0) return error;
  if ((error = fs_.SyncDirectory(options_.directory)) != 0) return error;
  segment_ = std::move(file);
  segment_created_ms_ = header.created_ms;
  segment_has_records_ = false;
  offset_ = synced_offset_ = kernels::kSegmentHeaderBytes;
  stats_.segments.fetch_add(1, std::memory_order_relaxed);
  stats_.bytes.fetch_add(sizeof(bytes), std::memory_order_relaxed);
  return 0;
}

void SegmentWriter::Fail(int error) {
  stats_.write_errors.fetch_add(1, std::memory_order_relaxed);
  error_.store(error);
  // Set before io_failed_: the worker must not answer 503 for what the segment still holds.
  if (segment_ != nullptr) cut_pending_.store(true);
  io_failed_.store(true);
  if (segment_ != nullptr && (error = CutUnsynced()) != 0) {
    stats_.write_errors.fetch_add(1, std::memory_order_relaxed);
    error_.store(error);
  }
}

int SegmentWriter::CutUnsynced() {
  // What a failed write or sync left past the last synced byte can still be read back (the page
  // cache keeps pages whose writeback failed), and a replay would count it: until a truncation
  // removes it the lost records are not reported dropped.
  if (const int error = segment_->Truncate(synced_offset_); error != 0) return error;
  cut_pending_.store(false);
  // The truncation reaches the disk with a sync; until one succeeds the segment is kept, and
  // each retry cuts and syncs it again before it creates the next segment.
  if (const int error = segment_->DataSync(); error != 0) return error;
  segment_.reset();
  return 0;
}

void SegmentWriter::Resume(uint64_t first_sequence) {
  if (io_failed_.load()) {
    // The failed segment is cut first; a new segment proves the disk takes writes again
    // (space returned, device back).
    int error = segment_ != nullptr ? CutUnsynced() : 0;
    if (error == 0) error = OpenSegment(first_sequence);
    if (error != 0) {
      stats_.write_errors.fetch_add(1, std::memory_order_relaxed);
      error_.store(error);
    } else {
      io_failed_.store(false);
    }
  }
  resumes_done_.fetch_add(1);
}

void SegmentWriter::Publish(uint64_t durable) {
  if (durable > durable_.load(std::memory_order_relaxed)) {
    durable_.store(durable, std::memory_order_release);
  }
}

}  // namespace beacon::host
