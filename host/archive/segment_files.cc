// Segment file names and directory listing; see segment_files.h.
#include "host/archive/segment_files.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace beacon::host {

std::string SegmentFileName(uint32_t worker, uint64_t first_sequence) {
  char name[64];
  std::snprintf(name, sizeof(name), "w%04u-%020llu.seg", worker,
                static_cast<unsigned long long>(first_sequence));
  return name;
}

bool ParseSegmentFileName(std::string_view name, uint32_t* worker, uint64_t* first_sequence) {
  constexpr std::string_view kSuffix = ".seg";
  if (name.size() < 1 + 4 + 1 + 20 + kSuffix.size() || name[0] != 'w' || !name.ends_with(kSuffix)) {
    return false;
  }
  name.remove_suffix(kSuffix.size());
  const size_t dash = name.find('-');
  if (dash == std::string_view::npos || name.size() - dash - 1 != 20) return false;
  const char* begin = name.data() + 1;
  const char* middle = name.data() + dash;
  const char* end = name.data() + name.size();
  const auto w = std::from_chars(begin, middle, *worker);
  const auto s = std::from_chars(middle + 1, end, *first_sequence);
  return w.ec == std::errc() && w.ptr == middle && s.ec == std::errc() && s.ptr == end &&
         name == SegmentFileName(*worker, *first_sequence).substr(0, name.size());
}

int ListSegments(FileSystem& fs, const std::string& dir, std::vector<SegmentFile>* segments) {
  segments->clear();
  std::vector<DirEntry> entries;
  if (const int error = fs.List(dir, &entries); error != 0) return error;
  for (const DirEntry& entry : entries) {
    SegmentFile segment;
    if (!ParseSegmentFileName(entry.name, &segment.worker, &segment.first_sequence)) continue;
    segment.path = dir + "/" + entry.name;
    segment.bytes = entry.bytes;
    segments->push_back(std::move(segment));
  }
  std::sort(segments->begin(), segments->end(), [](const SegmentFile& a, const SegmentFile& b) {
    return a.worker != b.worker ? a.worker < b.worker : a.first_sequence < b.first_sequence;
  });
  return 0;
}

}  // namespace beacon::host
