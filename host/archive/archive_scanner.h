// Reading an archive directory back: one worker's records in sequence order from a given
// sequence (replay), and the check of every block (verify), with torn and corrupt blocks
// reported by segment and offset.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "host/archive/file_system.h"
#include "host/archive/segment_files.h"
#include "kernels/archive/block_codec.h"
#include "kernels/archive/dictionary.h"
#include "kernels/archive/segment_scanner.h"

namespace beacon::host {

struct SegmentDamage {
  std::string path;
  kernels::ArchiveDamage damage;
};

struct ArchiveScanStats {
  uint64_t segments = 0;  // read
  uint64_t blocks = 0;    // valid (CRC) blocks met
  uint64_t records = 0;   // yielded
  uint64_t torn_blocks = 0;
  uint64_t corrupt_blocks = 0;  // damaged regions other than torn tails, undecodable blocks
  uint64_t damaged_bytes = 0;
  uint64_t lost_records = 0;  // sequence gaps inside a segment: records of blocks lost to damage
  uint64_t read_errors = 0;   // segments that could not be read
  std::vector<SegmentDamage> damage;

  void Add(const ArchiveScanStats& other);
};

class ArchiveScanner {
 public:
  // `fs` and `dictionaries` (may be null) must outlive the scanner.
  ArchiveScanner(FileSystem& fs, std::string directory,
                 const kernels::DictionaryStore* dictionaries = nullptr);

  // Positions before the first record of `worker` with sequence >= `from_sequence`; statistics
  // start again. Returns 0 or the errno of listing the directory.
  int Seek(uint32_t worker, uint64_t from_sequence);
  // The next record in sequence order; false after the last. The record's views stay valid
  // until the next call.
  bool Next(uint64_t* sequence, kernels::ArchiveRecord* record);
  const ArchiveScanStats& stats() const { return stats_; }

 private:
  bool NextBlock();
  bool OpenNextSegment();
  void CloseSegment();

  FileSystem& fs_;
  const std::string directory_;
  kernels::BlockDecoder decoder_;
  std::vector<SegmentFile> segments_;
  size_t segment_index_ = 0;
  uint64_t from_ = 0;
  std::string bytes_;
  std::optional<kernels::SegmentScanner> scanner_;
  uint64_t expected_ = 0;  // the sequence the segment's next block should start at
  uint64_t block_first_ = 0;
  size_t record_index_ = 0;
  size_t block_records_ = 0;  // of the decoded block
  ArchiveScanStats stats_;
};

// Reads every segment of `dir` (every worker) and checks every block: `beaconctl archive
// verify`. `*stats` holds the totals and every damage with its segment and offset.
int VerifyArchive(FileSystem& fs, const std::string& dir,
                  const kernels::DictionaryStore* dictionaries, ArchiveScanStats* stats);

}  // namespace beacon::host
