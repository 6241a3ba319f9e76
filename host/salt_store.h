// The daily visitor salts: a random 64-bit salt per UTC day, persisted in the state directory
// so that a restart the same day keeps visitor ids stable; only today's and yesterday's salts
// exist, in memory and on disk (nothing older than 48 h).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string_view>

#include "kernels/clock.h"
#include "kernels/visitor.h"

namespace beacon::host {

// Milliseconds since the Unix epoch, UTC.
using UnixClock = std::function<int64_t()>;

class SaltStore {
 public:
  static constexpr std::string_view kFileName = "visitor-salts";

  // Opens the store in `state_dir` (created with mode 0700 when missing), loads the salt file,
  // keeps the salts of the clock's day and the day before, creates today's and rewrites the
  // file when anything changed. A salt file that reads but does not parse as one is replaced by
  // fresh salts (visitor ids of the day restart; see replaced_corrupt_file()). Throws
  // std::runtime_error naming the path when the directory or file cannot be created or written,
  // or when the file exists but cannot be opened or read (an I/O error, a directory): it is left
  // as it is, since it may hold today's salt.
  explicit SaltStore(std::filesystem::path state_dir, UnixClock clock = kernels::UnixMillis);

  // The salts for the current time: rotates first when the clock's UTC day is later than the
  // store's. For workers, once per batch: without a rotation it takes no lock and does no I/O;
  // the thread that sees a new day first writes the file (one fsync'd write a day).
  kernels::VisitorSalts Current();

  // The salts as of `unix_ms` (rotating when its day is later than the store's; an earlier
  // time gets the current salts unchanged). A rotation that cannot write the file still
  // rotates in memory, deletes the file (no salt older than 48 h may stay behind; a restart
  // that day then starts a new salt) and counts a write failure: it does not throw.
  kernels::VisitorSalts At(int64_t unix_ms);

  // The last salts published, without consulting the clock or rotating: lock-free.
  kernels::VisitorSalts Snapshot() const;

  // Whether the constructor found a corrupt salt file and replaced it.
  bool replaced_corrupt_file() const { return replaced_corrupt_file_; }
  // Rotations whose file write failed (for a metric).
  uint64_t write_failures() const { return write_failures_.load(std::memory_order_relaxed); }
  const std::filesystem::path& file() const { return file_; }

 private:
  void RotateTo(int64_t day);  // under mutex_
  void Publish(const kernels::VisitorSalts& salts);
  void WriteFile(const kernels::VisitorSalts& salts) const;

  std::filesystem::path dir_;
  std::filesystem::path file_;
  UnixClock clock_;
  bool replaced_corrupt_file_ = false;

  std::mutex mutex_;  // rotations
  // The published salts behind a sequence lock: odd while a rotation writes them.
  std::atomic<uint64_t> sequence_{0};
  std::atomic<int64_t> day_{0};
  std::atomic<uint64_t> today_{0};
  std::atomic<uint64_t> yesterday_{0};
  std::atomic<uint64_t> write_failures_{0};
};

}  // namespace beacon::host
