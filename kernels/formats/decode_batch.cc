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
  std::array<std::string_view, kMaxBatchBeacons> user_agents;
  std::array<UaClass, kMaxBatchBeacons> classes;
  const bool classified = ctx.user_agents != nullptr;
  if (classified) {
    for (size_t i = 0; i < raw.size(); ++i) user_agents[i] = raw.user_agent(i);
    ctx.user_agents->ClassifyBatch(user_agents.data(), raw.size(), classes.data());
  }
  for (size_t i = 0; i < raw.size(); ++i) {
    const Beacon beacon{.payload = raw.payload(i),
                        .query = raw.query(i),
                        .user_agent = raw.user_agent(i),
                        .address = raw.source(i),
                        .receive_time_ms = raw.receive_time_ms(i),
                        .source = static_cast<uint16_t>(i),
                        .country = raw.country(i),
                        .user_agent_class = classified ? &classes[i] : nullptr};
    DecodeBeacon(raw.endpoint(i), beacon, batch_ctx, events);
  }
}

}  // namespace beacon::kernels
