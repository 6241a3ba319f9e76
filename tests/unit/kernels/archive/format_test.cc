// Record, header and block codecs of the archive, with and without a trained dictionary.
#include "kernels/archive/format.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "kernels/archive/block_codec.h"
#include "kernels/archive/crc32c.h"
#include "kernels/archive/dictionary.h"
#include "tests/unit/kernels/archive/version_one_block.h"

namespace beacon::kernels {
namespace {

using archive_test::VersionOneBlock;

ArchiveRecord Sample(int i, std::string* storage) {
  *storage = "v=1&t=pageview&tid=UA-" + std::to_string(100000 + i % 7) +
             "-1&cid=" + std::to_string(i * 7919) + "&dp=%2Fpage%2F" + std::to_string(i % 13);
  ArchiveRecord record;
  // Times are stored as differences: the extremes must survive them.
  record.receive_time_ms = i == 0   ? std::numeric_limits<int64_t>::min()
                           : i == 1 ? std::numeric_limits<int64_t>::max()
                                    : 1'700'000'000'000 + i;
  record.address_hash = 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(i + 1);
  record.ingress = i % 3 == 0 ? IngressKind::kUdpRelay : IngressKind::kHttp;
  record.endpoint = i % 2 == 0 ? Endpoint::kGaCollect : Endpoint::kGa4Gtag;
  record.country = static_cast<uint16_t>(i % 300);
  record.payload = *storage;
  record.query = i % 2 == 0 ? std::string_view() : std::string_view("tid=G-1&cid=5");
  record.user_agent = "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0";
  record.weight = i % 5 == 0 ? static_cast<uint32_t>(10 + i) : 1;
  return record;
}

// Stands in for another compressor (e.g. the card's): any conforming frame, here zstd level 19.
class Level19Compressor final : public BlockCompressor {
 public:
  void Compress(std::string_view raw, std::string* frame) override {
    frame->resize(ZSTD_compressBound(raw.size()));
    frame->resize(ZSTD_compress(frame->data(), frame->size(), raw.data(), raw.size(), 19));
  }
};

// The card's shape of payload: one frame per `chunk` raw bytes, back to back; frames under 256
// raw bytes without their content size, as the card writes them.
class ChunkedCompressor final : public BlockCompressor {
 public:
  explicit ChunkedCompressor(size_t chunk) : chunk_(chunk) {}
  ~ChunkedCompressor() override { ZSTD_freeCCtx(cctx_); }
  void Compress(std::string_view raw, std::string* frames) override {
    frames->clear();
    for (size_t at = 0; at < raw.size(); at += chunk_) {
      const std::string_view part = raw.substr(at, chunk_);
      ZSTD_CCtx_setParameter(cctx_, ZSTD_c_contentSizeFlag, part.size() >= 256 ? 1 : 0);
      std::string frame(ZSTD_compressBound(part.size()), '\0');
      frame.resize(ZSTD_compress2(cctx_, frame.data(), frame.size(), part.data(), part.size()));
      frames->append(frame);
      ++count_;
    }
  }
  size_t count() const { return count_; }

 private:
  size_t chunk_;
  ZSTD_CCtx* cctx_ = ZSTD_createCCtx();
  size_t count_ = 0;
};

// Gives fixed bytes as the payload: a block with any frames, its CRC correct.
class FixedPayload final : public BlockCompressor {
 public:
  explicit FixedPayload(std::string payload) : payload_(std::move(payload)) {}
  void Compress(std::string_view, std::string* frames) override { *frames = payload_; }

 private:
  std::string payload_;
};

std::string Frame(std::string_view raw, bool content_size = true) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, content_size ? 1 : 0);
  std::string frame(ZSTD_compressBound(raw.size()), '\0');
  frame.resize(ZSTD_compress2(cctx, frame.data(), frame.size(), raw.data(), raw.size()));
  ZSTD_freeCCtx(cctx);
  return frame;
}

void ExpectSame(const ArchiveRecord& a, const ArchiveRecord& b) {
  EXPECT_EQ(a.receive_time_ms, b.receive_time_ms);
  EXPECT_EQ(a.address_hash, b.address_hash);
  EXPECT_EQ(a.ingress, b.ingress);
  EXPECT_EQ(a.endpoint, b.endpoint);
  EXPECT_EQ(a.country, b.country);
  EXPECT_EQ(a.payload, b.payload);
  EXPECT_EQ(a.query, b.query);
  EXPECT_EQ(a.user_agent, b.user_agent);
  EXPECT_EQ(a.weight, b.weight);
}

TEST(BlockCodec, VersionOneBlocksStillDecodeWithWeightOneAndNoControlRecords) {
  std::vector<std::string> storage(40);
  std::vector<ArchiveRecord> records;
  for (int i = 0; i < 40; ++i) {
    records.push_back(Sample(i, &storage[static_cast<size_t>(i)]));
    records.back().weight = 1;
  }
  const std::string block = VersionOneBlock(records, 7);
  BlockDecoder decoder;
  ASSERT_EQ(decoder.Decode(block, 1), ArchiveError::kOk);
  ASSERT_EQ(decoder.records().size(), records.size());
  for (size_t i = 0; i < records.size(); ++i) ExpectSame(records[i], decoder.records()[i]);
  // Read as the current version, its columns do not add up.
  EXPECT_EQ(decoder.Decode(block), ArchiveError::kBadRecord);
  // Control records came with version 2: in a version 1 block one is a bad record.
  const std::string marker = EncodeEpochMarker({.epoch = 1, .first_sequence = 7});
  records.push_back(ControlRecord(marker, 1'700'000'000'000));
  EXPECT_EQ(decoder.Decode(VersionOneBlock(records, 7), 1), ArchiveError::kBadRecord);
}

TEST(Crc32c, StandardCheckValueAndExtension) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32cExtend(Crc32c("1234"), "56789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
}

TEST(Crc32c, CombineGivesTheCrcOfAConcatenationFromItsPartsCrcs) {
  std::string bytes(70'000, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 2654435761u >> 13);
  const std::string_view all = bytes;
  for (const size_t cut : {size_t{0}, size_t{1}, size_t{31}, size_t{4096}, size_t{69'999}}) {
    for (const size_t end : {cut, cut + 1, all.size()}) {
      if (end > all.size()) continue;
      EXPECT_EQ(
          Crc32cCombine(Crc32c(all.substr(0, cut)), Crc32c(all.substr(cut, end - cut)), end - cut),
          Crc32c(all.substr(0, end)))
          << cut << " " << end;
    }
  }
}

TEST(ArchiveFormat, OversizedFieldsAreRefused) {
  const std::string agent(kMaxUserAgentBytes + 1, 'a');
  ArchiveRecord record;
  record.user_agent = agent;
  BlockEncoder encoder(1);
  EXPECT_EQ(encoder.Add(record), ArchiveError::kTooLarge);
  EXPECT_TRUE(encoder.empty());
  const std::string payload(kMaxBlockRawBytes, 'p');
  record.user_agent = {};
  record.payload = payload;
  EXPECT_EQ(encoder.Add(record), ArchiveError::kTooLarge);
  EXPECT_EQ(encoder.raw_bytes(), 0u);
}

TEST(ArchiveFormat, SegmentHeaderRoundTripAndChecks) {
  SegmentHeader header;
  header.worker = 3;
  header.node = 0xABCDEF0123456789ull;
  header.first_sequence = 42;
  header.created_ms = 1'700'000'000'123;
  char bytes[kSegmentHeaderBytes];
  EncodeSegmentHeader(header, bytes);
  SegmentHeader decoded;
  ASSERT_EQ(DecodeSegmentHeader({bytes, sizeof(bytes)}, &decoded), ArchiveError::kOk);
  EXPECT_EQ(decoded.worker, 3u);
  EXPECT_EQ(decoded.node, header.node);
  EXPECT_EQ(decoded.first_sequence, 42u);
  EXPECT_EQ(decoded.created_ms, header.created_ms);
  EXPECT_EQ(decoded.version, kArchiveFormatVersion);
  EXPECT_FALSE(decoded.previous_times);
  header.previous_times = true;
  header.previous_min_ms = -5;
  header.previous_max_ms = 1'700'000'000'999;
  EncodeSegmentHeader(header, bytes);
  ASSERT_EQ(DecodeSegmentHeader({bytes, sizeof(bytes)}, &decoded), ArchiveError::kOk);
  EXPECT_TRUE(decoded.previous_times);
  EXPECT_EQ(decoded.previous_min_ms, -5);
  EXPECT_EQ(decoded.previous_max_ms, 1'700'000'000'999);
  EXPECT_EQ(DecodeSegmentHeader({bytes, 63}, &decoded), ArchiveError::kTruncated);
  EXPECT_EQ(decoded.version, kArchiveFormatVersion);
  for (const uint16_t version : {uint16_t{0}, kMinArchiveFormatVersion, kArchiveFormatVersion,
                                 uint16_t{kArchiveFormatVersion + 1}}) {
    header.version = version;
    EncodeSegmentHeader(header, bytes);
    const bool known = version >= kMinArchiveFormatVersion && version <= kArchiveFormatVersion;
    EXPECT_EQ(DecodeSegmentHeader({bytes, sizeof(bytes)}, &decoded),
              known ? ArchiveError::kOk : ArchiveError::kBadVersion)
        << version;
  }
  bytes[20] ^= 1;
  EXPECT_EQ(DecodeSegmentHeader({bytes, sizeof(bytes)}, &decoded), ArchiveError::kBadChecksum);
  bytes[0] = 'X';
  EXPECT_EQ(DecodeSegmentHeader({bytes, sizeof(bytes)}, &decoded), ArchiveError::kBadMagic);
}

TEST(ArchiveFormat, ReadsVersionOneAndTwoSegmentsOnly) {
  SegmentHeader header;
  char bytes[kSegmentHeaderBytes];
  SegmentHeader decoded;
  for (const uint16_t version : {uint16_t{0}, uint16_t{1}, uint16_t{2}, uint16_t{3}}) {
    header.version = version;
    EncodeSegmentHeader(header, bytes);
    EXPECT_EQ(DecodeSegmentHeader({bytes, sizeof(bytes)}, &decoded),
              version == 1 || version == 2 ? ArchiveError::kOk : ArchiveError::kBadVersion)
        << version;
  }
  EXPECT_EQ(SegmentHeader().version, 2);
}

TEST(ArchiveFormat, EpochMarkerRoundTripsInABlockAmongRecords) {
  const EpochMarker marker{
      .epoch = 7, .first_sequence = 100, .last_sequence = 163, .breakdown_cut = true};
  const std::string payload = EncodeEpochMarker(marker);
  ASSERT_EQ(payload.size(), kEpochMarkerBytes);
  BlockEncoder encoder(1);
  std::string storage;
  ASSERT_EQ(encoder.Add(Sample(5, &storage)), ArchiveError::kOk);
  ASSERT_EQ(encoder.Add(ControlRecord(payload, 1'700'000'000'000)), ArchiveError::kOk);
  std::string block;
  encoder.Finish(163, &block);
  BlockDecoder decoder;
  ASSERT_EQ(decoder.Decode(block), ArchiveError::kOk);
  ASSERT_EQ(decoder.records().size(), 2u);
  EXPECT_FALSE(IsControlRecord(decoder.records()[0]));
  ASSERT_TRUE(IsControlRecord(decoder.records()[1]));
  EpochMarker decoded;
  ASSERT_EQ(DecodeEpochMarker(decoder.records()[1].payload, &decoded), ArchiveError::kOk);
  EXPECT_EQ(decoded.epoch, 7u);
  EXPECT_EQ(decoded.first_sequence, 100u);
  EXPECT_EQ(decoded.last_sequence, 163u);
  EXPECT_TRUE(decoded.breakdown_cut);
  EXPECT_EQ(DecodeEpochMarker(payload.substr(1), &decoded), ArchiveError::kBadRecord);
  std::string flags = payload;
  flags[28] = 2;
  EXPECT_EQ(DecodeEpochMarker(flags, &decoded), ArchiveError::kBadRecord);
  EXPECT_EQ(DecodeEpochMarker(decoder.records()[0].payload, &decoded), ArchiveError::kBadRecord);
}

TEST(BlockCodec, RoundTripAndEveryFlippedBitRefused) {
  BlockEncoder encoder(3);
  std::vector<std::string> storage(200);
  std::vector<ArchiveRecord> records;
  for (int i = 0; i < 200; ++i) {
    records.push_back(Sample(i, &storage[static_cast<size_t>(i)]));
    ASSERT_EQ(encoder.Add(records.back()), ArchiveError::kOk);
  }
  EXPECT_EQ(encoder.record_count(), 200u);
  std::string block;
  encoder.Finish(1000, &block);
  EXPECT_TRUE(encoder.empty());
  BlockDecoder decoder;
  ASSERT_EQ(decoder.Decode(block), ArchiveError::kOk);
  EXPECT_EQ(decoder.header().first_sequence, 1000u);
  EXPECT_EQ(decoder.header().dictionary_id, 0u);
  ASSERT_EQ(decoder.records().size(), 200u);
  for (size_t i = 0; i < records.size(); ++i) ExpectSame(records[i], decoder.records()[i]);
  for (size_t bit = 0; bit < block.size() * 8; ++bit) {
    std::string flipped = block;
    flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
    ASSERT_NE(decoder.Decode(flipped), ArchiveError::kOk) << "bit " << bit;
    ASSERT_TRUE(decoder.records().empty());
  }
}

TEST(BlockCodec, AnotherCompressorsFrameDecodesToTheSameRecords) {
  BlockEncoder ours(1);
  BlockEncoder theirs(1);
  std::vector<std::string> storage(300);
  std::vector<ArchiveRecord> records;
  for (int i = 0; i < 300; ++i) {
    records.push_back(Sample(i, &storage[static_cast<size_t>(i)]));
    ASSERT_EQ(ours.Add(records.back()), ArchiveError::kOk);
    ASSERT_EQ(theirs.Add(records.back()), ArchiveError::kOk);
  }
  std::string our_block;
  std::string their_block;
  ours.Finish(42, &our_block);
  Level19Compressor level19;
  theirs.Finish(42, &their_block, &level19);
  EXPECT_TRUE(theirs.empty());
  ASSERT_NE(our_block.substr(kBlockHeaderBytes), their_block.substr(kBlockHeaderBytes));
  BlockDecoder our_decoder;
  BlockDecoder their_decoder;
  ASSERT_EQ(our_decoder.Decode(our_block), ArchiveError::kOk);
  ASSERT_EQ(their_decoder.Decode(their_block), ArchiveError::kOk);
  EXPECT_EQ(their_decoder.header().first_sequence, 42u);
  EXPECT_EQ(their_decoder.header().raw_bytes, our_decoder.header().raw_bytes);
  ASSERT_EQ(their_decoder.records().size(), records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    ExpectSame(records[i], their_decoder.records()[i]);
    ExpectSame(our_decoder.records()[i], their_decoder.records()[i]);
  }
}

TEST(BlockCodec, BlockOfManyFramesReadsBackTheSameRecords) {
  std::vector<std::string> storage(2000);
  std::vector<ArchiveRecord> records;
  BlockEncoder one(1);
  BlockEncoder many(1);
  for (int i = 0; i < 2000; ++i) {
    records.push_back(Sample(i, &storage[static_cast<size_t>(i)]));
    ASSERT_EQ(one.Add(records.back()), ArchiveError::kOk);
    ASSERT_EQ(many.Add(records.back()), ArchiveError::kOk);
  }
  const size_t raw_bytes = many.raw_bytes();
  // 32 KiB frames as the card makes them, and a last frame under 256 bytes without its size.
  ChunkedCompressor chunked(32 << 10);
  ASSERT_GT(raw_bytes % (32 << 10), 0u);
  std::string single;
  std::string block;
  one.Finish(7, &single);
  many.Finish(7, &block, &chunked);
  EXPECT_EQ(chunked.count(), (raw_bytes + (32 << 10) - 1) / (32 << 10));
  ASSERT_GT(chunked.count(), 2u);
  BlockDecoder decoder;
  ASSERT_EQ(decoder.Decode(block), ArchiveError::kOk);
  ASSERT_EQ(decoder.records().size(), records.size());
  for (size_t i = 0; i < records.size(); ++i) ExpectSame(records[i], decoder.records()[i]);
  // Version 1 segments hold one frame per block: a block of several is refused there (their
  // single-frame blocks: VersionOneBlocksStillDecode...).
  EXPECT_EQ(decoder.Decode(block, 1), ArchiveError::kDecompress);
  EXPECT_TRUE(decoder.records().empty());
  ASSERT_EQ(decoder.Decode(single), ArchiveError::kOk);
  EXPECT_EQ(decoder.records().size(), records.size());
}

TEST(BlockCodec, FramesThatDoNotMakeExactlyTheBlockAreRefused) {
  std::string value;
  const ArchiveRecord record = Sample(5, &value);
  BlockEncoder encoder(1);
  ASSERT_EQ(encoder.Add(record), ArchiveError::kOk);
  std::string good;
  encoder.Finish(1, &good);
  const std::string raw_frame = good.substr(kBlockHeaderBytes);
  std::string raw(EncodedRecordBytes(record), '\0');
  ASSERT_EQ(ZSTD_decompress(raw.data(), raw.size(), raw_frame.data(), raw_frame.size()),
            raw.size());
  const std::string half_a = raw.substr(0, raw.size() / 2);
  const std::string half_b = raw.substr(raw.size() / 2);
  const char skippable[8] = {0x50, 0x2A, 0x4D, 0x18, 0, 0, 0, 0};
  const struct {
    const char* what;
    std::string payload;
    ArchiveError expected;
  } cases[] = {
      {"two halves", Frame(half_a) + Frame(half_b), ArchiveError::kOk},
      {"two halves, sizes omitted", Frame(half_a, false) + Frame(half_b, false), ArchiveError::kOk},
      {"one half", Frame(half_a), ArchiveError::kDecompress},
      {"a half too many", Frame(raw) + Frame(half_b), ArchiveError::kDecompress},
      {"too many, sizes omitted", Frame(raw, false) + Frame(half_b, false),
       ArchiveError::kDecompress},
      {"trailing byte", Frame(raw) + "x", ArchiveError::kDecompress},
      {"skippable frame", std::string(skippable, 8) + Frame(raw), ArchiveError::kDecompress},
  };
  BlockDecoder decoder;
  for (const auto& c : cases) {
    FixedPayload payload(c.payload);
    ASSERT_EQ(encoder.Add(record), ArchiveError::kOk);
    std::string block;
    encoder.Finish(1, &block, &payload);
    EXPECT_EQ(decoder.Decode(block), c.expected) << c.what;
    if (c.expected == ArchiveError::kOk) {
      ASSERT_EQ(decoder.records().size(), 1u);
      ExpectSame(record, decoder.records()[0]);
    }
  }
}

TEST(BlockCodec, TrainedDictionaryRoundTripAndUnknownDictionary) {
  std::vector<std::string> storage(2000);
  std::vector<ArchiveRecord> samples;
  for (int i = 0; i < 2000; ++i) samples.push_back(Sample(i, &storage[static_cast<size_t>(i)]));
  std::string trained = TrainArchiveDictionary(samples, 16 << 10);
  ASSERT_FALSE(trained.empty());
  DictionarySet dictionaries;
  ASSERT_TRUE(dictionaries.Add(trained));
  EXPECT_FALSE(dictionaries.Add(trained));  // the id is held
  EXPECT_FALSE(dictionaries.Add("not a dictionary"));
  const ArchiveDictionary* dictionary = dictionaries.Find(ArchiveDictionary::Load(trained)->id());
  ASSERT_NE(dictionary, nullptr);

  BlockEncoder encoder(1, dictionary);
  std::vector<std::string> values(50);
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(encoder.Add(Sample(i, &values[static_cast<size_t>(i)])), ArchiveError::kOk);
  }
  std::string block;
  encoder.Finish(1, &block);
  BlockDecoder with(&dictionaries);
  ASSERT_EQ(with.Decode(block), ArchiveError::kOk);
  EXPECT_EQ(with.header().dictionary_id, dictionary->id());
  EXPECT_EQ(with.records().size(), 50u);
  BlockDecoder without;
  EXPECT_EQ(without.Decode(block), ArchiveError::kUnknownDictionary);
  EXPECT_TRUE(without.records().empty());
  // Another compressor's frame uses no dictionary: the block names none.
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(encoder.Add(Sample(i, &values[static_cast<size_t>(i)])), ArchiveError::kOk);
  }
  Level19Compressor level19;
  encoder.Finish(51, &block, &level19);
  ASSERT_EQ(without.Decode(block), ArchiveError::kOk);
  EXPECT_EQ(without.header().dictionary_id, 0u);
  EXPECT_EQ(without.records().size(), 50u);
}

}  // namespace
}  // namespace beacon::kernels
