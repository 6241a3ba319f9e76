// Replaces the global operator new/delete with counting ones. A file of its own so that the
// compiler does not inline them into callers (GCC then flags new/free pairs as mismatched).
#include "tests/unit/kernels/formats/allocation_count.h"

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<size_t> g_allocations{0};
}  // namespace

void* operator new(size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
// simdjson allocates with the nothrow form and frees with the plain delete: both must be ours
// (a sanitizer's own nothrow new paired with this delete is reported as a mismatch).
void* operator new(size_t size, const std::nothrow_t& /*tag*/) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t /*size*/) noexcept { std::free(p); }

namespace beacon::kernels {

size_t AllocationCount() { return g_allocations.load(std::memory_order_relaxed); }

}  // namespace beacon::kernels
