// Google Analytics Universal v1 (Measurement Protocol v1) decoding: /collect and /batch
// payloads to EventBatch rows, every rejected hit counted once. Rules and the order in which
// they are checked: kernels/formats/README.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kernels/decode.h"
#include "kernels/event_batch.h"
#include "kernels/formats/common.h"

namespace beacon::kernels {

// Protocol limits (developers.google.com/analytics/devguides/collection/protocol/v1).
inline constexpr size_t kGaMaxHitBytes = 8192;
inline constexpr size_t kGaMaxBatchBytes = 16384;
inline constexpr size_t kGaMaxBatchHits = 20;
inline constexpr int64_t kGaMaxQueueTimeMs = 14'400'000;  // 4 hours

// Decodes a /collect payload: exactly one hit. Appends one row to `events` or counts one
// reject in ctx.rejects. ctx.sites and ctx.rejects must be set. Never throws.
// `beacon.payload` is the query string or the body; a hit's `ua` parameter overrides
// `beacon.user_agent`.
void DecodeGaCollect(const Beacon& beacon, const DecodeContext& ctx, EventBatch* events);

// Decodes a /batch body: one hit per non-empty line. Appends one row or counts one reject per
// hit; a body without any hit counts one kEmptyPayload. Never throws.
void DecodeGaBatch(const Beacon& beacon, const DecodeContext& ctx, EventBatch* events);

}  // namespace beacon::kernels
