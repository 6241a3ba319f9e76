// Fuzz target "fpga differential": any bytes, as a beacon of any endpoint (byte 0 selects it,
// see decode_fuzz_input.h), decode to bit-identical event batches (every column and the arena)
// and identical reject counters with the scalar reference and with fpga-csim (the card's HLS
// kernel packed, run and finished as the fpga backend does). Aborts on the first difference.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "host/backend/fpga_decode.h"
#include "host/backend/fpga_device.h"
#include "kernels/decode.h"
#include "kernels/simd/byte_kernels.h"
#include "tests/fuzz/decode_fuzz_input.h"

namespace beacon::host {
namespace {

[[noreturn]] void Mismatch(const char* what) {
  std::fprintf(stderr, "fpga-csim mismatch: %s differs from the scalar reference\n", what);
  std::abort();
}

}  // namespace
}  // namespace beacon::host

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace beacon;
  static const kernels::fuzz::DecodeFixture fixture;
  static const kernels::ByteKernels simd = kernels::SimdByteKernels();
  static kernels::RawBatch raw;  // one 1 MiB arena for the whole run, not one per input
  static host::CardBuffers buffers(2 << 20);
  raw.Clear();
  if (!kernels::fuzz::FillRawBatch(data, size, &raw)) return 0;

  kernels::EventBatch ref;
  kernels::RejectCounters ref_rejects;
  kernels::DecodeBatch(raw, fixture.Context(nullptr, &ref_rejects), &ref);

  static uint64_t run_id = 0;  // a new one per run on the same buffers, as the batcher's
  buffers.Clear();
  if (!buffers.Append(raw)) host::Mismatch("packing (a RawBatch that does not fit)");
  buffers.run_id = ++run_id;
  host::CsimDevice device;
  device.Start(run_id, &buffers);
  kernels::EventBatch card;
  kernels::RejectCounters card_rejects;
  host::CardResults results(buffers);
  if (!results.Decode(raw, fixture.Context(&simd, &card_rejects), &card)) {
    host::Mismatch("the card's records (malformed)");
  }
  if (card.site_id != ref.site_id || card.minute != ref.minute || card.kind != ref.kind ||
      card.flags != ref.flags || card.visitor != ref.visitor || card.source != ref.source) {
    host::Mismatch("a fixed-width column");
  }
  if (card.arena != ref.arena || !(card == ref)) host::Mismatch("a string column or the arena");
  for (size_t r = 0; r < kernels::kRejectReasonCount; ++r) {
    const auto reason = static_cast<kernels::RejectReason>(r);
    if (card_rejects.Get(reason) != ref_rejects.Get(reason)) host::Mismatch("reject counters");
  }
  return 0;
}
