// Walks a segment's bytes block by block: yields every block whose header and CRC32C hold,
// resynchronises at the next block magic after damage, and tells a torn tail from corruption.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "kernels/archive/format.h"

namespace beacon::kernels {

enum class DamageKind : uint8_t {
  kTornTail,  // an incomplete block (or header) ends the bytes: a write cut short
  kCorrupt,   // bytes that are not a valid block, followed by a valid one or not incomplete
};

struct ArchiveDamage {
  uint64_t offset = 0;  // in the segment
  uint64_t bytes = 0;   // skipped
  DamageKind kind = DamageKind::kCorrupt;
  ArchiveError error = ArchiveError::kOk;  // why the bytes at `offset` were refused
};

struct ScannedBlock {
  uint64_t offset = 0;
  BlockHeader header;
  std::string_view bytes;  // header + frame, CRC checked (not decompressed)
};

// Not owning: `segment` (a whole segment file) must outlive the scanner.
class SegmentScanner {
 public:
  explicit SegmentScanner(std::string_view segment);

  // kOk when the segment header is valid; otherwise its bytes are reported as damage.
  ArchiveError header_error() const { return header_error_; }
  const SegmentHeader& header() const { return header_; }
  // The format version to decode the blocks at (BlockDecoder::Decode): the header's, or the
  // newest when the header is damaged.
  uint16_t version() const {
    return header_error_ == ArchiveError::kOk ? header_.version : kArchiveFormatVersion;
  }

  // The next valid block; false at the end. Damage met on the way is added to damage().
  bool Next(ScannedBlock* block);
  const std::vector<ArchiveDamage>& damage() const { return damage_; }
  // The end of the last valid block (or of the valid header): where a writer truncates.
  uint64_t valid_end() const { return valid_end_; }

 private:
  ArchiveError TryBlock(uint64_t offset, ScannedBlock* block) const;
  // The offset of the first valid block after `from`, or the segment's size.
  uint64_t Resync(uint64_t from) const;

  std::string_view segment_;
  SegmentHeader header_;
  ArchiveError header_error_;
  uint64_t pos_ = 0;
  uint64_t valid_end_ = 0;
  std::vector<ArchiveDamage> damage_;
};

}  // namespace beacon::kernels
