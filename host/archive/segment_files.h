// Segment file names and the listing of an archive directory: one file per segment, named
// w<worker, 4+ digits>-<first sequence, 20 digits>.seg, so that names sort as segments do.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "host/archive/file_system.h"

namespace beacon::host {

struct SegmentFile {
  std::string path;
  uint32_t worker = 0;
  uint64_t first_sequence = 0;
  uint64_t bytes = 0;
};

std::string SegmentFileName(uint32_t worker, uint64_t first_sequence);
// False for names that are not segment names (other files in the directory are ignored).
bool ParseSegmentFileName(std::string_view name, uint32_t* worker, uint64_t* first_sequence);

// The segments of `dir`, ordered by (worker, first sequence). Returns 0 or an errno.
int ListSegments(FileSystem& fs, const std::string& dir, std::vector<SegmentFile>* segments);

}  // namespace beacon::host
