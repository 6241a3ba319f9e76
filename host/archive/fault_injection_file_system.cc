// The fault-injecting file system of the archive tests; see fault_injection_file_system.h.
#include "host/archive/fault_injection_file_system.h"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <system_error>

namespace beacon::host {

class FaultInjectionFileSystem::File final : public WritableFile {
 public:
  File(FaultInjectionFileSystem* fs, std::string path, uint64_t generation,
       std::unique_ptr<WritableFile> base)
      : fs_(fs), path_(std::move(path)), generation_(generation), base_(std::move(base)) {}

  int PWrite(uint64_t offset, std::string_view data) override {
    return fs_->Write(path_, generation_, offset, data);
  }
  int DataSync() override { return fs_->Sync(path_, generation_, *base_); }
  int Truncate(uint64_t size) override { return fs_->TruncateFile(path_, generation_, size); }

 private:
  FaultInjectionFileSystem* fs_;
  std::string path_;
  uint64_t generation_;
  std::unique_ptr<WritableFile> base_;
};

FaultInjectionFileSystem::FaultInjectionFileSystem(FileSystem& base) : base_(base) {}

FaultInjectionFileSystem::~FaultInjectionFileSystem() = default;

int FaultInjectionFileSystem::MakeDirectory(const std::string& dir, bool* created) {
  std::lock_guard lock(mu_);
  if (crashed_) return EIO;
  if (const int error = base_.MakeDirectory(dir, created); error != 0) return error;
  if (*created) dir_ops_[DirectoryOf(dir)].push_back({DirOp::kMakeDirectory, dir, {}});
  return 0;
}

int FaultInjectionFileSystem::CreateFile(const std::string& path,
                                         std::unique_ptr<WritableFile>* file) {
  std::lock_guard lock(mu_);
  if (crashed_) return EIO;
  std::unique_ptr<WritableFile> base;
  if (const int error = base_.CreateFile(path, &base); error != 0) return error;
  dir_ops_[DirectoryOf(path)].push_back({DirOp::kCreate, path, {}});
  *file = std::make_unique<File>(this, path, generation_, std::move(base));
  return 0;
}

int FaultInjectionFileSystem::OpenFile(const std::string& path,
                                       std::unique_ptr<WritableFile>* file) {
  std::lock_guard lock(mu_);
  if (crashed_) return EIO;
  std::unique_ptr<WritableFile> base;
  if (const int error = base_.OpenFile(path, &base); error != 0) return error;
  *file = std::make_unique<File>(this, path, generation_, std::move(base));
  return 0;
}

void FaultInjectionFileSystem::ApplyPending(const std::string& path, std::string* contents) const {
  const auto it = pending_.find(path);
  if (it == pending_.end()) return;
  for (const Pending& write : it->second) {
    if (write.truncate) {
      contents->resize(write.offset, '\0');
      continue;
    }
    if (contents->size() < write.offset + write.data.size()) {
      contents->resize(write.offset + write.data.size(), '\0');
    }
    std::copy(write.data.begin(), write.data.end(),
              contents->begin() + static_cast<ptrdiff_t>(write.offset));
  }
}

int FaultInjectionFileSystem::ReadPrefix(const std::string& path, uint64_t max_bytes,
                                         std::string* contents) {
  std::lock_guard lock(mu_);
  if (crashed_) return EIO;
  if (const int error = base_.ReadFile(path, contents); error != 0) return error;
  ApplyPending(path, contents);
  if (contents->size() > max_bytes) contents->resize(max_bytes);
  return 0;
}

int FaultInjectionFileSystem::List(const std::string& dir, std::vector<DirEntry>* entries) {
  std::lock_guard lock(mu_);
  if (crashed_) return EIO;
  if (const int error = base_.List(dir, entries); error != 0) return error;
  // Unlinked files wait under hidden names until their directory is synced.
  std::erase_if(*entries, [](const DirEntry& e) { return e.name.starts_with(".fault-"); });
  for (DirEntry& entry : *entries) {
    const auto it = pending_.find(dir + "/" + entry.name);
    if (it == pending_.end()) continue;
    for (const Pending& write : it->second) {
      entry.bytes = write.truncate
                        ? write.offset
                        : std::max<uint64_t>(entry.bytes, write.offset + write.data.size());
    }
  }
  return 0;
}

int FaultInjectionFileSystem::Rename(const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  if (crashed_) return EIO;
  // A file the rename replaces is parked as if unlinked: a crash before the directory sync
  // brings it back, as on a real file system.
  std::string replaced;
  std::string parked;
  if (base_.ReadPrefix(to, 0, &replaced) == 0) {
    parked = DirectoryOf(to) + "/.fault-unlinked-" + std::to_string(++unlinked_);
    if (const int error = base_.Rename(to, parked); error != 0) return error;
  }
  if (const int error = base_.Rename(from, to); error != 0) {
    if (!parked.empty()) base_.Rename(parked, to);
    return error;
  }
  if (!parked.empty()) dir_ops_[DirectoryOf(to)].push_back({DirOp::kUnlink, to, parked});
  if (auto it = pending_.find(from); it != pending_.end()) {
    pending_[to] = std::move(it->second);
    pending_.erase(from);
  }
  dir_ops_[DirectoryOf(to)].push_back({DirOp::kRename, to, from});
  return 0;
}

int FaultInjectionFileSystem::Unlink(const std::string& path) {
  std::lock_guard lock(mu_);
  if (crashed_) return EIO;
  const std::string dir = DirectoryOf(path);
  const std::string parked = dir + "/.fault-unlinked-" + std::to_string(++unlinked_);
  if (const int error = base_.Rename(path, parked); error != 0) return error;
  pending_.erase(path);
  dir_ops_[dir].push_back({DirOp::kUnlink, path, parked});
  return 0;
}

int FaultInjectionFileSystem::SyncDirectory(const std::string& dir) {
  std::lock_guard lock(mu_);
  if (crashed_) return EIO;
  if (SyncPointCrashesBefore()) {
    CrashLocked();
    return EIO;
  }
  for (const DirOp& op : dir_ops_[dir]) {
    if (op.kind == DirOp::kUnlink) base_.Unlink(op.source);
  }
  dir_ops_.erase(dir);
  SyncPointMaybeCrashAfter();
  return 0;
}

int FaultInjectionFileSystem::Write(const std::string& path, uint64_t generation, uint64_t offset,
                                    std::string_view data) {
  std::lock_guard lock(mu_);
  if (!Alive(generation)) return EIO;
  if (write_error_ != 0) {
    pending_[path].push_back({offset, std::string(data.substr(0, data.size() / 2))});
    return write_error_;
  }
  pending_[path].push_back({offset, std::string(data)});
  return 0;
}

int FaultInjectionFileSystem::Sync(const std::string& path, uint64_t generation,
                                   WritableFile& base) {
  std::lock_guard lock(mu_);
  if (!Alive(generation)) return EIO;
  if (SyncPointCrashesBefore()) {
    CrashLocked();
    return EIO;
  }
  const auto it = pending_.find(path);
  if (sync_error_ != 0) {
    // Never written now: still in the cache (readable), no longer dirty.
    if (it != pending_.end()) {
      for (Pending& write : it->second) write.lost = true;
    }
    return sync_error_;
  }
  std::vector<Pending> writes;
  if (it != pending_.end()) {
    writes = std::move(it->second);
    pending_.erase(it);  // the lost ones too: evicted
  }
  for (const Pending& write : writes) {
    if (write.lost) continue;
    const int error =
        write.truncate ? base.Truncate(write.offset) : base.PWrite(write.offset, write.data);
    if (error != 0) return error;
  }
  SyncPointMaybeCrashAfter();
  return 0;
}

int FaultInjectionFileSystem::TruncateFile(const std::string& path, uint64_t generation,
                                           uint64_t size) {
  std::lock_guard lock(mu_);
  if (!Alive(generation)) return EIO;
  if (truncate_error_ != 0) return truncate_error_;
  // The cache drops what lies past `size` at once; the disk's file keeps its length until the
  // next DataSync writes the truncation.
  std::vector<Pending>& writes = pending_[path];
  std::erase_if(writes, [size](const Pending& w) { return w.offset >= size; });
  for (Pending& write : writes) {
    if (!write.truncate)
      write.data.resize(std::min<uint64_t>(write.data.size(), size - write.offset));
  }
  writes.push_back({size, {}, /*truncate=*/true});
  return 0;
}

bool FaultInjectionFileSystem::SyncPointCrashesBefore() {
  ++sync_points_;
  return crash_at_ != 0 && sync_points_ == crash_at_ && !crash_after_;
}

void FaultInjectionFileSystem::SyncPointMaybeCrashAfter() {
  if (crash_at_ != 0 && sync_points_ == crash_at_ && crash_after_) CrashLocked();
}

void FaultInjectionFileSystem::CrashLocked() {
  crashed_ = true;
  std::error_code ignored;
  pending_.clear();
  for (auto& [dir, ops] : dir_ops_) {
    for (auto op = ops.rbegin(); op != ops.rend(); ++op) {
      switch (op->kind) {
        case DirOp::kCreate:
          base_.Unlink(op->path);
          break;
        case DirOp::kRename:
          base_.Rename(op->path, op->source);
          break;
        case DirOp::kUnlink:
          base_.Rename(op->source, op->path);
          break;
        case DirOp::kMakeDirectory:
          // With whatever it held: names in it were never durable.
          std::filesystem::remove_all(op->path, ignored);
          break;
      }
    }
  }
  dir_ops_.clear();
}

void FaultInjectionFileSystem::FailWrites(int error) {
  std::lock_guard lock(mu_);
  write_error_ = error;
}

void FaultInjectionFileSystem::FailSyncs(int error) {
  std::lock_guard lock(mu_);
  sync_error_ = error;
}

void FaultInjectionFileSystem::FailTruncates(int error) {
  std::lock_guard lock(mu_);
  truncate_error_ = error;
}

uint64_t FaultInjectionFileSystem::sync_points() const {
  std::lock_guard lock(mu_);
  return sync_points_;
}

void FaultInjectionFileSystem::CrashAtSyncPoint(uint64_t n, bool after) {
  std::lock_guard lock(mu_);
  crash_at_ = n;
  crash_after_ = after;
}

void FaultInjectionFileSystem::Crash() {
  std::lock_guard lock(mu_);
  CrashLocked();
}

bool FaultInjectionFileSystem::crashed() const {
  std::lock_guard lock(mu_);
  return crashed_;
}

void FaultInjectionFileSystem::Restart() {
  std::lock_guard lock(mu_);
  crashed_ = false;
  ++generation_;
}

}  // namespace beacon::host
