// The dead-letter set: batches ClickHouse refused for what they carry (and spool records whose
// bytes are torn or corrupt), kept in <spool_dir>/dead-letter/ so that the batches behind them
// proceed. Each is a spool record file <id>.rec (the spool's framing, so it can go back into a
// shard's spool unchanged) and a sidecar <id>.info of "key value" lines: shard, table, time,
// error. Files 0600 in a 0700 directory, written durably. beacond adds; `beaconctl
// dead-letter` lists, retries and drops. Each call stands alone (no state kept between them),
// so beacond and beaconctl may use the same directory at once.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace beacon::host {

struct DeadLetter {
  std::string id;  // <unix ns>-s<shard>: unique per shard, sorts by time
  uint32_t shard = 0;
  std::string table;   // the table that refused it; "-" for a damaged spool record
  std::string time;    // UTC, ISO 8601
  std::string error;   // ClickHouse's answer, or why the record was set aside
  uint64_t bytes = 0;  // of the record file
};

class DeadLetters {
 public:
  // The set of the spool in `spool_dir` (<spool_dir>/dead-letter), holding at most
  // `max_bytes` of records; with `fsync`, every change is synced before it returns.
  DeadLetters(std::string spool_dir, uint64_t max_bytes, bool fsync);

  // Writes `payload` (a spool record's payload) and its sidecar; false with `error` set
  // when it cannot (the set is full, or a write failed), leaving nothing behind.
  bool Put(uint32_t shard, std::string_view payload, std::string_view table,
           std::string_view reason, std::string* id, std::string* error);
  // Moves the record file at `path` (on the same file system) here with a sidecar.
  bool Take(const std::string& path, uint32_t shard, std::string_view reason);
  // Every dead letter, oldest first; a record without a readable sidecar is listed with
  // what its name tells.
  std::vector<DeadLetter> List() const;
  // Moves the record back into its shard's spool directory as <id>.retry, where the running
  // beacond (or the next to start) adopts it as its newest record and sends it.
  bool Retry(const std::string& id, std::string* error);
  // Deletes the record and its sidecar.
  bool Drop(const std::string& id, std::string* error);

  const std::string& dir() const { return dir_; }
  // The shard's spool directory under `spool_dir`: <spool_dir>/shard-<n>.
  static std::string ShardDir(const std::string& spool_dir, uint32_t shard);

 private:
  std::string PathOf(std::string_view id, std::string_view extension) const;

  std::string spool_dir_;
  std::string dir_;
  uint64_t max_bytes_;
  bool fsync_;
};

}  // namespace beacon::host
