// DecodeBatch (declared in kernels/decode.h): the byte kernel table resolved once for the batch,
// then one decoder per collector endpoint, chosen per beacon (dispatch.cc).
#include "kernels/decode.h"

#include <algorithm>
#include <array>
#include <cstdint>

#include "kernels/formats/common.h"
#include "kernels/formats/dispatch.h"

namespace beacon::kernels {
namespace {

// Prefetches the first kPrefetchBytes of a payload: the next beacon's bytes arrive while this
// one decodes (a batch is up to 1 MiB, so its start has often left the cache).
void PrefetchPayload(std::string_view payload) {
  constexpr size_t kPrefetchBytes = 2048;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(payload.data()) & ~uintptr_t{63};
  const uintptr_t end =
      reinterpret_cast<uintptr_t>(payload.data()) + std::min(payload.size(), kPrefetchBytes);
  for (uintptr_t line = begin; line < end; line += 64) {
    __builtin_prefetch(reinterpret_cast<const void*>(line));
  }
}

}  // namespace

void DecodeBatch(const RawBatch& raw, const DecodeContext& ctx, EventBatch* events) {
  DecodeContext batch_ctx = ctx;
  batch_ctx.bytes = &BytesOf(ctx);
  // The batch's user agents in one pass over the cache (its lookups prefetched in groups).
  std::array<UaClass, kMaxBatchBeacons> classes;
  const bool classified = ClassifyBatchUserAgents(raw, ctx, classes.data());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (i + 1 < raw.size()) PrefetchPayload(raw.payload(i + 1));
    DecodeBeacon(raw.endpoint(i), BeaconAt(raw, i, classified ? &classes[i] : nullptr), batch_ctx,
                 events);
  }
}

}  // namespace beacon::kernels
