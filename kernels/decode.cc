// DecodeBatch: the byte kernel table resolved once for the batch, then one decoder per collector
// endpoint, chosen per beacon (kernels/formats/dispatch.cc).
#include "kernels/decode.h"

#include "kernels/formats/common.h"
#include "kernels/formats/dispatch.h"

namespace beacon::kernels {

void DecodeBatch(const RawBatch& raw, const DecodeContext& ctx, EventBatch* events) {
  DecodeContext batch_ctx = ctx;
  batch_ctx.bytes = &BytesOf(ctx);
  for (size_t i = 0; i < raw.size(); ++i) {
    const Beacon beacon{.payload = raw.payload(i),
                        .query = raw.query(i),
                        .user_agent = raw.user_agent(i),
                        .address = raw.source(i),
                        .receive_time_ms = raw.receive_time_ms(i),
                        .source = static_cast<uint16_t>(i)};
    DecodeBeacon(raw.endpoint(i), beacon, batch_ctx, events);
  }
}

}  // namespace beacon::kernels
