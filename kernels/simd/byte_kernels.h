// The Highway SIMD byte kernels, with dynamic dispatch: a ByteKernels table (kernels/bytes/
// byte_table.h) bit-identical to the scalar reference (kernels/bytes/scalar_kernels.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "kernels/bytes/scalar_kernels.h"

namespace beacon::kernels {

// The Highway kernels of the best target this CPU supports (or the one forced with
// ForceSimdTargetForTest), resolved when called: take it once at start, not per beacon.
ByteKernels SimdByteKernels();

// Drop-in SIMD equivalents of the scalar building blocks; each dispatches once per call.
bool IsValidUtf8Simd(std::string_view bytes);
bool FormDecodeSimd(std::string_view component, char* out, size_t* out_size);
FormScan SplitForm(std::string_view hit, char* out, FormSeparators separators);
size_t FindByte(const char* p, size_t n, char c);
size_t FindAnyOf(const char* p, size_t n, const AsciiSet& set);
void Classify(const char* p, size_t n, const AsciiSet& set, uint64_t* bits);

// A Highway target compiled into these kernels that this CPU can run.
struct SimdTarget {
  int64_t bits;      // HWY_AVX3, HWY_AVX2, ... (hwy/detect_targets.h)
  const char* name;  // "AVX3", "AVX2", "SSE4", "SCALAR", "EMU128"
};

// Compiled targets this CPU supports, best first. The last one is the scalar fallback.
std::vector<SimdTarget> SupportedSimdTargets();
// Every target compiled in, best first, whether or not this CPU supports it.
std::vector<SimdTarget> CompiledSimdTargets();
// The target SimdByteKernels() and the drop-ins dispatch to now.
SimdTarget ActiveSimdTarget();

// Restricts dispatch to `target_bits` (one of SupportedSimdTargets()) for tests and
// benchmarks; 0 restores the CPU's best. Not thread-safe with concurrent kernel calls.
void ForceSimdTargetForTest(int64_t target_bits);

// For tests and benchmarks that compare backends: the scalar reference table ("scalar")
// followed by one table per supported SIMD target (named as SimdTarget::name, best first),
// each resolved with that target forced; the CPU's best is restored before returning.
struct NamedByteKernels {
  const char* name;
  ByteKernels kernels;
};
std::vector<NamedByteKernels> ByteKernelsPerTarget();

}  // namespace beacon::kernels
