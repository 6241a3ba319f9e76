// DecodeBatch (declared in kernels/decode.h): the byte kernel table resolved once for the batch,
// then one decoder per collector endpoint, chosen per beacon (dispatch.cc).
#include "kernels/decode.h"

#include <array>

#include "kernels/formats/common.h"
#include "kernels/formats/dispatch.h"

namespace beacon::kernels {

void DecodeBatch(const RawBatch& raw, const DecodeContext& ctx, EventBatch* events) {
  DecodeContext batch_ctx = ctx;
  batch_ctx.bytes = &BytesOf(ctx);
  // The batch's user agents in one pass over the cache (its lookups prefetched in groups).
  std::array<UaClass, kMaxBatchBeacons> classes;
  const bool classified = ClassifyBatchUserAgents(raw, ctx, classes.data());
  for (size_t i = 0; i < raw.size(); ++i) {
    DecodeBeacon(raw.endpoint(i), BeaconAt(raw, i, classified ? &classes[i] : nullptr), batch_ctx,
                 events);
  }
}

}  // namespace beacon::kernels
