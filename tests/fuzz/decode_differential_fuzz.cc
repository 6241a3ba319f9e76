// Fuzz target "decode differential": any bytes, as a beacon of any endpoint (byte 0 selects it,
// see decode_fuzz_input.h), decode to bit-identical event batches (every column and the arena)
// and identical reject counters with the scalar reference and with every Highway target this
// CPU supports. Aborts on the first difference.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "kernels/decode.h"
#include "kernels/simd/byte_kernels.h"
#include "tests/fuzz/decode_fuzz_input.h"

namespace beacon::kernels::fuzz {
namespace {

[[noreturn]] void Mismatch(const char* what, const char* target) {
  std::fprintf(stderr, "decode mismatch: %s on target %s differs from the reference\n", what,
               target);
  std::abort();
}

struct Decoded {
  EventBatch events;
  RejectCounters rejects;
};

void Decode(const DecodeFixture& fixture, const RawBatch& raw, const ByteKernels* bytes,
            Decoded* out) {
  DecodeBatch(raw, fixture.Context(bytes, &out->rejects), &out->events);
}

void Compare(const Decoded& ref, const Decoded& simd, const char* target) {
  const EventBatch& a = ref.events;
  const EventBatch& b = simd.events;
  if (a.site_id != b.site_id) Mismatch("site_id", target);
  if (a.minute != b.minute) Mismatch("minute", target);
  if (a.kind != b.kind) Mismatch("kind", target);
  if (a.flags != b.flags) Mismatch("flags", target);
  if (a.visitor != b.visitor) Mismatch("visitor", target);
  if (a.source != b.source) Mismatch("source", target);
  if (a.path != b.path) Mismatch("path", target);
  if (a.referrer != b.referrer) Mismatch("referrer", target);
  if (a.utm_source != b.utm_source || a.utm_medium != b.utm_medium ||
      a.utm_campaign != b.utm_campaign) {
    Mismatch("utm", target);
  }
  if (a.event_name != b.event_name) Mismatch("event_name", target);
  if (a.country != b.country) Mismatch("country", target);
  if (a.device != b.device || a.browser != b.browser || a.os != b.os)
    Mismatch("user agent", target);
  if (a.arena != b.arena) Mismatch("arena", target);
  if (a != b) Mismatch("a column", target);
  for (size_t r = 0; r < kRejectReasonCount; ++r) {
    const auto reason = static_cast<RejectReason>(r);
    if (ref.rejects.Get(reason) != simd.rejects.Get(reason)) Mismatch("reject counters", target);
  }
}

}  // namespace
}  // namespace beacon::kernels::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace beacon::kernels;
  static const fuzz::DecodeFixture fixture;
  static const std::vector<SimdTarget> targets = SupportedSimdTargets();
  static RawBatch raw;  // one 1 MiB arena for the whole run, not one per input
  raw.Clear();
  if (!fuzz::FillRawBatch(data, size, &raw)) return 0;
  fuzz::Decoded ref;
  fuzz::Decode(fixture, raw, nullptr, &ref);
  for (const SimdTarget& target : targets) {
    ForceSimdTargetForTest(target.bits);
    const ByteKernels simd = SimdByteKernels();
    fuzz::Decoded out;
    fuzz::Decode(fixture, raw, &simd, &out);
    fuzz::Compare(ref, out, target.name);
  }
  ForceSimdTargetForTest(0);
  return 0;
}
