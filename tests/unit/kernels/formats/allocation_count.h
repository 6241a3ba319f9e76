// Counts heap allocations of the test binary that links allocation_count.cc.
#pragma once

#include <cstddef>

namespace beacon::kernels {

// Calls of the global operator new so far (any thread).
size_t AllocationCount();

}  // namespace beacon::kernels
