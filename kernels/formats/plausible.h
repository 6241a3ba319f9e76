// Plausible Events API (/api/event): one JSON event (sent as application/json or text/plain).
// Rules and the order of the checks: kernels/formats/README.md, "Plausible".
#pragma once

#include <cstddef>

#include "kernels/decode.h"
#include "kernels/event_batch.h"
#include "kernels/formats/common.h"

namespace beacon::kernels {

inline constexpr size_t kPlausibleMaxBodyBytes = 1'000'000;  // the server's body read limit
inline constexpr size_t kPlausibleMaxNameBytes = 120;
inline constexpr size_t kPlausibleMaxUrlBytes = 2000;

// Decodes one /api/event body (followed by simdjson's padding): one row or one reject.
// Never throws.
void DecodePlausibleEvent(const Beacon& beacon, const DecodeContext& ctx, EventBatch* events);

}  // namespace beacon::kernels
