// Shared by the archive tests: a block as format version 1 wrote it, which no writer makes any
// more, to show that version 1 segments are still read.
#pragma once

#include <zstd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/archive/format.h"

namespace beacon::kernels::archive_test {

template <typename T>
inline void Put(std::string* out, T value) {
  char bytes[sizeof(T)];
  StoreLittleEndian<T>(bytes, value);
  out->append(bytes, sizeof(T));
}

// A block as version 1 wrote it: the columns without the weight.
inline std::string VersionOneBlock(const std::vector<ArchiveRecord>& records,
                                   uint64_t first_sequence) {
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

}  // namespace beacon::kernels::archive_test
