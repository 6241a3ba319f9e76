// The forwarder's threads: a dispatcher that merges offered epochs into one encoded batch
// per shard each flush interval, and one sender per shard that inserts its batches into a
// replica (failing over to the next), spools them while the shard fails, replays the spool
// in order, and retries with capped, fully jittered exponential backoff.
#include "host/forward/forwarder.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <tuple>
#include <utility>

#include "host/forward/schema.h"
#include "host/forward/shard_ring.h"
#include "host/forward/site_row_cap.h"
#include "host/forward/spool.h"

namespace beacon::host {
namespace {

using Clock = std::chrono::steady_clock;

// Heap and inline bytes an epoch holds while pending; what max_pending_bytes bounds.
size_t EstimateBytes(const kernels::EpochRows& rows) {
  size_t bytes = sizeof(kernels::EpochRows);
  for (const auto& row : rows.site_minutes) {
    bytes += sizeof(row) + kernels::SketchHeapBytes(row.visitors);
  }
  for (const auto& row : rows.breakdowns) {
    bytes += sizeof(row) + row.value.size() + kernels::SketchHeapBytes(row.visitors);
  }
  return bytes;
}

std::string Describe(const ClickHouseResult& result) {
  if (!result.error.empty()) return "transport error: " + result.error;
  std::string body = result.body;
  while (!body.empty() && (body.back() == '\n' || body.back() == ' ')) body.pop_back();
  return "HTTP " + std::to_string(result.status) + ": " + body;
}

void PutU64(uint64_t value, std::string* out) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t GetU64(std::string_view in, size_t at) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) {
    value |= static_cast<uint64_t>(static_cast<unsigned char>(in[at + i])) << (8 * i);
  }
  return value;
}

}  // namespace

// One shard's merged rows, encoded once; the bytes never change afterwards, so a resend
// (retry, another replica, replay from the spool after a restart) is byte-identical and a
// replicated table drops it as a duplicate block.
struct Forwarder::Batch {
  uint64_t events = 0;  // accepted events this batch carries (its share of each epoch)
  uint64_t site_rows = 0;
  uint64_t breakdown_rows = 0;
  std::string site_data;       // RowBinary of site_minutes (site_minutes_local on a cluster)
  std::string breakdown_data;  // RowBinary of breakdown_minutes (breakdown_minutes_local)
  bool site_done = false;      // site_data acknowledged; a retry resends only breakdown_data
  bool spooled = false;        // this batch is the head record of the shard's spool

  // Tags spool records of this layout (rows carrying uniqHLL12 states and a batch_id, for
  // site_minutes and breakdown_minutes). "BNBRDK02", the same rows, had no batch_id on one
  // server: such records are still sent on a cluster, where their rows match. Records of
  // earlier layouts — "BNBRDK01", hash arrays for the *_in tables, and the page_minutes one
  // before it, which began with the event count — are dropped and counted rather than sent
  // to a table whose columns they do not match.
  static constexpr uint64_t kRecordTag = 0x3330'4b44'5242'4e42;         // "BNBRDK03"
  static constexpr uint64_t kClusterRecordTag = 0x3230'4b44'5242'4e42;  // "BNBRDK02"

  size_t MemoryBytes() const { return sizeof(Batch) + site_data.size() + breakdown_data.size(); }

  // Spool record: tag | events | site_rows | breakdown_rows | site bytes (UInt64 LE each) |
  // site_data | breakdown_data.
  std::string Encode() const {
    std::string out;
    out.reserve(40 + site_data.size() + breakdown_data.size());
    PutU64(kRecordTag, &out);
    PutU64(events, &out);
    PutU64(site_rows, &out);
    PutU64(breakdown_rows, &out);
    PutU64(site_data.size(), &out);
    out += site_data;
    out += breakdown_data;
    return out;
  }

  static std::optional<Batch> Decode(std::string_view record, bool cluster) {
    if (record.size() < 40) return std::nullopt;
    const uint64_t tag = GetU64(record, 0);
    if (tag != kRecordTag && !(cluster && tag == kClusterRecordTag)) return std::nullopt;
    Batch batch;
    batch.events = GetU64(record, 8);
    batch.site_rows = GetU64(record, 16);
    batch.breakdown_rows = GetU64(record, 24);
    const uint64_t site_bytes = GetU64(record, 32);
    if (site_bytes > record.size() - 40) return std::nullopt;
    batch.site_data = std::string(record.substr(40, site_bytes));
    batch.breakdown_data = std::string(record.substr(40 + site_bytes));
    return batch;
  }
};

struct Forwarder::Shard {
  uint32_t number = 0;  // 1-based, as in metrics, logs and the spool directory
  std::vector<ClickHouseEndpoint> replicas;
  std::unique_ptr<Spool> spool;  // touched by this shard's thread only
  std::thread thread;
  size_t preferred = 0;  // replica of the last success; tried first

  // Guarded by Forwarder::mu_.
  std::deque<Batch> inbox;       // in memory, newer than everything in the spool
  std::optional<Batch> current;  // the batch being sent (the spool head when spooled)
  int attempt = 0;               // failed attempts in the current streak
  Clock::time_point retry_at;
  std::atomic<uint64_t> spool_records{0};  // mirrors of the spool's figures for readers
  std::atomic<uint64_t> spool_bytes{0};
  std::atomic<uint64_t> spool_torn{0};
  std::atomic<uint64_t> spool_corrupt{0};
  std::atomic<uint64_t> spool_dropped{0};  // records of another layout, never sent

  std::atomic<uint64_t> inserts_ok{0};
  std::atomic<uint64_t> inserts_failed{0};
  std::atomic<uint64_t> failovers{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> site_rows_sent{0};
  std::atomic<uint64_t> breakdown_rows_sent{0};
  std::atomic<uint64_t> rowbinary_bytes_sent{0};
  std::atomic<uint64_t> wire_bytes_sent{0};
  std::atomic<uint64_t> spooled_batches{0};
  std::atomic<uint64_t> spool_refusals{0};
  std::atomic<int64_t> last_insert_us{0};

  // Forwarder::Totals, field by field: the per-shard counter each field sums.
  static constexpr std::pair<uint64_t Totals::*, std::atomic<uint64_t> Shard::*> kTotals[] = {
      {&Totals::site_rows, &Shard::site_rows_sent},
      {&Totals::breakdown_rows, &Shard::breakdown_rows_sent},
      {&Totals::inserts, &Shard::inserts_ok},
      {&Totals::rowbinary_bytes, &Shard::rowbinary_bytes_sent},
      {&Totals::wire_bytes, &Shard::wire_bytes_sent},
  };

  static uint64_t Sum(const std::vector<std::unique_ptr<Shard>>& shards,
                      std::atomic<uint64_t> Shard::*counter) {
    uint64_t total = 0;
    for (const auto& shard : shards) total += ((*shard).*counter).load(std::memory_order_relaxed);
    return total;
  }

  void MirrorSpool() {
    if (spool == nullptr) return;
    spool_records.store(spool->records(), std::memory_order_relaxed);
    spool_bytes.store(spool->bytes(), std::memory_order_relaxed);
    spool_torn.store(spool->torn_records(), std::memory_order_relaxed);
    spool_corrupt.store(spool->corrupt_records(), std::memory_order_relaxed);
  }
};

Forwarder::Forwarder(ForwarderConfig config) : config_(std::move(config)) {
  for (const kernels::Dimension d : kernels::kDimensions) {
    top_k_[kernels::DimensionIndex(d)] = config_.breakdown_limits.TopK(d);
  }
  if (config_.shards.empty()) config_.shards = {{config_.clickhouse.url}};
  ShardRing ring(static_cast<uint32_t>(config_.shards.size()));  // validates the count
  for (size_t i = 0; i < config_.shards.size(); ++i) {
    auto shard = std::make_unique<Shard>();
    shard->number = static_cast<uint32_t>(i + 1);
    if (config_.shards[i].empty()) {
      throw std::invalid_argument("ClickHouse shard " + std::to_string(i + 1) +
                                  " has no replica URL");
    }
    for (const std::string& url : config_.shards[i]) {
      ClickHouseEndpoint endpoint = config_.clickhouse;
      endpoint.url = url;
      shard->replicas.push_back(std::move(endpoint));
    }
    if (!config_.spool_dir.empty()) {
      shard->spool = std::make_unique<Spool>(config_.spool_dir + "/shard-" + std::to_string(i + 1),
                                             config_.spool_max_bytes, config_.spool_fsync);
      shard->MirrorSpool();
      if (!shard->spool->empty()) {
        std::fprintf(stderr, "forwarder: shard %u: %zu spooled batches (%llu bytes) to replay\n",
                     shard->number, shard->spool->records(),
                     static_cast<unsigned long long>(shard->spool->bytes()));
      }
    }
    shards_.push_back(std::move(shard));
  }
}

Forwarder::~Forwarder() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (dispatcher_.joinable()) dispatcher_.join();
  for (auto& shard : shards_) {
    if (shard->thread.joinable()) shard->thread.join();
  }
}

void Forwarder::Start() {
  {
    std::lock_guard lock(mu_);
    draining_ = false;
  }
  StartThreads();
}

void Forwarder::StartThreads() {
  if (dispatcher_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    dispatch_done_ = false;
  }
  dispatcher_ = std::thread([this] { Dispatch(); });
  for (auto& shard : shards_) {
    Shard* s = shard.get();
    s->thread = std::thread([this, s] { RunShard(*s); });
  }
}

bool Forwarder::Offer(kernels::EpochRows& rows) {
  size_t bytes = EstimateBytes(rows);
  {
    std::lock_guard lock(mu_);
    // Only Offer adds, under mu_, while the threads may subtract concurrently: the check can
    // only be conservative.
    // An epoch larger than the whole bound is still taken when nothing is pending, or a
    // worker holding it would shed forever; epoch_max_events bounds how large that can be.
    const size_t pending = pending_bytes_.load(std::memory_order_relaxed);
    if (pending > 0 && pending + bytes > config_.max_pending_bytes) {
      epochs_refused_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    pending_bytes_.fetch_add(bytes, std::memory_order_relaxed);
    epochs_offered_.fetch_add(1, std::memory_order_relaxed);
    offered_.push_back(std::move(rows));
  }
  return true;
}

bool Forwarder::HasRoom() const {
  return pending_bytes_.load(std::memory_order_relaxed) < config_.max_pending_bytes;
}

bool Forwarder::Done() const {
  if (!offered_.empty()) return false;
  for (const auto& shard : shards_) {
    if (!shard->inbox.empty() || shard->current.has_value()) return false;
    if (shard->spool_records.load(std::memory_order_relaxed) > 0) return false;
  }
  return true;
}

bool Forwarder::Drain(std::chrono::milliseconds deadline) {
  {
    std::lock_guard lock(mu_);
    draining_ = true;
    drain_deadline_ = Clock::now() + deadline;
  }
  wake_.notify_all();
  // A Drain that timed out earlier left the threads ended; a new one resumes.
  StartThreads();
  dispatcher_.join();
  for (auto& shard : shards_) shard->thread.join();
  std::lock_guard lock(mu_);
  return Done();
}

Forwarder::Totals Forwarder::totals() const {
  Totals totals;
  for (const auto& [field, counter] : Shard::kTotals) totals.*field = Shard::Sum(shards_, counter);
  return totals;
}

uint64_t Forwarder::spooled_bytes() const { return Shard::Sum(shards_, &Shard::spool_bytes); }

uint64_t Forwarder::spooled_records() const { return Shard::Sum(shards_, &Shard::spool_records); }

namespace {

using SiteKey = std::pair<uint32_t, uint32_t>;
// (site_id, minute, dimension, value)
using BreakdownKey = std::tuple<uint32_t, uint32_t, kernels::Dimension, std::string>;
struct HeldBreakdown {
  uint64_t pageviews = 0;
  uint64_t events = 0;
  kernels::UniqHll12 visitors;
  uint64_t weighted_pageviews = 0;
  uint64_t weighted_events = 0;

  uint64_t hits() const { return pageviews + events; }
  void Merge(const HeldBreakdown& more) {
    pageviews += more.pageviews;
    events += more.events;
    visitors.Merge(more.visitors);
    weighted_pageviews += more.weighted_pageviews;
    weighted_events += more.weighted_events;
  }
};
using Breakdowns = std::map<BreakdownKey, HeldBreakdown>;
// A held breakdown row's bytes beside its value and large sketch: key, counts, the sketch
// while small, node overhead.
constexpr size_t kHeldBreakdownBytes = sizeof(BreakdownKey) + sizeof(HeldBreakdown) + 32;

// The rows of one shard, merged: (site_id, minute) rows sum pageviews/events and merge
// visitor sketches; (site_id, minute, dimension, value) rows likewise. Sorted by key.
struct ShardRows {
  std::map<SiteKey, kernels::SiteMinuteRow> sites;
  Breakdowns breakdowns;
  uint64_t events = 0;
};

// Keeps at most top_k[d] values per (site, minute, dimension) of `rows` — the most hits, ties
// by value — and folds the rest into that group's (other) row; adds the folded hits to
// `folded`. Each worker's epochs are already bounded; this bounds their union, so a batch
// holds at most K + 1 rows per (site, minute, dimension).
void CapBreakdowns(const std::array<uint32_t, kernels::kDimensionCount>& top_k, Breakdowns* rows,
                   std::array<std::atomic<uint64_t>, kernels::kDimensionCount>* folded) {
  auto group_start = rows->begin();
  while (group_start != rows->end()) {
    const auto& [site, minute, dimension, first_value] = group_start->first;
    std::vector<Breakdowns::iterator> values;
    auto it = group_start;
    for (; it != rows->end() && std::get<0>(it->first) == site &&
           std::get<1>(it->first) == minute && std::get<2>(it->first) == dimension;
         ++it) {
      if (std::get<3>(it->first) != kernels::kOtherValue) values.push_back(it);
    }
    const uint32_t k = top_k[kernels::DimensionIndex(dimension)];
    if (values.size() > k) {
      std::sort(values.begin(), values.end(), [](const auto& a, const auto& b) {
        return a->second.hits() != b->second.hits() ? a->second.hits() > b->second.hits()
                                                    : std::get<3>(a->first) < std::get<3>(b->first);
      });
      HeldBreakdown& other = (*rows)[{site, minute, dimension, std::string(kernels::kOtherValue)}];
      uint64_t moved = 0;
      for (size_t i = k; i < values.size(); ++i) {
        HeldBreakdown& folded_row = values[i]->second;
        moved += folded_row.hits();
        other.Merge(folded_row);
        rows->erase(values[i]);
      }
      (*folded)[kernels::DimensionIndex(dimension)].fetch_add(moved, std::memory_order_relaxed);
    }
    group_start = it;
  }
}

// Shares an epoch's accepted `events` out by the hits each shard's rows carry (exact when
// every event is in a row); the rounding remainder goes to the busiest shard.
void ShareEvents(uint64_t events, const std::vector<uint64_t>& hits, std::vector<ShardRows>* rows) {
  uint64_t total_hits = 0;
  size_t busiest = 0;
  for (size_t s = 0; s < hits.size(); ++s) {
    total_hits += hits[s];
    if (hits[s] > hits[busiest]) busiest = s;
  }
  uint64_t given = 0;
  for (size_t s = 0; s < hits.size() && total_hits > 0; ++s) {
    // In long double to avoid overflowing the product; clamped so rounding can never hand out
    // more than the epoch's events.
    uint64_t share =
        static_cast<uint64_t>(static_cast<long double>(events) * static_cast<long double>(hits[s]) /
                              static_cast<long double>(total_hits));
    share = std::min(share, events - given);
    (*rows)[s].events += share;
    given += share;
  }
  (*rows)[busiest].events += events - given;
}

// Merges one epoch's site rows into `rows` and holds its breakdown rows in `held` (adding
// their estimated growth to `held_bytes`), a site's new values past `cap` folded into their
// (other) rows; shares its events out over `rows`.
void MergeEpoch(const ShardRing& ring, kernels::EpochRows& epoch, std::vector<ShardRows>* rows,
                std::vector<Breakdowns>* held, size_t* held_bytes, SiteRowCap* cap) {
  std::vector<uint64_t> hits(rows->size(), 0);
  for (auto& row : epoch.site_minutes) {
    const uint32_t s = ring.ShardOf(row.site_id);
    hits[s] += row.pageviews + row.events;
    auto [it, inserted] = (*rows)[s].sites.try_emplace({row.site_id, row.minute});
    kernels::SiteMinuteRow& merged = it->second;
    if (inserted) {
      merged = std::move(row);
      continue;
    }
    merged.pageviews += row.pageviews;
    merged.events += row.events;
    merged.visitors.Merge(row.visitors);
    merged.weighted_pageviews += row.weighted_pageviews;
    merged.weighted_events += row.weighted_events;
  }
  for (auto& row : epoch.breakdowns) {
    Breakdowns& shard = (*held)[ring.ShardOf(row.site_id)];
    BreakdownKey key{row.site_id, row.minute, row.dimension, std::move(row.value)};
    std::string& value = std::get<3>(key);
    if (!shard.contains(key) && !cap->Admit(row.site_id, value == kernels::kOtherValue)) {
      value = kernels::kOtherValue;
      if (!shard.contains(key)) cap->Admit(row.site_id, true);
    }
    const size_t value_bytes = value.size();
    auto [it, inserted] = shard.try_emplace(std::move(key));
    const HeldBreakdown more{row.pageviews, row.events, std::move(row.visitors),
                             row.weighted_pageviews, row.weighted_events};
    const size_t sketch_before = kernels::SketchHeapBytes(it->second.visitors);
    it->second.Merge(more);
    *held_bytes += kernels::SketchHeapBytes(it->second.visitors) - sketch_before;
    if (inserted) *held_bytes += kHeldBreakdownBytes + value_bytes;
  }
  ShareEvents(epoch.events, hits, rows);
}

// Appends the RowBinary of `rows` to the two strings; every row carries `batch_id`.
void EncodeRows(ShardRows& rows, uint64_t batch_id, std::string* site_data,
                std::string* breakdown_data) {
  for (auto& [key, row] : rows.sites) {
    AppendSiteMinuteRowBinary(row, site_data);
    AppendRowTailBinary(batch_id, row.weighted_pageviews, row.weighted_events, site_data);
  }
  kernels::BreakdownRow breakdown;
  for (auto& [key, held_row] : rows.breakdowns) {
    std::tie(breakdown.site_id, breakdown.minute, breakdown.dimension, breakdown.value) = key;
    breakdown.pageviews = held_row.pageviews;
    breakdown.events = held_row.events;
    breakdown.visitors = std::move(held_row.visitors);
    AppendBreakdownRowBinary(breakdown, breakdown_data);
    AppendRowTailBinary(batch_id, held_row.weighted_pageviews, held_row.weighted_events,
                        breakdown_data);
  }
}

}  // namespace

bool Forwarder::AwaitFlush(std::chrono::milliseconds interval, bool holding,
                           Clock::time_point* next_flush, std::deque<kernels::EpochRows>* epochs,
                           bool* draining) {
  std::unique_lock lock(mu_);
  wake_.wait_until(lock, *next_flush, [this] { return stopping_ || draining_; });
  if (stopping_) return false;
  if (Clock::now() >= *next_flush) *next_flush = Clock::now() + interval;
  epochs->swap(offered_);
  *draining = draining_;
  if (epochs->empty() && draining_ && !holding) {
    dispatch_done_ = true;
    wake_.notify_all();
    return false;
  }
  return true;
}

void Forwarder::Dispatch() {
  const ShardRing ring(static_cast<uint32_t>(shards_.size()));
  std::mt19937_64 batch_ids(std::random_device{}());
  const auto interval = std::chrono::milliseconds(config_.flush_interval_ms);
  const auto breakdown_interval = std::chrono::milliseconds(config_.breakdown_flush_interval_ms);
  Clock::time_point next_flush = Clock::now() + interval;
  Clock::time_point next_breakdown_flush = Clock::now() + breakdown_interval;
  // Breakdown rows merged across flushes until breakdown_interval passes: one row per (site,
  // minute, dimension, value) per interval instead of per flush.
  std::vector<Breakdowns> held(shards_.size());
  size_t held_bytes = 0;  // estimated, part of pending_bytes_
  SiteRowCap cap(config_.breakdown_max_rows_per_site);
  while (true) {
    std::deque<kernels::EpochRows> epochs;
    bool draining = false;
    if (!AwaitFlush(interval, held_bytes > 0, &next_flush, &epochs, &draining)) return;
    const bool breakdowns_due = draining || Clock::now() >= next_breakdown_flush;
    if (epochs.empty() && !(breakdowns_due && held_bytes > 0)) continue;
    const size_t held_before = held_bytes;
    size_t epoch_bytes = 0;
    std::vector<ShardRows> rows(shards_.size());
    for (auto& epoch : epochs) {
      epoch_bytes += EstimateBytes(epoch);
      MergeEpoch(ring, epoch, &rows, &held, &held_bytes, &cap);
    }
    breakdown_capped_rows_.store(cap.folded_rows(), std::memory_order_relaxed);
    if (breakdowns_due) {
      for (size_t s = 0; s < shards_.size(); ++s) {
        rows[s].breakdowns.swap(held[s]);
        CapBreakdowns(top_k_, &rows[s].breakdowns, &breakdown_folded_);
      }
      held_bytes = 0;
      cap.Clear();
      next_breakdown_flush = Clock::now() + breakdown_interval;
    }
    std::vector<std::optional<Batch>> batches(shards_.size());
    size_t batch_bytes = 0;
    for (size_t s = 0; s < shards_.size(); ++s) {
      if (rows[s].sites.empty() && rows[s].breakdowns.empty() && rows[s].events == 0) continue;
      Batch& batch = batches[s].emplace();
      batch.events = rows[s].events;
      batch.site_rows = rows[s].sites.size();
      batch.breakdown_rows = rows[s].breakdowns.size();
      // A random id per batch: two batches never share one, so replicated tables never take
      // one for a resend of the other, whatever their rows.
      EncodeRows(rows[s], batch_ids(), &batch.site_data, &batch.breakdown_data);
      batch_bytes += batch.MemoryBytes();
    }
    {
      std::lock_guard lock(mu_);
      pending_bytes_.fetch_add(batch_bytes + held_bytes, std::memory_order_relaxed);
      pending_bytes_.fetch_sub(epoch_bytes + held_before, std::memory_order_relaxed);
      for (size_t s = 0; s < shards_.size(); ++s) {
        if (batches[s].has_value()) shards_[s]->inbox.push_back(std::move(*batches[s]));
      }
    }
    wake_.notify_all();
  }
}

void Forwarder::SpoolInbox(Shard& shard) {
  if (shard.spool == nullptr) return;
  while (true) {
    Batch batch;
    {
      std::lock_guard lock(mu_);
      if (shard.inbox.empty()) return;
      batch = std::move(shard.inbox.front());
      shard.inbox.pop_front();
    }
    std::string error;
    const SpoolAppend result = shard.spool->Append(batch.Encode(), &error);
    shard.MirrorSpool();
    if (result == SpoolAppend::kOk) {
      shard.spooled_batches.fetch_add(1, std::memory_order_relaxed);
      pending_bytes_.fetch_sub(batch.MemoryBytes(), std::memory_order_relaxed);
      continue;
    }
    // Full (or failing): the batch stays in memory, where max_pending_bytes bounds it and
    // Offer refusing is the backpressure the workers see.
    shard.spool_refusals.fetch_add(1, std::memory_order_relaxed);
    if (result == SpoolAppend::kIoError) {
      std::fprintf(stderr, "forwarder: shard %u: %s\n", shard.number, error.c_str());
    }
    std::lock_guard lock(mu_);
    shard.inbox.push_front(std::move(batch));
    return;
  }
}

Forwarder::ShardWake Forwarder::AwaitShardWork(Shard& shard) {
  std::unique_lock lock(mu_);
  while (true) {
    if (stopping_) return ShardWake::kStop;
    const Clock::time_point now = Clock::now();
    if (draining_ && now >= drain_deadline_) return ShardWake::kDeadline;
    const bool has_work = shard.current.has_value() || !shard.inbox.empty() ||
                          (shard.spool != nullptr && !shard.spool->empty());
    if (!has_work) {
      if (draining_ && dispatch_done_) return ShardWake::kStop;
      wake_.wait(lock);
      continue;
    }
    const Clock::time_point until =
        draining_ ? std::min(shard.retry_at, drain_deadline_) : shard.retry_at;
    if (now < until) {
      wake_.wait_until(lock, until);
      continue;
    }
    return ShardWake::kWork;
  }
}

void Forwarder::SpoolAtDeadline(Shard& shard) {
  // Keeps what is unsent on disk for the next start, including the batch the dispatcher may
  // still be building from the last offered epochs.
  {
    std::unique_lock lock(mu_);
    wake_.wait(lock, [this] { return stopping_ || dispatch_done_; });
    if (shard.current.has_value() && !shard.current->spooled) {
      shard.inbox.push_front(std::move(*shard.current));
      shard.current.reset();
    }
  }
  SpoolInbox(shard);
}

bool Forwarder::TakeNextBatch(Shard& shard) {
  std::string record;
  if (shard.spool != nullptr && shard.spool->Front(&record)) {
    std::optional<Batch> batch = Batch::Decode(record, !config_.cluster.empty());
    if (!batch.has_value()) {
      // The CRC matched, so a beacond wrote this: an earlier release's layout (or a bug), not
      // disk damage. Never send it.
      std::fprintf(stderr,
                   "forwarder: shard %u: spool record of another layout (an earlier "
                   "release?) dropped\n",
                   shard.number);
      shard.spool_dropped.fetch_add(1, std::memory_order_relaxed);
      shard.spool->PopFront();
      shard.MirrorSpool();
      return false;
    }
    batch->spooled = true;
    std::lock_guard lock(mu_);
    shard.current = std::move(batch);
    return true;
  }
  shard.MirrorSpool();  // Front may have set torn or corrupt records aside
  std::lock_guard lock(mu_);
  if (shard.inbox.empty()) return false;
  shard.current = std::move(shard.inbox.front());
  shard.inbox.pop_front();
  return true;
}

void Forwarder::Acknowledge(Shard& shard) {
  acked_events_.fetch_add(shard.current->events, std::memory_order_relaxed);
  if (shard.current->spooled) {
    shard.spool->PopFront();
    shard.MirrorSpool();
  } else {
    pending_bytes_.fetch_sub(shard.current->MemoryBytes(), std::memory_order_relaxed);
  }
  if (shard.attempt > 0) {
    std::fprintf(stderr, "forwarder: shard %u: inserts recovered after %d failed attempts\n",
                 shard.number, shard.attempt);
  }
  {
    std::lock_guard lock(mu_);
    shard.current.reset();
    shard.attempt = 0;
    shard.retry_at = Clock::now();
  }
  wake_.notify_all();  // Drain may be waiting for the last batch
}

void Forwarder::SpoolFailedBatch(Shard& shard) {
  if (shard.current->spooled || shard.spool == nullptr) return;
  // Nothing is spooled (in-memory batches are sent only when the spool is empty), so the
  // failed batch becomes the spool's head.
  std::string error;
  if (shard.spool->Append(shard.current->Encode(), &error) == SpoolAppend::kOk) {
    shard.spooled_batches.fetch_add(1, std::memory_order_relaxed);
    pending_bytes_.fetch_sub(shard.current->MemoryBytes(), std::memory_order_relaxed);
    shard.current->spooled = true;
  } else {
    shard.spool_refusals.fetch_add(1, std::memory_order_relaxed);
    std::fprintf(stderr, "forwarder: shard %u: %s\n", shard.number, error.c_str());
  }
  shard.MirrorSpool();
}

void Forwarder::ScheduleRetry(Shard& shard, std::mt19937_64& jitter) {
  // Full jitter: a uniform wait in [0, min(max, initial * 2^attempt)].
  std::lock_guard lock(mu_);
  int64_t cap = config_.retry_initial_ms;
  for (int i = 0; i < shard.attempt && cap < config_.retry_max_ms; ++i) cap *= 2;
  cap = std::min<int64_t>(cap, config_.retry_max_ms);
  ++shard.attempt;
  shard.retry_at = Clock::now() + std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(
                                      0, std::max<int64_t>(cap, 0))(jitter));
}

void Forwarder::RunShard(Shard& shard) {
  std::vector<std::unique_ptr<ClickHouseClient>> clients;
  for (const auto& endpoint : shard.replicas) {
    clients.push_back(std::make_unique<ClickHouseClient>(endpoint));
  }
  std::mt19937_64 jitter(std::random_device{}());
  std::string last_failure;  // the failure last written to stderr in this streak
  while (true) {
    const ShardWake wake = AwaitShardWork(shard);
    if (wake == ShardWake::kStop) return;
    if (wake == ShardWake::kDeadline) {
      SpoolAtDeadline(shard);
      return;
    }
    // While the shard fails, new batches go to disk behind the spooled ones.
    if (shard.attempt > 0) SpoolInbox(shard);
    if (!shard.current.has_value() && !TakeNextBatch(shard)) continue;
    if (shard.attempt > 0) shard.retries.fetch_add(1, std::memory_order_relaxed);
    std::string failure;
    if (Send(shard, clients, *shard.current, &failure)) {
      Acknowledge(shard);
      last_failure.clear();
      continue;
    }
    // Logged once per streak, and again only when the failure changes, not per retry.
    if (failure != last_failure) {
      std::fprintf(stderr,
                   "forwarder: shard %u: %s; keeping the batch, retrying with backoff up to %d "
                   "ms\n",
                   shard.number, failure.c_str(), config_.retry_max_ms);
      last_failure = std::move(failure);
    }
    SpoolFailedBatch(shard);
    ScheduleRetry(shard, jitter);
  }
}

bool Forwarder::Send(Shard& shard, std::vector<std::unique_ptr<ClickHouseClient>>& clients,
                     Batch& batch, std::string* failure) {
  // Tries each replica once, starting with the last one that worked; a replica that fails
  // (transport error or any error answer) is skipped for the next.
  auto insert = [&](std::string_view table, const std::string& data) {
    const size_t n = clients.size();
    for (size_t k = 0; k < n; ++k) {
      const size_t r = (shard.preferred + k) % n;
      const auto start = Clock::now();
      ClickHouseResult result = clients[r]->InsertRowBinary(table, data);
      if (result.ok()) {
        shard.inserts_ok.fetch_add(1, std::memory_order_relaxed);
        shard.rowbinary_bytes_sent.fetch_add(data.size(), std::memory_order_relaxed);
        shard.wire_bytes_sent.fetch_add(result.request_bytes, std::memory_order_relaxed);
        shard.last_insert_us.store(
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count(),
            std::memory_order_relaxed);
        shard.preferred = r;
        return true;
      }
      shard.inserts_failed.fetch_add(1, std::memory_order_relaxed);
      if (k + 1 < n) shard.failovers.fetch_add(1, std::memory_order_relaxed);
      *failure = "INSERT INTO " + config_.clickhouse.database + "." + std::string(table) + " at " +
                 clients[r]->endpoint().url + " failed (" + Describe(result) + ")";
    }
    return false;
  };
  const bool cluster = !config_.cluster.empty();
  const std::string_view site_table = cluster ? kSiteMinutesLocalTable : kSiteMinutesTable;
  const std::string_view breakdown_table =
      cluster ? kBreakdownMinutesLocalTable : kBreakdownMinutesTable;
  if (!batch.site_done && batch.site_rows > 0) {
    if (!insert(site_table, batch.site_data)) return false;
    shard.site_rows_sent.fetch_add(batch.site_rows, std::memory_order_relaxed);
  }
  batch.site_done = true;
  if (batch.breakdown_rows > 0) {
    if (!insert(breakdown_table, batch.breakdown_data)) return false;
    shard.breakdown_rows_sent.fetch_add(batch.breakdown_rows, std::memory_order_relaxed);
  }
  return true;
}

void Forwarder::RegisterMetrics(MetricsRegistry* registry, std::string prefix) const {
  registry->Add([this, prefix = std::move(prefix)](MetricsWriter& out) {
    auto load = [](const auto& counter) { return counter.load(std::memory_order_relaxed); };
    auto sum = [this](std::atomic<uint64_t> Shard::*counter) {
      return Shard::Sum(shards_, counter);
    };
    out.Counter(prefix + "_epochs_offered_total", "Epochs taken by the forwarder.", {},
                load(epochs_offered_));
    out.Counter(prefix + "_epochs_refused_total",
                "Epochs refused because pending data was at its bound.", {}, load(epochs_refused_));
    out.Counter(prefix + "_rows_sent_total", "Rows acknowledged by ClickHouse, per table.",
                {{"table", "site_minutes"}}, sum(&Shard::site_rows_sent));
    out.Counter(prefix + "_rows_sent_total", "Rows acknowledged by ClickHouse, per table.",
                {{"table", "breakdown_minutes"}}, sum(&Shard::breakdown_rows_sent));
    for (const kernels::Dimension d : kernels::kDimensions) {
      out.Counter(prefix + "_breakdown_folded_total",
                  "Hits of merged epochs folded into (other) by the per-batch top-K bound.",
                  {{"dimension", std::string(kernels::DimensionName(d))}},
                  load(breakdown_folded_[kernels::DimensionIndex(d)]));
    }
    out.Counter(prefix + "_breakdown_capped_rows_total",
                "New breakdown values folded into (other) because their site held its "
                "breakdown_max_rows_per_site rows.",
                {}, load(breakdown_capped_rows_));
    out.Counter(prefix + "_inserts_total", "INSERT requests sent to ClickHouse, by result.",
                {{"result", "ok"}}, sum(&Shard::inserts_ok));
    out.Counter(prefix + "_bytes_sent_total",
                "Bytes of acknowledged inserts: RowBinary, and as sent (zstd-framed).",
                {{"encoding", "rowbinary"}}, sum(&Shard::rowbinary_bytes_sent));
    out.Counter(prefix + "_bytes_sent_total",
                "Bytes of acknowledged inserts: RowBinary, and as sent (zstd-framed).",
                {{"encoding", "zstd"}}, sum(&Shard::wire_bytes_sent));
    out.Counter(prefix + "_inserts_total", "INSERT requests sent to ClickHouse, by result.",
                {{"result", "failed"}}, sum(&Shard::inserts_failed));
    out.Counter(prefix + "_retries_total", "Batch re-sends after a failed insert.", {},
                sum(&Shard::retries));
    out.Gauge(prefix + "_pending_bytes", "Estimated bytes held in memory, not yet acknowledged.",
              {}, static_cast<double>(load(pending_bytes_)));
    int64_t last_us = 0;
    for (const auto& shard : shards_) last_us = std::max(last_us, load(shard->last_insert_us));
    out.Gauge(prefix + "_last_insert_seconds",
              "Duration of the last successful INSERT (the slowest shard's).", {},
              static_cast<double>(last_us) / 1e6);
    out.Counter(prefix + "_acknowledged_events_total",
                "Accepted events whose aggregates ClickHouse acknowledged.", {},
                load(acked_events_));
    for (const auto& shard : shards_) {
      const std::string number = std::to_string(shard->number);
      out.Counter(prefix + "_shard_inserts_total", "INSERT requests per shard, by result.",
                  {{"shard", number}, {"result", "ok"}}, load(shard->inserts_ok));
      out.Counter(prefix + "_shard_inserts_total", "INSERT requests per shard, by result.",
                  {{"shard", number}, {"result", "failed"}}, load(shard->inserts_failed));
      out.Counter(prefix + "_failovers_total",
                  "Inserts retried at once on the shard's next replica.", {{"shard", number}},
                  load(shard->failovers));
      out.Counter(prefix + "_spooled_batches_total", "Batches written to the shard's spool.",
                  {{"shard", number}}, load(shard->spooled_batches));
      out.Counter(prefix + "_spool_refusals_total",
                  "Batches the spool could not take (full or failing); kept in memory.",
                  {{"shard", number}}, load(shard->spool_refusals));
      out.Counter(prefix + "_spool_torn_total",
                  "Spool records found cut short (a write that never completed), deleted.",
                  {{"shard", number}}, load(shard->spool_torn));
      out.Counter(prefix + "_spool_corrupt_total",
                  "Spool records with a bad frame or CRC, set aside as *.corrupt.",
                  {{"shard", number}}, load(shard->spool_corrupt));
      out.Counter(prefix + "_spool_dropped_total",
                  "Spool records of another layout (an earlier release's), dropped unsent.",
                  {{"shard", number}}, load(shard->spool_dropped));
      out.Gauge(prefix + "_spool_records", "Batches waiting in the shard's spool.",
                {{"shard", number}}, static_cast<double>(load(shard->spool_records)));
      out.Gauge(prefix + "_spool_bytes", "Bytes of the shard's spool.", {{"shard", number}},
                static_cast<double>(load(shard->spool_bytes)));
    }
  });
}

}  // namespace beacon::host
