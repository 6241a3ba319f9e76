// Per-worker pre-aggregation of events into (site, minute) rows, cut into epochs.
// An epoch's rows are a pure function of the events added during it, in order: the same
// events give byte-identical rows. Memory is bounded by AggregateLimits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kernels/event_batch.h"

namespace beacon::kernels {

// The page path that stands for every path beyond a site-minute's bound.
inline constexpr std::string_view kOtherPath = "(other)";

struct AggregateLimits {
  uint32_t max_pages_per_site_minute = 500;  // distinct paths kept; the rest fold into (other)
};

struct SiteMinuteRow {
  uint32_t site_id = 0;
  uint32_t minute = 0;  // unix minutes
  uint64_t pageviews = 0;
  uint64_t events = 0;
  std::vector<uint64_t> visitors;  // distinct visitor hashes, ascending
};

struct PageMinuteRow {
  uint32_t site_id = 0;
  uint32_t minute = 0;
  std::string path;
  uint64_t pageviews = 0;
};

// The aggregate rows of one closed epoch of one worker.
struct EpochRows {
  uint32_t worker = 0;
  uint64_t epoch = 0;                       // per-worker sequence number, from 0
  uint64_t events = 0;                      // accepted events aggregated
  std::vector<SiteMinuteRow> site_minutes;  // sorted by (site_id, minute)
  std::vector<PageMinuteRow> page_minutes;  // sorted by (site_id, minute, path)
  bool empty() const { return events == 0; }
};

class MinuteAggregator {
 public:
  MinuteAggregator(uint32_t worker, AggregateLimits limits);

  // Folds every event of `batch` into the open epoch. No allocation once the epoch's
  // site-minutes and paths have been seen.
  void Add(const EventBatch& batch);
  // Closes the open epoch and returns its rows; the next epoch starts empty.
  EpochRows CloseEpoch();

  uint64_t open_events() const { return open_events_; }
  uint64_t folded_pageviews() const { return folded_pageviews_; }
  // Heap bytes held by the open epoch (estimate from container sizes).
  size_t memory_bytes() const;

 private:
  struct PathHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Cell {
    uint64_t pageviews = 0;
    uint64_t events = 0;
    std::vector<uint64_t> visitors;  // unsorted, may repeat until CloseEpoch
    std::unordered_map<std::string, uint64_t, PathHash, std::equal_to<>> pages;
    uint64_t other_pageviews = 0;
  };

  uint32_t worker_;
  AggregateLimits limits_;
  uint64_t next_epoch_ = 0;
  uint64_t open_events_ = 0;
  uint64_t folded_pageviews_ = 0;
  std::unordered_map<uint64_t, Cell> cells_;  // key: site_id << 32 | minute
};

}  // namespace beacon::kernels
