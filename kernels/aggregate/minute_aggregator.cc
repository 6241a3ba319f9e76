// MinuteAggregator: hash cells per (site, minute), sorted and de-duplicated at epoch close.
#include "kernels/aggregate/minute_aggregator.h"

#include <algorithm>

namespace beacon::kernels {

MinuteAggregator::MinuteAggregator(uint32_t worker, AggregateLimits limits)
    : worker_(worker), limits_(limits) {}

void MinuteAggregator::Add(const EventBatch& batch) {
  const size_t n = batch.size();
  for (size_t i = 0; i < n; ++i) {
    const uint64_t key = (static_cast<uint64_t>(batch.site_id[i]) << 32) | batch.minute[i];
    Cell& cell = cells_[key];
    // Consecutive hits of one visitor are common (a page, then its events): skip the repeat.
    if (cell.visitors.empty() || cell.visitors.back() != batch.visitor[i]) {
      cell.visitors.push_back(batch.visitor[i]);
    }
    if (batch.kind[i] != EventKind::kPageview) {
      ++cell.events;
      continue;
    }
    ++cell.pageviews;
    const std::string_view path = batch.str(batch.path[i]);
    if (auto it = cell.pages.find(path); it != cell.pages.end()) {
      ++it->second;
    } else if (cell.pages.size() < limits_.max_pages_per_site_minute) {
      cell.pages.emplace(std::string(path), 1);
    } else {
      ++cell.other_pageviews;
      ++folded_pageviews_;
    }
  }
  open_events_ += n;
}

EpochRows MinuteAggregator::CloseEpoch() {
  EpochRows rows;
  rows.worker = worker_;
  rows.epoch = next_epoch_++;
  rows.events = open_events_;

  std::vector<uint64_t> keys;
  keys.reserve(cells_.size());
  for (const auto& [key, cell] : cells_) keys.push_back(key);
  std::sort(keys.begin(), keys.end());

  rows.site_minutes.reserve(keys.size());
  for (const uint64_t key : keys) {
    Cell& cell = cells_[key];
    const auto site = static_cast<uint32_t>(key >> 32);
    const auto minute = static_cast<uint32_t>(key);
    std::sort(cell.visitors.begin(), cell.visitors.end());
    cell.visitors.erase(std::unique(cell.visitors.begin(), cell.visitors.end()),
                        cell.visitors.end());
    rows.site_minutes.push_back(
        {site, minute, cell.pageviews, cell.events, std::move(cell.visitors)});

    const size_t first_page = rows.page_minutes.size();
    for (auto& [path, pageviews] : cell.pages) {
      rows.page_minutes.push_back({site, minute, path, pageviews});
    }
    if (cell.other_pageviews > 0) {
      rows.page_minutes.push_back({site, minute, std::string(kOtherPath), cell.other_pageviews});
    }
    std::sort(rows.page_minutes.begin() + static_cast<std::ptrdiff_t>(first_page),
              rows.page_minutes.end(),
              [](const PageMinuteRow& a, const PageMinuteRow& b) { return a.path < b.path; });
  }
  cells_.clear();
  open_events_ = 0;
  return rows;
}

size_t MinuteAggregator::memory_bytes() const {
  size_t bytes = cells_.bucket_count() * sizeof(void*) + cells_.size() * (sizeof(Cell) + 32);
  for (const auto& [key, cell] : cells_) {
    bytes += cell.visitors.capacity() * sizeof(uint64_t);
    bytes += cell.pages.bucket_count() * sizeof(void*);
    for (const auto& [path, count] : cell.pages) bytes += sizeof(path) + path.capacity() + 32;
  }
  return bytes;
}

}  // namespace beacon::kernels
