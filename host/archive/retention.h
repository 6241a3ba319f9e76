// Archive retention: deletes the oldest closed segments by age and by total size, never one
// holding a record above its worker's watermark, never a worker's newest segment.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "host/archive/file_system.h"

namespace beacon::host {

struct RetentionPolicy {
  uint64_t max_total_bytes = 0;  // 0: no size limit
  int64_t max_age_ms = 0;        // since the segment was closed; 0: no age limit
};

struct RetentionResult {
  uint64_t deleted_segments = 0;
  uint64_t deleted_bytes = 0;
  uint64_t kept_bytes = 0;
  // A segment over a limit was kept because its records are not all at or below the
  // watermark: the archive grows until what it holds is acknowledged.
  bool held_by_watermark = false;
  int error = 0;  // errno of the listing, an unlink or the directory sync
};

// `watermarks`: per worker, the last sequence whose aggregates are acknowledged; a worker
// missing from it keeps every segment. A segment's age counts from its successor's creation, or
// from a later segment's of its worker when that is earlier (a clock step back): each worker's
// segments are deleted oldest first, in sequence order.
RetentionResult ApplyRetention(FileSystem& fs, const std::string& dir,
                               const RetentionPolicy& policy,
                               const std::map<uint32_t, uint64_t>& watermarks, int64_t now_ms);

}  // namespace beacon::host
