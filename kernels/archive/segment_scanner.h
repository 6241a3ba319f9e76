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
  // The format version to decode the blocks at (BlockDecoder::Decode): the header's; the
  // newest when the header names a version this code does not read; kUnknownFormatVersion when
  // the header is damaged (each block's layout then tells its version).
  uint16_t version() const {
    if (header_error_ == ArchiveError::kOk) return header_.version;
    return header_error_ == ArchiveError::kBadVersion ? kArchiveFormatVersion
                                                      : kUnknownFormatVersion;
  }

  // The next valid block; false at the end. Damage met on the way is added to damage().
  bool Next(ScannedBlock* block);
  const std::vector<ArchiveDamage>& damage() const { return damage_; }
  // The end of the last valid block (or of the valid header): where a writer truncates.
  uint64_t valid_end() const { return valid_end_; }
  // Bytes run through CRC32C so far: the scan's work, linear in the segment's size whatever
  // the bytes hold (README.md, Recovery rules; the fuzz target checks the bound).
  uint64_t checksummed_bytes() const { return checksummed_bytes_; }

 private:
  ArchiveError TryBlock(uint64_t offset, ScannedBlock* block);
  // The offset of the first valid block after `from`, or the segment's size.
  uint64_t Resync(uint64_t from);
  // The CRC32C of the block `header` claims at `offset` (its payload inside the bytes): read
  // whole until the first resynchronisation, from the prefix CRCs after it.
  uint32_t BlockCrc(uint64_t offset, const BlockHeader& header);
  // The CRC32C of the segment's first `end` bytes, from the nearest prefix CRC below it.
  uint32_t PrefixCrc(uint64_t end);
  uint32_t Checksum(uint32_t crc, std::string_view bytes);

  std::string_view segment_;
  SegmentHeader header_;
  ArchiveError header_error_;
  uint64_t pos_ = 0;
  uint64_t valid_end_ = 0;
  std::vector<ArchiveDamage> damage_;
  // Once a resynchronisation began: the CRC32C of the first k * kPrefixStride bytes at k,
  // extended as far as a candidate block needs, and the block Resync found (already checked).
  bool resyncing_ = false;
  std::vector<uint32_t> prefix_crcs_;
  uint64_t resync_found_ = UINT64_MAX;
  uint64_t checksummed_bytes_ = 0;
};

}  // namespace beacon::kernels
