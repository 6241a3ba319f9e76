// Segment scanning with torn-tail and corruption recovery; see segment_scanner.h.
#include "kernels/archive/segment_scanner.h"

#include <algorithm>
#include <cstring>

#include "kernels/archive/crc32c.h"

namespace beacon::kernels {
namespace {

constexpr char kBlockMagicBytes[4] = {
    static_cast<char>(kBlockMagic & 0xFF), static_cast<char>((kBlockMagic >> 8) & 0xFF),
    static_cast<char>((kBlockMagic >> 16) & 0xFF), static_cast<char>(kBlockMagic >> 24)};

// Bytes between two prefix CRCs: a candidate's CRC costs at most 24 + 2 * (kPrefixStride - 1)
// bytes checksummed, and the prefix CRCs take 4 / kPrefixStride of the segment's size.
constexpr uint64_t kPrefixStride = 64;

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

ArchiveError SegmentScanner::TryBlock(uint64_t offset, ScannedBlock* block) {
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
  if (offset != resync_found_ && BlockCrc(offset, block->header) != block->header.crc) {
    return ArchiveError::kBadChecksum;
  }
  block->offset = offset;
  return ArchiveError::kOk;
}

uint32_t SegmentScanner::Checksum(uint32_t crc, std::string_view bytes) {
  checksummed_bytes_ += bytes.size();
  return Crc32cExtend(crc, bytes);
}

uint32_t SegmentScanner::BlockCrc(uint64_t offset, const BlockHeader& header) {
  const std::string_view head = segment_.substr(offset + 8, kBlockHeaderBytes - 8);
  const uint64_t payload = offset + kBlockHeaderBytes;
  if (!resyncing_) return Checksum(Checksum(0, head), segment_.substr(payload, header.frame_bytes));
  // After damage every magic is a candidate, and payloads claimed by attacker-sent bytes may
  // overlap: reading each would cost O(n) per magic. From the prefix CRCs instead,
  // crc(payload) = Combine(P(start), P(end), len) (Crc32cCombine is linear in its CRCs).
  return Crc32cCombine(Checksum(0, head) ^ PrefixCrc(payload),
                       PrefixCrc(payload + header.frame_bytes), header.frame_bytes);
}

uint32_t SegmentScanner::PrefixCrc(uint64_t end) {
  if (prefix_crcs_.empty()) prefix_crcs_.push_back(0);
  const uint64_t k = end / kPrefixStride;
  while (prefix_crcs_.size() <= k) {
    const uint64_t at = (prefix_crcs_.size() - 1) * kPrefixStride;
    prefix_crcs_.push_back(Checksum(prefix_crcs_.back(), segment_.substr(at, kPrefixStride)));
  }
  return Checksum(prefix_crcs_[k], segment_.substr(k * kPrefixStride, end - k * kPrefixStride));
}

uint64_t SegmentScanner::Resync(uint64_t from) {
  resyncing_ = true;
  const std::string_view magic(kBlockMagicBytes, sizeof(kBlockMagicBytes));
  for (size_t at = segment_.find(magic, from); at != std::string_view::npos;
       at = segment_.find(magic, at + 1)) {
    ScannedBlock candidate;
    if (TryBlock(at, &candidate) == ArchiveError::kOk) {
      resync_found_ = at;
      return at;
    }
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
