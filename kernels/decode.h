// Decoding entry point: raw batch in, event batch out, every rejected hit counted.
// This is the scalar reference; other backends (SIMD, FPGA) must produce identical batches.
#pragma once

#include <cstdint>

#include "kernels/event_batch.h"
#include "kernels/raw_batch.h"
#include "kernels/reject_reason.h"
#include "kernels/site_registry.h"
#include "kernels/visitor.h"

namespace beacon::kernels {

struct DecodeContext {
  const SiteRegistry* sites = nullptr;
  RejectCounters* rejects = nullptr;
  uint64_t visitor_key = 0;  // secret key of the visitor-id hash (per deployment)
  VisitorSalts salts;        // daily salts for beacons without a client id
};

// Decodes every beacon of `raw`, appending one row per accepted hit to `events` (which is
// not cleared first) and adding one count per rejected hit to ctx.rejects. Never throws.
void DecodeBatch(const RawBatch& raw, const DecodeContext& ctx, EventBatch* events);

}  // namespace beacon::kernels
