// GA4 Measurement Protocol (/mp/collect): measurement_id and api_secret in the URL query, a
// JSON body with client_id and up to 25 events. Rules and the order of the checks:
// kernels/formats/README.md, "GA4 Measurement Protocol".
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/decode.h"
#include "kernels/event_batch.h"
#include "kernels/formats/common.h"

namespace beacon::kernels {

inline constexpr size_t kMpMaxBodyBytes = 130'000;  // "post body < 130 kB"
inline constexpr size_t kMpMaxQueryBytes = 8192;
inline constexpr size_t kMpMaxEvents = 25;
inline constexpr size_t kMpMaxPageLocationBytes = 1000;
inline constexpr int64_t kMpMaxBackdateMs = 72LL * 3600 * 1000;  // 72 h
inline constexpr int64_t kMpMaxAheadMs = 60'000;                 // clock skew allowed

// Decodes one /mp/collect request (beacon.query: the URL query; beacon.payload: the JSON body,
// followed by simdjson's padding). A request-level failure counts one reject; otherwise one
// row or one reject per event. Never throws.
void DecodeGa4Mp(const Beacon& beacon, const DecodeContext& ctx, EventBatch* events);

}  // namespace beacon::kernels
