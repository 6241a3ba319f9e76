// GA4 gtag.js browser hits (/g/collect): shared parameters in the URL query, one event per
// body line overriding them (an empty body: one event from the query alone). Rules and the
// order of the checks: kernels/formats/README.md, "GA4 gtag".
#pragma once

#include <cstddef>

#include "kernels/decode.h"
#include "kernels/event_batch.h"
#include "kernels/formats/common.h"

namespace beacon::kernels {

inline constexpr size_t kGtagMaxQueryBytes = 8192;
inline constexpr size_t kGtagMaxLineBytes = 8192;
inline constexpr size_t kGtagMaxEvents = 25;

// Decodes one /g/collect request (beacon.query: the URL query; beacon.payload: the body).
// Appends one row or counts one reject per event. Never throws.
void DecodeGa4Gtag(const Beacon& beacon, const DecodeContext& ctx, EventBatch* events);

}  // namespace beacon::kernels
