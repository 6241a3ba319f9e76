// CRC32C through ISA-L's crc32_iscsi, which picks the SSE4.2/CLMUL or table code at run time.
#include "kernels/archive/crc32c.h"

#include <isa-l/crc.h>

#include <algorithm>
#include <climits>
#include <cstddef>

namespace beacon::kernels {

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

}  // namespace beacon::kernels
