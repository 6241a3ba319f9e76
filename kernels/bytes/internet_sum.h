// RFC 1071's one's-complement sum, the Internet checksum's core: the reference that the
// byte-kernel tables reproduce (ByteKernels::internet_sum).
#pragma once

#include <cstddef>
#include <cstdint>

namespace beacon::kernels {

// Folds a sum of 16-bit words to 16 bits with end-around carries: 0 only for a sum of 0; any
// other multiple of 0xFFFF gives 0xFFFF.
inline uint16_t FoldInternetSum(uint64_t sum) {
  while (sum >> 16 != 0) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// The one's-complement sum of p[0, n) as 16-bit words in memory order, each read in the host's
// byte order (an odd last byte is the first byte of a word whose second byte is zero), folded:
// what DPDK's __rte_raw_cksum and __rte_raw_cksum_reduce give.
uint16_t InternetSum(const uint8_t* p, size_t n);

}  // namespace beacon::kernels
