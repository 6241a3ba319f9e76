// A bounded on-disk FIFO of records (one forwarder batch each) for a shard that cannot take
// them now. One file per record, CRC-framed; written to a temp name and renamed, so a
// crash leaves either the whole record or none (with fsync on). Not thread-safe: one owner.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

namespace beacon::host {

enum class SpoolAppend { kOk, kFull, kIoError };

class Spool {
 public:
  // Opens `dir` (created if missing): removes leftover *.tmp files and lists the records
  // there, oldest first. With `fsync`, Append syncs the file and the directory before it
  // returns, so an appended record survives power loss. Throws std::runtime_error when `dir`
  // cannot be created or listed.
  Spool(std::string dir, uint64_t max_bytes, bool fsync);

  // Writes `payload` as the newest record; kFull (nothing written) when it would lift the
  // spool above max_bytes while it holds a record already; kIoError with `error` set when
  // the write failed (nothing is left behind).
  SpoolAppend Append(std::string_view payload, std::string* error);
  // Reads the oldest intact record into `payload`; false when the spool is empty. A record
  // cut short (torn tail) is deleted and counted; one whose frame or CRC is wrong is renamed
  // to *.corrupt, counted, and skipped — never passed on.
  bool Front(std::string* payload);
  // Deletes the record Front returned.
  void PopFront();

  bool empty() const { return files_.empty(); }
  size_t records() const { return files_.size(); }
  uint64_t bytes() const { return bytes_; }
  uint64_t max_bytes() const { return max_bytes_; }
  uint64_t torn_records() const { return torn_; }
  uint64_t corrupt_records() const { return corrupt_; }
  const std::string& dir() const { return dir_; }

  // Bytes a record of `payload_bytes` takes on disk (frame header included).
  static uint64_t RecordBytes(size_t payload_bytes);

 private:
  struct File {
    uint64_t sequence;
    uint64_t bytes;
  };
  std::string PathOf(uint64_t sequence) const;

  std::string dir_;
  uint64_t max_bytes_;
  bool fsync_;
  std::deque<File> files_;  // oldest first
  uint64_t bytes_ = 0;
  uint64_t next_sequence_ = 0;
  uint64_t torn_ = 0;
  uint64_t corrupt_ = 0;
};

}  // namespace beacon::host
