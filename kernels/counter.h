// The bump of a counter that one thread writes and any number read (metrics scrapes).
#pragma once

#include <atomic>
#include <cstdint>

namespace beacon::kernels {

// A relaxed load and store: with one writer no increment is lost, and the hot path pays no
// locked read-modify-write.
inline void Bump(std::atomic<uint64_t>& counter, uint64_t n = 1) {
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

}  // namespace beacon::kernels
