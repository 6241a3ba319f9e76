// One beacon to the decoder of its endpoint (used by DecodeBatch and by the syslog relay for
// the request a log line carries).
#pragma once

#include "kernels/decode.h"
#include "kernels/event_batch.h"
#include "kernels/formats/common.h"
#include "kernels/raw_batch.h"

namespace beacon::kernels {

void DecodeBeacon(Endpoint endpoint, const Beacon& beacon, const DecodeContext& ctx,
                  EventBatch* events);

}  // namespace beacon::kernels
