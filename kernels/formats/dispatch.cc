// The endpoint switch of DecodeBatch (every backend: the byte kernels come with the context).
#include "kernels/formats/dispatch.h"

#include "kernels/formats/ga4_gtag.h"
#include "kernels/formats/ga4_mp.h"
#include "kernels/formats/ga_v1.h"
#include "kernels/formats/plausible.h"
#include "kernels/formats/relay.h"
#include "kernels/formats/snowplow.h"

namespace beacon::kernels {

void DecodeBeacon(Endpoint endpoint, const Beacon& beacon, const DecodeContext& ctx,
                  EventBatch* events) {
  switch (endpoint) {
    case Endpoint::kGaCollect:
      DecodeGaCollect(beacon, ctx, events);
      break;
    case Endpoint::kGaBatch:
      DecodeGaBatch(beacon, ctx, events);
      break;
    case Endpoint::kGa4Gtag:
      DecodeGa4Gtag(beacon, ctx, events);
      break;
    case Endpoint::kGa4Mp:
      DecodeGa4Mp(beacon, ctx, events);
      break;
    case Endpoint::kPlausibleEvent:
      DecodePlausibleEvent(beacon, ctx, events);
      break;
    case Endpoint::kSnowplowGet:
      DecodeSnowplowGet(beacon, ctx, events);
      break;
    case Endpoint::kSnowplowPost:
      DecodeSnowplowPost(beacon, ctx, events);
      break;
    case Endpoint::kUdpHitBatch:
      DecodeUdpHitBatch(beacon, ctx, events);
      break;
    case Endpoint::kUdpSyslog:
      DecodeUdpSyslog(beacon, ctx, events);
      break;
  }
}

}  // namespace beacon::kernels
