// The two clocks the ingresses and the host read, in milliseconds. Header-only and stateless,
// so that host/, dpdk/ and the programs share one reading of each.
#pragma once

#include <chrono>
#include <cstdint>

namespace beacon::kernels {

// Unix time (the system clock): beacons' receive time and the sinks' ticks.
inline int64_t UnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A monotonic clock (unaffected by clock steps): timeouts and periods.
inline int64_t MonotonicMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace beacon::kernels
