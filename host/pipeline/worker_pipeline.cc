// WorkerPipeline: decode, aggregate, epoch close, hand-off to the forwarder.
#include "host/pipeline/worker_pipeline.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "host/archive/archive_scanner.h"
#include "host/pipeline/archive_record.h"
#include "kernels/bytes/hash.h"
#include "kernels/clock.h"
#include "kernels/counter.h"

namespace beacon::host {

using kernels::Bump;

namespace {

// What picks a beacon for the sample of an over-budget site: its bytes, so that the same
// beacon is picked again whatever the moment.
uint64_t SampleHash(const kernels::RawBatch& batch, size_t i) {
  return kernels::Hash64(batch.payload(i), kernels::Hash64(batch.query(i), 0));
}

// A shared_ptr that does not own `p`: its owner keeps it alive.
template <typename T>
std::shared_ptr<T> Unowned(T* p) {
  return std::shared_ptr<T>(std::shared_ptr<void>(), p);
}

}  // namespace

WorkerPipeline::WorkerPipeline(uint32_t worker, const PipelineConfig& config,
                               const kernels::SiteRegistry* sites, Forwarder* forwarder)
    : WorkerPipeline(worker, config, static_cast<const LiveSettingsSource*>(nullptr), forwarder) {
  Adopt(std::make_shared<const LiveSettings>(
      LiveSettings{Unowned(sites), Unowned(config.budgets), Unowned(config.user_agents)}));
}

WorkerPipeline::WorkerPipeline(uint32_t worker, const PipelineConfig& config,
                               const LiveSettingsSource* live, Forwarder* forwarder)
    : worker_(worker),
      config_(config),
      live_source_(live),
      forwarder_(forwarder),
      aggregator_(worker, config.aggregate) {
  decode_.rejects = &rejects_;
  decode_.visitor_key = config.visitor_key;
  decode_.bytes = config.bytes;
  events_.Reserve(kernels::kMaxBatchBeacons * 2, kernels::kBatchArenaBytes / 4);
  last_cut_ms_ = kernels::UnixMillis();  // breakdown rows are held from the start
  if (config.make_device) {
    device_ = config.make_device();
    batcher_ = std::make_unique<FpgaBatcher>(
        device_.get(), config.fpga, config.bytes,
        [this](const kernels::RawBatch& batch, const kernels::EventBatch& events) {
          AcceptCard(batch, events);
        });
  }
  if (live != nullptr) {
    live_generation_ = live->generation();
    Adopt(live->Current());
  }
}

void WorkerPipeline::PickUpSettings() {
  if (live_source_ == nullptr) return;
  const uint64_t generation = live_source_->generation();
  if (generation == live_generation_) return;
  // The card's queued beacons decode with the settings they were added under.
  if (batcher_ != nullptr) batcher_->Flush();
  live_generation_ = generation;
  Adopt(live_source_->Current());
}

void WorkerPipeline::Adopt(std::shared_ptr<const LiveSettings> settings) {
  if (live_ == nullptr || settings->user_agents != live_->user_agents) {
    if (user_agent_cache_ != nullptr) {
      ua_hits_before_ += user_agent_cache_->hits();
      ua_misses_before_ += user_agent_cache_->misses();
    }
    user_agent_cache_ = settings->user_agents == nullptr
                            ? nullptr
                            : std::make_unique<kernels::UserAgentCache>(*settings->user_agents);
    decode_.user_agents = user_agent_cache_.get();
  }
  decode_.sites = settings->sites.get();
  {
    const std::lock_guard lock(site_events_mutex_);
    for (const kernels::Site& site : settings->sites->sites()) {
      site_events_[site.site_id].name = site.name;
    }
  }
  live_ = std::move(settings);
}

std::vector<WorkerPipeline::SiteEvents> WorkerPipeline::site_events() const {
  const std::lock_guard lock(site_events_mutex_);
  std::vector<SiteEvents> out;
  out.reserve(site_events_.size());
  for (const auto& [site_id, count] : site_events_) {
    out.push_back({site_id, count.name, count.events.load(std::memory_order_relaxed)});
  }
  return out;
}

int WorkerPipeline::OpenArchive(FileSystem& fs, uint64_t min_first_sequence) {
  if (!config_.archive.enabled) return 0;
  fs_ = &fs;
  SegmentWriterOptions options = config_.archive.writer;
  options.worker = worker_;
  options.min_first_sequence = std::max(options.min_first_sequence, min_first_sequence);
  const int error = SegmentWriter::Open(fs, std::move(options), &archive_);
  if (error != 0) return error;
  archive_appended_.store(archive_->next_sequence() - 1, std::memory_order_relaxed);
  kept_through_ = archive_->next_sequence() - 1;  // earlier records are a replay's
  offered_through_ = kept_through_;
  counted_through_ = kept_through_;
  return 0;
}

bool WorkerPipeline::DefersAnswers() const {
  return archive_ != nullptr && config_.archive.writer.commit == CommitPolicy::kGroup;
}

int WorkerPipeline::durability_fd() const {
  return archive_ != nullptr ? archive_->notify_fd() : -1;
}

kernels::Durability WorkerPipeline::PollDurability() {
  PollArchive();
  return durability_;
}

void WorkerPipeline::PollArchive() {
  if (archive_ == nullptr) return;
  const CommitStatus status = archive_->Poll();
  archive_healthy_ = status.healthy;
  durability_.durable = status.durable_sequence;
  // dropped_through moves only when a failure is first reported: what was not durable then.
  if (status.dropped_through != durability_.lost_through) {
    durability_.lost_after = status.durable_sequence;
    durability_.lost_through = status.dropped_through;
    Rebuild(status.durable_sequence);
  }
  OfferPending();
}

bool WorkerPipeline::Admitting() {
  // A failed archive refuses every record: take nothing in until a poll finds it resumed.
  if (!archive_healthy_) {
    PollArchive();
    if (!archive_healthy_) {
      shedding_.store(true, std::memory_order_relaxed);
      return false;
    }
  }
  const bool shed = StillRefused();
  shedding_.store(shed, std::memory_order_relaxed);
  if (shed) Bump(shed_rounds_, 1);
  return !shed;
}

void WorkerPipeline::OnBatch(kernels::RawBatch& batch) {
  PickUpSettings();
  Bump(beacons_, batch.size());
  Bump(payload_bytes_, batch.payload_bytes());
  if (config_.salts != nullptr) decode_.salts = config_.salts->Current();
  status_.assign(batch.size(), kernels::BeaconStatus::kTaken);
  weights_.assign(batch.size(), 1);
  if (batcher_ != nullptr) {
    // The card decodes later, after the beacons were archived and answered (AcceptCard).
    kernels::RawBatch* taken = &batch;
    if (archive_ != nullptr && Archive(batch, decode_.salts) > 0) taken = &TakenBeacons(batch);
    // Rebuilt: the batch's durable beacons are in the open epoch already, the others lost.
    if (!taken->empty() && !batch_rebuilt_) {
      if (archive_ != nullptr) card_sequences_.push(batch_last_);
      batcher_->Add(*taken, decode_);  // delivered now or on a later call
    }
    if (close_due_) CloseEpoch();
    return;
  }
  events_.Clear();
  kernels::DecodeBatch(batch, decode_, &events_);
  size_t refused = Budgeted() ? AdmitBeacons(batch, &status_, &weights_) : 0;
  if (archive_ != nullptr) refused += Archive(batch, decode_.salts);
  if (batch_rebuilt_) {
    events_.Clear();  // the Rebuild aggregated the durable ones, the others are lost (Archive)
  } else if (refused > 0) {
    RetainTaken(status_);
  }
  CountAccepted(batch_last_, events_.size());
  Accept(events_);
}

void WorkerPipeline::AcceptCard(const kernels::RawBatch& batch, const kernels::EventBatch& events) {
  uint64_t sequence = 0;  // the batch's last record (0: no archive)
  if (!card_sequences_.empty()) {
    sequence = card_sequences_.front();
    card_sequences_.pop();
  }
  if (discarding_) return;  // Rebuild: the open epoch is rebuilt from the archive instead
  if (!Budgeted()) {
    CountAccepted(sequence, events.size());
    Accept(events);
    return;
  }
  events_ = events;  // copied to be trimmed
  card_status_.assign(batch.size(), kernels::BeaconStatus::kTaken);
  card_weights_.assign(batch.size(), 1);
  if (AdmitBeacons(batch, &card_status_, &card_weights_) > 0) RetainTaken(card_status_);
  CountAccepted(sequence, events_.size());
  Accept(events_);
}

size_t WorkerPipeline::AdmitBeacons(const kernels::RawBatch& batch,
                                    std::vector<kernels::BeaconStatus>* status,
                                    std::vector<uint32_t>* weights) {
  // (beacon, site) of every event, then one Admit per beacon with its events per site.
  beacon_sites_.clear();
  for (size_t i = 0; i < events_.size(); ++i) {
    beacon_sites_.emplace_back(events_.source[i], events_.site_id[i]);
  }
  std::sort(beacon_sites_.begin(), beacon_sites_.end());
  const int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::steady_clock::now().time_since_epoch())
                             .count();
  size_t refused = 0;
  bool sampled = false;
  for (size_t at = 0; at < beacon_sites_.size();) {
    const uint32_t beacon = beacon_sites_[at].first;
    site_counts_.clear();
    for (; at < beacon_sites_.size() && beacon_sites_[at].first == beacon; ++at) {
      const uint32_t site = beacon_sites_[at].second;
      if (site_counts_.empty() || site_counts_.back().first != site) {
        site_counts_.emplace_back(site, 0);
      }
      ++site_counts_.back().second;
    }
    const uint32_t weight = live_->budgets->Admit(site_counts_, SampleHash(batch, beacon), now_ns);
    if (weight == 0) {
      (*status)[beacon] = kernels::BeaconStatus::kOverBudget;
      ++refused;
    }
    (*weights)[beacon] = weight;
    sampled = sampled || weight > 1;
  }
  if (sampled) events_.SetWeights(*weights);
  return refused;
}

void WorkerPipeline::RetainTaken(const std::vector<kernels::BeaconStatus>& status) {
  keep_.resize(events_.size());
  for (size_t i = 0; i < events_.size(); ++i) {
    keep_[i] = status[events_.source[i]] == kernels::BeaconStatus::kTaken ? 1 : 0;
  }
  events_.Retain(keep_);
}

size_t WorkerPipeline::Archive(const kernels::RawBatch& batch, const kernels::VisitorSalts& salts) {
  sequences_.assign(batch.size(), 0);
  size_t refused = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (status_[i] != kernels::BeaconStatus::kTaken) continue;
    kernels::ArchiveRecord record = ArchiveRecordOf(batch, i, salts, &record_scratch_);
    record.weight = weights_[i];
    sequences_[i] = archive_->Append(record);
    if (sequences_[i] != 0) continue;
    status_[i] = kernels::BeaconStatus::kRefused;
    ++refused;
  }
  archive_->Commit();
  archive_appended_.store(archive_->next_sequence() - 1, std::memory_order_relaxed);
  uint64_t first = 0;
  uint64_t last = 0;
  for (const uint64_t sequence : sequences_) {
    if (sequence == 0) continue;
    if (first == 0) first = sequence;
    last = sequence;
  }
  NoteTaken(first, last);
  const uint64_t reported = durability_.lost_through;
  PollArchive();
  // A failure first reported now rebuilt the open epoch from the durable records, this batch's
  // among them (a batch over several blocks can be durable in part), and every record appended
  // before the report is durable or dropped (SegmentWriter::Poll): none of the batch's events
  // may join the epoch again.
  batch_rebuilt_ = durability_.lost_through != reported;
  // A failure reported now dropped records of this batch: they are answered 503, so they must
  // not be aggregated either.
  const auto lost = [this](uint64_t sequence) {
    return sequence > durability_.lost_after && sequence <= durability_.lost_through;
  };
  batch_last_ = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (sequences_[i] == 0) continue;
    if (!lost(sequences_[i])) {
      batch_last_ = sequences_[i];
      continue;
    }
    sequences_[i] = 0;
    status_[i] = kernels::BeaconStatus::kRefused;
    ++refused;
  }
  return refused;
}

kernels::RawBatch& WorkerPipeline::TakenBeacons(const kernels::RawBatch& batch) {
  if (taken_ == nullptr) taken_ = std::make_unique<kernels::RawBatch>();
  taken_->Clear();
  for (size_t i = 0; i < batch.size(); ++i) {
    if (status_[i] != kernels::BeaconStatus::kTaken) continue;
    taken_->Add(batch.endpoint(i), batch.ingress(i), batch.payload(i), batch.user_agent(i),
                batch.source(i), batch.receive_time_ms(i), batch.query(i), batch.country(i));
  }
  return *taken_;
}

void WorkerPipeline::Accept(const kernels::EventBatch& events) {
  if (user_agent_cache_ != nullptr) {
    ua_hits_.store(ua_hits_before_ + user_agent_cache_->hits(), std::memory_order_relaxed);
    ua_misses_.store(ua_misses_before_ + user_agent_cache_->misses(), std::memory_order_relaxed);
  }
  aggregator_.Add(events);
  if (aggregator_.open_events() < config_.epoch_max_events || replaying_) return;
  // Inside a card delivery the batcher cannot be flushed: the caller closes after it returns.
  if (batcher_ != nullptr) {
    close_due_ = true;
    return;
  }
  CloseEpoch();
}

void WorkerPipeline::CountAccepted(uint64_t sequence, uint64_t events) {
  if (archive_ == nullptr) {
    Bump(accepted_, events);
    return;
  }
  // Through counted_through_, a Rebuild's replay counted them already.
  if (events == 0 || sequence <= counted_through_) return;
  uncounted_.push({sequence, events});
}

void WorkerPipeline::CountDurable(uint64_t durable) {
  while (!uncounted_.empty() && uncounted_.front().sequence <= durable) {
    Bump(accepted_, uncounted_.front().events);
    counted_through_ = uncounted_.front().sequence;
    uncounted_.pop();
  }
}

void WorkerPipeline::OnTick(int64_t now_ms) {
  PickUpSettings();  // an idle worker lets go of replaced settings too
  // And of a rotated salt: one older than 48 h is kept nowhere, an idle worker's copy neither
  // (the main thread rotates the store every minute; this reads it without a lock).
  if (config_.salts != nullptr) decode_.salts = config_.salts->Snapshot();
  PollArchive();  // interval commits, and a failed writer's retries
  if (behind_.load(std::memory_order_relaxed)) CatchUp();
  if (batcher_ != nullptr) batcher_->Poll();
  if (close_due_) CloseEpoch();
  last_tick_ms_.store(kernels::MonotonicMillis(), std::memory_order_relaxed);
  if (epoch_started_ms_ == 0) epoch_started_ms_ = now_ms;
  if (now_ms - epoch_started_ms_ >= config_.epoch_ms) {
    epoch_started_ms_ = now_ms;
    // An idle worker's held breakdown rows still go out once the interval passed.
    CloseEpoch(/*force_cut=*/uncut_ &&
               kernels::UnixMillis() - last_cut_ms_ >= config_.breakdown_flush_interval_ms);
  }
  aggregator_bytes_.store(aggregator_.memory_bytes(), std::memory_order_relaxed);
  aggregator_bound_.store(
      kernels::MinuteAggregator::MemoryBound(config_.aggregate, aggregator_.open_events(),
                                             aggregator_.site_minutes()),
      std::memory_order_relaxed);
  active_sites_.store(aggregator_.active_sites(), std::memory_order_relaxed);
  max_site_minute_bytes_.store(aggregator_.max_site_minute_bytes(), std::memory_order_relaxed);
  for (const kernels::Dimension d : kernels::kDimensions) {
    folded_[kernels::DimensionIndex(d)].store(aggregator_.folded(d), std::memory_order_relaxed);
  }
  timespec cpu{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0) {
    cpu_ns_.store(
        static_cast<uint64_t>(cpu.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(cpu.tv_nsec),
        std::memory_order_relaxed);
  }
  Bump(ticks_, 1);
}

bool WorkerPipeline::Flush() {
  if (batcher_ != nullptr) batcher_->Flush();
  CloseEpoch(/*force_cut=*/true);
  if (archive_ != nullptr) archive_->Flush();
  PollArchive();
  if (behind_.load(std::memory_order_relaxed)) CatchUp();
  // Not drained either: events of an epoch whose marker a failed archive refused, a cut still
  // owed to breakdown rows the forwarder holds, or epochs not handed on while behind (all left
  // to the next start's replay).
  return closed_.empty() && aggregator_.open_events() == 0 && !(uncut_ && archive_ != nullptr) &&
         !behind_.load(std::memory_order_relaxed);
}

uint64_t WorkerPipeline::held_events() const {
  uint64_t held = aggregator_.open_events() + behind_events_;
  for (const ClosedEpoch& epoch : closed_) held += epoch.rows.events;
  return held;
}

void WorkerPipeline::NoteTaken(uint64_t first, uint64_t last) {
  if (first == 0) return;
  if (open_first_ == 0) open_first_ = first;
  open_last_ = last;
}

void WorkerPipeline::CloseEpoch(bool force_cut) {
  close_due_ = false;
  // A refused epoch goes first so that a worker's epochs reach the forwarder in order.
  if (StillRefused()) return;
  // An empty epoch is closed only to cut the breakdown rows of earlier ones (an idle worker's,
  // or at shutdown): it takes the last epoch's range, so a replay rebuilds the same cut.
  const bool empty = aggregator_.open_events() == 0;
  if (empty && !(force_cut && uncut_ && archive_ != nullptr)) return;
  // Every record archived so far is then in this epoch: the marker after them closes it.
  if (batcher_ != nullptr) batcher_->Flush();
  const int64_t now = kernels::UnixMillis();
  const bool ranged = open_last_ != 0;
  kernels::EpochMarker marker{
      .epoch = next_epoch_,
      .first_sequence = ranged ? open_first_ : last_closed_last_,
      .last_sequence = ranged ? open_last_ : last_closed_last_,
      .breakdown_cut = force_cut || config_.breakdown_flush_interval_ms == 0 ||
                       now - last_cut_ms_ >= config_.breakdown_flush_interval_ms};
  uint64_t marker_sequence = 0;
  if (archive_ != nullptr && marker.last_sequence != 0) {
    marker_scratch_ = kernels::EncodeEpochMarker(marker);
    marker_sequence =
        archive_->Append(kernels::ControlRecord(marker_scratch_, kernels::UnixMillis()));
    // Refused: the archive failed, so the epoch holds records that were never made durable;
    // the failure's Rebuild replaces it.
    if (marker_sequence == 0) return;
    archive_->Commit();
    archive_appended_.store(marker_sequence, std::memory_order_relaxed);
  }
  if (marker.breakdown_cut) last_cut_ms_ = now;
  QueueEpoch(marker, marker_sequence);
  OfferPending();
}

void WorkerPipeline::QueueEpoch(const kernels::EpochMarker& marker, uint64_t marker_sequence) {
  ClosedEpoch& closed = closed_.emplace_back();
  closed.rows = aggregator_.CloseEpoch();
  closed.rows.worker = worker_;
  closed.rows.epoch = marker.epoch;
  closed.rows.first_sequence = marker.first_sequence;
  closed.rows.last_sequence = marker.last_sequence;
  closed.rows.breakdown_cut = marker.breakdown_cut;
  closed.marker = marker_sequence;
  next_epoch_ = marker.epoch + 1;
  uncut_ = !marker.breakdown_cut;
  if (marker.last_sequence != 0) last_closed_last_ = marker.last_sequence;
  open_first_ = 0;
  open_last_ = 0;
  if (marker_sequence != 0) kept_through_ = marker_sequence;
  Bump(epochs_closed_, 1);
}

void WorkerPipeline::CountSiteEvents(const kernels::EpochRows& rows) {
  // Only this thread changes the map, so it reads it without the lock.
  for (const kernels::SiteMinuteRow& row : rows.site_minutes) {
    const auto it = site_events_.find(row.site_id);
    if (it != site_events_.end()) Bump(it->second.events, row.pageviews + row.events);
  }
}

bool WorkerPipeline::OfferPending() {
  const uint64_t durable = archive_ != nullptr ? archive_->durable_sequence() : 0;
  CountDurable(durable);  // before an epoch of those records is offered
  while (!closed_.empty() && closed_.front().marker <= durable) {
    if (behind_.load(std::memory_order_relaxed)) {
      DropBehind();
      continue;
    }
    // Per site once offered: an epoch dropped by a Rebuild before (its marker lost) is not.
    if (!closed_.front().counted) {
      closed_.front().counted = true;
      CountSiteEvents(closed_.front().rows);
    }
    refused_ = !forwarder_->Offer(closed_.front().rows);
    if (refused_) return false;
    if (closed_.front().marker != 0) offered_through_ = closed_.front().marker;
    closed_.pop_front();
  }
  return true;
}

void WorkerPipeline::Rebuild(uint64_t durable) {
  // Events of records already durable are accepted. Of the others, lost ones never are; the
  // durable ones after the last epoch kept (a batch durable in part) are counted as the replay
  // below aggregates them anew.
  CountDurable(durable);
  uncounted_.clear();
  // Epochs whose marker is durable hold durable records only; the others, and the open epoch,
  // may hold lost ones.
  while (!closed_.empty() && closed_.back().marker > durable) {
    closed_.pop_back();
    // A dropped cut no longer cuts what the forwarder holds of the epochs before it: a cut is
    // owed again (an idle worker's next tick makes it; one with nothing held is empty).
    uncut_ = true;
  }
  // The newest epoch kept: the last one still queued, else the last one offered (whose marker
  // was durable). Not the last one queued: dropped, its durable records are rebuilt below.
  kept_through_ = closed_.empty() ? offered_through_ : closed_.back().marker;
  refused_ = refused_ && !closed_.empty();
  if (batcher_ != nullptr) {
    discarding_ = true;  // what the card still holds is in the open epoch, rebuilt below
    batcher_->Flush();
    discarding_ = false;
  }
  aggregator_ = kernels::MinuteAggregator(worker_, config_.aggregate);
  open_first_ = 0;
  open_last_ = 0;
  // CatchUp's scan may have read blocks the failure lost (readable until their truncation): a
  // marker among them would close an epoch the archive no longer has, whose records a replay
  // puts in a later one. The next tick scans again from the last marker offered.
  catch_up_scan_.reset();
  if (durable <= kept_through_) return;
  // The live path decoded these records and counted their rejects (the card path too, at the
  // flush above): decoded again, they are not rejected again.
  kernels::RejectCounters* live_rejects = decode_.rejects;
  decode_.rejects = &counted_rejects_;
  ReplayRange(kept_through_ + 1, durable, /*fall_behind=*/false);
  decode_.rejects = live_rejects;
}

WorkerReplayStats WorkerPipeline::Replay(uint64_t from) {
  kept_through_ = from - 1;
  offered_through_ = kept_through_;
  counted_through_ = kept_through_;  // a new process: what it replays is accepted in this run
  WorkerReplayStats stats = ReplayRange(from, 0, /*fall_behind=*/true);
  // The rows held now began at the last cut replayed, or (the cut before `from` acknowledged)
  // at the first record replayed: a restart does not start the interval again.
  last_cut_ms_ = stats.held_since_ms != 0 ? stats.held_since_ms : kernels::UnixMillis();
  return stats;
}

WorkerReplayStats WorkerPipeline::ReplayRange(uint64_t from, uint64_t through, bool fall_behind) {
  WorkerReplayStats stats;
  if (archive_ == nullptr || fs_ == nullptr) return stats;
  replaying_ = true;
  ArchiveScanner scanner(*fs_, config_.archive.writer.directory);
  stats.error = scanner.Seek(worker_, from);
  kernels::RawBatch batch;
  uint64_t first = 0;
  uint64_t last = 0;
  replay_weights_.clear();
  const auto decode = [&] {
    if (batch.empty()) return;
    NoteTaken(first, last);
    const bool uncounted = first > counted_through_;  // a batch is either side of it
    first = 0;
    AcceptReplayed(batch, replay_weights_);
    if (uncounted) {
      Bump(accepted_, replay_events_.size());
      counted_through_ = last;
    }
    batch.Clear();
    replay_weights_.clear();
  };
  uint64_t sequence = 0;
  kernels::ArchiveRecord record;
  while (stats.error == 0 && scanner.Next(&sequence, &record)) {
    if (through != 0 && sequence > through) break;
    if (stats.held_since_ms == 0) stats.held_since_ms = record.receive_time_ms;
    if (!kernels::IsControlRecord(record)) {
      if (first != 0 && first <= counted_through_ && sequence > counted_through_) decode();
      if (!AddArchivedRecord(record, &batch)) {
        decode();
        AddArchivedRecord(record, &batch);
      }
      replay_weights_.push_back(record.weight);
      if (first == 0) first = sequence;
      last = sequence;
      ++stats.records;
      continue;
    }
    kernels::EpochMarker marker;
    if (kernels::DecodeEpochMarker(record.payload, &marker) != kernels::ArchiveError::kOk ||
        marker.last_sequence < from) {
      ++stats.markers_skipped;  // unreadable, or an epoch acknowledged before `from`
      continue;
    }
    decode();
    QueueEpoch(marker, sequence);
    if (marker.breakdown_cut) stats.held_since_ms = record.receive_time_ms;
    ++stats.epochs;
    // Refused: the worker falls behind, and OfferPending drops the epochs after this one.
    if (!OfferPending() && fall_behind) FallBehind();
  }
  decode();
  replaying_ = false;
  stats.behind = behind();
  Bump(replayed_records_, stats.records);
  Bump(replayed_epochs_, stats.epochs);
  return stats;
}

void WorkerPipeline::DecodeArchived(const kernels::RawBatch& batch,
                                    const std::vector<uint32_t>& weights) {
  if (config_.salts != nullptr) decode_.salts = config_.salts->Current();
  // Its own rows: a Rebuild replays while OnBatch still holds events_.
  replay_events_.Clear();
  kernels::DecodeBatch(batch, decode_, &replay_events_);
  // The sample's weights as archived, so that a replayed epoch gives the live one's rows.
  if (std::any_of(weights.begin(), weights.end(), [](uint32_t w) { return w != 1; })) {
    replay_events_.SetWeights(weights);
  }
}

void WorkerPipeline::AcceptReplayed(const kernels::RawBatch& batch,
                                    const std::vector<uint32_t>& weights) {
  DecodeArchived(batch, weights);
  Accept(replay_events_);
}

bool WorkerPipeline::sheds_when_forwarder_full() const {
  return !behind() && !(config_.archive.behind_when_forwarder_full && archive_ != nullptr);
}

bool WorkerPipeline::StillRefused() {
  if (!refused_ || OfferPending()) return false;
  // OfferPending offers only an epoch whose marker is durable: the archive holds it whole.
  if (sheds_when_forwarder_full() || replaying_ || closed_.front().marker == 0) return true;
  FallBehind();
  return false;
}

void WorkerPipeline::FallBehind() {
  ClosedEpoch& refused = closed_.front();
  behind_from_ = refused.marker + 1;
  dropped_through_ = refused.marker;
  offered_through_ = refused.marker;
  behind_events_ += refused.rows.events;
  catch_up_owes_cut_ = !refused.rows.breakdown_cut;
  catch_up_refused_ = std::move(refused.rows);
  closed_.pop_front();
  refused_ = false;
  catch_up_ = std::make_unique<kernels::MinuteAggregator>(worker_, config_.aggregate);
  behind_.store(true, std::memory_order_relaxed);
  Bump(fell_behind_, 1);
}

void WorkerPipeline::DropBehind() {
  const ClosedEpoch& dropped = closed_.front();
  behind_events_ += dropped.rows.events;
  if (dropped.marker != 0) {
    dropped_through_ = dropped.marker;
    offered_through_ = dropped.marker;
  }
  closed_.pop_front();
}

bool WorkerPipeline::OfferCaughtUp(kernels::EpochRows& rows) {
  const uint64_t events = rows.events;
  CountSiteEvents(rows);  // once: a refused epoch is kept, never rebuilt again
  if (!forwarder_->Offer(rows)) {
    catch_up_refused_ = std::move(rows);
    return false;
  }
  behind_events_ -= std::min(behind_events_, events);
  return true;
}

void WorkerPipeline::CatchUp() {
  if (catch_up_refused_.has_value()) {
    const uint64_t events = catch_up_refused_->events;
    if (!forwarder_->Offer(*catch_up_refused_)) return;
    behind_events_ -= std::min(behind_events_, events);
    catch_up_refused_.reset();
  }
  if (!forwarder_->HasRoom()) return;
  // A scan kept from an earlier tick stands just past the marker of the last epoch offered.
  const bool fresh = catch_up_scan_ == nullptr;
  if (fresh) {
    catch_up_scan_ = std::make_unique<ArchiveScanner>(*fs_, config_.archive.writer.directory);
    if (catch_up_scan_->Seek(worker_, behind_from_) != 0) {
      catch_up_scan_.reset();
      return;
    }
    catch_up_ = std::make_unique<kernels::MinuteAggregator>(worker_, config_.aggregate);
  }
  kernels::RawBatch batch;
  replay_weights_.clear();
  kernels::RejectCounters* live_rejects = decode_.rejects;
  const auto decode = [&] {
    if (batch.empty()) return;
    decode_.rejects = &counted_rejects_;  // the live path (or Replay) counted them
    DecodeArchived(batch, replay_weights_);
    decode_.rejects = live_rejects;
    catch_up_->Add(replay_events_);
    batch.Clear();
    replay_weights_.clear();
  };
  // The live worker waits while this runs: a tick stops at the first marker after its share.
  const int64_t stop_ms = kernels::MonotonicMillis() + kCatchUpTickMs;
  uint64_t sequence = 0;
  kernels::ArchiveRecord record;
  kernels::EpochMarker marker;
  for (;;) {
    if (!catch_up_scan_->Next(&sequence, &record)) {
      catch_up_scan_.reset();
      // The segment a scan of an earlier tick read has ended, and the records written after it
      // are read by the next tick's scan, from the last marker offered.
      if (!fresh) return;
      break;  // the archive ends before dropped_through_: records lost to damage, as in Replay
    }
    // The records through dropped_through_ are durable: the scan never meets a torn block first.
    if (sequence > dropped_through_) break;
    if (!kernels::IsControlRecord(record)) {
      if (!AddArchivedRecord(record, &batch)) {
        decode();
        AddArchivedRecord(record, &batch);
      }
      replay_weights_.push_back(record.weight);
      continue;
    }
    if (kernels::DecodeEpochMarker(record.payload, &marker) != kernels::ArchiveError::kOk) {
      continue;  // unreadable: its records join the next epoch, as in Replay
    }
    decode();
    kernels::EpochRows rows = catch_up_->CloseEpoch();
    rows.worker = worker_;
    rows.epoch = marker.epoch;
    rows.first_sequence = marker.first_sequence;
    rows.last_sequence = marker.last_sequence;
    rows.breakdown_cut = marker.breakdown_cut;
    behind_from_ = sequence + 1;
    catch_up_owes_cut_ = !rows.breakdown_cut;
    Bump(replayed_epochs_, 1);
    if (!OfferCaughtUp(rows) || kernels::MonotonicMillis() >= stop_ms) return;
  }
  CaughtUp();
}

void WorkerPipeline::CaughtUp() {
  // Every epoch the worker dropped is handed on (an epoch's records without their marker, only
  // after damage, are not): from now on it offers its own again. What it could not hand on,
  // the archive lost (a damaged block): counted, and no longer held.
  Bump(catch_up_lost_events_, behind_events_);
  behind_events_ = 0;
  // A cut the damage took leaves the forwarder holding the breakdown rows of the epochs handed
  // on before it: a cut is owed (the live epochs' flag knows nothing of it).
  if (catch_up_owes_cut_) uncut_ = true;
  catch_up_scan_.reset();
  catch_up_.reset();
  behind_.store(false, std::memory_order_relaxed);
  OfferPending();
}

namespace {

// Accepted events per site over the workers, for sites that had any (one series per active
// site, not per registry line).
void RegisterPerSite(MetricsWriter& out,
                     const std::vector<std::unique_ptr<WorkerPipeline>>& workers) {
  std::map<uint32_t, std::pair<std::string, uint64_t>> totals;  // site id -> name, events
  for (const auto& w : workers) {
    for (const WorkerPipeline::SiteEvents& site : w->site_events()) {
      auto& [name, events] = totals[site.site_id];
      name = site.name;
      events += site.events;
    }
  }
  for (const auto& [site_id, total] : totals) {
    if (total.second == 0) continue;
    out.Counter("beacond_site_events_accepted_total",
                "Accepted events per site, counted as each worker hands its epoch to the forwarder",
                {{"site", std::to_string(site_id)}, {"name", total.first}}, total.second);
  }
}

// The per-worker families, each family's samples together as the exposition format requires.
void RegisterPerWorker(MetricsWriter& out,
                       const std::vector<std::unique_ptr<WorkerPipeline>>& workers) {
  auto gauge = [&](std::string_view name, std::string_view help, auto value) {
    for (const auto& w : workers) {
      out.Gauge(name, help, {{"worker", std::to_string(w->worker())}},
                static_cast<double>(value(*w)));
    }
  };
  auto counter = [&](std::string_view name, std::string_view help, auto value) {
    for (const auto& w : workers) {
      out.Counter(name, help, {{"worker", std::to_string(w->worker())}}, value(*w));
    }
  };
  gauge("beacond_aggregator_bytes", "Heap bytes held by a worker's open epoch",
        [](const WorkerPipeline& w) { return w.aggregator_bytes(); });
  gauge("beacond_aggregator_bytes_bound",
        "The bound of beacond_aggregator_bytes for the open epoch's events and "
        "site-minutes (kernels/aggregate/README.md)",
        [](const WorkerPipeline& w) { return w.aggregator_bound(); });
  gauge("beacond_aggregator_active_sites", "Sites with events in a worker's open epoch",
        [](const WorkerPipeline& w) { return w.active_sites(); });
  gauge("beacond_aggregator_bytes_per_active_site",
        "Heap bytes of a worker's open epoch per active site", [](const WorkerPipeline& w) {
          const auto sites = static_cast<double>(w.active_sites());
          return sites > 0 ? static_cast<double>(w.aggregator_bytes()) / sites : 0.0;
        });
  gauge("beacond_aggregator_max_site_minute_bytes",
        "Heap bytes of the largest (site, minute) of a worker's open epoch",
        [](const WorkerPipeline& w) { return w.max_site_minute_bytes(); });
  counter("beacond_worker_beacons_total", "Beacons taken in by a worker",
          [](const WorkerPipeline& w) { return w.beacons(); });
  counter("beacond_worker_ticks_total",
          "Event-loop ticks of a worker (rising even when idle; flat: the worker is wedged)",
          [](const WorkerPipeline& w) { return w.ticks(); });
  gauge("beacond_worker_behind",
        "1 while a worker is behind: epochs the forwarder refused wait in the archive, sent from "
        "it in order once the forwarder takes them",
        [](const WorkerPipeline& w) { return w.behind() ? 1 : 0; });
  counter("beacond_worker_fell_behind_total",
          "Times a worker fell behind: its start replay, or a live epoch, refused by a full "
          "forwarder",
          [](const WorkerPipeline& w) { return w.fell_behind(); });
  for (const auto& w : workers) {
    out.FloatCounter("beacond_worker_cpu_seconds_total",
                     "CPU seconds of a worker's thread, as of its last tick",
                     {{"worker", std::to_string(w->worker())}}, w->cpu_seconds());
  }
}

// The raw archive's counters, summed over the workers that archive, and each one's durable lag.
void RegisterArchive(MetricsWriter& out,
                     const std::vector<std::unique_ptr<WorkerPipeline>>& workers) {
  std::vector<const WorkerPipeline*> archiving;
  for (const auto& w : workers) {
    if (w->archive() != nullptr) archiving.push_back(w.get());
  }
  if (archiving.empty()) return;
  const auto counter = [&](std::string_view name, std::string_view help,
                           std::atomic<uint64_t> SegmentWriterStats::*member) {
    uint64_t total = 0;
    for (const WorkerPipeline* w : archiving) {
      total += (w->archive()->stats().*member).load(std::memory_order_relaxed);
    }
    out.Counter(name, help, {}, total);
  };
  counter("beacond_archive_records_total", "Beacons appended to the raw archive",
          &SegmentWriterStats::records);
  counter("beacond_archive_raw_bytes_total", "Raw bytes of the records in written blocks",
          &SegmentWriterStats::raw_bytes);
  counter("beacond_archive_bytes_total", "Bytes written to archive segments, headers included",
          &SegmentWriterStats::bytes);
  counter("beacond_archive_blocks_total", "Archive blocks written", &SegmentWriterStats::blocks);
  counter("beacond_archive_syncs_total", "fdatasync calls of the archive that succeeded",
          &SegmentWriterStats::syncs);
  counter("beacond_archive_segments_total", "Archive segments opened",
          &SegmentWriterStats::segments);
  counter("beacond_archive_write_errors_total",
          "Failed archive writes, syncs or segment creations (ENOSPC, EIO)",
          &SegmentWriterStats::write_errors);
  counter("beacond_archive_dropped_records_total",
          "Archived records never made durable because of a failure (answered 503)",
          &SegmentWriterStats::dropped_records);
  counter("beacond_archive_refused_records_total",
          "Beacons the archive refused (failed, or too large): neither taken in nor acknowledged",
          &SegmentWriterStats::refused_records);
  uint64_t replayed_records = 0;
  uint64_t replayed_epochs = 0;
  uint64_t catch_up_lost = 0;
  for (const WorkerPipeline* w : archiving) {
    replayed_records += w->replayed_records();
    replayed_epochs += w->replayed_epochs();
    catch_up_lost += w->catch_up_lost_events();
  }
  out.Counter("beacond_archive_replayed_records_total",
              "Archived beacons decoded and aggregated again: replay at start, or rebuilding "
              "after a failed write",
              {}, replayed_records);
  out.Counter("beacond_archive_replayed_epochs_total",
              "Epochs rebuilt from the archive's markers and offered again", {}, replayed_epochs);
  out.Counter("beacond_archive_catch_up_lost_events_total",
              "Accepted events a worker behind could not hand on: their records were lost to "
              "damage in the archive before its catch-up read them",
              {}, catch_up_lost);
  uint64_t sync_micros = 0;
  for (const WorkerPipeline* w : archiving) {
    sync_micros += w->archive()->stats().sync_micros.load(std::memory_order_relaxed);
  }
  out.FloatCounter("beacond_archive_sync_seconds_total", "Seconds spent in the archive's fdatasync",
                   {}, static_cast<double>(sync_micros) * 1e-6);
  for (const WorkerPipeline* w : archiving) {
    out.Gauge("beacond_archive_durable_lag_records",
              "Records a worker appended to the archive that are not durable yet",
              {{"worker", std::to_string(w->worker())}}, static_cast<double>(w->archive_lag()));
  }
}

}  // namespace

void RegisterPipelineMetrics(MetricsRegistry* registry,
                             const std::vector<std::unique_ptr<WorkerPipeline>>* workers) {
  registry->Add([workers](MetricsWriter& out) {
    auto sum = [workers](auto getter) {
      uint64_t total = 0;
      for (const auto& w : *workers) total += getter(*w);
      return total;
    };
    out.Counter("beacond_beacons_received_total", "Beacons (requests' payloads) taken in", {},
                sum([](const WorkerPipeline& w) { return w.beacons(); }));
    out.Counter("beacond_payload_bytes_total", "Payload bytes taken in", {},
                sum([](const WorkerPipeline& w) { return w.payload_bytes(); }));
    out.Counter("beacond_events_accepted_total",
                "Hits that passed validation, of beacons durable in the archive (answered 2xx)", {},
                sum([](const WorkerPipeline& w) { return w.accepted_events(); }));
    for (size_t r = 0; r < kernels::kRejectReasonCount; ++r) {
      const auto reason = static_cast<kernels::RejectReason>(r);
      const std::string name(kernels::RejectReasonName(reason));
      out.Counter("beacond_rejects_total", "Hits rejected, by reason", {{"reason", name}},
                  sum([reason](const WorkerPipeline& w) { return w.rejects().Get(reason); }));
    }
    out.Counter("beacond_user_agent_cache_hits_total",
                "User agents found in the workers' classification caches", {},
                sum([](const WorkerPipeline& w) { return w.user_agent_hits(); }));
    out.Counter("beacond_user_agent_cache_misses_total",
                "User agents classified with uap-core's patterns (cache misses)", {},
                sum([](const WorkerPipeline& w) { return w.user_agent_misses(); }));
    std::vector<const FpgaBatcher*> batchers;
    for (const auto& w : *workers) {
      if (w->fpga_batcher() != nullptr) batchers.push_back(w->fpga_batcher());
    }
    if (!batchers.empty()) WriteFpgaMetrics(batchers, out);
    out.Counter("beacond_epochs_closed_total", "Epochs closed by the workers", {},
                sum([](const WorkerPipeline& w) { return w.epochs_closed(); }));
    out.Counter("beacond_shed_rounds_total",
                "Event-loop rounds in which a worker shed load (forwarder full)", {},
                sum([](const WorkerPipeline& w) { return w.shed_rounds(); }));
    for (const kernels::Dimension d : kernels::kDimensions) {
      out.Counter("beacond_breakdown_folded_total",
                  "Hits folded into (other) by the per-site-minute top-K of a dimension",
                  {{"dimension", std::string(kernels::DimensionName(d))}},
                  sum([d](const WorkerPipeline& w) { return w.folded(d); }));
    }
    RegisterPerWorker(out, *workers);
    RegisterPerSite(out, *workers);
    RegisterArchive(out, *workers);
  });
}

}  // namespace beacon::host
