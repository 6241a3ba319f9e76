// A FileSystem for crash and I/O-error tests (the LevelDB/RocksDB FaultInjectionTestEnv
// pattern): it keeps every write and truncation in memory until its file's DataSync, and every
// creation (of a file or a directory), rename and unlink until its directory's SyncDirectory;
// Crash() drops all of that, as a power cut would. It also fails writes, syncs or truncations
// with an injected errno, and crashes at a given sync point. Thread-safe (one lock).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "host/archive/file_system.h"

namespace beacon::host {

class FaultInjectionFileSystem final : public FileSystem {
 public:
  // Data reaches `base` (a PosixFileSystem over a test directory) only when synced.
  explicit FaultInjectionFileSystem(FileSystem& base);
  ~FaultInjectionFileSystem() override;

  // A directory it creates stays only until a crash, unless its parent is synced first.
  int MakeDirectory(const std::string& dir, bool* created) override;
  int CreateFile(const std::string& path, std::unique_ptr<WritableFile>* file) override;
  int OpenFile(const std::string& path, std::unique_ptr<WritableFile>* file) override;
  // Sees the unsynced writes, as the process that made them would.
  int ReadPrefix(const std::string& path, uint64_t max_bytes, std::string* contents) override;
  int List(const std::string& dir, std::vector<DirEntry>* entries) override;
  int Rename(const std::string& from, const std::string& to) override;
  int Unlink(const std::string& path) override;
  int SyncDirectory(const std::string& dir) override;

  // Writes fail with `error` (0: stop failing), each after writing the first half of its data.
  void FailWrites(int error);
  // DataSync fails with `error` (0: stop failing), and the unsynced writes never become durable
  // (fsyncgate); reads still see them until a crash or the file's next successful DataSync, as
  // Linux keeps such pages in its cache, marked clean.
  void FailSyncs(int error);
  // Truncate fails with `error` (0: stop failing), changing nothing.
  void FailTruncates(int error);
  // DataSync and SyncDirectory calls so far: the sync points.
  uint64_t sync_points() const;
  // Crashes at sync point `n` (1-based): before it takes effect, or after it did.
  void CrashAtSyncPoint(uint64_t n, bool after);
  // Drops everything not synced; from then on every call fails with EIO until Restart().
  void Crash();
  bool crashed() const;
  // A new process on the surviving files: calls work again, files opened before stay dead.
  void Restart();

 private:
  class File;
  struct Pending {  // a write, or a truncation to `offset` bytes
    uint64_t offset;
    std::string data;
    bool truncate = false;
    bool lost = false;  // a DataSync covering it failed: never made durable
  };
  struct DirOp {
    enum Kind { kCreate, kRename, kUnlink, kMakeDirectory } kind;
    std::string path;    // created (a file or a directory), renamed to, or unlinked
    std::string source;  // renamed from, or where the unlinked file waits
  };

  int Write(const std::string& path, uint64_t generation, uint64_t offset, std::string_view data);
  int Sync(const std::string& path, uint64_t generation, WritableFile& base);
  int TruncateFile(const std::string& path, uint64_t generation, uint64_t size);
  bool Alive(uint64_t generation) const { return !crashed_ && generation == generation_; }
  // Counts a sync point; true when the crash is due before it.
  bool SyncPointCrashesBefore();
  void SyncPointMaybeCrashAfter();
  void CrashLocked();
  void ApplyPending(const std::string& path, std::string* contents) const;

  FileSystem& base_;
  mutable std::mutex mu_;
  std::map<std::string, std::vector<Pending>> pending_;  // by path
  std::map<std::string, std::vector<DirOp>> dir_ops_;    // by directory, in order
  uint64_t generation_ = 0;
  bool crashed_ = false;
  int write_error_ = 0;
  int sync_error_ = 0;
  int truncate_error_ = 0;
  uint64_t sync_points_ = 0;
  uint64_t crash_at_ = 0;
  bool crash_after_ = false;
  uint64_t unlinked_ = 0;
};

}  // namespace beacon::host
