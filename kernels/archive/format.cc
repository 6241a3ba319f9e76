// Segment header, block header and record codecs; see format.h and README.md.
#include "kernels/archive/format.h"

#include <cstring>

#include "kernels/archive/crc32c.h"

namespace beacon::kernels {
namespace {

constexpr size_t kSegmentCrcOffset = kSegmentHeaderBytes - 4;

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
  StoreLittleEndian<uint16_t>(out + 8, header.version);
  StoreLittleEndian<uint16_t>(out + 10, static_cast<uint16_t>(kSegmentHeaderBytes));
  StoreLittleEndian<uint32_t>(out + 12, header.worker);
  StoreLittleEndian<uint64_t>(out + 16, header.node);
  StoreLittleEndian<uint64_t>(out + 24, header.first_sequence);
  StoreLittleEndian<int64_t>(out + 32, header.created_ms);
  if (header.previous_times) {
    StoreLittleEndian<int64_t>(out + 40, header.previous_min_ms);
    StoreLittleEndian<int64_t>(out + 48, header.previous_max_ms);
    out[56] = 1;
  }
  StoreLittleEndian<uint32_t>(out + kSegmentCrcOffset, Crc32c({out, kSegmentCrcOffset}));
}

ArchiveError DecodeSegmentHeader(std::string_view bytes, SegmentHeader* header) {
  if (bytes.size() < kSegmentHeaderBytes) return ArchiveError::kTruncated;
  const char* in = bytes.data();
  if (std::memcmp(in, kSegmentMagic, sizeof(kSegmentMagic)) != 0) return ArchiveError::kBadMagic;
  if (LoadLittleEndian<uint32_t>(in + kSegmentCrcOffset) != Crc32c({in, kSegmentCrcOffset})) {
    return ArchiveError::kBadChecksum;
  }
  header->version = LoadLittleEndian<uint16_t>(in + 8);
  if (header->version < kMinArchiveFormatVersion || header->version > kArchiveFormatVersion) {
    return ArchiveError::kBadVersion;
  }
  if (LoadLittleEndian<uint16_t>(in + 10) != kSegmentHeaderBytes) return ArchiveError::kBadLength;
  header->worker = LoadLittleEndian<uint32_t>(in + 12);
  header->node = LoadLittleEndian<uint64_t>(in + 16);
  header->first_sequence = LoadLittleEndian<uint64_t>(in + 24);
  header->created_ms = LoadLittleEndian<int64_t>(in + 32);
  header->previous_times = (in[56] & 1) != 0;
  header->previous_min_ms = header->previous_times ? LoadLittleEndian<int64_t>(in + 40) : 0;
  header->previous_max_ms = header->previous_times ? LoadLittleEndian<int64_t>(in + 48) : 0;
  return ArchiveError::kOk;
}

uint32_t BlockChecksum(std::string_view header_bytes, std::string_view frame) {
  return Crc32cExtend(Crc32c(header_bytes.substr(8, kBlockHeaderBytes - 8)), frame);
}

void EncodeBlockHeader(BlockHeader header, std::string_view frame, char* out) {
  StoreLittleEndian<uint32_t>(out, kBlockMagic);
  StoreLittleEndian<uint32_t>(out + 8, static_cast<uint32_t>(frame.size()));
  StoreLittleEndian<uint32_t>(out + 12, header.raw_bytes);
  StoreLittleEndian<uint64_t>(out + 16, header.first_sequence);
  StoreLittleEndian<uint32_t>(out + 24, header.record_count);
  StoreLittleEndian<uint32_t>(out + 28, header.dictionary_id);
  StoreLittleEndian<uint32_t>(out + 4, BlockChecksum({out, kBlockHeaderBytes}, frame));
}

ArchiveError DecodeBlockHeader(std::string_view bytes, BlockHeader* header) {
  if (bytes.size() < kBlockHeaderBytes) return ArchiveError::kTruncated;
  const char* in = bytes.data();
  if (LoadLittleEndian<uint32_t>(in) != kBlockMagic) return ArchiveError::kBadMagic;
  header->crc = LoadLittleEndian<uint32_t>(in + 4);
  header->frame_bytes = LoadLittleEndian<uint32_t>(in + 8);
  header->raw_bytes = LoadLittleEndian<uint32_t>(in + 12);
  header->first_sequence = LoadLittleEndian<uint64_t>(in + 16);
  header->record_count = LoadLittleEndian<uint32_t>(in + 24);
  header->dictionary_id = LoadLittleEndian<uint32_t>(in + 28);
  // A zstd frame of n raw bytes is never much larger than n (ZSTD_compressBound).
  const uint64_t max_frame = header->raw_bytes + header->raw_bytes / 128 + 1024;
  if (header->raw_bytes > kMaxBlockRawBytes || header->frame_bytes == 0 ||
      header->frame_bytes > max_frame || header->record_count == 0 ||
      header->record_count > header->raw_bytes / kRecordFixedBytesV1) {
    return ArchiveError::kBadLength;
  }
  return ArchiveError::kOk;
}

std::string EncodeEpochMarker(const EpochMarker& marker) {
  std::string out(kEpochMarkerBytes, '\0');
  std::memcpy(out.data(), kEpochMarkerTag, sizeof(kEpochMarkerTag));
  StoreLittleEndian<uint64_t>(out.data() + 4, marker.epoch);
  StoreLittleEndian<uint64_t>(out.data() + 12, marker.first_sequence);
  StoreLittleEndian<uint64_t>(out.data() + 20, marker.last_sequence);
  out[28] = marker.breakdown_cut ? 1 : 0;
  return out;
}

ArchiveError DecodeEpochMarker(std::string_view payload, EpochMarker* marker) {
  if (payload.size() != kEpochMarkerBytes ||
      std::memcmp(payload.data(), kEpochMarkerTag, sizeof(kEpochMarkerTag)) != 0 ||
      (payload[28] & ~1) != 0) {
    return ArchiveError::kBadRecord;
  }
  marker->epoch = LoadLittleEndian<uint64_t>(payload.data() + 4);
  marker->first_sequence = LoadLittleEndian<uint64_t>(payload.data() + 12);
  marker->last_sequence = LoadLittleEndian<uint64_t>(payload.data() + 20);
  marker->breakdown_cut = payload[28] == 1;
  return ArchiveError::kOk;
}

ArchiveRecord ControlRecord(std::string_view payload, int64_t time_ms) {
  ArchiveRecord record;
  record.receive_time_ms = time_ms;
  record.ingress = IngressKind::kControl;
  record.endpoint = Endpoint::kGaCollect;
  record.payload = payload;
  return record;
}

}  // namespace beacon::kernels
