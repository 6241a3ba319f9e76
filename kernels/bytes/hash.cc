// Hash64: 8 bytes a step, multiply-fold mixing (wyhash-style), splitmix64 finish.
#include "kernels/bytes/hash.h"

#include <cstring>

namespace beacon::kernels {
namespace {

constexpr uint64_t kP0 = 0xa0761d6478bd642fULL;
constexpr uint64_t kP1 = 0xe7037ed1a0b428dbULL;

inline uint64_t Load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;  // little-endian hosts only (x86_64, aarch64): see kernels/README.md
}

__extension__ typedef unsigned __int128 Uint128;  // GCC/Clang; -Wpedantic wants __extension__

inline uint64_t MulFold(uint64_t a, uint64_t b) {
  const Uint128 r = static_cast<Uint128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

}  // namespace

uint64_t Hash64(std::string_view bytes, uint64_t seed) {
  const char* p = bytes.data();
  size_t n = bytes.size();
  uint64_t h = seed ^ kP0 ^ (static_cast<uint64_t>(n) * kP1);
  while (n >= 8) {
    h = MulFold(h ^ Load64(p), kP1);
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    uint64_t tail = 0;
    std::memcpy(&tail, p, n);
    h = MulFold(h ^ tail ^ (static_cast<uint64_t>(n) << 56), kP0);
  }
  return Mix64(h);
}

void Hash64Batch(const std::string_view* keys, size_t n, uint64_t seed, uint64_t* out) {
  for (size_t i = 0; i < n; ++i) out[i] = Hash64(keys[i], seed);
}

}  // namespace beacon::kernels
