// Record, header and block codecs of the archive, with and without a trained dictionary.
#include "kernels/archive/format.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include <limits>
#include <string>
#include <vector>

#include "kernels/archive/block_codec.h"
#include "kernels/archive/crc32c.h"
#include "kernels/archive/dictionary.h"

namespace beacon::kernels {
namespace {

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

template <typename T>
void Put(std::string* out, T value) {
  char bytes[sizeof(T)];
  StoreLittleEndian<T>(bytes, value);
  out->append(bytes, sizeof(T));
}

// A block as version 1 wrote it: the columns without the weight.
std::string VersionOneBlock(const std::vector<ArchiveRecord>& records, uint64_t first_sequence) {
  std::string raw;
  int64_t last = 0;
  for (const auto& r : records) {
    Put<uint64_t>(&raw, static_cast<uint64_t>(r.receive_time_ms) - static_cast<uint64_t>(last));
    last = r.receive_time_ms;
  }
  for (const auto& r : records) Put<uint64_t>(&raw, r.address_hash);
  for (const auto& r : records) Put<uint32_t>(&raw, static_cast<uint32_t>(r.payload.size()));
  for (const auto& r : records) Put<uint32_t>(&raw, static_cast<uint32_t>(r.query.size()));
  for (const auto& r : records) Put<uint16_t>(&raw, static_cast<uint16_t>(r.user_agent.size()));
  for (const auto& r : records) Put<uint16_t>(&raw, r.country);
  for (const auto& r : records) Put<uint8_t>(&raw, static_cast<uint8_t>(r.ingress));
  for (const auto& r : records) Put<uint8_t>(&raw, static_cast<uint8_t>(r.endpoint));
  for (const auto& r : records) raw.append(r.payload);
  for (const auto& r : records) raw.append(r.query);
  for (const auto& r : records) raw.append(r.user_agent);
  std::string frame(ZSTD_compressBound(raw.size()), '\0');
  frame.resize(ZSTD_compress(frame.data(), frame.size(), raw.data(), raw.size(), 1));
  BlockHeader header;
  header.raw_bytes = static_cast<uint32_t>(raw.size());
  header.first_sequence = first_sequence;
  header.record_count = static_cast<uint32_t>(records.size());
  std::string block(kBlockHeaderBytes, '\0');
  EncodeBlockHeader(header, frame, block.data());
  return block + frame;
}

// Stands in for another compressor (e.g. the card's): any conforming frame, here zstd level 19.
class Level19Compressor final : public BlockCompressor {
 public:
  void Compress(std::string_view raw, std::string* frame) override {
    frame->resize(ZSTD_compressBound(raw.size()));
    frame->resize(ZSTD_compress(frame->data(), frame->size(), raw.data(), raw.size(), 19));
  }
};

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

TEST(BlockCodec, VersionOneBlocksStillDecodeWithWeightOne) {
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
}

TEST(Crc32c, StandardCheckValueAndExtension) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32cExtend(Crc32c("1234"), "56789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
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
  // Version 1 segments are read; a version from the future is not.
  for (const uint16_t version : {uint16_t{1}, uint16_t{kArchiveFormatVersion + 1}}) {
    header.version = version;
    char other[kSegmentHeaderBytes];
    EncodeSegmentHeader(header, other);
    EXPECT_EQ(DecodeSegmentHeader({other, sizeof(other)}, &decoded),
              version == 1 ? ArchiveError::kOk : ArchiveError::kBadVersion);
  }
  EXPECT_EQ(DecodeSegmentHeader({bytes, 63}, &decoded), ArchiveError::kTruncated);
  bytes[20] ^= 1;
  EXPECT_EQ(DecodeSegmentHeader({bytes, sizeof(bytes)}, &decoded), ArchiveError::kBadChecksum);
  bytes[0] = 'X';
  EXPECT_EQ(DecodeSegmentHeader({bytes, sizeof(bytes)}, &decoded), ArchiveError::kBadMagic);
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
