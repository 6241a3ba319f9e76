// SegmentScanner recovery: a torn tail cut at every byte of the last block, and bit flips in the
// header and in every block, never yield an invented record and keep the other blocks readable.
#include "kernels/archive/segment_scanner.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "kernels/archive/block_codec.h"

namespace beacon::kernels {
namespace {

struct Segment {
  std::string bytes;
  std::vector<uint64_t> block_offsets;  // and bytes.size() at the end
  std::vector<uint32_t> block_records;
};

// Records of various sizes (empty payloads, one bigger than a typical block) in `blocks` blocks.
Segment BuildSegment(int blocks) {
  Segment segment;
  SegmentHeader header;
  header.worker = 1;
  header.first_sequence = 1;
  segment.bytes.resize(kSegmentHeaderBytes);
  EncodeSegmentHeader(header, segment.bytes.data());
  BlockEncoder encoder(1);
  uint64_t sequence = 1;
  for (int b = 0; b < blocks; ++b) {
    const int records = 1 + b * 7 % 40;
    for (int r = 0; r < records; ++r) {
      const std::string payload(static_cast<size_t>((b * 131 + r * 17) % (b == 2 ? 70000 : 600)),
                                static_cast<char>('a' + r % 26));
      ArchiveRecord record;
      record.receive_time_ms = static_cast<int64_t>(sequence) + r;
      record.payload = payload;
      record.user_agent = "agent";
      EXPECT_EQ(encoder.Add(record), ArchiveError::kOk);
    }
    std::string block;
    segment.block_offsets.push_back(segment.bytes.size());
    segment.block_records.push_back(encoder.record_count());
    encoder.Finish(sequence, &block);
    sequence += static_cast<uint64_t>(records);
    segment.bytes += block;
  }
  segment.block_offsets.push_back(segment.bytes.size());
  return segment;
}

struct Scan {
  std::vector<uint64_t> offsets;
  std::vector<uint64_t> sequences;  // every decoded record's sequence, in order
  std::vector<ArchiveDamage> damage;
  ArchiveError header_error = ArchiveError::kOk;
  uint64_t valid_end = 0;
};

Scan ScanAll(std::string_view bytes) {
  Scan scan;
  SegmentScanner scanner(bytes);
  BlockDecoder decoder;
  ScannedBlock block;
  while (scanner.Next(&block)) {
    scan.offsets.push_back(block.offset);
    EXPECT_EQ(decoder.Decode(block.bytes), ArchiveError::kOk);
    for (size_t i = 0; i < decoder.records().size(); ++i) {
      EXPECT_EQ(decoder.records()[i].receive_time_ms,
                static_cast<int64_t>(block.header.first_sequence + i));
      scan.sequences.push_back(block.header.first_sequence + i);
    }
  }
  scan.damage = scanner.damage();
  scan.header_error = scanner.header_error();
  scan.valid_end = scanner.valid_end();
  return scan;
}

TEST(SegmentScanner, YieldsEveryBlockOfAnIntactSegment) {
  const Segment segment = BuildSegment(6);
  const Scan scan = ScanAll(segment.bytes);
  EXPECT_EQ(scan.header_error, ArchiveError::kOk);
  EXPECT_TRUE(scan.damage.empty());
  EXPECT_EQ(scan.offsets.size(), 6u);
  EXPECT_EQ(scan.valid_end, segment.bytes.size());
  for (size_t i = 0; i < scan.sequences.size(); ++i) EXPECT_EQ(scan.sequences[i], i + 1);
}

TEST(SegmentScanner, TornTailAtEveryByteOfTheLastBlock) {
  const Segment segment = BuildSegment(4);
  const uint64_t last = segment.block_offsets[3];
  uint64_t complete_records = 0;
  for (int b = 0; b < 3; ++b) complete_records += segment.block_records[static_cast<size_t>(b)];
  for (uint64_t cut = last; cut < segment.bytes.size(); ++cut) {
    const Scan scan = ScanAll(std::string_view(segment.bytes).substr(0, cut));
    ASSERT_EQ(scan.offsets.size(), 3u) << "cut at " << cut;
    ASSERT_EQ(scan.sequences.size(), complete_records) << "cut at " << cut;
    ASSERT_EQ(scan.valid_end, last);
    if (cut == last) {
      ASSERT_TRUE(scan.damage.empty());
      continue;
    }
    ASSERT_EQ(scan.damage.size(), 1u) << "cut at " << cut;
    EXPECT_EQ(scan.damage[0].kind, DamageKind::kTornTail) << "cut at " << cut;
    EXPECT_EQ(scan.damage[0].offset, last);
    EXPECT_EQ(scan.damage[0].bytes, cut - last);
  }
}

TEST(SegmentScanner, TornHeaderYieldsNothing) {
  const Segment segment = BuildSegment(1);
  for (size_t cut = 1; cut < kSegmentHeaderBytes; ++cut) {
    const Scan scan = ScanAll(std::string_view(segment.bytes).substr(0, cut));
    EXPECT_EQ(scan.header_error, ArchiveError::kTruncated);
    EXPECT_TRUE(scan.sequences.empty());
    ASSERT_EQ(scan.damage.size(), 1u);
    EXPECT_EQ(scan.damage[0].kind, DamageKind::kTornTail);
  }
  EXPECT_TRUE(ScanAll("").damage.empty());
}

// Flips `bit` and checks: the flip is detected, no record of the damaged block comes out, every
// other block does.
void CheckFlip(const Segment& segment, uint64_t bit) {
  std::string bytes = segment.bytes;
  bytes[bit / 8] = static_cast<char>(bytes[bit / 8] ^ (1 << (bit % 8)));
  const Scan scan = ScanAll(bytes);
  const uint64_t at = bit / 8;
  if (at < kSegmentHeaderBytes) {
    ASSERT_NE(scan.header_error, ArchiveError::kOk) << "bit " << bit;
    ASSERT_EQ(scan.offsets.size(), segment.block_offsets.size() - 1) << "bit " << bit;
    return;
  }
  size_t hit = 0;
  while (segment.block_offsets[hit + 1] <= at) ++hit;
  ASSERT_FALSE(scan.damage.empty()) << "bit " << bit;
  EXPECT_EQ(scan.damage[0].offset, segment.block_offsets[hit]) << "bit " << bit;
  if (hit + 2 < segment.block_offsets.size()) {
    EXPECT_EQ(scan.damage[0].kind, DamageKind::kCorrupt) << "bit " << bit;
  }
  std::vector<uint64_t> expected;
  for (size_t b = 0; b + 1 < segment.block_offsets.size(); ++b) {
    if (b != hit) expected.push_back(segment.block_offsets[b]);
  }
  ASSERT_EQ(scan.offsets, expected) << "bit " << bit;
}

TEST(SegmentScanner, FlippedBitsAreDetectedAndLaterBlocksStayReadable) {
  const Segment segment = BuildSegment(5);
  for (uint64_t bit = 0; bit < kSegmentHeaderBytes * 8; ++bit) CheckFlip(segment, bit);
  std::mt19937_64 rng(7);
  for (size_t b = 0; b + 1 < segment.block_offsets.size(); ++b) {
    const uint64_t begin = segment.block_offsets[b] * 8;
    const uint64_t end = segment.block_offsets[b + 1] * 8;
    for (uint64_t bit = begin; bit < begin + kBlockHeaderBytes * 8; ++bit) {
      CheckFlip(segment, bit);
    }
    for (int i = 0; i < 300; ++i) {
      CheckFlip(segment, begin + kBlockHeaderBytes * 8 + rng() % (end - begin - 256));
    }
  }
}

TEST(SegmentScanner, GarbageBetweenBlocksIsSkipped) {
  const Segment segment = BuildSegment(3);
  std::string bytes = segment.bytes;
  bytes.insert(segment.block_offsets[1], std::string(100, '\0'));
  const Scan scan = ScanAll(bytes);
  ASSERT_EQ(scan.damage.size(), 1u);
  EXPECT_EQ(scan.damage[0].offset, segment.block_offsets[1]);
  EXPECT_EQ(scan.damage[0].bytes, 100u);
  EXPECT_EQ(scan.damage[0].kind, DamageKind::kCorrupt);
  EXPECT_EQ(scan.offsets.size(), 3u);
}

}  // namespace
}  // namespace beacon::kernels
