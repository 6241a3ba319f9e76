// Per-worker pre-aggregation of events into (site, minute) rows and bounded breakdowns, cut
// into epochs. An epoch's rows are a pure function of the events added during it, in order:
// the same events give byte-identical rows. Memory is bounded by AggregateLimits and the
// epoch's event count (kernels/aggregate/README.md).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/aggregate/fixed_values.h"
#include "kernels/aggregate/top_values.h"
#include "kernels/event_batch.h"
#include "kernels/sketch/uniq_hll12.h"

namespace beacon::kernels {

// Values kept per (site, minute) and dimension (top-K); the rest fold into (other).
struct AggregateLimits {
  uint32_t max_pages_per_site_minute = 500;
  uint32_t max_referrers_per_site_minute = 100;
  uint32_t max_utm_sources_per_site_minute = 50;
  uint32_t max_utm_mediums_per_site_minute = 50;
  uint32_t max_utm_campaigns_per_site_minute = 50;
  uint32_t max_event_names_per_site_minute = 100;

  // K of `d`. Country, device, browser and OS are small fixed domains kept whole:
  // kCountryValues, kDeviceValues, kBrowserValues, kOsValues.
  uint32_t TopK(Dimension d) const;
};

// The fixed domains' sizes: two-letter codes, DeviceClass, kBrowserFamilies, kOsFamilies.
inline constexpr uint32_t kCountryValues = 26 * 26;
inline constexpr uint32_t kDeviceValues = 5;
inline constexpr uint32_t kBrowserValues = 40;
inline constexpr uint32_t kOsValues = 22;

struct SiteMinuteRow {
  uint32_t site_id = 0;
  uint32_t minute = 0;  // unix minutes
  uint64_t pageviews = 0;
  uint64_t events = 0;
  // The hits' weights summed (EventBatch::weight): the counts an over-budget site's sample
  // stands for; equal to pageviews and events when nothing was sampled.
  uint64_t weighted_pageviews = 0;
  uint64_t weighted_events = 0;
  UniqHll12 visitors;  // the visitor hashes, as ClickHouse's uniqHLL12 state
};

// One value of one dimension of a (site, minute); value kOtherValue for the folded rest.
struct BreakdownRow {
  uint32_t site_id = 0;
  uint32_t minute = 0;
  Dimension dimension = Dimension::kPage;
  std::string value;
  uint64_t pageviews = 0;
  uint64_t events = 0;
  uint64_t weighted_pageviews = 0;  // as SiteMinuteRow's
  uint64_t weighted_events = 0;
  UniqHll12 visitors;  // the visitor hashes, as ClickHouse's uniqHLL12 state
};

// The aggregate rows of one closed epoch of one worker.
struct EpochRows {
  uint32_t worker = 0;
  uint64_t epoch = 0;   // per-worker sequence number, from 0
  uint64_t events = 0;  // accepted events aggregated
  // The worker's archive records the epoch covers (its marker's range); 0: no archive.
  uint64_t first_sequence = 0;
  uint64_t last_sequence = 0;
  bool breakdown_cut = false;  // the breakdown rows held since the last cut go out after it
  std::vector<SiteMinuteRow> site_minutes;  // sorted by (site_id, minute)
  std::vector<BreakdownRow> breakdowns;     // sorted by (site_id, minute, dimension, value)
  bool empty() const { return events == 0; }
};

class MinuteAggregator {
 public:
  MinuteAggregator(uint32_t worker, AggregateLimits limits);

  // Folds every event of `batch` into the open epoch. Allocates only when a site-minute or a
  // value is new, or a visitor sketch turns large (its 17th distinct visitor).
  void Add(const EventBatch& batch);
  // Closes the open epoch and returns its rows; the next epoch starts empty.
  EpochRows CloseEpoch();

  uint64_t open_events() const { return open_events_; }
  // Hits (pageviews + events) moved into (other) by evictions, per dimension, since start.
  uint64_t folded(Dimension d) const { return folded_[DimensionIndex(d)]; }
  // Heap bytes held by the open epoch (kept as the containers grow; see the README's bound).
  size_t memory_bytes() const;
  // Site ids with at least one site-minute in the open epoch.
  size_t active_sites() const;
  // The largest heap bytes held by one site-minute of the open epoch.
  size_t max_site_minute_bytes() const;
  uint64_t site_minutes() const { return cells_.size(); }
  // An upper bound of memory_bytes() for an open epoch of `events` events in `site_minutes`
  // (site, minute) cells under `limits` (README: "Memory bound"); with site_minutes = 1, of
  // the bytes of one site-minute of `events` hits.
  static size_t MemoryBound(const AggregateLimits& limits, uint64_t events, uint64_t site_minutes);

 private:
  // The dimensions by how they are counted: values by Space-Saving (TopValues), or ids of a
  // fixed domain kept whole (FixedValues); kStringDimensions[i] is strings[i] of a Cell.
  static constexpr std::array<Dimension, 6> kStringDimensions = {
      Dimension::kPage,      Dimension::kReferrer,    Dimension::kUtmSource,
      Dimension::kUtmMedium, Dimension::kUtmCampaign, Dimension::kEventName};
  static constexpr std::array<Dimension, 4> kFixedDimensions = {
      Dimension::kCountry, Dimension::kDevice, Dimension::kBrowser, Dimension::kOs};

  struct Cell {
    uint64_t pageviews = 0;
    uint64_t events = 0;
    uint64_t weighted_pageviews = 0;
    uint64_t weighted_events = 0;
    UniqHll12 visitors;
    std::array<TopValues, kStringDimensions.size()> strings;
    std::array<FixedValues, kFixedDimensions.size()> fixed;
    size_t heap_bytes() const;
    size_t max_rows() const;  // breakdown rows at close, at most
  };

  // Events are counted in blocks: their cells and keys first, with the hints that fetch the
  // lines each count will touch, then the counts in order (a pure function of the events).
  static constexpr size_t kBlockEvents = 64;
  struct Block {
    std::array<Cell*, kBlockEvents> cells;
    std::array<std::array<TopValues::Key, kStringDimensions.size()>, kBlockEvents> keys;
    std::array<std::array<uint32_t, kFixedDimensions.size()>, kBlockEvents> ids;
    std::array<UniqHll12::Hashed, kBlockEvents> visitors;
  };
  void PrepareBlock(const EventBatch& batch, size_t first, size_t count, Block* block);
  void AddEvent(const EventBatch& batch, size_t i, Cell& cell,
                const std::array<TopValues::Key, kStringDimensions.size()>& keys,
                const std::array<uint32_t, kFixedDimensions.size()>& ids,
                UniqHll12::Hashed visitor);
  void AppendRows(uint32_t site, uint32_t minute, Cell& cell, EpochRows* rows) const;
  // The cell of `key` (site_id << 32 | minute), made on its first event.
  Cell& CellOf(uint64_t key);
  void GrowCellIndex();

  // Open addressing, linear probing, at most half full (kMinCellSlots at least): the key beside
  // its cell, so that a probe reads one line; cell == nullptr is an empty slot.
  struct CellSlot {
    uint64_t key = 0;
    Cell* cell = nullptr;
  };
  static constexpr size_t kMinCellSlots = 16;

  uint32_t worker_;
  AggregateLimits limits_;
  std::array<uint32_t, kStringDimensions.size()> top_k_;  // of kStringDimensions
  uint64_t next_epoch_ = 0;
  uint64_t open_events_ = 0;
  std::array<uint64_t, kDimensionCount> folded_{};
  std::vector<std::unique_ptr<Cell>> cells_;  // the open epoch's, in order of their first event
  std::vector<CellSlot> cell_index_;
  // Made once: a block is 11 KiB, which a batch of a few events should not clear each time.
  std::unique_ptr<Block> block_ = std::make_unique<Block>();
  static constexpr size_t kRecentCells = 64;
  std::array<CellSlot, kRecentCells> recent_cells_{};
};

}  // namespace beacon::kernels
