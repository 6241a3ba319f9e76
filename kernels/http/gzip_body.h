// Inflates a gzip-encoded request body with a hard cap on the output, so that a small
// compressed body cannot expand into unbounded memory (gzip bomb).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace beacon::kernels {

enum class GunzipStatus : uint8_t { kOk, kTooLarge, kCorrupt };

// Replaces `*out` with the inflation of the single gzip member `in`. kTooLarge as soon as the
// output would exceed `max_out` bytes; kCorrupt for a bad header, bad data, a bad checksum,
// a truncated stream or bytes after the member.
GunzipStatus Gunzip(std::string_view in, size_t max_out, std::string* out);

}  // namespace beacon::kernels
