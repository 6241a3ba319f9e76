// Fuzz target "decode no crash": any bytes, as a beacon of any endpoint (byte 0 selects it, see
// decode_fuzz_input.h), decode with the scalar reference without a crash, an out-of-bounds
// access or undefined behaviour, into a well-formed batch: every beacon has at least one
// outcome (a row or a counted reject), every row names beacon 0 and a registry site, and every
// page path lies inside the arena. Aborts otherwise.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "kernels/decode.h"
#include "tests/fuzz/decode_fuzz_input.h"

namespace beacon::kernels::fuzz {
namespace {

[[noreturn]] void Broken(const char* what) {
  std::fprintf(stderr, "decode_no_crash: %s\n", what);
  std::abort();
}

void CheckBatch(const EventBatch& events, const RejectCounters& rejects) {
  uint64_t rejected = 0;
  for (size_t r = 0; r < kRejectReasonCount; ++r) {
    rejected += rejects.Get(static_cast<RejectReason>(r));
  }
  if (events.size() + rejected == 0) Broken("a beacon without any outcome");
  if (events.minute.size() != events.size() || events.kind.size() != events.size() ||
      events.flags.size() != events.size() || events.visitor.size() != events.size() ||
      events.path.size() != events.size() || events.source.size() != events.size()) {
    Broken("columns of different lengths");
  }
  for (size_t i = 0; i < events.size(); ++i) {
    if (events.source[i] != 0) Broken("a row names a beacon that is not in the batch");
    if (events.site_id[i] != 1 && events.site_id[i] != 2) Broken("a row of an unknown site");
    const StrRef path = events.path[i];
    if (path.offset > events.arena.size() || path.size > events.arena.size() - path.offset) {
      Broken("a page path outside the arena");
    }
  }
}

}  // namespace
}  // namespace beacon::kernels::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace beacon::kernels;
  static const fuzz::DecodeFixture fixture;
  static RawBatch raw;  // one 1 MiB arena for the whole run, not one per input
  raw.Clear();
  if (!fuzz::FillRawBatch(data, size, &raw)) return 0;
  RejectCounters rejects;
  EventBatch events;
  DecodeBatch(raw, fixture.Context(nullptr, &rejects), &events);
  fuzz::CheckBatch(events, rejects);
  return 0;
}
