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

ArchiveError BlockEncoder::Add(const ArchiveRecord& record) {
  if (WouldOverflow(record)) return ArchiveError::kTooLarge;
  char header[kRecordHeaderBytes];
  const ArchiveError error = EncodeRecordHeader(record, header);
  if (error != ArchiveError::kOk) return error;
  heads_.append(header, sizeof(header));
  payloads_.append(record.payload);
  queries_.append(record.query);
  agents_.append(record.user_agent);
  ++count_;
  return ArchiveError::kOk;
}

void BlockEncoder::Reset() {
  heads_.clear();
  payloads_.clear();
  queries_.clear();
  agents_.clear();
  count_ = 0;
}

void BlockEncoder::Finish(uint64_t first_sequence, std::string* out) {
  // Column by column: like bytes sit together, which zstd rewards (README.md).
  raw_.assign(heads_).append(payloads_).append(queries_).append(agents_);
  out->resize(kBlockHeaderBytes + ZSTD_compressBound(raw_.size()));
  const size_t frame = ZSTD_compress2(cctx_, out->data() + kBlockHeaderBytes,
                                      out->size() - kBlockHeaderBytes, raw_.data(), raw_.size());
  // With a bound-sized buffer and a valid level, zstd fails only when out of memory.
  if (ZSTD_isError(frame)) std::abort();
  out->resize(kBlockHeaderBytes + frame);
  BlockHeader header;
  header.raw_bytes = static_cast<uint32_t>(raw_.size());
  header.first_sequence = first_sequence;
  header.record_count = count_;
  header.dictionary_id = dictionary_id_;
  EncodeBlockHeader(header, std::string_view(*out).substr(kBlockHeaderBytes), out->data());
  Reset();
}

BlockDecoder::BlockDecoder(const DictionaryStore* dictionaries)
    : dictionaries_(dictionaries), dctx_(ZSTD_createDCtx()) {}

BlockDecoder::~BlockDecoder() { ZSTD_freeDCtx(dctx_); }

ArchiveError BlockDecoder::Decode(std::string_view block) {
  records_.clear();
  ArchiveError error = DecodeBlockHeader(block, &header_);
  if (error != ArchiveError::kOk) return error;
  if (block.size() != kBlockHeaderBytes + header_.frame_bytes) return ArchiveError::kBadLength;
  const std::string_view frame = block.substr(kBlockHeaderBytes);
  if (BlockChecksum(block, frame) != header_.crc) return ArchiveError::kBadChecksum;
  error = Inflate(frame);
  if (error != ArchiveError::kOk) return error;
  return SplitRecords();
}

ArchiveError BlockDecoder::SplitRecords() {
  const uint64_t heads = uint64_t{header_.record_count} * kRecordHeaderBytes;
  if (heads > raw_.size()) return ArchiveError::kBadRecord;
  records_.resize(header_.record_count);
  std::vector<RecordLengths>& lengths = lengths_;
  lengths.resize(header_.record_count);
  uint64_t payloads = 0;
  uint64_t queries = 0;
  uint64_t total = heads;
  for (size_t i = 0; i < records_.size(); ++i) {
    const std::string_view head(raw_.data() + i * kRecordHeaderBytes, kRecordHeaderBytes);
    if (DecodeRecordHeader(head, &records_[i], &lengths[i]) != ArchiveError::kOk) {
      records_.clear();
      return ArchiveError::kBadRecord;
    }
    payloads += lengths[i].payload;
    queries += lengths[i].query;
    total += uint64_t{lengths[i].payload} + lengths[i].query + lengths[i].user_agent;
  }
  if (total != raw_.size()) {
    records_.clear();
    return ArchiveError::kBadRecord;
  }
  const std::string_view raw = raw_;
  size_t payload_at = heads;
  size_t query_at = heads + payloads;
  size_t agent_at = heads + payloads + queries;
  for (size_t i = 0; i < records_.size(); ++i) {
    records_[i].payload = raw.substr(payload_at, lengths[i].payload);
    records_[i].query = raw.substr(query_at, lengths[i].query);
    records_[i].user_agent = raw.substr(agent_at, lengths[i].user_agent);
    payload_at += lengths[i].payload;
    query_at += lengths[i].query;
    agent_at += lengths[i].user_agent;
  }
  return ArchiveError::kOk;
}

ArchiveError BlockDecoder::Inflate(std::string_view frame) {
  ZSTD_DCtx_reset(dctx_, ZSTD_reset_session_and_parameters);
  if (header_.dictionary_id != 0) {
    const ArchiveDictionary* dictionary =
        dictionaries_ == nullptr ? nullptr : dictionaries_->Find(header_.dictionary_id);
    if (dictionary == nullptr) return ArchiveError::kUnknownDictionary;
    ZSTD_DCtx_refDDict(dctx_, dictionary->ddict());
  }
  // Frames of ours always carry their content size; anything else is refused.
  const uint64_t content = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (content != header_.raw_bytes) return ArchiveError::kDecompress;
  raw_.resize(header_.raw_bytes);
  const size_t got =
      ZSTD_decompressDCtx(dctx_, raw_.data(), raw_.size(), frame.data(), frame.size());
  if (ZSTD_isError(got) || got != header_.raw_bytes) return ArchiveError::kDecompress;
  return ArchiveError::kOk;
}

}  // namespace beacon::kernels
