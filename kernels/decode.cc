// DecodeBatch, scalar reference: one decoder per collector endpoint, chosen per beacon.
#include "kernels/decode.h"

#include "kernels/formats/ga_v1.h"

namespace beacon::kernels {

void DecodeBatch(const RawBatch& raw, const DecodeContext& ctx, EventBatch* events) {
  for (size_t i = 0; i < raw.size(); ++i) {
    const GaBeacon beacon{raw.payload(i), raw.user_agent(i), raw.receive_time_ms(i),
                          static_cast<uint16_t>(i)};
    switch (raw.endpoint(i)) {
      case Endpoint::kGaCollect:
        DecodeGaCollect(beacon, ctx, events);
        break;
      case Endpoint::kGaBatch:
        DecodeGaBatch(beacon, ctx, events);
        break;
    }
  }
}

}  // namespace beacon::kernels
