// Decoding entry point: raw batch in, event batch out, every rejected hit counted. The byte-level
// work goes through one ByteKernels table; every table produces bit-identical batches.
#pragma once

#include <cstdint>

#include "kernels/event_batch.h"
#include "kernels/raw_batch.h"
#include "kernels/reject_reason.h"
#include "kernels/site_registry.h"
#include "kernels/visitor.h"

namespace beacon::kernels {

struct ByteKernels;    // kernels/bytes/byte_table.h
class UserAgentCache;  // kernels/enrich/user_agent.h

struct DecodeContext {
  const SiteRegistry* sites = nullptr;
  RejectCounters* rejects = nullptr;
  uint64_t visitor_key = 0;  // secret key of the visitor-id hash (per deployment)
  VisitorSalts salts;        // daily salts for beacons without a client id
  // The byte kernels the decoders scan, decode and validate with: ScalarByteKernels() or
  // SimdByteKernels() of the backend chosen at start; nullptr is the scalar reference. Results
  // never depend on it, only speed. The table must outlive the DecodeBatch call.
  const ByteKernels* bytes = nullptr;
  // The worker's user-agent cache over uap-core's patterns: bot flag, device class, browser and
  // OS of every hit. nullptr: bots by IsBotByMarkers alone and no device/browser/OS (decoder
  // tests; `[enrich] user_agents = ""`). Mutable state of one worker: never shared.
  UserAgentCache* user_agents = nullptr;
};

// Decodes every beacon of `raw`, appending one row per accepted hit to `events` (which is
// not cleared first) and adding one count per rejected hit to ctx.rejects. The byte kernel table
// is resolved once per batch (ctx.bytes, or the reference). Never throws.
void DecodeBatch(const RawBatch& raw, const DecodeContext& ctx, EventBatch* events);

}  // namespace beacon::kernels
