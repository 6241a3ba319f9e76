// CRC32C (Castagnoli, the iSCSI polynomial): the checksum of archive segment headers and blocks.
#pragma once

#include <cstdint>
#include <string_view>

namespace beacon::kernels {

// CRC32C of `bytes` (the standard value: "123456789" gives 0xE3069283).
uint32_t Crc32c(std::string_view bytes);

// The CRC32C of a concatenation: Crc32cExtend(Crc32c(a), b) == Crc32c(a + b).
uint32_t Crc32cExtend(uint32_t crc, std::string_view bytes);

// The CRC32C of a concatenation from its parts' CRCs, without their bytes: Crc32cCombine(
// Crc32c(a), Crc32c(b), b.size()) == Crc32c(a + b). At most 64 multiplications modulo the
// polynomial, whatever the length.
uint32_t Crc32cCombine(uint32_t crc_a, uint32_t crc_b, uint64_t bytes_b);

}  // namespace beacon::kernels
