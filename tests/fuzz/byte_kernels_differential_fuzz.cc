// Differential fuzz target: every Highway target this CPU supports must give exactly the scalar
// reference's results for every byte kernel on the same input; aborts on the first difference.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/simd/byte_kernels.h"

namespace beacon::kernels {
namespace {

[[noreturn]] void Mismatch(const char* kernel, const char* target) {
  std::fprintf(stderr, "byte kernel mismatch: %s on target %s differs from the reference\n", kernel,
               target);
  std::abort();
}

// The input as kernels see it in production: exactly sized (ASan catches overreads).
void CompareAll(const ByteKernels& ref, const ByteKernels& simd, std::string_view in,
                const AsciiSet& set, char needle, size_t capacity) {
  if (simd.is_valid_utf8(in) != ref.is_valid_utf8(in)) Mismatch("is_valid_utf8", simd.target);

  const auto ref_out = std::make_unique<char[]>(in.size() + 1);
  const auto simd_out = std::make_unique<char[]>(in.size() + 1);
  size_t ref_size = 0;
  size_t simd_size = 0;
  const bool ok = ref.form_decode(in, ref_out.get(), &ref_size);
  if (simd.form_decode(in, simd_out.get(), &simd_size) != ok ||
      (ok && (simd_size != ref_size || std::memcmp(simd_out.get(), ref_out.get(), ref_size)))) {
    Mismatch("form_decode", simd.target);
  }

  // One guard entry past the capacity: no table writes there.
  constexpr uint32_t kGuard = 0x5A5A5A5A;
  std::vector<uint32_t> ref_positions(capacity + 1, kGuard);
  std::vector<uint32_t> simd_positions(capacity + 1, kGuard);
  const FormScan ref_scan = ref.split_form(in, ref_out.get(), {ref_positions.data(), capacity});
  const FormScan simd_scan = simd.split_form(in, simd_out.get(), {simd_positions.data(), capacity});
  if (!(simd_scan == ref_scan)) Mismatch("split_form", simd.target);
  if (simd_positions[capacity] != kGuard) Mismatch("split_form capacity", simd.target);
  if (ref_scan.escapes_ok) {
    const size_t stored = ref_scan.separators < capacity ? ref_scan.separators : capacity;
    if (std::memcmp(simd_out.get(), ref_out.get(), ref_scan.decoded_size) != 0) {
      Mismatch("split_form output", simd.target);
    }
    if (std::memcmp(simd_positions.data(), ref_positions.data(), stored * sizeof(uint32_t))) {
      Mismatch("split_form separators", simd.target);
    }
  }

  if (simd.find_byte(in.data(), in.size(), needle) != ref.find_byte(in.data(), in.size(), needle)) {
    Mismatch("find_byte", simd.target);
  }
  for (const AsciiSet* s : {&set, &kFormStructurals}) {
    if (simd.find_any_of(in.data(), in.size(), *s) != ref.find_any_of(in.data(), in.size(), *s)) {
      Mismatch("find_any_of", simd.target);
    }
    const size_t words = (in.size() + 63) / 64;
    std::vector<uint64_t> ref_bits(words);
    std::vector<uint64_t> simd_bits(words);
    ref.classify(in.data(), in.size(), *s, ref_bits.data());
    simd.classify(in.data(), in.size(), *s, simd_bits.data());
    if (simd_bits != ref_bits) Mismatch("classify", simd.target);
  }
}

}  // namespace
}  // namespace beacon::kernels

// The first three bytes pick the kernels' parameters (a set of ASCII bytes, the byte to find,
// the separator capacity); the rest is the input.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using beacon::kernels::AsciiSet;
  static const std::vector<beacon::kernels::SimdTarget> targets =
      beacon::kernels::SupportedSimdTargets();
  if (size < 3) return 0;
  const std::string members = {static_cast<char>(data[0] & 0x7F), static_cast<char>('&'),
                               static_cast<char>(data[1] & 0x7F)};
  const AsciiSet set(members);
  const char needle = static_cast<char>(data[1]);
  const size_t capacity = data[2] == 0xFF ? size : data[2];
  const auto bytes = std::make_unique<char[]>(size - 3);
  std::memcpy(bytes.get(), data + 3, size - 3);
  const std::string_view in(bytes.get(), size - 3);
  const beacon::kernels::ByteKernels ref = beacon::kernels::ScalarByteKernels();
  for (const beacon::kernels::SimdTarget& target : targets) {
    beacon::kernels::ForceSimdTargetForTest(target.bits);
    beacon::kernels::CompareAll(ref, beacon::kernels::SimdByteKernels(), in, set, needle, capacity);
  }
  beacon::kernels::ForceSimdTargetForTest(0);
  return 0;
}
