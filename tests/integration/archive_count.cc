// archive_count DIR [--forbid TEXT] [--tags FILE]: reads every worker's raw archive in DIR
// with host/archive's ArchiveScanner and prints "records R workers W torn T corrupt C lost L";
// exits 1 when a record's payload holds --forbid's text (e.g. a client IP that must never be
// archived), 2 on a bad directory or bad arguments. --tags writes the request tag of each
// record (the value of a "z=bg<digits>" beacon-gen put in its query or payload) to FILE, one
// a line.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "host/archive/archive_scanner.h"
#include "host/archive/file_system.h"
#include "host/archive/segment_files.h"

namespace {

// The first beacon-gen request tag in `text` ("bg" and its digits), or empty.
std::string_view RequestTag(std::string_view text) {
  for (size_t at = text.find("z=bg"); at != std::string_view::npos;
       at = text.find("z=bg", at + 1)) {
    if (at > 0 && text[at - 1] != '&' && text[at - 1] != '?' && text[at - 1] != '\n') continue;
    size_t end = at + 4;
    while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
    if (end > at + 4) return text.substr(at + 2, end - at - 2);
  }
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  std::string forbidden, tags_path;
  bool usage = argc < 2;
  for (int i = 2; i < argc && !usage; i += 2) {
    const std::string_view flag = argv[i];
    usage = i + 1 >= argc || (flag != "--forbid" && flag != "--tags");
    if (!usage) (flag == "--forbid" ? forbidden : tags_path) = argv[i + 1];
  }
  if (usage) {
    std::fprintf(stderr, "usage: archive_count DIR [--forbid TEXT] [--tags FILE]\n");
    return 2;
  }
  const std::string dir = argv[1];
  std::ofstream tags;
  if (!tags_path.empty()) tags.open(tags_path, std::ios::trunc);
  beacon::host::PosixFileSystem fs;
  std::vector<beacon::host::SegmentFile> segments;
  if (const int error = beacon::host::ListSegments(fs, dir, &segments); error != 0) {
    std::fprintf(stderr, "archive_count: %s: errno %d\n", dir.c_str(), error);
    return 2;
  }
  std::set<uint32_t> workers;
  for (const auto& segment : segments) workers.insert(segment.worker);
  beacon::host::ArchiveScanner scanner(fs, dir);
  beacon::host::ArchiveScanStats total;
  uint64_t forbidden_records = 0;
  uint64_t control_records = 0;  // epoch markers: not beacons
  for (const uint32_t worker : workers) {
    if (scanner.Seek(worker, 1) != 0) return 2;
    uint64_t sequence = 0;
    beacon::kernels::ArchiveRecord record;
    while (scanner.Next(&sequence, &record)) {
      if (beacon::kernels::IsControlRecord(record)) {
        ++control_records;
        continue;
      }
      if (!forbidden.empty() && record.payload.find(forbidden) != std::string_view::npos) {
        ++forbidden_records;
      }
      if (!tags_path.empty()) {
        std::string_view tag = RequestTag(record.query);
        if (tag.empty()) tag = RequestTag(record.payload);
        if (!tag.empty()) tags << tag << '\n';
      }
    }
    total.Add(scanner.stats());
  }
  if (!tags_path.empty() && !tags.flush()) {
    std::fprintf(stderr, "archive_count: cannot write %s\n", tags_path.c_str());
    return 2;
  }
  std::printf("records %llu workers %zu torn %llu corrupt %llu lost %llu\n",
              static_cast<unsigned long long>(total.records - control_records), workers.size(),
              static_cast<unsigned long long>(total.torn_blocks),
              static_cast<unsigned long long>(total.corrupt_blocks),
              static_cast<unsigned long long>(total.lost_records));
  if (forbidden_records > 0) {
    std::fprintf(stderr, "archive_count: %llu records hold \"%s\"\n",
                 static_cast<unsigned long long>(forbidden_records), forbidden.c_str());
    return 1;
  }
  return 0;
}
