// MinuteAggregator: cells per (site, minute) in an open-addressing table, each with a visitor
// sketch, one TopValues per string dimension and one FixedValues per fixed one; sorted at close.
#include "kernels/aggregate/minute_aggregator.h"

#include <algorithm>
#include <unordered_set>
#include <utility>

#include "kernels/enrich/attribution.h"
#include "kernels/enrich/user_agent.h"

namespace beacon::kernels {
namespace {

// A country's dense id: CountryFromHeader packs two upper-case letters; anything else is
// kCountryValues (no row, as the unknown country).
uint32_t CountryId(uint16_t country) {
  const uint32_t first = (country >> 8) - 'A';
  const uint32_t second = (country & 0xFF) - 'A';
  return first < 26 && second < 26 ? first * 26 + second : kCountryValues;
}

// The value a fixed dimension's id stands for.
std::string FixedValueName(Dimension d, uint32_t id) {
  switch (d) {
    case Dimension::kCountry:
      return {static_cast<char>('A' + id / 26), static_cast<char>('A' + id % 26)};
    case Dimension::kDevice:
      return std::string(DeviceClassName(static_cast<DeviceClass>(id)));
    case Dimension::kBrowser:
      return std::string(kBrowserFamilies[id]);
    default:
      return std::string(kOsFamilies[id]);
  }
}

// A cell key's slot in an index of `mask` + 1 slots: the key's bits mixed by a multiply.
size_t CellHome(uint64_t key, size_t mask) {
  const uint64_t h = key * 0x9E3779B97F4A7C15;
  return (h ^ (h >> 32)) & mask;
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
  for (size_t s = 0; s < kStringDimensions.size(); ++s) {
    top_k_[s] = limits_.TopK(kStringDimensions[s]);
  }
}

namespace {

// A fixed dimension's id (< its domain), or the domain's size for no value: a country not made
// of two upper-case letters, as the unknown one, is in no row; device, browser and OS ids beyond
// their tables are their first entry, as their names are ("other", "Other").
std::array<uint32_t, 4> FixedIds(const EventBatch& batch, size_t i) {
  const uint8_t device = batch.device[i];
  const uint8_t browser = batch.browser[i];
  const uint8_t os = batch.os[i];
  return {CountryId(batch.country[i]), device < kDeviceValues ? device : 0u,
          browser < kBrowserValues ? browser : 0u, os < kOsValues ? os : 0u};
}

constexpr std::array<uint32_t, 4> kFixedDomains = {kCountryValues, kDeviceValues, kBrowserValues,
                                                   kOsValues};

}  // namespace

void MinuteAggregator::PrepareBlock(const EventBatch& batch, size_t first, size_t count,
                                    Block* block) {
  for (size_t j = 0; j < count; ++j) {
    const size_t i = first + j;
    const uint64_t key = (static_cast<uint64_t>(batch.site_id[i]) << 32) | batch.minute[i];
    // Sites interleave within a batch: the recent cells by key, direct-mapped, spare most
    // probes of the cell index.
    CellSlot& recent = recent_cells_[CellHome(key, kRecentCells - 1)];
    if (recent.cell == nullptr || recent.key != key) recent = {key, &CellOf(key)};
    Cell& cell = *recent.cell;
    block->cells[j] = &cell;
    // The visitor's IntHash32 once for its eleven sketch adds.
    const UniqHll12::Hashed visitor = UniqHll12::Hash(batch.visitor[i]);
    block->visitors[j] = visitor;
    cell.visitors.Prefetch(visitor);
    const std::array<std::string_view, kStringDimensions.size()> values = {
        batch.str(batch.path[i]),         batch.str(batch.referrer[i]),
        batch.str(batch.utm_source[i]),   batch.str(batch.utm_medium[i]),
        batch.str(batch.utm_campaign[i]), batch.str(batch.event_name[i]),
    };
    for (size_t s = 0; s < kStringDimensions.size(); ++s) {
      block->keys[j][s] = values[s].empty() ? TopValues::Key{} : TopValues::KeyOf(values[s]);
      if (!values[s].empty()) cell.strings[s].PrefetchSlot(block->keys[j][s]);
    }
    block->ids[j] = FixedIds(batch, i);
    for (size_t f = 0; f < kFixedDimensions.size(); ++f) {
      if (block->ids[j][f] < kFixedDomains[f]) cell.fixed[f].Prefetch(block->ids[j][f], visitor);
    }
  }
  for (size_t j = 0; j < count; ++j) {
    for (size_t s = 0; s < kStringDimensions.size(); ++s) {
      if (!block->keys[j][s].value.empty())
        block->cells[j]->strings[s].PrefetchEntry(block->keys[j][s]);
    }
  }
  for (size_t j = 0; j < count; ++j) {
    for (size_t s = 0; s < kStringDimensions.size(); ++s) {
      if (!block->keys[j][s].value.empty()) {
        block->cells[j]->strings[s].PrefetchSketch(block->keys[j][s], block->visitors[j]);
      }
    }
  }
}

void MinuteAggregator::AddEvent(const EventBatch& batch, size_t i, Cell& cell,
                                const std::array<TopValues::Key, kStringDimensions.size()>& keys,
                                const std::array<uint32_t, kFixedDimensions.size()>& ids,
                                UniqHll12::Hashed visitor) {
  const bool pageview = batch.kind[i] == EventKind::kPageview;
  const uint32_t weight = batch.weight[i];
  cell.visitors.Add(visitor);
  ++(pageview ? cell.pageviews : cell.events);
  (pageview ? cell.weighted_pageviews : cell.weighted_events) += weight;
  for (size_t s = 0; s < kStringDimensions.size(); ++s) {
    // No value, no row: an event without a referrer is in no referrer row.
    if (keys[s].value.empty()) continue;
    folded_[DimensionIndex(kStringDimensions[s])] +=
        cell.strings[s].Add(keys[s], pageview, visitor, top_k_[s], weight);
  }
  for (size_t f = 0; f < kFixedDimensions.size(); ++f) {
    if (ids[f] < kFixedDomains[f]) {
      cell.fixed[f].Add(ids[f], kFixedDomains[f], pageview, visitor, weight);
    }
  }
}

void MinuteAggregator::Add(const EventBatch& batch) {
  const size_t n = batch.size();
  Block& block = *block_;
  for (size_t first = 0; first < n; first += kBlockEvents) {
    const size_t count = std::min(kBlockEvents, n - first);
    PrepareBlock(batch, first, count, &block);
    for (size_t j = 0; j < count; ++j) {
      AddEvent(batch, first + j, *block.cells[j], block.keys[j], block.ids[j], block.visitors[j]);
    }
  }
  open_events_ += n;
}

MinuteAggregator::Cell& MinuteAggregator::CellOf(uint64_t key) {
  if (!cell_index_.empty()) {
    const size_t mask = cell_index_.size() - 1;
    for (size_t slot = CellHome(key, mask); cell_index_[slot].cell != nullptr;
         slot = (slot + 1) & mask) {
      if (cell_index_[slot].key == key) return *cell_index_[slot].cell;
    }
  }
  if (2 * (cells_.size() + 1) > cell_index_.size()) GrowCellIndex();
  Cell* cell = cells_.emplace_back(std::make_unique<Cell>()).get();
  const size_t mask = cell_index_.size() - 1;
  size_t slot = CellHome(key, mask);
  while (cell_index_[slot].cell != nullptr) slot = (slot + 1) & mask;
  cell_index_[slot] = {key, cell};
  return *cell;
}

void MinuteAggregator::GrowCellIndex() {
  std::vector<CellSlot> old(cell_index_.empty() ? kMinCellSlots : 2 * cell_index_.size());
  old.swap(cell_index_);
  const size_t mask = cell_index_.size() - 1;
  for (const CellSlot& entry : old) {
    if (entry.cell == nullptr) continue;
    size_t slot = CellHome(entry.key, mask);
    while (cell_index_[slot].cell != nullptr) slot = (slot + 1) & mask;
    cell_index_[slot] = entry;
  }
}

// Appends the breakdown rows of one cell, by dimension, each dimension's sorted by value (a
// dimension's values are distinct, so the order is a function of the values).
void MinuteAggregator::AppendRows(uint32_t site, uint32_t minute, Cell& cell,
                                  EpochRows* rows) const {
  auto append = [&](Dimension d, std::string_view value, uint64_t pageviews, uint64_t events,
                    uint64_t weighted_pageviews, uint64_t weighted_events, UniqHll12* visitors) {
    BreakdownRow& row = rows->breakdowns.emplace_back();
    row.site_id = site;
    row.minute = minute;
    row.dimension = d;
    row.value.assign(value);
    row.pageviews = pageviews;
    row.events = events;
    row.weighted_pageviews = weighted_pageviews;
    row.weighted_events = weighted_events;
    row.visitors = std::move(*visitors);
  };
  for (const Dimension d : kDimensions) {
    const auto string_at = std::find(kStringDimensions.begin(), kStringDimensions.end(), d);
    if (string_at != kStringDimensions.end()) {
      std::vector<TopValues::Row> values =
          cell.strings[string_at - kStringDimensions.begin()].Rows();
      std::sort(values.begin(), values.end(),
                [](const TopValues::Row& a, const TopValues::Row& b) { return a.value < b.value; });
      for (const TopValues::Row& r : values) {
        append(d, r.value, r.pageviews, r.events, r.weighted_pageviews, r.weighted_events,
               r.visitors);
      }
      continue;
    }
    const auto fixed_at = std::find(kFixedDimensions.begin(), kFixedDimensions.end(), d);
    std::vector<FixedValues::Row> values = cell.fixed[fixed_at - kFixedDimensions.begin()].Rows();
    std::vector<std::pair<std::string, const FixedValues::Row*>> named;
    named.reserve(values.size());
    for (const FixedValues::Row& r : values) named.emplace_back(FixedValueName(d, r.id), &r);
    std::sort(named.begin(), named.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [name, r] : named) {
      append(d, name, r->pageviews, r->events, r->weighted_pageviews, r->weighted_events,
             r->visitors);
    }
  }
}

EpochRows MinuteAggregator::CloseEpoch() {
  EpochRows rows;
  rows.worker = worker_;
  rows.epoch = next_epoch_++;
  rows.events = open_events_;

  std::vector<std::pair<uint64_t, Cell*>> order;
  order.reserve(cells_.size());
  for (const CellSlot& slot : cell_index_) {
    if (slot.cell != nullptr) order.emplace_back(slot.key, slot.cell);
  }
  std::sort(order.begin(), order.end());
  // Room for every row up front: a row is large (its sketch inline) and is built in place.
  size_t breakdowns = 0;
  for (const auto& [key, cell] : order) breakdowns += cell->max_rows();
  rows.site_minutes.reserve(order.size());
  rows.breakdowns.reserve(breakdowns);
  for (const auto& [key, cell] : order) {
    const auto site = static_cast<uint32_t>(key >> 32);
    const auto minute = static_cast<uint32_t>(key);
    rows.site_minutes.push_back({site, minute, cell->pageviews, cell->events,
                                 cell->weighted_pageviews, cell->weighted_events,
                                 std::move(cell->visitors)});
    // kDimensions is in Dimension order, so appending dimension by dimension, each sorted by
    // value, keeps the rows sorted by (site, minute, dimension, value).
    AppendRows(site, minute, *cell, &rows);
  }
  // Fresh arrays: clear() would keep the largest epoch's capacity.
  std::vector<std::unique_ptr<Cell>>().swap(cells_);
  std::vector<CellSlot>().swap(cell_index_);
  recent_cells_ = {};
  open_events_ = 0;
  return rows;
}

size_t MinuteAggregator::Cell::heap_bytes() const {
  size_t bytes = SketchHeapBytes(visitors);
  for (const TopValues& top : strings) bytes += top.heap_bytes();
  for (const FixedValues& values : fixed) bytes += values.heap_bytes();
  return bytes;
}

size_t MinuteAggregator::Cell::max_rows() const {
  size_t rows = 0;
  for (const TopValues& top : strings) rows += top.size() + 1;
  for (const FixedValues& values : fixed) rows += values.size();
  return rows;
}

size_t MinuteAggregator::memory_bytes() const {
  size_t bytes = cell_index_.capacity() * sizeof(CellSlot) + cells_.capacity() * sizeof(void*);
  for (const auto& cell : cells_) bytes += sizeof(Cell) + cell->heap_bytes();
  return bytes;
}

size_t MinuteAggregator::active_sites() const {
  std::unordered_set<uint32_t> sites;
  for (const CellSlot& slot : cell_index_) {
    if (slot.cell != nullptr) sites.insert(static_cast<uint32_t>(slot.key >> 32));
  }
  return sites.size();
}

size_t MinuteAggregator::max_site_minute_bytes() const {
  size_t most = 0;
  for (const auto& cell : cells_) most = std::max(most, sizeof(Cell) + cell->heap_bytes());
  return most;
}

size_t MinuteAggregator::MemoryBound(const AggregateLimits& limits, uint64_t events,
                                     uint64_t site_minutes) {
  // README, "Memory bound": vectors at most double their size, the indexes are at most half
  // full (16 slots at least), a value arena holds at most twice its live bytes (64 at least). A
  // visitor sketch holds heap only past 16 distinct visitors, so 17 hits, and then less than
  // kSketchHeapBytesPerValue per distinct visitor and at most kSketchLargeHeapBytes. A row's hits
  // never drop below its sketch's distinct visitors (an eviction moves both into (other)), so the
  // sketches of the site-minutes, and those of one dimension's rows, hold less than
  // kSketchHeapBytesPerValue per event, and at most kSketchLargeHeapBytes for each of at most E /
  // 17 rows.
  const size_t e = events;
  const size_t s = std::min<uint64_t>(site_minutes, events);
  const size_t sketch_rows = e / (UniqHll12::kSmallCapacity + 1);
  auto sketches = [&](size_t rows) {
    return std::min(e * kSketchHeapBytesPerValue,
                    std::min(rows, sketch_rows) * kSketchLargeHeapBytes);
  };
  size_t bytes =
      (4 * s + kMinCellSlots) * sizeof(CellSlot) + 2 * s * sizeof(void*) + s * sizeof(Cell);
  bytes += sketches(s);
  for (const Dimension d : kStringDimensions) {
    const size_t kept = std::min<size_t>(e, s * limits.TopK(d));
    bytes += kept * (2 * TopValues::EntryBytes() + 2 * TopValues::HeapBytes() +
                     4 * sizeof(uint64_t) + 2 * kMaxBreakdownValueBytes);
    bytes += s * ((TopValues::kMinIndexSlots + 2) * sizeof(uint64_t) + TopValues::kMinArenaBytes);
    bytes += sketches(kept + s);
  }
  for (const Dimension d : kFixedDimensions) {
    const size_t kept = std::min<size_t>(e, s * limits.TopK(d));
    bytes += kept * 2 * FixedValues::EntryBytes() + s * FixedValues::MapBytes(limits.TopK(d));
    bytes += sketches(kept);
  }
  return bytes;
}

}  // namespace beacon::kernels
