// One worker's run-to-completion pipeline behind an ingress: raw batch -> decode -> the
// worker's own aggregator; epochs are closed by time or size and offered to the forwarder.
// Everything here runs on the worker's thread except the metrics collector, which reads
// relaxed atomics.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "host/archive/archive_scanner.h"
#include "host/archive/segment_writer.h"
#include "host/backend/fpga_batcher.h"
#include "host/backend/fpga_device.h"
#include "host/forward/forwarder.h"
#include "host/metrics/metrics.h"
#include "host/pipeline/live_settings.h"
#include "host/pipeline/site_budget.h"
#include "host/salt_store.h"
#include "kernels/aggregate/minute_aggregator.h"
#include "kernels/beacon_sink.h"
#include "kernels/decode.h"
#include "kernels/enrich/user_agent.h"

namespace beacon::host {

// [archive]: the raw archive, the write-ahead log of accepted beacons (host/archive).
struct ArchiveConfig {
  bool enabled = true;
  // One writer per worker: directory, node, compression, block and segment sizes, commit
  // policy (`worker` is set per pipeline).
  SegmentWriterOptions writer;
  uint64_t retention_max_bytes = 0;  // 0: no size limit (beacond's RetentionRunner enforces it)
  int64_t retention_max_age_ms = 0;  // 0: no age limit
  // When the forwarder refuses a live epoch (its memory full: ClickHouse down or slow), the
  // worker falls behind as after a refused start replay (WorkerPipeline::Replay) and keeps
  // taking beacons into the archive, which then bounds them; false: it sheds (503) until the
  // forwarder has room.
  bool behind_when_forwarder_full = false;
};

struct PipelineConfig {
  int epoch_ms = 1000;                  // close the open epoch after this long ...
  uint64_t epoch_max_events = 200'000;  // ... or once it holds this many events
  uint64_t visitor_key = 0;
  kernels::AggregateLimits aggregate;
  const kernels::ByteKernels* bytes = nullptr;  // decode backend's byte kernels; null: scalar
  // uap-core's patterns, shared by the workers (each keeps its own cache over them); null: bots
  // by kernels::IsBotByMarkers alone and no device, browser or OS. Unused with a
  // LiveSettingsSource, which carries its own (as it does the budgets).
  const kernels::UserAgentClassifier* user_agents = nullptr;
  SaltStore* salts = nullptr;  // daily visitor salts, read once per batch; null: none (beacons
                               // without a client id are then rejected as stale_salt)
  // The card backends (fpga, fpga-csim): each worker makes its own device and decodes through
  // an FpgaBatcher (`bytes` then decode what the card does not); null: DecodeBatch on `bytes`.
  std::function<std::unique_ptr<FpgaDevice>()> make_device;
  FpgaBatcherConfig fpga;
  // Per-site budgets shared by the workers: a beacon over its site's budget is refused before
  // the archive (counted there); on the card backends, dropped when its rows arrive. Null: none.
  SiteBudgets* budgets = nullptr;
  ArchiveConfig archive;  // used by OpenArchive
  // An epoch closed this long after the last breakdown cut is cut too: the forwarder sends the
  // breakdown rows held since then (recorded in the epoch's archive marker). 0: every epoch.
  int breakdown_flush_interval_ms = 0;
};

// A first-in first-out queue over one vector that keeps its capacity: popping moves a head,
// and the popped front is erased (no allocation) once it is half the vector, so a queue that
// never empties stays within twice its largest length.
template <typename T>
class FifoVector {
 public:
  bool empty() const { return head_ == items_.size(); }
  const T& front() const { return items_[head_]; }
  void push(const T& item) { items_.push_back(item); }
  void pop() {
    if (++head_ == items_.size()) {
      clear();
    } else if (head_ * 2 >= items_.size()) {
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  void clear() {
    items_.clear();
    head_ = 0;
  }

 private:
  std::vector<T> items_;
  size_t head_ = 0;
};

// What WorkerPipeline::Replay read and rebuilt.
struct WorkerReplayStats {
  uint64_t records = 0;          // beacon records decoded and aggregated
  uint64_t epochs = 0;           // epochs closed at their markers
  uint64_t markers_skipped = 0;  // markers of epochs before the start, or unreadable
  int error = 0;                 // errno of reading the archive directory
  // Unix ms since when the breakdown rows held after the replay were taken in: the time of the
  // last cut marker replayed, else of the first record (0: nothing replayed).
  int64_t held_since_ms = 0;
  // The forwarder refused an epoch before the end: the worker is behind (WorkerPipeline::Replay).
  bool behind = false;
};

class WorkerPipeline final : public kernels::BeaconSink {
 public:
  // `sites` and `forwarder` outlive the pipeline; the registry, `config.budgets` and
  // `config.user_agents` stay as they are for the pipeline's life.
  WorkerPipeline(uint32_t worker, const PipelineConfig& config, const kernels::SiteRegistry* sites,
                 Forwarder* forwarder);
  // The registry, budgets and user-agent patterns come from `live` (which outlives the
  // pipeline; `config.budgets` and `config.user_agents` are unused), each new publication
  // taken up between two batches.
  WorkerPipeline(uint32_t worker, const PipelineConfig& config, const LiveSettingsSource* live,
                 Forwarder* forwarder);

  // Opens this worker's raw archive writer in `fs` (which outlives the pipeline) when the
  // archive is enabled: from then on every beacon within its sites' budgets is archived before
  // its events are aggregated (the card backends: before it is decoded), and one the archive
  // refuses is neither aggregated nor acknowledged. Returns 0 or an errno.
  // `min_first_sequence` (0: the config's) keeps the numbering above what the watermarks
  // cover, even for an emptied archive.
  int OpenArchive(FileSystem& fs, uint64_t min_first_sequence = 0);

  bool Admitting() override;
  void OnBatch(kernels::RawBatch& batch) override;
  void OnTick(int64_t now_ms) override;
  // Only the card's batcher keeps batches (to decode them later); the host decodes in OnBatch.
  bool KeepsBatches() const override { return batcher_ != nullptr; }
  bool DefersAnswers() const override;
  std::span<const uint64_t> batch_sequences() const override { return sequences_; }
  bool RefusesBeacons() const override { return Budgeted() && batcher_ == nullptr; }
  std::span<const kernels::BeaconStatus> batch_status() const override { return status_; }
  int durability_fd() const override;
  kernels::Durability PollDurability() override;

  // Closes the open epoch and offers it (and any refused one) once more, and makes the
  // archive durable; for shutdown. Returns false when the forwarder still refuses, or the
  // archive refused to close the epoch (a failed write: its events stay held).
  bool Flush();
  // Events of the open epoch and of closed epochs not yet taken by the forwarder; read once
  // the worker's thread has ended. With the archive, their records are durable after Flush:
  // the next start's replay sends them.
  uint64_t held_events() const;

  // Replays this worker's archived records from sequence `from` on through the same decode and
  // aggregation (no budgets: each record's events weigh its archived weight; nothing archived
  // again): at each epoch marker the epoch is closed
  // with the marker's index, range and breakdown cut and offered, waiting while the forwarder
  // on filling. Before ingress opens (OpenArchive first); the forwarder must be started.
  // When the forwarder refuses an epoch, the replay does not wait: the worker falls behind.
  // It goes on through the archive and takes beacons in, archiving, aggregating and closing
  // epochs as ever, but drops each epoch once its marker is durable instead of offering it;
  // OnTick (and Flush) rebuild those epochs from the archive, the refused one first, and offer
  // them in archive order while the forwarder takes them, until they reach the epochs the
  // worker still holds, which it then offers again itself. So a worker's epochs reach the
  // forwarder in archive order, and no acknowledgement (watermark) passes a record not handed
  // on: the archive, not the forwarder's memory, holds what waits.
  WorkerReplayStats Replay(uint64_t from);
  // Whether the worker is behind (see Replay).
  bool behind() const { return behind_.load(std::memory_order_relaxed); }
  // Whether the worker sheds (503) when the forwarder is full: not while behind, nor when it
  // falls behind instead (ArchiveConfig::behind_when_forwarder_full, with an archive).
  bool sheds_when_forwarder_full() const;
  // How often the worker fell behind: at start (a refused replay) or while running.
  uint64_t fell_behind() const { return fell_behind_.load(std::memory_order_relaxed); }
  uint64_t replayed_records() const { return replayed_records_.load(std::memory_order_relaxed); }
  uint64_t replayed_epochs() const { return replayed_epochs_.load(std::memory_order_relaxed); }
  // Events of epochs the catch-up could not rebuild: archive damage lost their records.
  uint64_t catch_up_lost_events() const {
    return catch_up_lost_events_.load(std::memory_order_relaxed);
  }

  uint32_t worker() const { return worker_; }
  // The worker's card batcher; null unless a card backend decodes.
  const FpgaBatcher* fpga_batcher() const { return batcher_.get(); }
  const kernels::RejectCounters& rejects() const { return rejects_; }
  // The visitor salts the worker's decoder holds (from its last batch or tick).
  const kernels::VisitorSalts& held_salts() const { return decode_.salts; }
  // The worker's archive writer; null when the archive is off.
  const SegmentWriter* archive() const { return archive_.get(); }
  // Archived records not yet durable, as of the last OnBatch or poll.
  uint64_t archive_lag() const {
    const uint64_t appended = archive_appended_.load(std::memory_order_relaxed);
    const uint64_t durable = archive_->durable_sequence();
    return appended > durable ? appended - durable : 0;
  }
  uint64_t beacons() const { return beacons_.load(std::memory_order_relaxed); }
  uint64_t payload_bytes() const { return payload_bytes_.load(std::memory_order_relaxed); }
  uint64_t accepted_events() const { return accepted_.load(std::memory_order_relaxed); }
  uint64_t epochs_closed() const { return epochs_closed_.load(std::memory_order_relaxed); }
  uint64_t shed_rounds() const { return shed_rounds_.load(std::memory_order_relaxed); }
  // Lookups in this worker's user-agent cache (kernels/enrich): hits and classifications.
  uint64_t user_agent_hits() const { return ua_hits_.load(std::memory_order_relaxed); }
  uint64_t user_agent_misses() const { return ua_misses_.load(std::memory_order_relaxed); }
  // The open epoch's aggregator, as of the last OnTick: heap bytes, the bound they must stay
  // within (MinuteAggregator::MemoryBound), sites, and the largest site-minute's bytes.
  uint64_t aggregator_bytes() const { return aggregator_bytes_.load(std::memory_order_relaxed); }
  uint64_t aggregator_bound() const { return aggregator_bound_.load(std::memory_order_relaxed); }
  uint64_t active_sites() const { return active_sites_.load(std::memory_order_relaxed); }
  uint64_t max_site_minute_bytes() const {
    return max_site_minute_bytes_.load(std::memory_order_relaxed);
  }
  // OnTick calls so far: a worker whose count stops rising is wedged (its ingress loop ticks
  // even when idle).
  uint64_t ticks() const { return ticks_.load(std::memory_order_relaxed); }
  struct SiteEvents {
    uint32_t site_id = 0;
    std::string name;  // in the latest registry that had the site
    uint64_t events = 0;
  };
  // Accepted events per site id in the epochs this worker offered to the forwarder, by site id,
  // for every site of any registry the worker has used (a site a reload removed keeps its
  // count).
  std::vector<SiteEvents> site_events() const;
  // CPU time of the worker's thread, sampled at its last OnTick.
  double cpu_seconds() const {
    return static_cast<double>(cpu_ns_.load(std::memory_order_relaxed)) * 1e-9;
  }
  // CLOCK_MONOTONIC ms of the last OnTick (0: none yet) and whether the last Admitting() said
  // no: the management listener's liveness and readiness (appliance/management.h).
  int64_t last_tick_ms() const { return last_tick_ms_.load(std::memory_order_relaxed); }
  bool shedding() const { return shedding_.load(std::memory_order_relaxed); }
  // Hits folded into (other) by the breakdown bound of dimension `d`, since start.
  uint64_t folded(kernels::Dimension d) const {
    return folded_[kernels::DimensionIndex(d)].load(std::memory_order_relaxed);
  }

 private:
  bool Budgeted() const { return live_->budgets != nullptr && live_->budgets->enabled(); }
  void Accept(const kernels::EventBatch& events);
  // Counts `events` aggregated from archived records through `sequence` as accepted once that
  // record is durable (CountDurable), so that a beacon a failed write lost (answered 503) is
  // never counted; at once without an archive.
  void CountAccepted(uint64_t sequence, uint64_t events);
  // Counts the events CountAccepted holds of records through `durable`.
  void CountDurable(uint64_t durable);
  // The card batcher's delivery: budgets apply to its rows, the beacons being already archived
  // and answered.
  void AcceptCard(const kernels::RawBatch& batch, const kernels::EventBatch& events);
  // Admits each beacon of `batch` with events in events_ to its sites' budgets, marking those
  // refused kOverBudget in `status` and giving sampled ones (and their events) their weight in
  // `weights`; returns how many were refused.
  size_t AdmitBeacons(const kernels::RawBatch& batch, std::vector<kernels::BeaconStatus>* status,
                      std::vector<uint32_t>* weights);
  // Drops the events of events_ whose beacon's `status` is not kTaken.
  void RetainTaken(const std::vector<kernels::BeaconStatus>& status);
  // Appends one record per beacon of `batch` still kTaken in status_ to the archive (in
  // sequences_, with its weight from weights_), marking those it refuses, or whose records a
  // failure reported now lost, kRefused; returns how many it marked. Sets batch_rebuilt_ when
  // that failure's Rebuild replayed the batch's durable records: its events are not aggregated.
  size_t Archive(const kernels::RawBatch& batch, const kernels::VisitorSalts& salts);
  // The beacons of `batch` still kTaken in status_, in taken_.
  kernels::RawBatch& TakenBeacons(const kernels::RawBatch& batch);
  // Polls the writer (never blocks): health, and durability_; offers the epochs it made durable,
  // and rebuilds the open epoch when a failure lost records it holds.
  void PollArchive();
  // The archived records first..last (0: none) join the open epoch.
  void NoteTaken(uint64_t first, uint64_t last);
  // Closes the open epoch: appends its marker (cut: whether to cut breakdowns, by time unless
  // forced) and queues it until the marker is durable.
  void CloseEpoch(bool force_cut = false);
  // Queues the open epoch's rows with `marker` as its range, index and cut.
  void QueueEpoch(const kernels::EpochMarker& marker, uint64_t marker_sequence);
  // Offers the durable queued epochs in order; false when the forwarder refused one.
  bool OfferPending();
  // After a failed archive write: drops the epochs holding records that never became durable
  // and rebuilds the open epoch from the durable records after the last epoch kept.
  void Rebuild(uint64_t durable);
  // Replays records from..through (0: to the end); `fall_behind`: when the forwarder refuses
  // an epoch, the worker falls behind (FallBehind) rather than keeping it queued.
  WorkerReplayStats ReplayRange(uint64_t from, uint64_t through, bool fall_behind);
  // The forwarder refused closed_.front() (its marker durable), during Replay or live: it
  // becomes CatchUp's first epoch.
  void FallBehind();
  // The forwarder refused closed_.front() and still does: true while the worker sheds. A worker
  // that falls behind when the forwarder is full does so here instead (false).
  bool StillRefused();
  // Behind: drops closed_.front() (its marker durable): CatchUp rebuilds it from the archive.
  void DropBehind();
  // Behind: offers the epochs of the archive from behind_from_ on, in order, rebuilt from their
  // records, while the forwarder takes them and for about kCatchUpTickMs of each tick (the live
  // worker waits meanwhile); once it has offered the last one the worker dropped, the worker is
  // no longer behind.
  void CatchUp();
  // CatchUp reached the last epoch the worker dropped: the worker is no longer behind.
  void CaughtUp();
  static constexpr int64_t kCatchUpTickMs = 50;
  // CatchUp's offer of one rebuilt epoch; false (it kept in catch_up_refused_) when refused.
  bool OfferCaughtUp(kernels::EpochRows& rows);
  // Decodes `batch` (archived records whose weights are `weights`) into replay_events_.
  void DecodeArchived(const kernels::RawBatch& batch, const std::vector<uint32_t>& weights);
  // Decodes `batch` (archived records whose weights are `weights`) into the open epoch.
  void AcceptReplayed(const kernels::RawBatch& batch, const std::vector<uint32_t>& weights);
  // Adds the events of `rows` to site_events_, once an epoch is first offered.
  void CountSiteEvents(const kernels::EpochRows& rows);
  // Takes up the live source's settings when a newer one was published; between batches.
  void PickUpSettings();
  void Adopt(std::shared_ptr<const LiveSettings> settings);

  uint32_t worker_;
  PipelineConfig config_;
  const LiveSettingsSource* live_source_ = nullptr;  // null: live_ is fixed
  std::shared_ptr<const LiveSettings> live_;
  uint64_t live_generation_ = 0;  // of live_source_, when live_ was taken
  Forwarder* forwarder_;
  kernels::RejectCounters rejects_;
  std::unique_ptr<kernels::UserAgentCache> user_agent_cache_;
  kernels::DecodeContext decode_;
  kernels::EventBatch events_;
  std::unique_ptr<FpgaDevice> device_;
  std::unique_ptr<FpgaBatcher> batcher_;  // delivers decoded batches to Accept, in order
  kernels::MinuteAggregator aggregator_;
  // Closed epochs in order, each with its marker's sequence (0: no archive); offered once the
  // marker is durable. The first one may have been refused by the forwarder (refused_).
  struct ClosedEpoch {
    kernels::EpochRows rows;
    uint64_t marker = 0;
    bool counted = false;  // its events added to site_events_ (at its first offer)
  };
  std::deque<ClosedEpoch> closed_;
  bool refused_ = false;           // the forwarder refused closed_.front()
  uint64_t next_epoch_ = 0;        // index of the next epoch closed
  uint64_t open_first_ = 0;        // the open epoch's first record sequence (0: none yet)
  uint64_t open_last_ = 0;         // and last
  uint64_t last_closed_last_ = 0;  // last_sequence of the last epoch closed
  bool uncut_ = false;             // epochs closed since the last breakdown cut
  uint64_t kept_through_ = 0;      // marker sequence of the last epoch queued
  uint64_t offered_through_ = 0;   // and of the last one offered (Rebuild's start, none queued)
  int64_t last_cut_ms_ = 0;        // unix ms of the last breakdown cut (a replay restores it)
  bool replaying_ = false;
  // Behind (see Replay): CatchUp hands the archive's epochs on from behind_from_, the first
  // sequence it has not; the live path dropped its epochs through the marker dropped_through_.
  std::atomic<bool> behind_{false};
  std::atomic<uint64_t> fell_behind_{0};
  uint64_t behind_from_ = 0;
  uint64_t dropped_through_ = 0;
  uint64_t behind_events_ = 0;  // events of epochs dropped or refused, not yet handed on
  std::optional<kernels::EpochRows> catch_up_refused_;   // CatchUp's epoch the forwarder refused
  std::unique_ptr<kernels::MinuteAggregator> catch_up_;  // CatchUp's epoch being rebuilt
  // CatchUp's read of the archive, kept between ticks just past the last marker it offered, so
  // that a segment is read once however many ticks it takes (it holds that segment's bytes);
  // dropped by a Rebuild, since it may hold blocks the failure lost.
  std::unique_ptr<ArchiveScanner> catch_up_scan_;
  bool catch_up_owes_cut_ = false;  // the last epoch CatchUp handed on was not a cut
  // Where a Rebuild's and CatchUp's decodes count rejects: of records whose rejects the live
  // path (or Replay) counted when it first decoded them.
  kernels::RejectCounters counted_rejects_;
  bool close_due_ = false;   // the card path reached epoch_max_events inside a delivery
  bool discarding_ = false;  // Rebuild: deliveries of lost records are dropped
  // Events aggregated from records not yet durable, by the batch's last record, in order; and
  // the records through counted_through_ have had their events counted in accepted_, no later
  // one has (a Rebuild's replay counts those after it).
  struct Uncounted {
    uint64_t sequence;
    uint64_t events;
  };
  FifoVector<Uncounted> uncounted_;
  uint64_t counted_through_ = 0;
  FifoVector<uint64_t> card_sequences_;  // the last record of each batch the card still holds
  uint64_t batch_last_ = 0;              // Archive: the last record of the batch it kept
  bool batch_rebuilt_ = false;           // Archive: a failure it saw rebuilt the open epoch
  FileSystem* fs_ = nullptr;             // the archive's, from OpenArchive
  std::string marker_scratch_;
  std::vector<kernels::BeaconStatus> status_;       // of the last OnBatch's beacons
  std::vector<kernels::BeaconStatus> card_status_;  // of the batch AcceptCard trims
  std::vector<uint32_t> weights_;                   // of the last OnBatch's beacons (CPU decode)
  std::vector<uint32_t> card_weights_;              // of the batch AcceptCard trims
  std::vector<uint32_t> replay_weights_;            // of the records ReplayRange batches
  kernels::EventBatch replay_events_;               // AcceptReplayed's rows
  std::vector<std::pair<uint32_t, uint32_t>> beacon_sites_;  // AdmitBeacons' scratch
  std::vector<std::pair<uint32_t, uint32_t>> site_counts_;   // AdmitBeacons' scratch
  std::vector<uint8_t> keep_;                                // RetainTaken's scratch
  int64_t epoch_started_ms_ = 0;
  std::unique_ptr<SegmentWriter> archive_;
  bool archive_healthy_ = true;
  kernels::Durability durability_;            // as of the last poll of the archive
  std::vector<uint64_t> sequences_;           // of the last OnBatch's beacons; 0: not taken
  std::unique_ptr<kernels::RawBatch> taken_;  // card path: made on the first refusal
  std::string record_scratch_;
  std::atomic<uint64_t> archive_appended_{0};  // the last sequence appended

  std::atomic<uint64_t> beacons_{0};
  std::atomic<uint64_t> payload_bytes_{0};
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> epochs_closed_{0};
  std::atomic<uint64_t> shed_rounds_{0};
  std::atomic<uint64_t> replayed_records_{0};
  std::atomic<uint64_t> replayed_epochs_{0};
  std::atomic<uint64_t> catch_up_lost_events_{0};
  std::atomic<uint64_t> ua_hits_{0};
  std::atomic<uint64_t> ua_misses_{0};
  uint64_t ua_hits_before_ = 0;  // of the caches replaced by reloads
  uint64_t ua_misses_before_ = 0;
  std::atomic<uint64_t> aggregator_bytes_{0};
  std::atomic<uint64_t> aggregator_bound_{0};
  std::atomic<uint64_t> active_sites_{0};
  std::atomic<uint64_t> max_site_minute_bytes_{0};
  std::atomic<uint64_t> ticks_{0};
  std::atomic<uint64_t> cpu_ns_{0};
  struct SiteCount {
    std::string name;
    std::atomic<uint64_t> events{0};
  };
  // By site id; only the worker adds entries or renames, under the mutex (which readers on
  // other threads take); the counts are relaxed atomics.
  mutable std::mutex site_events_mutex_;
  std::map<uint32_t, SiteCount> site_events_;
  std::array<std::atomic<uint64_t>, kernels::kDimensionCount> folded_{};
  std::atomic<int64_t> last_tick_ms_{0};
  std::atomic<bool> shedding_{false};
};

// Registers the beacond_* pipeline counters, summed over `workers` (which outlive registry use).
void RegisterPipelineMetrics(MetricsRegistry* registry,
                             const std::vector<std::unique_ptr<WorkerPipeline>>* workers);

}  // namespace beacon::host
