// archive_count DIR: reads every worker's raw archive in DIR with host/archive's ArchiveScanner
// and prints "records R workers W torn T corrupt C lost L"; exits 1 when a record's payload
// holds --forbid's text (e.g. a client IP that must never be archived), 2 on a bad directory.
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "host/archive/archive_scanner.h"
#include "host/archive/file_system.h"
#include "host/archive/segment_files.h"

int main(int argc, char** argv) {
  if (argc != 2 && !(argc == 4 && std::string_view(argv[2]) == "--forbid")) {
    std::fprintf(stderr, "usage: archive_count DIR [--forbid TEXT]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const std::string forbidden = argc == 4 ? argv[3] : "";
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
    }
    total.Add(scanner.stats());
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
