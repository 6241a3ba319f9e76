// RetentionRunner: ApplyRetention on a timer thread; see retention_runner.h.
#include "host/archive/retention_runner.h"

#include <chrono>
#include <limits>
#include <utility>
#include <vector>

#include "host/archive/segment_files.h"

namespace beacon::host {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Every worker of `dir` with no record needed: ApplyRetention still keeps each newest segment.
std::map<uint32_t, uint64_t> ClosedSegmentsFree(FileSystem& fs, const std::string& dir) {
  std::map<uint32_t, uint64_t> watermarks;
  std::vector<SegmentFile> segments;
  if (ListSegments(fs, dir, &segments) != 0) return watermarks;
  for (const SegmentFile& segment : segments) {
    watermarks[segment.worker] = std::numeric_limits<uint64_t>::max();
  }
  return watermarks;
}

}  // namespace

RetentionRunner::RetentionRunner(FileSystem& fs, std::string dir, RetentionPolicy policy,
                                 int interval_ms, RetentionWatermarks watermarks)
    : fs_(fs),
      dir_(std::move(dir)),
      policy_(policy),
      interval_ms_(interval_ms),
      watermarks_(std::move(watermarks)) {}

RetentionRunner::~RetentionRunner() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RetentionRunner::Start() {
  thread_ = std::thread([this] { Loop(); });
}

RetentionResult RetentionRunner::RunOnce(int64_t now_ms) {
  const std::map<uint32_t, uint64_t> watermarks =
      watermarks_ ? watermarks_() : ClosedSegmentsFree(fs_, dir_);
  const RetentionResult result = ApplyRetention(fs_, dir_, policy_, watermarks, now_ms);
  stats_.runs.fetch_add(1, std::memory_order_relaxed);
  stats_.deleted_segments.fetch_add(result.deleted_segments, std::memory_order_relaxed);
  stats_.deleted_bytes.fetch_add(result.deleted_bytes, std::memory_order_relaxed);
  if (result.error != 0) stats_.errors.fetch_add(1, std::memory_order_relaxed);
  // A failed listing measured nothing: the last size stands.
  if (result.error == 0 || result.deleted_segments > 0) {
    stats_.disk_bytes.store(result.kept_bytes, std::memory_order_relaxed);
  }
  stats_.held_by_watermark.store(result.held_by_watermark, std::memory_order_relaxed);
  return result;
}

void RetentionRunner::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    RunOnce(NowMs());
    lock.lock();
    wake_.wait_for(lock, std::chrono::milliseconds(interval_ms_), [this] { return stopping_; });
  }
}

}  // namespace beacon::host
