// A bounded on-disk FIFO of records (one forwarder batch each) for a shard that cannot take
// them now. One file per record, CRC-framed; written to a temp name and renamed, so a
// crash leaves either the whole record or none (with fsync on). Not thread-safe: one owner.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>

namespace beacon::host {

enum class SpoolAppend { kOk, kFull, kIoError };

// What reading one record file found.
enum class RecordRead {
  kOk,
  kTorn,        // its bytes end before the frame does: a write that never completed
  kCorrupt,     // its magic, version, length or CRC is wrong
  kUnreadable,  // open or read failed (errno given): says nothing about its bytes
};

// Writes `payload` CRC-framed to `path` through `path`.tmp and a rename, mode 0600; with
// `fsync`, syncs the file and `path`'s directory first. On failure nothing is left behind
// and `error` says which step failed.
bool WriteRecordFile(const std::string& path, std::string_view payload, bool fsync,
                     std::string* error);
// Reads the record file at `path` into `payload`; kUnreadable sets `error` to the errno.
RecordRead ReadRecordFile(const std::string& path, std::string* payload, int* error);
// fsync of a directory: makes creations, renames and unlinks in it durable.
bool SyncDirectory(const std::string& dir);

class Spool {
 public:
  // Takes a torn or corrupt record out of the spool (`path`, `reason` in words): moves it
  // elsewhere and returns true, or false to leave it to the spool (renamed *.torn or
  // *.corrupt beside the records).
  using SetAside = std::function<bool(const std::string& path, const std::string& reason)>;

  // Opens `dir` (created if missing): removes leftover *.tmp files, takes records put back
  // (*.retry, see AdoptReturned) and lists the records there, oldest first. With `fsync`,
  // Append syncs the file and the directory before it returns, so an appended record survives
  // power loss, and PopFront syncs the directory. Throws std::runtime_error when `dir` cannot
  // be created or listed.
  Spool(std::string dir, uint64_t max_bytes, bool fsync, SetAside set_aside = {});

  // Writes `payload` as the newest record; kFull (nothing written) when it would lift the
  // spool above max_bytes while it holds a record already; kIoError with `error` set when
  // the write failed (nothing is left behind).
  SpoolAppend Append(std::string_view payload, std::string* error);
  // Reads the oldest intact record into `payload`; false when there is none or it cannot be
  // read now (read_error() is then its errno: the record stays, to be read again later). A
  // record whose bytes are torn or corrupt is counted, set aside and skipped — never passed
  // on, never deleted.
  bool Front(std::string* payload);
  // Deletes the record Front returned.
  void PopFront();
  // Renames every *.retry file in the directory (a record put back from elsewhere, e.g. by
  // `beaconctl dead-letter retry`) to the newest sequence numbers; returns how many.
  size_t AdoptReturned();

  bool empty() const { return files_.empty(); }
  size_t records() const { return files_.size(); }
  uint64_t bytes() const { return bytes_; }
  uint64_t max_bytes() const { return max_bytes_; }
  uint64_t torn_records() const { return torn_; }
  uint64_t corrupt_records() const { return corrupt_; }
  // The errno of the last Front that could not read its record; 0 after one that could.
  int read_error() const { return read_error_; }
  // Whether the record Front returned was written by an earlier owner (present at open, or
  // adopted) rather than appended since.
  bool front_inherited() const { return !files_.empty() && files_.front().inherited; }
  const std::string& dir() const { return dir_; }

  // Bytes a record of `payload_bytes` takes on disk (frame header included).
  static uint64_t RecordBytes(size_t payload_bytes);

 private:
  struct File {
    uint64_t sequence;
    uint64_t bytes;
    bool inherited;  // present at open, or adopted: not written by Append
  };
  std::string PathOf(uint64_t sequence) const;
  // Lists the *.retry files of the directory and renames them to new sequence numbers.
  void Adopt();
  void SetAsideFront(RecordRead found);

  std::string dir_;
  uint64_t max_bytes_;
  bool fsync_;
  SetAside set_aside_;
  std::deque<File> files_;  // oldest first
  uint64_t bytes_ = 0;
  uint64_t next_sequence_ = 0;
  uint64_t torn_ = 0;
  uint64_t corrupt_ = 0;
  int read_error_ = 0;
};

}  // namespace beacon::host
