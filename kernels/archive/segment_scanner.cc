// Segment scanning with torn-tail and corruption recovery; see segment_scanner.h.
#include "kernels/archive/segment_scanner.h"

#include <algorithm>
#include <cstring>

namespace beacon::kernels {
namespace {

constexpr char kBlockMagicBytes[4] = {
    static_cast<char>(kBlockMagic & 0xFF), static_cast<char>((kBlockMagic >> 8) & 0xFF),
    static_cast<char>((kBlockMagic >> 16) & 0xFF), static_cast<char>(kBlockMagic >> 24)};

}  // namespace

SegmentScanner::SegmentScanner(std::string_view segment)
    : segment_(segment), header_error_(DecodeSegmentHeader(segment, &header_)) {
  if (header_error_ == ArchiveError::kOk) {
    pos_ = kSegmentHeaderBytes;
    valid_end_ = kSegmentHeaderBytes;
  } else if (!segment_.empty()) {
    // A damaged header: its bytes up to the first valid block are damage.
    pos_ = Resync(0);
    const bool torn = header_error_ == ArchiveError::kTruncated && pos_ == segment_.size();
    if (pos_ > 0) {
      damage_.push_back(
          {0, pos_, torn ? DamageKind::kTornTail : DamageKind::kCorrupt, header_error_});
    }
  }
}

ArchiveError SegmentScanner::TryBlock(uint64_t offset, ScannedBlock* block) const {
  const std::string_view rest = segment_.substr(offset);
  if (rest.size() < kBlockHeaderBytes) {
    // A header cut short is a torn tail as long as what is left of the magic matches.
    const size_t n = std::min(rest.size(), sizeof(kBlockMagicBytes));
    return std::memcmp(rest.data(), kBlockMagicBytes, n) == 0 ? ArchiveError::kTruncated
                                                              : ArchiveError::kBadMagic;
  }
  const ArchiveError error = DecodeBlockHeader(rest, &block->header);
  if (error != ArchiveError::kOk) return error;
  if (rest.size() - kBlockHeaderBytes < block->header.frame_bytes) return ArchiveError::kTruncated;
  block->bytes = rest.substr(0, kBlockHeaderBytes + block->header.frame_bytes);
  if (BlockChecksum(block->bytes, block->bytes.substr(kBlockHeaderBytes)) != block->header.crc) {
    return ArchiveError::kBadChecksum;
  }
  block->offset = offset;
  return ArchiveError::kOk;
}

uint64_t SegmentScanner::Resync(uint64_t from) const {
  const std::string_view magic(kBlockMagicBytes, sizeof(kBlockMagicBytes));
  for (size_t at = segment_.find(magic, from); at != std::string_view::npos;
       at = segment_.find(magic, at + 1)) {
    ScannedBlock candidate;
    if (TryBlock(at, &candidate) == ArchiveError::kOk) return at;
  }
  return segment_.size();
}

bool SegmentScanner::Next(ScannedBlock* block) {
  while (pos_ < segment_.size()) {
    const ArchiveError error = TryBlock(pos_, block);
    if (error == ArchiveError::kOk) {
      pos_ += block->bytes.size();
      valid_end_ = pos_;
      return true;
    }
    const uint64_t next = Resync(pos_ + 1);
    const bool torn = error == ArchiveError::kTruncated && next == segment_.size();
    damage_.push_back(
        {pos_, next - pos_, torn ? DamageKind::kTornTail : DamageKind::kCorrupt, error});
    pos_ = next;
  }
  return false;
}

}  // namespace beacon::kernels
