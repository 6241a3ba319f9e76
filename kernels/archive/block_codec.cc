// Block encoder and decoder over zstd; see block_codec.h.
#include "kernels/archive/block_codec.h"

#include <zstd.h>

#include <cstdlib>

namespace beacon::kernels {

BlockEncoder::BlockEncoder(int level, const ArchiveDictionary* dictionary)
    : cctx_(ZSTD_createCCtx()) {
  ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, level);
  if (dictionary != nullptr) {
    cdict_ = ZSTD_createCDict(dictionary->bytes().data(), dictionary->bytes().size(), level);
    ZSTD_CCtx_refCDict(cctx_, cdict_);
    dictionary_id_ = dictionary->id();
  }
}

BlockEncoder::~BlockEncoder() {
  ZSTD_freeCCtx(cctx_);
  ZSTD_freeCDict(cdict_);
}

namespace {

enum Column : size_t {
  kTime,
  kAddressHash,
  kPayloadBytes,
  kQueryBytes,
  kUserAgentBytes,
  kCountry,
  kIngress,
  kEndpoint,
  kWeight,
  kPayloads,
  kQueries,
  kUserAgents,
};

template <typename T>
void Append(std::string& column, T value) {
  char bytes[sizeof(T)];
  StoreLittleEndian<T>(bytes, value);
  column.append(bytes, sizeof(T));
}

constexpr uint8_t kLastIngress = static_cast<uint8_t>(IngressKind::kControl);
constexpr uint8_t kLastEndpoint = static_cast<uint8_t>(Endpoint::kUdpSyslog);

}  // namespace

ArchiveError BlockEncoder::Add(const ArchiveRecord& record) {
  if (WouldOverflow(record) || record.user_agent.size() > kMaxUserAgentBytes) {
    return ArchiveError::kTooLarge;
  }
  // Differences modulo 2^64: defined for any pair of times.
  Append<uint64_t>(columns_[kTime], static_cast<uint64_t>(record.receive_time_ms) -
                                        static_cast<uint64_t>(last_time_ms_));
  last_time_ms_ = record.receive_time_ms;
  Append<uint64_t>(columns_[kAddressHash], record.address_hash);
  Append<uint32_t>(columns_[kPayloadBytes], static_cast<uint32_t>(record.payload.size()));
  Append<uint32_t>(columns_[kQueryBytes], static_cast<uint32_t>(record.query.size()));
  Append<uint16_t>(columns_[kUserAgentBytes], static_cast<uint16_t>(record.user_agent.size()));
  Append<uint16_t>(columns_[kCountry], record.country);
  Append<uint8_t>(columns_[kIngress], static_cast<uint8_t>(record.ingress));
  Append<uint8_t>(columns_[kEndpoint], static_cast<uint8_t>(record.endpoint));
  Append<uint32_t>(columns_[kWeight], record.weight);
  columns_[kPayloads].append(record.payload);
  columns_[kQueries].append(record.query);
  columns_[kUserAgents].append(record.user_agent);
  raw_bytes_ += EncodedRecordBytes(record);
  ++count_;
  return ArchiveError::kOk;
}

void BlockEncoder::Reset() {
  for (std::string& column : columns_) column.clear();
  last_time_ms_ = 0;
  raw_bytes_ = 0;
  count_ = 0;
}

void BlockEncoder::Finish(uint64_t first_sequence, std::string* out, BlockCompressor* compressor) {
  // Column by column: like bytes sit together, which zstd rewards (README.md).
  raw_.clear();
  for (const std::string& column : columns_) raw_.append(column);
  if (compressor != nullptr) {
    compressor->Compress(raw_, &frames_);
    out->resize(kBlockHeaderBytes);
    out->append(frames_);
  } else {
    out->resize(kBlockHeaderBytes + ZSTD_compressBound(raw_.size()));
    const size_t frame = ZSTD_compress2(cctx_, out->data() + kBlockHeaderBytes,
                                        out->size() - kBlockHeaderBytes, raw_.data(), raw_.size());
    // With a bound-sized buffer and a valid level, zstd fails only when out of memory.
    if (ZSTD_isError(frame)) std::abort();
    out->resize(kBlockHeaderBytes + frame);
  }
  BlockHeader header;
  header.raw_bytes = static_cast<uint32_t>(raw_.size());
  header.first_sequence = first_sequence;
  header.record_count = count_;
  header.dictionary_id = compressor != nullptr ? 0 : dictionary_id_;
  EncodeBlockHeader(header, std::string_view(*out).substr(kBlockHeaderBytes), out->data());
  Reset();
}

BlockDecoder::BlockDecoder(const DictionaryStore* dictionaries)
    : dictionaries_(dictionaries), dctx_(ZSTD_createDCtx()) {}

BlockDecoder::~BlockDecoder() { ZSTD_freeDCtx(dctx_); }

ArchiveError BlockDecoder::Decode(std::string_view block, uint16_t version) {
  records_.clear();
  ArchiveError error = DecodeBlockHeader(block, &header_);
  if (error != ArchiveError::kOk) return error;
  if (block.size() != kBlockHeaderBytes + header_.frame_bytes) return ArchiveError::kBadLength;
  const std::string_view frames = block.substr(kBlockHeaderBytes);
  if (BlockChecksum(block, frames) != header_.crc) return ArchiveError::kBadChecksum;
  if (version != kUnknownFormatVersion) {
    error = Inflate(frames, version);
    return error != ArchiveError::kOk ? error : SplitRecords(version);
  }
  // A damaged segment header took the version with it. N records fill the raw bytes exactly at
  // 34 N + the payload, query and user-agent bytes in version 2 and at 30 N + the same sums in
  // version 1 (the length columns sit at the same offsets), so at most one version decodes a
  // block: trying each cannot misread one. Version 2's frame rules admit version 1's payloads.
  error = Inflate(frames, kArchiveFormatVersion);
  if (error != ArchiveError::kOk) return error;
  for (uint16_t v = kArchiveFormatVersion; v >= kMinArchiveFormatVersion; --v) {
    if (CheckBlockFrames(frames, header_.raw_bytes, v) == ArchiveError::kOk &&
        SplitRecords(v) == ArchiveError::kOk) {
      return ArchiveError::kOk;
    }
  }
  return ArchiveError::kBadRecord;
}

ArchiveError BlockDecoder::SplitRecords(uint16_t version) {
  const size_t n = header_.record_count;
  const bool weighted = version >= 2;  // version 2: a weight column, and control records
  const size_t fixed_bytes = weighted ? kRecordFixedBytes : kRecordFixedBytesV1;
  if (uint64_t{n} * fixed_bytes > raw_.size()) return ArchiveError::kBadRecord;
  // The fixed-width columns, each n values wide, in Column order.
  const char* time = raw_.data();
  const char* address_hash = time + 8 * n;
  const char* payload_bytes = address_hash + 8 * n;
  const char* query_bytes = payload_bytes + 4 * n;
  const char* agent_bytes = query_bytes + 4 * n;
  const char* country = agent_bytes + 2 * n;
  const char* ingress = country + 2 * n;
  const char* endpoint = ingress + n;
  const char* weight = endpoint + n;  // version 2
  records_.resize(n);
  uint64_t at = 0;
  uint64_t payloads = 0;
  uint64_t queries = 0;
  uint64_t agents = 0;
  for (size_t i = 0; i < n; ++i) {
    ArchiveRecord& record = records_[i];
    at += LoadLittleEndian<uint64_t>(time + 8 * i);
    record.receive_time_ms = static_cast<int64_t>(at);
    record.address_hash = LoadLittleEndian<uint64_t>(address_hash + 8 * i);
    record.country = LoadLittleEndian<uint16_t>(country + 2 * i);
    // Control records came with version 2.
    const uint8_t last_ingress = weighted ? kLastIngress : kLastIngress - 1;
    if (static_cast<uint8_t>(ingress[i]) > last_ingress ||
        static_cast<uint8_t>(endpoint[i]) > kLastEndpoint) {
      records_.clear();
      return ArchiveError::kBadRecord;
    }
    record.ingress = static_cast<IngressKind>(ingress[i]);
    record.endpoint = static_cast<Endpoint>(endpoint[i]);
    record.weight = weighted ? LoadLittleEndian<uint32_t>(weight + 4 * i) : 1;
    if (record.weight == 0) {
      records_.clear();
      return ArchiveError::kBadRecord;
    }
    payloads += LoadLittleEndian<uint32_t>(payload_bytes + 4 * i);
    queries += LoadLittleEndian<uint32_t>(query_bytes + 4 * i);
    agents += LoadLittleEndian<uint16_t>(agent_bytes + 2 * i);
  }
  if (n * fixed_bytes + payloads + queries + agents != raw_.size()) {
    records_.clear();
    return ArchiveError::kBadRecord;
  }
  const std::string_view raw = raw_;
  size_t payload_at = n * fixed_bytes;
  size_t query_at = payload_at + payloads;
  size_t agent_at = query_at + queries;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t p = LoadLittleEndian<uint32_t>(payload_bytes + 4 * i);
    const uint32_t q = LoadLittleEndian<uint32_t>(query_bytes + 4 * i);
    const uint16_t u = LoadLittleEndian<uint16_t>(agent_bytes + 2 * i);
    records_[i].payload = raw.substr(payload_at, p);
    records_[i].query = raw.substr(query_at, q);
    records_[i].user_agent = raw.substr(agent_at, u);
    payload_at += p;
    query_at += q;
    agent_at += u;
  }
  return ArchiveError::kOk;
}

ArchiveError CheckBlockFrames(std::string_view frames, uint32_t raw_bytes, uint16_t version) {
  uint64_t declared = 0;
  size_t count = 0;
  while (!frames.empty()) {
    if (frames.size() < 4 || LoadLittleEndian<uint32_t>(frames.data()) != ZSTD_MAGICNUMBER) {
      return ArchiveError::kDecompress;
    }
    const size_t bytes = ZSTD_findFrameCompressedSize(frames.data(), frames.size());
    if (ZSTD_isError(bytes)) return ArchiveError::kDecompress;
    const uint64_t content = ZSTD_getFrameContentSize(frames.data(), bytes);
    if (content == ZSTD_CONTENTSIZE_ERROR) return ArchiveError::kDecompress;
    // Version 1's writer always gave the size; the card omits it on frames under 256 bytes.
    if (content == ZSTD_CONTENTSIZE_UNKNOWN) {
      if (version < 2) return ArchiveError::kDecompress;
    } else {
      declared += content;
      if (declared > raw_bytes) return ArchiveError::kDecompress;
    }
    frames.remove_prefix(bytes);
    ++count;
  }
  if (count == 0 || (version < 2 && (count > 1 || declared != raw_bytes))) {
    return ArchiveError::kDecompress;
  }
  return ArchiveError::kOk;
}

ArchiveError BlockDecoder::Inflate(std::string_view frames, uint16_t version) {
  ZSTD_DCtx_reset(dctx_, ZSTD_reset_session_and_parameters);
  if (header_.dictionary_id != 0) {
    const ArchiveDictionary* dictionary =
        dictionaries_ == nullptr ? nullptr : dictionaries_->Find(header_.dictionary_id);
    if (dictionary == nullptr) return ArchiveError::kUnknownDictionary;
    ZSTD_DCtx_refDDict(dctx_, dictionary->ddict());
  }
  const ArchiveError error = CheckBlockFrames(frames, header_.raw_bytes, version);
  if (error != ArchiveError::kOk) return error;
  // Decompresses every frame in turn; a frame without its size may not run past raw_bytes.
  raw_.resize(header_.raw_bytes);
  const size_t got =
      ZSTD_decompressDCtx(dctx_, raw_.data(), raw_.size(), frames.data(), frames.size());
  if (ZSTD_isError(got) || got != header_.raw_bytes) return ArchiveError::kDecompress;
  return ArchiveError::kOk;
}

}  // namespace beacon::kernels
