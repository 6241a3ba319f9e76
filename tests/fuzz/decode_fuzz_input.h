// The decode fuzz targets' input layout and fixed surroundings: fuzz bytes to one beacon in a
// RawBatch, a site registry that the seeds' tracking ids match, and a decode context.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/decode.h"
#include "kernels/event_batch.h"
#include "kernels/raw_batch.h"
#include "kernels/reject_reason.h"
#include "kernels/site_registry.h"

namespace beacon::kernels::fuzz {

// Input layout: byte 0 selects the endpoint (low nibble modulo the endpoint count) and the
// HTTP User-Agent (bits 4-5: browser, bot, empty, server library). For the endpoints with a
// separate URL query (GA4 gtag, Measurement Protocol) the rest is `query '\0' payload` (no
// '\0': all payload); for the others it is all payload. False when `size` is 0.
bool FillRawBatch(const uint8_t* data, size_t size, RawBatch* raw);

// The registry, rejects and context every decode target uses (receive time, salts and keys
// matching the seeds). `bytes` is the byte kernel table to decode with (nullptr: reference).
struct DecodeFixture {
  DecodeFixture();
  DecodeContext Context(const ByteKernels* bytes, RejectCounters* rejects) const;

  SiteRegistry sites;
};

// The receive time of every fuzzed beacon (2023-11-14T22:15:23.456Z).
inline constexpr int64_t kFuzzNowMs = 1'700'000'123'456;

}  // namespace beacon::kernels::fuzz
