// Snowplow tracker protocol: GET /i (one event in the query string) and
// POST /com.snowplowanalytics.snowplow/tp2 (payload_data JSON, an array of events whose values
// are all strings). Rules and the order of the checks: kernels/formats/README.md, "Snowplow".
#pragma once

#include <cstddef>

#include "kernels/decode.h"
#include "kernels/event_batch.h"
#include "kernels/formats/common.h"

namespace beacon::kernels {

inline constexpr size_t kSnowplowMaxQueryBytes = 8192;
inline constexpr size_t kSnowplowMaxBodyBytes = 1'000'000;  // the collector's record limit
inline constexpr size_t kSnowplowMaxEvents = 100;
inline constexpr size_t kSnowplowMaxUrlBytes = 4096;     // enrich's page_url column (also refr)
inline constexpr size_t kSnowplowMaxActionBytes = 1000;  // enrich's se_action column
inline constexpr std::string_view kSnowplowPayloadSchema =
    "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-";

// Decodes a GET /i query string (beacon.payload): one row or one reject. Never throws.
void DecodeSnowplowGet(const Beacon& beacon, const DecodeContext& ctx, EventBatch* events);

// Decodes a tp2 POST body (followed by simdjson's padding). A body-level failure counts one
// reject; otherwise one row or one reject per event. Never throws.
void DecodeSnowplowPost(const Beacon& beacon, const DecodeContext& ctx, EventBatch* events);

}  // namespace beacon::kernels
