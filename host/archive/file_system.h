// The archive's file interface: what a SegmentWriter needs from the disk, so that tests can put a
// fault-injecting file system (fault_injection_file_system.h) in place of the POSIX one.
// Every call returns 0 or an errno value; none throws.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace beacon::host {

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Writes all of `data` at `offset`, or fails (a failed write may have written a prefix).
  virtual int PWrite(uint64_t offset, std::string_view data) = 0;
  // fdatasync: the data written so far survives a crash or power loss once this returns 0.
  virtual int DataSync() = 0;
  virtual int Truncate(uint64_t size) = 0;
};

struct DirEntry {
  std::string name;
  uint64_t bytes = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  // Creates `dir` (not its parents) with mode 0700, or sets 0700 on an existing directory;
  // `*created` says whether it made it. A new directory's name is durable only after
  // SyncDirectory of its parent.
  virtual int MakeDirectory(const std::string& dir, bool* created) = 0;
  // MakeDirectory, then (when it created `dir`) SyncDirectory of the parent: the directory is
  // there after a crash once this returns 0.
  int EnsureDirectory(const std::string& dir);
  // Creates a new file, mode 0600 whatever the umask; EEXIST when it exists. The name is
  // durable only after SyncDirectory of its directory.
  virtual int CreateFile(const std::string& path, std::unique_ptr<WritableFile>* file) = 0;
  // Opens an existing file for writing (cutting a torn tail at recovery).
  virtual int OpenFile(const std::string& path, std::unique_ptr<WritableFile>* file) = 0;
  // Reads the first `max_bytes` of the file (all of a shorter one).
  virtual int ReadPrefix(const std::string& path, uint64_t max_bytes, std::string* contents) = 0;
  int ReadFile(const std::string& path, std::string* contents) {
    return ReadPrefix(path, std::numeric_limits<uint64_t>::max(), contents);
  }
  // The regular files of `dir` (any order).
  virtual int List(const std::string& dir, std::vector<DirEntry>* entries) = 0;
  virtual int Rename(const std::string& from, const std::string& to) = 0;
  virtual int Unlink(const std::string& path) = 0;
  // fsync of the directory: makes creations, renames and unlinks in it durable.
  virtual int SyncDirectory(const std::string& dir) = 0;
};

// The real disk. Stateless; one instance may serve every thread.
class PosixFileSystem final : public FileSystem {
 public:
  int MakeDirectory(const std::string& dir, bool* created) override;
  int CreateFile(const std::string& path, std::unique_ptr<WritableFile>* file) override;
  int OpenFile(const std::string& path, std::unique_ptr<WritableFile>* file) override;
  int ReadPrefix(const std::string& path, uint64_t max_bytes, std::string* contents) override;
  int List(const std::string& dir, std::vector<DirEntry>* entries) override;
  int Rename(const std::string& from, const std::string& to) override;
  int Unlink(const std::string& path) override;
  int SyncDirectory(const std::string& dir) override;
};

// Replaces `dir`/`name` with `bytes` atomically and durably: a temporary file written and
// synced, renamed over the name, the directory synced. 0 or an errno; a crash leaves the old
// file or the new one (and maybe `name`.tmp, replaced at the next call).
int WriteFileAtomically(FileSystem& fs, const std::string& dir, const std::string& name,
                        std::string_view bytes);

// The directory part of `path` ("." when it has none).
std::string DirectoryOf(const std::string& path);

}  // namespace beacon::host
