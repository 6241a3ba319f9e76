// Retention enforced: ApplyRetention on a timer thread of its own, off the workers, with
// counters for the metrics. What a worker still needs is what its watermark says (the hook).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "host/archive/file_system.h"
#include "host/archive/retention.h"

namespace beacon::host {

// Per worker, the last sequence retention may delete through (ApplyRetention's watermarks);
// called on the retention thread. Null: every closed segment is free (nothing replays a worker's
// records from the archive yet), so only a worker's newest segment is kept whatever the limits.
using RetentionWatermarks = std::function<std::map<uint32_t, uint64_t>()>;

struct RetentionRunnerStats {
  std::atomic<uint64_t> runs{0};
  std::atomic<uint64_t> deleted_segments{0};
  std::atomic<uint64_t> deleted_bytes{0};
  std::atomic<uint64_t> disk_bytes{0};         // the archive's segments after the last run
  std::atomic<uint64_t> errors{0};             // runs that failed to list, unlink or sync
  std::atomic<bool> held_by_watermark{false};  // the last run kept the archive over a limit
};

class RetentionRunner {
 public:
  // `fs` outlives the runner. Runs every `interval_ms` once started (a policy without limits
  // deletes nothing and still measures the archive).
  RetentionRunner(FileSystem& fs, std::string dir, RetentionPolicy policy, int interval_ms,
                  RetentionWatermarks watermarks = nullptr);
  ~RetentionRunner();  // stops the thread
  RetentionRunner(const RetentionRunner&) = delete;
  RetentionRunner& operator=(const RetentionRunner&) = delete;

  void Start();
  // One pass now, on the calling thread (the timer thread calls it too; not concurrently).
  RetentionResult RunOnce(int64_t now_ms);
  const RetentionRunnerStats& stats() const { return stats_; }

 private:
  void Loop();

  FileSystem& fs_;
  const std::string dir_;
  const RetentionPolicy policy_;
  const int interval_ms_;
  const RetentionWatermarks watermarks_;
  RetentionRunnerStats stats_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace beacon::host
