// 64-bit keyed hashing of short byte strings (visitor ids, page paths). Deterministic across
// machines and backends: the value is part of what ClickHouse stores.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace beacon::kernels {

// Hashes `bytes` with `seed`. Good avalanche; not a cryptographic MAC.
uint64_t Hash64(std::string_view bytes, uint64_t seed);

// out[i] = Hash64(keys[i], seed). Scalar on every backend: Hash64's 64x64->128-bit multiply
// chain has no SIMD form that pays (see kernels/simd/README.md).
void Hash64Batch(const std::string_view* keys, size_t n, uint64_t seed, uint64_t* out);

// The splitmix64 finaliser: a bijective mix of one word.
inline uint64_t Mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace beacon::kernels
