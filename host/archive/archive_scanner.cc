// Archive directory reading and verification; see archive_scanner.h.
#include "host/archive/archive_scanner.h"

#include <algorithm>
#include <set>

namespace beacon::host {

void ArchiveScanStats::Add(const ArchiveScanStats& other) {
  segments += other.segments;
  blocks += other.blocks;
  records += other.records;
  torn_blocks += other.torn_blocks;
  corrupt_blocks += other.corrupt_blocks;
  damaged_bytes += other.damaged_bytes;
  lost_records += other.lost_records;
  read_errors += other.read_errors;
  damage.insert(damage.end(), other.damage.begin(), other.damage.end());
}

ArchiveScanner::ArchiveScanner(FileSystem& fs, std::string directory,
                               const kernels::DictionaryStore* dictionaries)
    : fs_(fs), directory_(std::move(directory)), decoder_(dictionaries) {}

int ArchiveScanner::Seek(uint32_t worker, uint64_t from_sequence) {
  scanner_.reset();
  stats_ = {};
  segment_index_ = 0;
  record_index_ = 0;
  block_records_ = 0;
  from_ = from_sequence;
  if (const int error = ListSegments(fs_, directory_, &segments_); error != 0) return error;
  std::erase_if(segments_, [worker](const SegmentFile& s) { return s.worker != worker; });
  return 0;
}

bool ArchiveScanner::Next(uint64_t* sequence, kernels::ArchiveRecord* record) {
  for (;;) {
    while (record_index_ < block_records_) {
      const uint64_t at = block_first_ + record_index_;
      const kernels::ArchiveRecord& candidate = decoder_.records()[record_index_++];
      if (at < from_) continue;
      *sequence = at;
      *record = candidate;
      ++stats_.records;
      return true;
    }
    if (scanner_.has_value() && NextBlock()) continue;
    if (!OpenNextSegment()) return false;
  }
}

bool ArchiveScanner::NextBlock() {
  kernels::ScannedBlock block;
  while (scanner_->Next(&block)) {
    ++stats_.blocks;
    const uint64_t first = block.header.first_sequence;
    const uint64_t end = first + block.header.record_count;
    if (expected_ != 0 && first > expected_) stats_.lost_records += first - expected_;
    expected_ = std::max(expected_, end);
    if (end <= from_) continue;  // before the start: CRC checked, not decompressed
    const kernels::ArchiveError error = decoder_.Decode(block.bytes, scanner_->version());
    if (error != kernels::ArchiveError::kOk) {
      ++stats_.corrupt_blocks;
      stats_.damaged_bytes += block.bytes.size();
      stats_.lost_records += block.header.record_count;
      stats_.damage.push_back(
          {segments_[segment_index_ - 1].path,
           {block.offset, block.bytes.size(), kernels::DamageKind::kCorrupt, error}});
      continue;
    }
    block_first_ = first;
    record_index_ = 0;
    block_records_ = decoder_.records().size();
    return true;
  }
  CloseSegment();
  return false;
}

void ArchiveScanner::CloseSegment() {
  for (const kernels::ArchiveDamage& damage : scanner_->damage()) {
    ++(damage.kind == kernels::DamageKind::kTornTail ? stats_.torn_blocks : stats_.corrupt_blocks);
    stats_.damaged_bytes += damage.bytes;
    stats_.damage.push_back({segments_[segment_index_ - 1].path, damage});
  }
  scanner_.reset();
}

bool ArchiveScanner::OpenNextSegment() {
  while (segment_index_ < segments_.size()) {
    const SegmentFile& segment = segments_[segment_index_++];
    // Wholly before the start: the next segment begins at or before it.
    if (segment_index_ < segments_.size() && segments_[segment_index_].first_sequence <= from_) {
      continue;
    }
    if (fs_.ReadFile(segment.path, &bytes_) != 0) {
      ++stats_.read_errors;
      continue;
    }
    ++stats_.segments;
    scanner_.emplace(bytes_);
    expected_ = scanner_->header_error() == kernels::ArchiveError::kOk
                    ? scanner_->header().first_sequence
                    : 0;
    return true;
  }
  return false;
}

int VerifyArchive(FileSystem& fs, const std::string& dir,
                  const kernels::DictionaryStore* dictionaries, ArchiveScanStats* stats) {
  *stats = {};
  std::vector<SegmentFile> segments;
  if (const int error = ListSegments(fs, dir, &segments); error != 0) return error;
  std::set<uint32_t> workers;
  for (const SegmentFile& segment : segments) workers.insert(segment.worker);
  ArchiveScanner scanner(fs, dir, dictionaries);
  for (const uint32_t worker : workers) {
    if (const int error = scanner.Seek(worker, 0); error != 0) return error;
    uint64_t sequence;
    kernels::ArchiveRecord record;
    while (scanner.Next(&sequence, &record)) {
    }
    stats->Add(scanner.stats());
  }
  return 0;
}

}  // namespace beacon::host
