// Segment header, block header and record codecs; see format.h and README.md.
#include "kernels/archive/format.h"

#include <cstring>

#include "kernels/archive/crc32c.h"

namespace beacon::kernels {
namespace {

template <typename T>
void Put(char* out, T value) {
  std::memcpy(out, &value, sizeof(T));  // little-endian hosts only (README)
}

template <typename T>
T Get(const char* in) {
  T value;
  std::memcpy(&value, in, sizeof(T));
  return value;
}

constexpr size_t kSegmentCrcOffset = kSegmentHeaderBytes - 4;
constexpr uint8_t kLastIngress = static_cast<uint8_t>(IngressKind::kMirror);
constexpr uint8_t kLastEndpoint = static_cast<uint8_t>(Endpoint::kUdpSyslog);

}  // namespace

std::string_view ArchiveErrorName(ArchiveError error) {
  switch (error) {
    case ArchiveError::kOk:
      return "ok";
    case ArchiveError::kTruncated:
      return "truncated";
    case ArchiveError::kBadMagic:
      return "bad_magic";
    case ArchiveError::kBadVersion:
      return "bad_version";
    case ArchiveError::kBadChecksum:
      return "bad_checksum";
    case ArchiveError::kBadLength:
      return "bad_length";
    case ArchiveError::kBadRecord:
      return "bad_record";
    case ArchiveError::kDecompress:
      return "decompress";
    case ArchiveError::kUnknownDictionary:
      return "unknown_dictionary";
    case ArchiveError::kTooLarge:
      return "too_large";
  }
  return "unknown";
}

void EncodeSegmentHeader(const SegmentHeader& header, char* out) {
  std::memset(out, 0, kSegmentHeaderBytes);
  std::memcpy(out, kSegmentMagic, sizeof(kSegmentMagic));
  Put<uint16_t>(out + 8, header.version);
  Put<uint16_t>(out + 10, static_cast<uint16_t>(kSegmentHeaderBytes));
  Put<uint32_t>(out + 12, header.worker);
  Put<uint64_t>(out + 16, header.node);
  Put<uint64_t>(out + 24, header.first_sequence);
  Put<int64_t>(out + 32, header.created_ms);
  Put<uint32_t>(out + kSegmentCrcOffset, Crc32c({out, kSegmentCrcOffset}));
}

ArchiveError DecodeSegmentHeader(std::string_view bytes, SegmentHeader* header) {
  if (bytes.size() < kSegmentHeaderBytes) return ArchiveError::kTruncated;
  const char* in = bytes.data();
  if (std::memcmp(in, kSegmentMagic, sizeof(kSegmentMagic)) != 0) return ArchiveError::kBadMagic;
  if (Get<uint32_t>(in + kSegmentCrcOffset) != Crc32c({in, kSegmentCrcOffset})) {
    return ArchiveError::kBadChecksum;
  }
  header->version = Get<uint16_t>(in + 8);
  if (header->version != kArchiveFormatVersion) return ArchiveError::kBadVersion;
  if (Get<uint16_t>(in + 10) != kSegmentHeaderBytes) return ArchiveError::kBadLength;
  header->worker = Get<uint32_t>(in + 12);
  header->node = Get<uint64_t>(in + 16);
  header->first_sequence = Get<uint64_t>(in + 24);
  header->created_ms = Get<int64_t>(in + 32);
  return ArchiveError::kOk;
}

uint32_t BlockChecksum(std::string_view header_bytes, std::string_view frame) {
  return Crc32cExtend(Crc32c(header_bytes.substr(8, kBlockHeaderBytes - 8)), frame);
}

void EncodeBlockHeader(BlockHeader header, std::string_view frame, char* out) {
  Put<uint32_t>(out, kBlockMagic);
  Put<uint32_t>(out + 8, static_cast<uint32_t>(frame.size()));
  Put<uint32_t>(out + 12, header.raw_bytes);
  Put<uint64_t>(out + 16, header.first_sequence);
  Put<uint32_t>(out + 24, header.record_count);
  Put<uint32_t>(out + 28, header.dictionary_id);
  Put<uint32_t>(out + 4, BlockChecksum({out, kBlockHeaderBytes}, frame));
}

ArchiveError DecodeBlockHeader(std::string_view bytes, BlockHeader* header) {
  if (bytes.size() < kBlockHeaderBytes) return ArchiveError::kTruncated;
  const char* in = bytes.data();
  if (Get<uint32_t>(in) != kBlockMagic) return ArchiveError::kBadMagic;
  header->crc = Get<uint32_t>(in + 4);
  header->frame_bytes = Get<uint32_t>(in + 8);
  header->raw_bytes = Get<uint32_t>(in + 12);
  header->first_sequence = Get<uint64_t>(in + 16);
  header->record_count = Get<uint32_t>(in + 24);
  header->dictionary_id = Get<uint32_t>(in + 28);
  // A zstd frame of n raw bytes is never much larger than n (ZSTD_compressBound).
  const uint64_t max_frame = header->raw_bytes + header->raw_bytes / 128 + 1024;
  if (header->raw_bytes > kMaxBlockRawBytes || header->frame_bytes == 0 ||
      header->frame_bytes > max_frame || header->record_count == 0 ||
      header->record_count > header->raw_bytes / kRecordHeaderBytes) {
    return ArchiveError::kBadLength;
  }
  return ArchiveError::kOk;
}

ArchiveError EncodeRecordHeader(const ArchiveRecord& record, char* out) {
  if (record.user_agent.size() > kMaxUserAgentBytes ||
      EncodedRecordBytes(record) > kMaxBlockRawBytes) {
    return ArchiveError::kTooLarge;
  }
  Put<int64_t>(out, record.receive_time_ms);
  Put<uint64_t>(out + 8, record.address_hash);
  Put<uint32_t>(out + 16, static_cast<uint32_t>(record.payload.size()));
  Put<uint32_t>(out + 20, static_cast<uint32_t>(record.query.size()));
  Put<uint16_t>(out + 24, static_cast<uint16_t>(record.user_agent.size()));
  Put<uint16_t>(out + 26, record.country);
  Put<uint8_t>(out + 28, static_cast<uint8_t>(record.ingress));
  Put<uint8_t>(out + 29, static_cast<uint8_t>(record.endpoint));
  Put<uint16_t>(out + 30, 0);
  return ArchiveError::kOk;
}

ArchiveError DecodeRecordHeader(std::string_view bytes, ArchiveRecord* record,
                                RecordLengths* lengths) {
  if (bytes.size() < kRecordHeaderBytes) return ArchiveError::kTruncated;
  const char* h = bytes.data();
  const uint8_t ingress = Get<uint8_t>(h + 28);
  const uint8_t endpoint = Get<uint8_t>(h + 29);
  if (ingress > kLastIngress || endpoint > kLastEndpoint || Get<uint16_t>(h + 30) != 0) {
    return ArchiveError::kBadRecord;
  }
  record->receive_time_ms = Get<int64_t>(h);
  record->address_hash = Get<uint64_t>(h + 8);
  record->country = Get<uint16_t>(h + 26);
  record->ingress = static_cast<IngressKind>(ingress);
  record->endpoint = static_cast<Endpoint>(endpoint);
  lengths->payload = Get<uint32_t>(h + 16);
  lengths->query = Get<uint32_t>(h + 20);
  lengths->user_agent = Get<uint16_t>(h + 24);
  return ArchiveError::kOk;
}

}  // namespace beacon::kernels
