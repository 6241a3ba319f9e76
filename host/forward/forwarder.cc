// The forwarder's threads: a dispatcher that merges offered epochs into one encoded batch
// per shard each flush interval, and one sender per shard that inserts its batches into a
// replica (failing over to the next), spools them while the shard fails, replays the spool
// in order, and retries with capped, fully jittered exponential backoff.
#include "host/forward/forwarder.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
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
#include "kernels/bytes/hash.h"

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

namespace forward_internal {

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

// Breakdown rows of one worker's epochs held since its last cut, per shard.
struct HeldRows {
  std::vector<Breakdowns> shards;
  uint64_t first_sequence = 0;  // of the first epoch held (0: not from the archive)
  uint64_t last_sequence = 0;   // of the last one
  size_t bytes = 0;             // estimated, part of pending_bytes_
};

// The dispatcher's rows and caps: they outlive a run of its thread (a Drain that ends with
// rows left to the replay, then Start or Drain again), so that the next cut carries them all.
struct DispatchState {
  // Per worker: breakdown rows merged across its epochs until its next cut, one row per
  // (site, minute, dimension, value) per cut instead of per epoch.
  std::map<uint32_t, HeldRows> held;
  size_t held_bytes = 0;  // estimated, part of pending_bytes_
  // Per worker, like the rows it holds, so that a replayed worker folds the same values.
  std::map<uint32_t, SiteRowCap> caps;

  // Whether the dispatcher cuts `h` itself when breakdowns are due: rows without an archive
  // range always; rows with one only at a drain, and only without watermarks (`replay`
  // false). With them, the next start's replay rebuilds these rows and cuts them where their
  // worker's archive recorded it; cut here instead, at a point no replay makes, the rows
  // would count twice on a shard that acknowledged this cut while another shard's lagging
  // watermark made the replay rebuild them: the replay's batch spans a longer range, so it
  // is neither acknowledged nor dropped as a duplicate.
  static bool CutByDispatcher(const HeldRows& h, bool draining, bool replay) {
    return h.bytes > 0 && (h.last_sequence == 0 || (draining && !replay));
  }
  bool AnyCutByDispatcher(bool draining, bool replay) const {
    return std::any_of(held.begin(), held.end(), [&](const auto& worker_rows) {
      return CutByDispatcher(worker_rows.second, draining, replay);
    });
  }
};

}  // namespace forward_internal

// One shard's rows of one worker's epoch (and, at a breakdown cut, its held breakdown rows),
// encoded once; the bytes never change afterwards, so a resend (retry, another replica, replay
// from the spool after a restart) is byte-identical and a replicated table drops it as a
// duplicate block. A batch rebuilt from the archive after a crash is byte-identical too: its
// ids are derived from its archive range.
struct Forwarder::Batch {
  uint64_t events = 0;  // accepted events this batch carries (its share of each epoch)
  uint64_t site_rows = 0;
  uint64_t breakdown_rows = 0;
  // The archive range's worker and last sequences of the site and breakdown rows (0: none, or
  // not from the archive): what an acknowledgement raises the watermarks to.
  uint32_t worker = 0;
  uint64_t site_last = 0;
  uint64_t breakdown_last = 0;
  std::string site_data;       // RowBinary of site_minutes (site_minutes_local on a cluster)
  std::string breakdown_data;  // RowBinary of breakdown_minutes (breakdown_minutes_local)
  bool site_done = false;      // site_data acknowledged; a retry resends only breakdown_data
  bool spooled = false;        // this batch is the head record of the shard's spool
  bool inherited = false;      // read from a record an earlier run (or beaconctl) left
  bool spool_refused = false;  // counted in spool_refusals (once, however often refused)

  // Tags spool records of this layout (rows carrying uniqHLL12 states and a batch_id, for
  // site_minutes and breakdown_minutes, with the archive range). "BNBRDK03", the same without
  // the range, is still sent. "BNBRDK02", the same rows, had no batch_id on one server: such
  // records are still sent on a cluster, where their rows match. Records of earlier layouts —
  // "BNBRDK01", hash arrays for the *_in tables, and the page_minutes one before it, which
  // began with the event count — are dropped and counted rather than sent to a table whose
  // columns they do not match.
  static constexpr uint64_t kRecordTag = 0x3430'4b44'5242'4e42;          // "BNBRDK04"
  static constexpr uint64_t kUnrangedRecordTag = 0x3330'4b44'5242'4e42;  // "BNBRDK03"
  static constexpr uint64_t kClusterRecordTag = 0x3230'4b44'5242'4e42;   // "BNBRDK02"

  size_t MemoryBytes() const { return sizeof(Batch) + site_data.size() + breakdown_data.size(); }

  // Spool record: tag | events | site_rows | breakdown_rows | site bytes | worker | site_last |
  // breakdown_last (UInt64 LE each) | site_data | breakdown_data.
  std::string Encode() const {
    std::string out;
    out.reserve(64 + site_data.size() + breakdown_data.size());
    for (const uint64_t field :
         {kRecordTag, events, site_rows, breakdown_rows, uint64_t{site_data.size()},
          uint64_t{worker}, site_last, breakdown_last}) {
      PutU64(field, &out);
    }
    out += site_data;
    out += breakdown_data;
    return out;
  }

  static std::optional<Batch> Decode(std::string_view record, bool cluster) {
    if (record.size() < 40) return std::nullopt;
    const uint64_t tag = GetU64(record, 0);
    const bool ranged = tag == kRecordTag;
    if (!ranged && tag != kUnrangedRecordTag && !(cluster && tag == kClusterRecordTag)) {
      return std::nullopt;
    }
    const size_t data_at = ranged ? 64 : 40;
    if (record.size() < data_at) return std::nullopt;
    Batch batch;
    batch.events = GetU64(record, 8);
    batch.site_rows = GetU64(record, 16);
    batch.breakdown_rows = GetU64(record, 24);
    const uint64_t site_bytes = GetU64(record, 32);
    if (site_bytes > record.size() - data_at) return std::nullopt;
    if (ranged) {
      batch.worker = static_cast<uint32_t>(GetU64(record, 40));
      batch.site_last = GetU64(record, 48);
      batch.breakdown_last = GetU64(record, 56);
    }
    batch.site_data = std::string(record.substr(data_at, site_bytes));
    batch.breakdown_data = std::string(record.substr(data_at + site_bytes));
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
  std::atomic<uint64_t> spool_dropped{0};           // records of another layout, never sent
  std::atomic<uint64_t> dead_letters_site{0};       // refused site_minutes inserts
  std::atomic<uint64_t> dead_letters_breakdown{0};  // refused breakdown_minutes inserts
  int last_read_error = 0;  // this shard's thread only: the errno last logged
  mutable std::mutex read_errors_mu;
  // Spool records that could not be read, by errno; the usual ones are listed from the start
  // so that their series exist before the first error.
  std::map<int, uint64_t> read_errors{{EMFILE, 0}, {ENFILE, 0}, {EACCES, 0}, {EIO, 0}};

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

  // The per-shard series, labelled {shard="<number>"}.
  void WriteMetrics(MetricsWriter& out, const std::string& prefix) const {
    auto load = [](const auto& counter) { return counter.load(std::memory_order_relaxed); };
    const std::string label = std::to_string(number);
    out.Counter(prefix + "_shard_inserts_total", "INSERT requests per shard, by result.",
                {{"shard", label}, {"result", "ok"}}, load(inserts_ok));
    out.Counter(prefix + "_shard_inserts_total", "INSERT requests per shard, by result.",
                {{"shard", label}, {"result", "failed"}}, load(inserts_failed));
    out.Counter(prefix + "_failovers_total", "Inserts retried at once on the shard's next replica.",
                {{"shard", label}}, load(failovers));
    out.Counter(prefix + "_spooled_batches_total", "Batches written to the shard's spool.",
                {{"shard", label}}, load(spooled_batches));
    out.Counter(prefix + "_spool_refusals_total",
                "Batches the spool could not take (full or failing), each counted once; kept in "
                "memory.",
                {{"shard", label}}, load(spool_refusals));
    out.Counter(prefix + "_spool_torn_total",
                "Spool records found cut short (a write that never completed), set aside.",
                {{"shard", label}}, load(spool_torn));
    out.Counter(prefix + "_spool_corrupt_total",
                "Spool records with a bad frame or CRC, set aside.", {{"shard", label}},
                load(spool_corrupt));
    out.Counter(prefix + "_spool_dropped_total",
                "Spool records of another layout (an earlier release's), dropped unsent.",
                {{"shard", label}}, load(spool_dropped));
    out.Gauge(prefix + "_spool_records", "Batches waiting in the shard's spool.",
              {{"shard", label}}, static_cast<double>(load(spool_records)));
    out.Gauge(prefix + "_spool_bytes", "Bytes of the shard's spool.", {{"shard", label}},
              static_cast<double>(load(spool_bytes)));
    for (const auto& [table, counter] :
         {std::pair{"site_minutes", &Shard::dead_letters_site},
          std::pair{"breakdown_minutes", &Shard::dead_letters_breakdown}}) {
      out.Counter(prefix + "_dead_letter_total",
                  "Batches ClickHouse refused for their contents, set aside as dead letters.",
                  {{"shard", label}, {"table", table}}, load(this->*counter));
    }
    std::lock_guard lock(read_errors_mu);
    for (const auto& [error, count] : read_errors) {
      const char* name = strerrorname_np(error);
      out.Counter(prefix + "_spool_read_errors_total",
                  "Spool records that could not be opened or read (kept, read again later).",
                  {{"shard", label}, {"errno", name != nullptr ? name : std::to_string(error)}},
                  count);
    }
  }

  void MirrorSpool() {
    if (spool == nullptr) return;
    spool_records.store(spool->records(), std::memory_order_relaxed);
    spool_bytes.store(spool->bytes(), std::memory_order_relaxed);
    spool_torn.store(spool->torn_records(), std::memory_order_relaxed);
    spool_corrupt.store(spool->corrupt_records(), std::memory_order_relaxed);
  }
};

Forwarder::Forwarder(ForwarderConfig config)
    : config_(std::move(config)), dispatch_(std::make_unique<forward_internal::DispatchState>()) {
  for (const kernels::Dimension d : kernels::kDimensions) {
    top_k_[kernels::DimensionIndex(d)] = config_.breakdown_limits.TopK(d);
  }
  if (config_.shards.empty()) config_.shards = {{config_.clickhouse.url}};
  ShardRing ring(static_cast<uint32_t>(config_.shards.size()));  // validates the count
  if (!config_.spool_dir.empty()) {
    dead_letters_ = std::make_unique<DeadLetters>(config_.spool_dir, config_.spool_max_bytes,
                                                  config_.spool_fsync);
  }
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
      // A torn or corrupt record becomes a dead letter: kept for analysis, never deleted.
      auto set_aside = [letters = dead_letters_.get(), number = shard->number](
                           const std::string& path, const std::string& reason) {
        return letters->Take(path, number, reason);
      };
      shard->spool = std::make_unique<Spool>(
          DeadLetters::ShardDir(config_.spool_dir, shard->number), config_.spool_max_bytes,
          config_.spool_fsync, std::move(set_aside));
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
    drain_deadline_ns_.store(INT64_MAX);
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

size_t Forwarder::CountedBytes(size_t* unheld) const {
  const size_t pending = pending_bytes_.load(std::memory_order_relaxed);
  const size_t held = std::min(held_bytes_.load(std::memory_order_relaxed), pending);
  *unheld = pending - held;
  return *unheld + std::min(held, config_.max_pending_bytes / 2);
}

bool Forwarder::Offer(kernels::EpochRows& rows) {
  size_t bytes = EstimateBytes(rows);
  {
    std::lock_guard lock(mu_);
    // Only Offer adds, under mu_, while the threads may subtract concurrently: the check can
    // only be conservative.
    // An epoch larger than the whole bound is still taken when nothing but held breakdown
    // rows is pending, or a worker holding it would shed forever; epoch_max_events bounds how
    // large that can be. Held rows count up to half the bound only: refusing an epoch never
    // frees them (its worker's next cut epoch, offered after it, does), so counting them all
    // could refuse every worker for good.
    size_t unheld = 0;
    const size_t counted = CountedBytes(&unheld);
    if (unheld > 0 && counted + bytes > config_.max_pending_bytes) {
      epochs_refused_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    pending_bytes_.fetch_add(bytes, std::memory_order_relaxed);
    epochs_offered_.fetch_add(1, std::memory_order_relaxed);
    offered_events_.fetch_add(rows.events, std::memory_order_relaxed);
    offered_.push_back(std::move(rows));
  }
  return true;
}

bool Forwarder::HasRoom() const {
  size_t unheld = 0;
  return CountedBytes(&unheld) < config_.max_pending_bytes;
}

bool Forwarder::Done() const {
  // Breakdown rows left to the next start's replay (DispatchState) are not delivered yet.
  if (!offered_.empty() || held_bytes_.load(std::memory_order_relaxed) > 0) return false;
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
    // Bounds the inserts in flight too, not only the next ones.
    drain_deadline_ns_.store(
        std::chrono::duration_cast<std::chrono::nanoseconds>(drain_deadline_.time_since_epoch())
            .count());
  }
  wake_.notify_all();
  // A Drain that timed out earlier left the threads ended; a new one resumes.
  StartThreads();
  dispatcher_.join();
  for (auto& shard : shards_) shard->thread.join();
  if (config_.watermarks != nullptr) config_.watermarks->WriteDirty();
  std::lock_guard lock(mu_);
  return Done();
}

Forwarder::Totals Forwarder::totals() const {
  Totals totals;
  for (const auto& [field, counter] : Shard::kTotals) totals.*field = Shard::Sum(shards_, counter);
  return totals;
}

Forwarder::Ledger Forwarder::ledger() const {
  auto load = [](const std::atomic<uint64_t>& counter) {
    return counter.load(std::memory_order_relaxed);
  };
  Ledger ledger;
  ledger.offered = load(offered_events_);
  ledger.replayed = load(replayed_events_);
  ledger.acknowledged = load(run_acked_events_);
  ledger.spooled = load(spooled_events_);
  ledger.dead_lettered = load(dead_lettered_events_);
  std::lock_guard lock(mu_);
  for (const auto& epoch : offered_) ledger.in_memory += epoch.events;
  for (const auto& shard : shards_) {
    for (const Batch& batch : shard->inbox) ledger.in_memory += batch.events;
    if (shard->current.has_value() && !shard->current->spooled) {
      ledger.in_memory += shard->current->events;
    }
  }
  return ledger;
}

uint64_t Forwarder::spooled_bytes() const { return Shard::Sum(shards_, &Shard::spool_bytes); }

uint64_t Forwarder::spooled_records() const { return Shard::Sum(shards_, &Shard::spool_records); }

namespace {

using forward_internal::BreakdownKey;
using forward_internal::Breakdowns;
using forward_internal::HeldBreakdown;
using forward_internal::HeldRows;
using forward_internal::kHeldBreakdownBytes;
using forward_internal::ShardRows;

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

// Splits one epoch's site rows into `rows` by shard and holds its breakdown rows in `held`, a
// site's new values past `cap` folded into their (other) rows; shares its events out over
// `rows`. Each shard's site rows stay sorted by (site, minute).
void SplitEpoch(const ShardRing& ring, kernels::EpochRows& epoch, std::vector<ShardRows>* rows,
                HeldRows* held, SiteRowCap* cap) {
  std::vector<uint64_t> hits(rows->size(), 0);
  for (auto& row : epoch.site_minutes) {
    const uint32_t s = ring.ShardOf(row.site_id);
    hits[s] += row.pageviews + row.events;
    (*rows)[s].sites.try_emplace({row.site_id, row.minute}, std::move(row));
  }
  if (held->first_sequence == 0) held->first_sequence = epoch.first_sequence;
  held->last_sequence = epoch.last_sequence;
  for (auto& row : epoch.breakdowns) {
    Breakdowns& shard = held->shards[ring.ShardOf(row.site_id)];
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
    held->bytes += kernels::SketchHeapBytes(it->second.visitors) - sketch_before;
    if (inserted) held->bytes += kHeldBreakdownBytes + value_bytes;
  }
  ShareEvents(epoch.events, hits, rows);
}

// Appends the RowBinary of `rows` to `data`; every row carries `batch_id`.
void EncodeSiteRows(ShardRows& rows, uint64_t batch_id, std::string* data) {
  for (auto& [key, row] : rows.sites) {
    AppendSiteMinuteRowBinary(row, data);
    AppendRowTailBinary(batch_id, row.weighted_pageviews, row.weighted_events, data);
  }
}

void EncodeBreakdownRows(ShardRows& rows, uint64_t batch_id, std::string* data) {
  kernels::BreakdownRow breakdown;
  for (auto& [key, held_row] : rows.breakdowns) {
    std::tie(breakdown.site_id, breakdown.minute, breakdown.dimension, breakdown.value) = key;
    breakdown.pageviews = held_row.pageviews;
    breakdown.events = held_row.events;
    breakdown.visitors = std::move(held_row.visitors);
    AppendBreakdownRowBinary(breakdown, data);
    AppendRowTailBinary(batch_id, held_row.weighted_pageviews, held_row.weighted_events, data);
  }
}

// The id of the rows of one table of (node, worker, archive range, shard): the same whenever
// the range is rebuilt, different for any other. Fixed forever: ClickHouse compares ids.
uint64_t RangeBatchId(uint64_t node, uint32_t worker, uint64_t first, uint64_t last, size_t shard,
                      bool site) {
  constexpr uint64_t kSeed = 0x6261'7463'6869'6401ULL;
  const std::array<uint64_t, 5> words = {node, worker, first, last, (uint64_t{shard} << 1) | site};
  return kernels::Hash64({reinterpret_cast<const char*>(words.data()), sizeof(words)}, kSeed);
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

size_t Forwarder::BuildBatches(uint32_t worker, uint64_t first, uint64_t last,
                               std::vector<ShardRows>& rows, HeldRows* cut,
                               std::mt19937_64& random_ids, std::vector<std::vector<Batch>>* out) {
  size_t bytes = 0;
  for (size_t s = 0; s < shards_.size(); ++s) {
    if (cut != nullptr) {
      rows[s].breakdowns.swap(cut->shards[s]);
      CapBreakdowns(top_k_, &rows[s].breakdowns, &breakdown_folded_);
    }
    if (last == 0 && rows[s].sites.empty() && rows[s].breakdowns.empty() && rows[s].events == 0) {
      continue;
    }
    Batch& batch = (*out)[s].emplace_back();
    batch.worker = worker;
    batch.events = rows[s].events;
    batch.site_rows = rows[s].sites.size();
    batch.breakdown_rows = rows[s].breakdowns.size();
    batch.site_last = last;
    batch.breakdown_last = cut != nullptr ? cut->last_sequence : 0;
    // Without an archive range, a random id: never taken for a resend of another batch.
    EncodeSiteRows(
        rows[s],
        last != 0 ? RangeBatchId(config_.node, worker, first, last, s, true) : random_ids(),
        &batch.site_data);
    EncodeBreakdownRows(
        rows[s],
        batch.breakdown_last != 0
            ? RangeBatchId(config_.node, worker, cut->first_sequence, cut->last_sequence, s, false)
            : random_ids(),
        &batch.breakdown_data);
    bytes += batch.MemoryBytes();
  }
  return bytes;
}

void Forwarder::Dispatch() {
  const ShardRing ring(static_cast<uint32_t>(shards_.size()));
  const size_t n = shards_.size();
  std::mt19937_64 random_ids(std::random_device{}());  // for epochs without a range
  const auto interval = std::chrono::milliseconds(config_.flush_interval_ms);
  const auto breakdown_interval = std::chrono::milliseconds(config_.breakdown_flush_interval_ms);
  Clock::time_point next_flush = Clock::now() + interval;
  Clock::time_point next_breakdown_flush = Clock::now() + breakdown_interval;
  forward_internal::DispatchState& state = *dispatch_;
  const bool replay = config_.watermarks != nullptr;  // the next start replays ranged rows
  const uint64_t cap_rows = config_.breakdown_max_rows_per_site;
  while (true) {
    std::deque<kernels::EpochRows> epochs;
    bool draining = false;
    if (!AwaitFlush(interval, state.AnyCutByDispatcher(true, replay), &next_flush, &epochs,
                    &draining)) {
      return;
    }
    // Acknowledgements the coalescing left unwritten reach the disk within a flush interval.
    if (config_.watermarks != nullptr) config_.watermarks->WriteDirty();
    const bool breakdowns_due = draining || Clock::now() >= next_breakdown_flush;
    if (epochs.empty() && !(breakdowns_due && state.AnyCutByDispatcher(draining, replay))) continue;
    const size_t held_before = state.held_bytes;
    size_t epoch_bytes = 0;
    size_t batch_bytes = 0;
    std::vector<std::vector<Batch>> batches(n);
    const auto cut = [&](uint32_t worker, uint64_t first, uint64_t last,
                         std::vector<ShardRows>& rows, HeldRows& h) {
      batch_bytes += BuildBatches(worker, first, last, rows, &h, random_ids, &batches);
      state.held_bytes -= h.bytes;
      h = HeldRows{};
      const auto it = state.caps.find(worker);
      if (it != state.caps.end()) it->second.Clear();
    };
    std::map<uint32_t, const kernels::EpochRows*> last_of_worker;
    for (const auto& epoch : epochs) last_of_worker[epoch.worker] = &epoch;
    for (auto& epoch : epochs) {
      epoch_bytes += EstimateBytes(epoch);
      HeldRows& h = state.held[epoch.worker];
      h.shards.resize(n);
      std::vector<ShardRows> rows(n);
      const size_t before = h.bytes;
      SiteRowCap& cap = state.caps.try_emplace(epoch.worker, cap_rows).first->second;
      SplitEpoch(ring, epoch, &rows, &h, &cap);
      state.held_bytes += h.bytes - before;
      // Without an archive range, the interval decides (the drain too): due, a worker's last
      // epoch of the flush carries the rows held.
      if (epoch.last_sequence != 0 ? epoch.breakdown_cut
                                   : breakdowns_due && last_of_worker[epoch.worker] == &epoch) {
        cut(epoch.worker, epoch.first_sequence, epoch.last_sequence, rows, h);
      } else {
        batch_bytes += BuildBatches(epoch.worker, epoch.first_sequence, epoch.last_sequence, rows,
                                    nullptr, random_ids, &batches);
      }
    }
    uint64_t capped = 0;
    for (const auto& [worker, cap] : state.caps) capped += cap.folded_rows();
    breakdown_capped_rows_.store(capped, std::memory_order_relaxed);
    if (breakdowns_due) {
      // Epochs with an archive range are cut where their worker recorded it (DispatchState).
      for (auto& [worker, h] : state.held) {
        if (!forward_internal::DispatchState::CutByDispatcher(h, draining, replay)) continue;
        std::vector<ShardRows> rows(n);
        cut(worker, 0, 0, rows, h);
      }
      next_breakdown_flush = Clock::now() + breakdown_interval;
    }
    {
      std::lock_guard lock(mu_);
      pending_bytes_.fetch_add(batch_bytes + state.held_bytes, std::memory_order_relaxed);
      pending_bytes_.fetch_sub(epoch_bytes + held_before, std::memory_order_relaxed);
      held_bytes_.store(state.held_bytes, std::memory_order_relaxed);
      for (size_t s = 0; s < n; ++s) {
        for (Batch& batch : batches[s]) shards_[s]->inbox.push_back(std::move(batch));
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
      spooled_events_.fetch_add(batch.events, std::memory_order_relaxed);
      pending_bytes_.fetch_sub(batch.MemoryBytes(), std::memory_order_relaxed);
      continue;
    }
    // Full (or failing): the batch stays in memory, where max_pending_bytes bounds it and
    // Offer refusing is the backpressure the workers see; so do the newer ones behind it.
    if (result == SpoolAppend::kIoError) {
      std::fprintf(stderr, "forwarder: shard %u: %s\n", shard.number, error.c_str());
    }
    std::lock_guard lock(mu_);
    shard.inbox.push_front(std::move(batch));
    for (Batch& kept : shard.inbox) CountSpoolRefusal(shard, kept);
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
      // Draining ends with the records put back so far (a readdir, under mu_ like the checks).
      if (draining_ && dispatch_done_) {
        if (shard.spool == nullptr || shard.spool->AdoptReturned() == 0) return ShardWake::kStop;
        shard.MirrorSpool();
        continue;
      }
      // Now and then, so that records put back into the spool are found while idle.
      if (wake_.wait_for(lock, std::chrono::seconds(1)) == std::cv_status::timeout) {
        return ShardWake::kIdle;
      }
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

Forwarder::Taken Forwarder::TakeNextBatch(Shard& shard) {
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
      return Taken::kNone;
    }
    batch->spooled = true;
    batch->inherited = shard.spool->front_inherited();
    shard.last_read_error = 0;
    std::lock_guard lock(mu_);
    shard.current = std::move(batch);
    return Taken::kBatch;
  }
  shard.MirrorSpool();  // Front may have set torn or corrupt records aside
  if (const int error = shard.spool != nullptr ? shard.spool->read_error() : 0; error != 0) {
    {
      std::lock_guard lock(shard.read_errors_mu);
      ++shard.read_errors[error];
    }
    if (error != shard.last_read_error) {
      std::fprintf(stderr,
                   "forwarder: shard %u: cannot read the spool's oldest record in %s: %s; "
                   "keeping it, reading again with backoff\n",
                   shard.number, shard.spool->dir().c_str(), std::strerror(error));
      shard.last_read_error = error;
    }
    return Taken::kUnreadable;
  }
  std::lock_guard lock(mu_);
  if (shard.inbox.empty()) return Taken::kNone;
  shard.current = std::move(shard.inbox.front());
  shard.inbox.pop_front();
  return Taken::kBatch;
}

void Forwarder::Acknowledge(Shard& shard) {
  const uint64_t events = shard.current->events;
  auto& counter = shard.current->inherited ? replayed_events_ : run_acked_events_;
  counter.fetch_add(events, std::memory_order_relaxed);
  if (shard.attempt > 0) {
    std::fprintf(stderr, "forwarder: shard %u: inserts recovered after %d failed attempts\n",
                 shard.number, shard.attempt);
  }
  Release(shard);
}

bool Forwarder::DeadLetterBatch(Shard& shard, std::string_view table, const std::string& failure) {
  const Batch& batch = *shard.current;
  std::string where = "discarded: no spool_dir to keep it";
  if (dead_letters_ != nullptr) {
    // Only what ClickHouse has not taken: a retry must not resend acknowledged site rows. No
    // archive range either: no watermark skips its retry, and its acknowledgement raises none.
    Batch rest;
    rest.events = batch.events;
    rest.breakdown_rows = batch.breakdown_rows;
    rest.breakdown_data = batch.breakdown_data;
    if (!batch.site_done) {
      rest.site_rows = batch.site_rows;
      rest.site_data = batch.site_data;
    }
    std::string id;
    std::string error;
    if (!dead_letters_->Put(shard.number, rest.Encode(), table, failure, &id, &error)) {
      std::fprintf(stderr, "forwarder: shard %u: cannot keep a refused batch: %s\n", shard.number,
                   error.c_str());
      return false;
    }
    where = "kept as dead letter " + id + " in " + dead_letters_->dir();
  }
  (table == kSiteMinutesTable || table == kSiteMinutesLocalTable ? shard.dead_letters_site
                                                                 : shard.dead_letters_breakdown)
      .fetch_add(1, std::memory_order_relaxed);
  if (!batch.inherited) dead_lettered_events_.fetch_add(batch.events, std::memory_order_relaxed);
  std::fprintf(stderr, "forwarder: shard %u: %s; a batch of %llu events %s\n", shard.number,
               failure.c_str(), static_cast<unsigned long long>(batch.events), where.c_str());
  Release(shard);
  return true;
}

void Forwarder::Release(Shard& shard) {
  if (shard.current->spooled) {
    if (!shard.current->inherited) {
      spooled_events_.fetch_sub(shard.current->events, std::memory_order_relaxed);
    }
    shard.spool->PopFront();
    shard.MirrorSpool();
  } else {
    pending_bytes_.fetch_sub(shard.current->MemoryBytes(), std::memory_order_relaxed);
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
  // In-memory batches are sent only when the spool is empty, and nothing newer is spooled
  // while one is current and unspooled (RunShard), so the failed batch becomes the spool's
  // head; an earlier append of it that failed is tried again here, at each failure.
  if (shard.current->spooled || shard.spool == nullptr || !shard.spool->empty()) return;
  std::string error;
  if (shard.spool->Append(shard.current->Encode(), &error) == SpoolAppend::kOk) {
    shard.spooled_batches.fetch_add(1, std::memory_order_relaxed);
    spooled_events_.fetch_add(shard.current->events, std::memory_order_relaxed);
    pending_bytes_.fetch_sub(shard.current->MemoryBytes(), std::memory_order_relaxed);
    std::lock_guard lock(mu_);  // ledger() reads it
    shard.current->spooled = true;
  } else {
    CountSpoolRefusal(shard, *shard.current);
    std::fprintf(stderr, "forwarder: shard %u: %s\n", shard.number, error.c_str());
  }
  shard.MirrorSpool();
}

void Forwarder::CountSpoolRefusal(Shard& shard, Batch& batch) {
  // A batch waits in memory through every retry of its shard: it counts once.
  if (batch.spool_refused) return;
  batch.spool_refused = true;
  shard.spool_refusals.fetch_add(1, std::memory_order_relaxed);
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
    clients.back()->set_deadline(&drain_deadline_ns_);
  }
  std::mt19937_64 jitter(std::random_device{}());
  std::string last_failure;  // the failure last written to stderr in this streak
  Clock::time_point next_adopt = Clock::now();
  while (true) {
    const ShardWake wake = AwaitShardWork(shard);
    if (wake == ShardWake::kStop) return;
    if (wake == ShardWake::kDeadline) {
      SpoolAtDeadline(shard);
      return;
    }
    // Records put back (beaconctl dead-letter retry) join the spool between batches only:
    // a failing in-memory batch must become the spool's head.
    if (shard.spool != nullptr && !shard.current.has_value() && Clock::now() >= next_adopt) {
      if (shard.spool->AdoptReturned() > 0) shard.MirrorSpool();
      next_adopt = Clock::now() + std::chrono::seconds(1);
    }
    if (wake == ShardWake::kIdle) continue;
    // While the shard fails, new batches go to disk behind the spooled ones — never ahead of
    // a failed batch still in memory (its append failed): the spool must stay the oldest
    // batches in order, or the next start would acknowledge a newer batch first and its
    // watermark would cover, and skip, the older one.
    if (shard.attempt > 0 && (!shard.current.has_value() || shard.current->spooled)) {
      SpoolInbox(shard);
    }
    if (!shard.current.has_value()) {
      const Taken taken = TakeNextBatch(shard);
      if (taken == Taken::kUnreadable) ScheduleRetry(shard, jitter);
      if (taken != Taken::kBatch) continue;
    }
    if (shard.attempt > 0) shard.retries.fetch_add(1, std::memory_order_relaxed);
    SendFailure failure;
    if (Send(shard, clients, *shard.current, &failure)) {
      Acknowledge(shard);
      last_failure.clear();
      continue;
    }
    // Refused for its contents: resending can only fail again, and would hold up the
    // batches behind it.
    if (failure.refused && DeadLetterBatch(shard, failure.table, failure.text)) continue;
    // Logged once per streak, and again only when the failure changes, not per retry.
    if (failure.text != last_failure) {
      std::fprintf(stderr,
                   "forwarder: shard %u: %s; keeping the batch, retrying with backoff up to %d "
                   "ms\n",
                   shard.number, failure.text.c_str(), config_.retry_max_ms);
      last_failure = std::move(failure.text);
    }
    SpoolFailedBatch(shard);
    ScheduleRetry(shard, jitter);
  }
}

bool Forwarder::Send(Shard& shard, std::vector<std::unique_ptr<ClickHouseClient>>& clients,
                     Batch& batch, SendFailure* failure) {
  // Tries each replica once, starting with the last one that worked; a replica that fails
  // (transport error or any error answer) is skipped for the next.
  auto insert = [&](std::string_view table, const std::string& data) {
    // Only this insert's answers count: a replica's refusal of rows another replica then
    // took, or of the other table's rows, says nothing about these.
    failure->table = table;
    failure->refused = false;
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
      failure->refused = failure->refused || IsDeterministicRefusal(result);
      failure->text = "INSERT INTO " + config_.clickhouse.database + "." + std::string(table) +
                      " at " + clients[r]->endpoint().url + " failed (" + Describe(result) + ")";
    }
    return false;
  };
  const bool cluster = !config_.cluster.empty();
  const std::string_view site_table = cluster ? kSiteMinutesLocalTable : kSiteMinutesTable;
  const std::string_view breakdown_table =
      cluster ? kBreakdownMinutesLocalTable : kBreakdownMinutesTable;
  if (!batch.site_done) {
    if (!Acknowledged(shard, batch, true)) {
      if (!insert(site_table, batch.site_data)) return false;
      shard.site_rows_sent.fetch_add(batch.site_rows, std::memory_order_relaxed);
    }
    RecordAck(shard, batch, true);
  }
  batch.site_done = true;
  if (!Acknowledged(shard, batch, false)) {
    if (!insert(breakdown_table, batch.breakdown_data)) return false;
    shard.breakdown_rows_sent.fetch_add(batch.breakdown_rows, std::memory_order_relaxed);
  }
  RecordAck(shard, batch, false);
  return true;
}

bool Forwarder::Acknowledged(const Shard& shard, const Batch& batch, bool site) const {
  if ((site ? batch.site_rows : batch.breakdown_rows) == 0) return true;
  const uint64_t last = site ? batch.site_last : batch.breakdown_last;
  if (config_.watermarks == nullptr || last == 0) return false;
  const ShardWatermark mark = config_.watermarks->Get(batch.worker)[shard.number - 1];
  return last <= (site ? mark.site : mark.breakdown);
}

void Forwarder::RecordAck(const Shard& shard, const Batch& batch, bool site) {
  const uint64_t last = site ? batch.site_last : batch.breakdown_last;
  if (config_.watermarks == nullptr || last == 0) return;
  if (config_.watermarks->Advance(batch.worker, shard.number - 1,
                                  site ? &ShardWatermark::site : &ShardWatermark::breakdown,
                                  last) != 0) {
    std::fprintf(stderr, "forwarder: worker %u: cannot write its watermark file\n", batch.worker);
  }
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
    if (config_.watermarks != nullptr) {
      out.Counter(prefix + "_watermark_writes_total",
                  "Watermark files written after acknowledgements, by result.", {{"result", "ok"}},
                  config_.watermarks->writes());
      out.Counter(prefix + "_watermark_writes_total",
                  "Watermark files written after acknowledgements, by result.",
                  {{"result", "failed"}}, config_.watermarks->write_errors());
      out.FloatCounter(prefix + "_watermark_write_seconds_total",
                       "Seconds spent writing and syncing watermark files.", {},
                       static_cast<double>(config_.watermarks->write_micros()) * 1e-6);
    }
    // This run's events only, as beacond_events_accepted_total counts them: accepted minus this
    // is the lag (an earlier run's spool, acknowledged now, is the stop line's to report).
    out.Counter(prefix + "_acknowledged_events_total",
                "Accepted events whose aggregates ClickHouse acknowledged.", {},
                load(run_acked_events_));
    for (const auto& shard : shards_) shard->WriteMetrics(out, prefix);
    // Listed at each scrape: beaconctl retries and drops change the directory, not beacond.
    const std::vector<DeadLetter> letters =
        dead_letters_ != nullptr ? dead_letters_->List() : std::vector<DeadLetter>{};
    uint64_t bytes = 0;
    for (const DeadLetter& letter : letters) bytes += letter.bytes;
    out.Gauge(prefix + "_dead_letter_records", "Records in the dead-letter directory.", {},
              static_cast<double>(letters.size()));
    out.Gauge(prefix + "_dead_letter_bytes", "Bytes of the records in the dead-letter directory.",
              {}, static_cast<double>(bytes));
  });
}

}  // namespace beacon::host
