// Archive retention; see retention.h.
#include "host/archive/retention.h"

#include <algorithm>
#include <vector>

#include "host/archive/segment_files.h"
#include "kernels/archive/format.h"

namespace beacon::host {
namespace {

struct Candidate {
  const SegmentFile* segment;
  int64_t closed_ms;
  uint64_t last_sequence_bound;  // no record of the segment is above it
};

// When `next` was created, i.e. when the segment before it was closed; now when unreadable.
int64_t CreatedMs(FileSystem& fs, const SegmentFile& next, int64_t now_ms) {
  std::string bytes;
  kernels::SegmentHeader header;
  if (fs.ReadPrefix(next.path, kernels::kSegmentHeaderBytes, &bytes) != 0 ||
      kernels::DecodeSegmentHeader(bytes, &header) != kernels::ArchiveError::kOk) {
    return now_ms;
  }
  return header.created_ms;
}

}  // namespace

RetentionResult ApplyRetention(FileSystem& fs, const std::string& dir,
                               const RetentionPolicy& policy,
                               const std::map<uint32_t, uint64_t>& watermarks, int64_t now_ms) {
  RetentionResult result;
  std::vector<SegmentFile> segments;
  if ((result.error = ListSegments(fs, dir, &segments)) != 0) return result;
  uint64_t total = 0;
  std::vector<Candidate> candidates;
  for (const SegmentFile& segment : segments) total += segment.bytes;
  // Newest first: a segment was closed no later than any later segment of its worker, whatever a
  // clock step says, so that each worker's segments go oldest first and never leave a hole.
  for (size_t i = segments.size(); i-- > 0;) {
    if (i + 1 == segments.size() || segments[i + 1].worker != segments[i].worker) continue;
    int64_t closed_ms = CreatedMs(fs, segments[i + 1], now_ms);
    if (!candidates.empty() && candidates.back().segment->worker == segments[i].worker) {
      closed_ms = std::min(closed_ms, candidates.back().closed_ms);
    }
    candidates.push_back({&segments[i], closed_ms, segments[i + 1].first_sequence - 1});
  }
  std::reverse(candidates.begin(), candidates.end());
  std::stable_sort(
      candidates.begin(), candidates.end(),
      [](const Candidate& a, const Candidate& b) { return a.closed_ms < b.closed_ms; });
  for (const Candidate& candidate : candidates) {
    const bool too_old = policy.max_age_ms > 0 && now_ms - candidate.closed_ms >= policy.max_age_ms;
    const bool too_big = policy.max_total_bytes > 0 && total > policy.max_total_bytes;
    if (!too_old && !too_big) break;  // the rest are younger, and the total fits
    const auto watermark = watermarks.find(candidate.segment->worker);
    if (watermark == watermarks.end() || candidate.last_sequence_bound > watermark->second) {
      result.held_by_watermark = true;
      continue;
    }
    if ((result.error = fs.Unlink(candidate.segment->path)) != 0) break;
    total -= candidate.segment->bytes;
    ++result.deleted_segments;
    result.deleted_bytes += candidate.segment->bytes;
  }
  if (result.deleted_segments > 0 && result.error == 0) result.error = fs.SyncDirectory(dir);
  if (policy.max_total_bytes > 0 && total > policy.max_total_bytes) result.held_by_watermark = true;
  result.kept_bytes = total;
  return result;
}

}  // namespace beacon::host
