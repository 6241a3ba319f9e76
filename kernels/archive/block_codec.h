// Archive blocks: records gathered raw, then zstd frame(s) behind a CRC32C'd block header; and
// the decoder that checks a block end to end before it yields a single record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/archive/dictionary.h"
#include "kernels/archive/format.h"

typedef struct ZSTD_CCtx_s ZSTD_CCtx;
typedef struct ZSTD_CDict_s ZSTD_CDict;
typedef struct ZSTD_DCtx_s ZSTD_DCtx;

namespace beacon::kernels {

// Columns of a block's raw bytes: receive time (difference to the previous record's), address
// hash, payload, query and user-agent lengths, country, ingress, endpoint, weight (version 2),
// then the payloads, queries and user agents.
inline constexpr size_t kRecordColumns = 12;

// Turns a block's raw bytes into one or more concatenated zstd frames that use no dictionary
// and pass CheckBlockFrames at kArchiveFormatVersion: BlockDecoder reads any such payload
// alike, whichever compressor (or card) made it. Shared by every worker's writer: Compress
// may be called from several threads at once.
class BlockCompressor {
 public:
  virtual ~BlockCompressor() = default;
  // Replaces `frames`' content with the frames of `raw`. Never fails (a card falls back).
  virtual void Compress(std::string_view raw, std::string* frames) = 0;
};

// Whether `frames` may be the payload of a block of `raw_bytes` in a segment of `version`,
// before any decompression: only zstd frames (no skippable or legacy ones), back to back to the
// last byte; version 1 allows exactly one, carrying its content size = `raw_bytes`; version 2
// one or more, whose declared content sizes (a frame may omit it) sum to at most `raw_bytes`
// (decompression then must give exactly `raw_bytes`). kOk or kDecompress.
ArchiveError CheckBlockFrames(std::string_view frames, uint32_t raw_bytes, uint16_t version);

// One per writer thread. Not thread-safe.
class BlockEncoder {
 public:
  // `level`: zstd level (negative: zstd's --fast levels). `dictionary` (may be null) must
  // outlive the encoder.
  explicit BlockEncoder(int level, const ArchiveDictionary* dictionary = nullptr);
  ~BlockEncoder();
  BlockEncoder(const BlockEncoder&) = delete;
  BlockEncoder& operator=(const BlockEncoder&) = delete;

  // Appends one record to the open block; kTooLarge (nothing added) when it can never fit.
  ArchiveError Add(const ArchiveRecord& record);
  // Raw bytes and records of the open block.
  size_t raw_bytes() const { return raw_bytes_; }
  uint32_t record_count() const { return count_; }
  bool empty() const { return count_ == 0; }
  // Would `record` take the open block past kMaxBlockRawBytes?
  bool WouldOverflow(const ArchiveRecord& record) const {
    return raw_bytes() + EncodedRecordBytes(record) > kMaxBlockRawBytes;
  }

  // Compresses the open block (not empty) into `out` (replacing its content): header + frames,
  // its first record numbered `first_sequence`. The next block starts empty. `compressor`
  // (null: one libzstd frame at this encoder's level and dictionary) makes the frames
  // otherwise.
  void Finish(uint64_t first_sequence, std::string* out, BlockCompressor* compressor = nullptr);
  // Drops the open block's records.
  void Reset();

 private:
  ZSTD_CCtx* cctx_;
  ZSTD_CDict* cdict_ = nullptr;
  uint32_t dictionary_id_ = 0;
  // The open block's columns (README.md), joined into raw_ by Finish.
  std::string columns_[kRecordColumns];
  int64_t last_time_ms_ = 0;  // times are stored as differences
  std::string raw_;
  std::string frames_;  // a BlockCompressor's output
  size_t raw_bytes_ = 0;
  uint32_t count_ = 0;
};

// Decodes blocks one at a time; the records it yields stay valid until the next Decode.
class BlockDecoder {
 public:
  // `dictionaries` (may be null: blocks naming one fail with kUnknownDictionary) must outlive
  // the decoder.
  explicit BlockDecoder(const DictionaryStore* dictionaries = nullptr);
  ~BlockDecoder();
  BlockDecoder(const BlockDecoder&) = delete;
  BlockDecoder& operator=(const BlockDecoder&) = delete;

  // `block`: exactly one block (header + frames) of a segment of format `version`
  // (kUnknownFormatVersion: the one whose layout the block fills). Checks the CRC and the
  // frames, decompresses, and decodes every record; any failure yields no record.
  ArchiveError Decode(std::string_view block, uint16_t version = kArchiveFormatVersion);
  const BlockHeader& header() const { return header_; }
  std::span<const ArchiveRecord> records() const { return records_; }

 private:
  ArchiveError Inflate(std::string_view frames, uint16_t version);
  ArchiveError SplitRecords(uint16_t version);

  const DictionaryStore* dictionaries_;
  ZSTD_DCtx* dctx_;
  BlockHeader header_;
  std::string raw_;
  std::vector<ArchiveRecord> records_;
};

}  // namespace beacon::kernels
