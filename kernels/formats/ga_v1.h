// Google Analytics Universal v1 (Measurement Protocol v1) decoding: /collect and /batch
// payloads to EventBatch rows, every rejected hit counted once. Rules and the order in which
// they are checked: kernels/formats/README.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kernels/decode.h"
#include "kernels/event_batch.h"

namespace beacon::kernels {

// Protocol limits (developers.google.com/analytics/devguides/collection/protocol/v1).
inline constexpr size_t kGaMaxHitBytes = 8192;
inline constexpr size_t kGaMaxBatchBytes = 16384;
inline constexpr size_t kGaMaxBatchHits = 20;
inline constexpr int64_t kGaMaxQueueTimeMs = 14'400'000;  // 4 hours

// One beacon as the GA decoders see it.
struct GaBeacon {
  std::string_view payload;     // /collect: query string or body; /batch: body
  std::string_view user_agent;  // HTTP User-Agent; a hit's ua parameter overrides it
  int64_t receive_time_ms = 0;  // unix milliseconds
  uint16_t source = 0;          // index of the beacon in its RawBatch
};

// Decodes a /collect payload: exactly one hit. Appends one row to `events` or counts one
// reject in ctx.rejects. ctx.sites and ctx.rejects must be set. Never throws.
void DecodeGaCollect(const GaBeacon& beacon, const DecodeContext& ctx, EventBatch* events);

// Decodes a /batch body: one hit per non-empty line. Appends one row or counts one reject per
// hit; a body without any hit counts one kEmptyPayload. Never throws.
void DecodeGaBatch(const GaBeacon& beacon, const DecodeContext& ctx, EventBatch* events);

}  // namespace beacon::kernels
