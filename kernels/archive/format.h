// The raw archive's on-disk format: segment header, block header and record layout (README.md
// has the byte tables). Pure code over bytes: decoders return an ArchiveError, never throw.
// Every integer is little-endian.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "kernels/raw_batch.h"

namespace beacon::kernels {

enum class ArchiveError : uint8_t {
  kOk,
  kTruncated,          // fewer bytes than the structure needs
  kBadMagic,           // not a segment header / block header
  kBadVersion,         // a segment format version this code does not read
  kBadChecksum,        // CRC32C mismatch
  kBadLength,          // a length field out of its limits
  kBadRecord,          // a record field out of its domain, or records that do not fill the block
  kDecompress,         // zstd refused the frame, or it did not give the announced size
  kUnknownDictionary,  // the block names a dictionary the store does not hold
  kTooLarge,           // a record that cannot be encoded (a field over its length limit)
};
std::string_view ArchiveErrorName(ArchiveError error);

// The segment format version written; readers take every version from kMinArchiveFormatVersion
// on. Version 2 added each record's weight column (version 1 records weigh 1), control records
// (which a version 1 reader would refuse as bad records) and lets a block's payload be several
// concatenated zstd frames (1: exactly one; README.md).
inline constexpr uint16_t kArchiveFormatVersion = 2;
inline constexpr uint16_t kMinArchiveFormatVersion = 1;
// Passed to BlockDecoder::Decode for a block of a segment whose header is damaged: the decoder
// tells the version from the block's layout, which only one version's fills exactly.
inline constexpr uint16_t kUnknownFormatVersion = 0;
inline constexpr size_t kSegmentHeaderBytes = 64;
inline constexpr size_t kBlockHeaderBytes = 32;
inline constexpr size_t kRecordFixedBytes = 34;    // a record's fixed-width fields
inline constexpr size_t kRecordFixedBytesV1 = 30;  // a version 1 record's (no weight)
inline constexpr char kSegmentMagic[8] = {'B', 'C', 'N', 'A', 'R', 'C', 'H', 'V'};
inline constexpr uint32_t kBlockMagic = 0x4B4C4241;  // "ABLK" on disk
// Decoders refuse blocks above this raw size, so a damaged length never allocates more.
inline constexpr uint32_t kMaxBlockRawBytes = 8u << 20;
inline constexpr uint32_t kMaxUserAgentBytes = 0xFFFF;

struct SegmentHeader {
  uint16_t version = kArchiveFormatVersion;
  uint32_t worker = 0;
  uint64_t node = 0;
  uint64_t first_sequence = 0;  // the sequence number of the segment's first record
  int64_t created_ms = 0;       // unix time the segment was opened
  // The lowest and highest receive time of the records of the worker's previous segment, when
  // the writer that closed it created this one (false: unknown, e.g. after a restart).
  bool previous_times = false;
  int64_t previous_min_ms = 0;
  int64_t previous_max_ms = 0;
};

// Writes kSegmentHeaderBytes to `out`.
void EncodeSegmentHeader(const SegmentHeader& header, char* out);
ArchiveError DecodeSegmentHeader(std::string_view bytes, SegmentHeader* header);

struct BlockHeader {
  uint32_t crc = 0;          // CRC32C of header bytes 8..31 and the frame
  uint32_t frame_bytes = 0;  // the zstd frame(s) following the header
  uint32_t raw_bytes = 0;    // the records once decompressed
  uint64_t first_sequence = 0;
  uint32_t record_count = 0;
  uint32_t dictionary_id = 0;  // 0: no dictionary
};

// Writes kBlockHeaderBytes to `out`, computing the CRC over them and `frame`.
void EncodeBlockHeader(BlockHeader header, std::string_view frame, char* out);
// Checks the magic and the length limits (not the CRC: the frame may not be there yet).
ArchiveError DecodeBlockHeader(std::string_view bytes, BlockHeader* header);
// The CRC32C a block with this header and frame must carry.
uint32_t BlockChecksum(std::string_view header_bytes, std::string_view frame);

// One accepted beacon as the archive keeps it: what replay needs, and no IP address.
struct ArchiveRecord {
  int64_t receive_time_ms = 0;
  // The visitor-derivation input already reduced by the daily salt (0: no salt covered the
  // day); the source address itself is never archived.
  uint64_t address_hash = 0;
  IngressKind ingress = IngressKind::kHttp;
  Endpoint endpoint = Endpoint::kGaCollect;  // the route: decides the decoder
  uint16_t country = 0;                      // kernels/enrich country code, 0: unknown
  std::string_view payload;                  // as received (de-chunked, gunzipped)
  std::string_view query;                    // the URL query of a body beacon, or empty
  std::string_view user_agent;
  // The hits this beacon stands for: 1, or N when an over-budget site's sample kept it 1 in N
  // (host/pipeline); replay gives its events this weight.
  uint32_t weight = 1;
};

// A control record (ingress IngressKind::kControl, endpoint 0): not a beacon; decoders never see
// one. Its payload is one of the kinds below, tagged by its first 4 bytes.
//
// Epoch close: the worker closed epoch `epoch`, whose events came from the records with
// sequences first_sequence..last_sequence (markers excepted). Payload, 29 bytes: tag "EPCH" |
// epoch | first | last (UInt64 LE each) | flags (bit 0: breakdown_cut).
struct EpochMarker {
  uint64_t epoch = 0;
  uint64_t first_sequence = 0;
  uint64_t last_sequence = 0;
  bool breakdown_cut = false;  // the held breakdown rows were cut after this epoch
};
inline constexpr size_t kEpochMarkerBytes = 29;
inline constexpr char kEpochMarkerTag[4] = {'E', 'P', 'C', 'H'};

// The marker's payload bytes.
std::string EncodeEpochMarker(const EpochMarker& marker);
// kBadRecord unless `payload` is an epoch marker of this layout.
ArchiveError DecodeEpochMarker(std::string_view payload, EpochMarker* marker);
// The control record carrying `payload` (an EncodeEpochMarker result, which must outlive it).
ArchiveRecord ControlRecord(std::string_view payload, int64_t time_ms);
inline bool IsControlRecord(const ArchiveRecord& record) {
  return record.ingress == IngressKind::kControl;
}

// The raw bytes `record` takes in a block: its fixed-width fields and its three byte strings.
// A block's raw bytes hold its records column by column (README.md; block_codec.h).
inline size_t EncodedRecordBytes(const ArchiveRecord& record) {
  return kRecordFixedBytes + record.payload.size() + record.query.size() + record.user_agent.size();
}

// The format's integers: little-endian, and the format is defined for little-endian hosts.
template <typename T>
void StoreLittleEndian(char* out, T value) {
  std::memcpy(out, &value, sizeof(T));
}
template <typename T>
T LoadLittleEndian(const char* in) {
  T value;
  std::memcpy(&value, in, sizeof(T));
  return value;
}

}  // namespace beacon::kernels
