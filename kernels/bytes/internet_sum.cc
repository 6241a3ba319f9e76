#include "kernels/bytes/internet_sum.h"

#include <cstring>

namespace beacon::kernels {

uint16_t InternetSum(const uint8_t* p, size_t n) {
  uint64_t sum = 0;
  size_t i = 0;
  for (; i + 2 <= n; i += 2) {
    uint16_t word = 0;
    std::memcpy(&word, p + i, 2);
    sum += word;
  }
  if (i < n) {
    uint16_t word = 0;
    std::memcpy(&word, p + i, 1);
    sum += word;
  }
  return FoldInternetSum(sum);
}

}  // namespace beacon::kernels
