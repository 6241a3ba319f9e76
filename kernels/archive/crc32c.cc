// CRC32C through ISA-L's crc32_iscsi, which picks the SSE4.2/CLMUL or table code at run time.
#include "kernels/archive/crc32c.h"

#include <isa-l/crc.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstddef>

namespace beacon::kernels {
namespace {

// Polynomials modulo CRC32C's, bit-reflected as the CRC is: bit 31 is x^0, bit 0 is x^31.
constexpr uint32_t kPolynomial = 0x82F63B78;

constexpr uint32_t MultiplyModP(uint32_t a, uint32_t b) {
  uint32_t product = 0;
  for (uint32_t m = 1u << 31; m != 0; m >>= 1) {
    if ((a & m) != 0) product ^= b;
    b = (b & 1) != 0 ? (b >> 1) ^ kPolynomial : b >> 1;
  }
  return product;
}

// x^(2^k) modulo the polynomial.
constexpr std::array<uint32_t, 64> kXPow2k = [] {
  std::array<uint32_t, 64> table{};
  uint32_t p = 1u << 30;  // x^1
  for (uint32_t& entry : table) {
    entry = p;
    p = MultiplyModP(p, p);
  }
  return table;
}();

}  // namespace

uint32_t Crc32cExtend(uint32_t crc, std::string_view bytes) {
  // crc32_iscsi keeps the register un-inverted and takes an int length.
  uint32_t state = ~crc;
  while (!bytes.empty()) {
    const size_t n = std::min<size_t>(bytes.size(), INT_MAX);
    state = crc32_iscsi(reinterpret_cast<unsigned char*>(const_cast<char*>(bytes.data())),
                        static_cast<int>(n), state);
    bytes.remove_prefix(n);
  }
  return ~state;
}

uint32_t Crc32c(std::string_view bytes) { return Crc32cExtend(0, bytes); }

uint32_t Crc32cCombine(uint32_t crc_a, uint32_t crc_b, uint64_t bytes_b) {
  // crc(a + b) = crc(a) * x^(8 * |b|) + crc(b) (zlib's crc32_combine): the pre- and
  // post-inversions cancel. x^(8n) is the product of x^(2^k) over the bits k of 8n.
  uint32_t shift = 1u << 31;  // x^0
  for (size_t k = 3; bytes_b != 0 && k < kXPow2k.size(); bytes_b >>= 1, ++k) {
    if ((bytes_b & 1) != 0) shift = MultiplyModP(kXPow2k[k], shift);
  }
  return MultiplyModP(shift, crc_a) ^ crc_b;
}

}  // namespace beacon::kernels
