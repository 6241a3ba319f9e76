// MinuteAggregator: hash cells per (site, minute), each with a visitor sketch and one
// TopValues per dimension; sorted at epoch close.
#include "kernels/aggregate/minute_aggregator.h"

#include <algorithm>
#include <unordered_set>

#include "kernels/enrich/attribution.h"
#include "kernels/enrich/user_agent.h"

namespace beacon::kernels {
namespace {

// Bytes of a std::string's heap buffer for a value of up to `bytes` (libstdc++ keeps 15 inline;
// assign may double the capacity).
size_t StringHeapBound(size_t bytes) { return bytes <= 15 ? 0 : 2 * bytes + 1; }

size_t MaxValueBytes(Dimension d) {
  switch (d) {
    case Dimension::kCountry:
      return 2;
    case Dimension::kDevice:
    case Dimension::kBrowser:
    case Dimension::kOs:
      return 26;  // the longest family name, "Mobile Safari UI/WKWebView"
    default:
      return kMaxBreakdownValueBytes;
  }
}

}  // namespace

uint32_t AggregateLimits::TopK(Dimension d) const {
  switch (d) {
    case Dimension::kPage:
      return max_pages_per_site_minute;
    case Dimension::kReferrer:
      return max_referrers_per_site_minute;
    case Dimension::kUtmSource:
      return max_utm_sources_per_site_minute;
    case Dimension::kUtmMedium:
      return max_utm_mediums_per_site_minute;
    case Dimension::kUtmCampaign:
      return max_utm_campaigns_per_site_minute;
    case Dimension::kEventName:
      return max_event_names_per_site_minute;
    case Dimension::kCountry:
      return kCountryValues;
    case Dimension::kDevice:
      return kDeviceValues;
    case Dimension::kBrowser:
      return kBrowserValues;
    case Dimension::kOs:
      return kOsValues;
  }
  return 0;
}

MinuteAggregator::MinuteAggregator(uint32_t worker, AggregateLimits limits)
    : worker_(worker), limits_(limits) {
  for (const Dimension d : kDimensions) top_k_[DimensionIndex(d)] = limits_.TopK(d);
}

void MinuteAggregator::Add(const EventBatch& batch) {
  const size_t n = batch.size();
  uint64_t last_key = ~uint64_t{0};
  Cell* cell = nullptr;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t key = (static_cast<uint64_t>(batch.site_id[i]) << 32) | batch.minute[i];
    if (key != last_key) {
      cell = &cells_[key];
      last_key = key;
    }
    const uint64_t visitor = batch.visitor[i];
    const bool pageview = batch.kind[i] == EventKind::kPageview;
    cell->visitors.Add(visitor);
    ++(pageview ? cell->pageviews : cell->events);

    std::array<char, 2> letters;
    const uint8_t browser = batch.browser[i];
    const uint8_t os = batch.os[i];
    const std::array<std::string_view, kDimensionCount> values = {
        batch.str(batch.path[i]),
        batch.str(batch.referrer[i]),
        batch.str(batch.utm_source[i]),
        batch.str(batch.utm_medium[i]),
        batch.str(batch.utm_campaign[i]),
        CountryLetters(batch.country[i], &letters),
        DeviceClassName(static_cast<DeviceClass>(batch.device[i])),
        browser < kBrowserFamilies.size() ? kBrowserFamilies[browser] : kBrowserFamilies[0],
        os < kOsFamilies.size() ? kOsFamilies[os] : kOsFamilies[0],
        batch.str(batch.event_name[i]),
    };
    for (size_t d = 0; d < kDimensionCount; ++d) {
      // No value, no row: an event without a referrer is in no referrer row.
      if (values[d].empty()) continue;
      folded_[d] += cell->breakdowns[d].Add(values[d], pageview, visitor, top_k_[d]);
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
    rows.site_minutes.push_back(
        {site, minute, cell.pageviews, cell.events, std::move(cell.visitors)});
    // kDimensions is in Dimension order, so appending dimension by dimension, each sorted by
    // value, keeps the rows sorted by (site, minute, dimension, value).
    for (const Dimension d : kDimensions) {
      TopValues& top = cell.breakdowns[DimensionIndex(d)];
      if (top.empty()) continue;
      const size_t first = rows.breakdowns.size();
      for (TopValues::Row& row : top.Rows()) {
        rows.breakdowns.push_back({site, minute, d, std::string(row.value), row.pageviews,
                                   row.events, std::move(*row.visitors)});
      }
      std::sort(rows.breakdowns.begin() + static_cast<std::ptrdiff_t>(first), rows.breakdowns.end(),
                [](const BreakdownRow& a, const BreakdownRow& b) { return a.value < b.value; });
    }
  }
  // A fresh map: clear() would keep the largest epoch's bucket array.
  std::unordered_map<uint64_t, Cell>().swap(cells_);
  open_events_ = 0;
  return rows;
}

size_t MinuteAggregator::Cell::heap_bytes() const {
  size_t bytes = SketchHeapBytes(visitors);
  for (const TopValues& top : breakdowns) bytes += top.heap_bytes();
  return bytes;
}

// The map's node (Cell, key, next pointer, cached hash) and its bucket pointer.
constexpr size_t kCellNodeBytes = sizeof(uint64_t) * 4 + 32;

size_t MinuteAggregator::memory_bytes() const {
  size_t bytes = cells_.bucket_count() * sizeof(void*);
  for (const auto& [key, cell] : cells_) bytes += sizeof(Cell) + kCellNodeBytes + cell.heap_bytes();
  return bytes;
}

size_t MinuteAggregator::active_sites() const {
  std::unordered_set<uint32_t> sites;
  for (const auto& [key, cell] : cells_) sites.insert(static_cast<uint32_t>(key >> 32));
  return sites.size();
}

size_t MinuteAggregator::max_site_minute_bytes() const {
  size_t most = 0;
  for (const auto& [key, cell] : cells_) {
    most = std::max(most, sizeof(Cell) + kCellNodeBytes + cell.heap_bytes());
  }
  return most;
}

size_t MinuteAggregator::MemoryBound(const AggregateLimits& limits, uint64_t events,
                                     uint64_t site_minutes) {
  // README, "Memory bound": vectors at most double their size, the index is at most half
  // full (16 slots at least). A visitor sketch holds heap only past 16 distinct visitors, so
  // 17 hits, and then less than kSketchHeapBytesPerValue per distinct visitor and at most
  // kSketchLargeHeapBytes. A row's hits never drop below its sketch's distinct visitors (an
  // eviction moves both into (other)), so the sketches of the site-minutes, and those of one
  // dimension's rows, hold less than kSketchHeapBytesPerValue per event, and at most
  // kSketchLargeHeapBytes for each of at most E / 17 rows.
  const size_t e = events;
  const size_t s = std::min<uint64_t>(site_minutes, events);
  const size_t sketch_rows = e / (UniqHll12::kSmallCapacity + 1);
  auto sketches = [&](size_t rows) {
    return std::min(e * kSketchHeapBytesPerValue,
                    std::min(rows, sketch_rows) * kSketchLargeHeapBytes);
  };
  size_t bytes = (2 * s + 16) * sizeof(void*) + s * (sizeof(Cell) + kCellNodeBytes);
  bytes += sketches(s);
  for (const Dimension d : kDimensions) {
    const size_t kept = std::min<size_t>(e, s * limits.TopK(d));
    bytes += kept * (2 * TopValues::EntryBytes() + 2 * sizeof(uint32_t) + 4 * sizeof(uint32_t) +
                     StringHeapBound(MaxValueBytes(d)));
    bytes += s * 20 * sizeof(uint32_t);
    bytes += sketches(kept + s);
  }
  return bytes;
}

}  // namespace beacon::kernels
