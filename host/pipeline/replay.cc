// ReplayArchive and its ClickHouse sink: the archive's records through the live decode and
// aggregation; see replay.h.
#include "host/pipeline/replay.h"

#include <oneapi/tbb/concurrent_queue.h>
#include <oneapi/tbb/enumerable_thread_specific.h>
#include <oneapi/tbb/parallel_pipeline.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>

#include "host/archive/segment_files.h"
#include "host/forward/schema.h"
#include "host/forward/shard_ring.h"
#include "host/pipeline/archive_record.h"
#include "kernels/archive/block_codec.h"
#include "kernels/archive/segment_scanner.h"
#include "kernels/bytes/hash.h"
#include "kernels/decode.h"
#include "kernels/event_batch.h"
#include "kernels/raw_batch.h"

namespace beacon::host {
namespace {

// One replay batch on its way through the pipeline; each stage empties what it consumed.
struct Token {
  ReplayBatch batch;
  std::vector<std::string> blocks;                       // read: CRC-checked blocks
  std::vector<uint16_t> versions;                        // each block's segment format version
  std::vector<std::unique_ptr<kernels::RawBatch>> raws;  // decompressed: beacons in the range
  std::vector<std::vector<uint32_t>> weights;            // of each raw batch's records
  kernels::EventBatch events;                            // decoded
};

// The read stage: the archive's valid blocks, worker by worker in sequence order, cut into
// replay batches by the first sequence of each block.
class BatchReader {
 public:
  BatchReader(FileSystem& fs, const ReplayConfig& config, std::vector<SegmentFile> segments,
              ReplayStats* stats);
  // The next batch's blocks; null after the last.
  std::unique_ptr<Token> Next();

 private:
  bool NextBlock(uint32_t* worker, uint16_t* version, kernels::ScannedBlock* block);
  bool Wanted(size_t segment) const;
  void CloseSegment();

  FileSystem& fs_;
  const ReplayConfig& config_;
  ReplayStats* stats_;
  std::vector<SegmentFile> segments_;
  // The lowest and highest receive time of each segment's records, when its successor's header
  // holds them.
  std::vector<std::optional<std::pair<int64_t, int64_t>>> times_;
  size_t next_segment_ = 0;
  std::string bytes_;  // the segment being read
  std::optional<kernels::SegmentScanner> scanner_;
  uint32_t pending_worker_ = 0;
  uint16_t pending_version_ = 0;
  std::optional<kernels::ScannedBlock> pending_;  // the first block of the next batch
};

BatchReader::BatchReader(FileSystem& fs, const ReplayConfig& config,
                         std::vector<SegmentFile> segments, ReplayStats* stats)
    : fs_(fs), config_(config), stats_(stats), segments_(std::move(segments)) {
  times_.resize(segments_.size());
  for (size_t i = 1; i < segments_.size(); ++i) {
    if (segments_[i].worker != segments_[i - 1].worker) continue;
    std::string header_bytes;
    kernels::SegmentHeader header;
    if (fs_.ReadPrefix(segments_[i].path, kernels::kSegmentHeaderBytes, &header_bytes) == 0 &&
        kernels::DecodeSegmentHeader(header_bytes, &header) == kernels::ArchiveError::kOk &&
        header.previous_times) {
      times_[i - 1] = std::pair(header.previous_min_ms, header.previous_max_ms);
    }
  }
}

bool BatchReader::Wanted(size_t i) const {
  // Only the records' own times, which the writer put in the next segment's header, tell that a
  // segment holds none of the range: its creation time and its successor's do not once the wall
  // clock stepped (a step back makes a segment's records later than its successor's creation).
  // Without them (a worker's newest segment, one closed by a crash, a damaged successor header,
  // segments written before the writer recorded them) the segment is read.
  return !times_[i].has_value() ||
         (times_[i]->second >= config_.from_ms && times_[i]->first < config_.to_ms);
}

void BatchReader::CloseSegment() {
  stats_->damaged_blocks.fetch_add(scanner_->damage().size(), std::memory_order_relaxed);
  scanner_.reset();
}

bool BatchReader::NextBlock(uint32_t* worker, uint16_t* version, kernels::ScannedBlock* block) {
  for (;;) {
    if (scanner_.has_value()) {
      if (scanner_->Next(block)) {
        *worker = segments_[next_segment_ - 1].worker;
        *version = scanner_->version();
        return true;
      }
      CloseSegment();
    }
    if (next_segment_ >= segments_.size()) return false;
    const size_t i = next_segment_++;
    if (!Wanted(i)) continue;
    if (fs_.ReadFile(segments_[i].path, &bytes_) != 0) {
      stats_->read_errors.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    stats_->segments.fetch_add(1, std::memory_order_relaxed);
    scanner_.emplace(bytes_);
  }
}

std::unique_ptr<Token> BatchReader::Next() {
  kernels::ScannedBlock block;
  uint32_t worker = 0;
  uint16_t version = 0;
  if (!pending_.has_value()) {
    if (!NextBlock(&worker, &version, &block)) return nullptr;
    pending_ = block;
    pending_worker_ = worker;
    pending_version_ = version;
  }
  auto token = std::make_unique<Token>();
  const uint64_t n = std::max<uint64_t>(config_.records_per_batch, 1);
  const uint64_t k =
      pending_->header.first_sequence == 0 ? 0 : (pending_->header.first_sequence - 1) / n;
  token->batch.worker = pending_worker_;
  token->batch.first_sequence = k * n + 1;
  token->batch.end_sequence = token->batch.first_sequence + n;
  token->blocks.emplace_back(pending_->bytes);
  token->versions.push_back(pending_version_);
  pending_.reset();
  while (NextBlock(&worker, &version, &block)) {
    if (worker != token->batch.worker || block.header.first_sequence >= token->batch.end_sequence ||
        block.header.first_sequence < token->batch.first_sequence) {
      pending_ = block;
      pending_worker_ = worker;
      pending_version_ = version;
      break;
    }
    token->blocks.emplace_back(block.bytes);
    token->versions.push_back(version);
  }
  return token;
}

// Raw batches reused across tokens (each holds a 1 MiB arena).
class RawBatchPool {
 public:
  std::unique_ptr<kernels::RawBatch> Take() {
    std::unique_ptr<kernels::RawBatch> batch;
    if (!free_.try_pop(batch)) batch = std::make_unique<kernels::RawBatch>();
    return batch;
  }
  void Give(std::unique_ptr<kernels::RawBatch> batch) {
    batch->Clear();
    free_.push(std::move(batch));
  }

 private:
  tbb::concurrent_queue<std::unique_ptr<kernels::RawBatch>> free_;
};

// One thread's decode state, as a worker's: its reject counters and user-agent cache.
struct DecodeState {
  kernels::RejectCounters rejects;
  std::unique_ptr<kernels::UserAgentCache> user_agents;
  kernels::DecodeContext ctx;
};

// The stages after the read, sharing the thread-local state of the replay.
class Stages {
 public:
  Stages(const ReplayConfig& config, ReplayStats* stats)
      : config_(config),
        stats_(stats),
        decoders_(
            [&config] { return std::make_unique<kernels::BlockDecoder>(config.dictionaries); }),
        decode_([this] { return MakeDecodeState(); }) {}

  void Decompress(Token& token);
  void Decode(Token& token);
  void Aggregate(Token& token) const;
  // Adds the threads' reject counts to stats->rejects.
  void SumRejects();

 private:
  std::unique_ptr<DecodeState> MakeDecodeState() const;
  bool InRange(const kernels::ArchiveRecord& record) const {
    return record.receive_time_ms >= config_.from_ms && record.receive_time_ms < config_.to_ms;
  }

  const ReplayConfig& config_;
  ReplayStats* stats_;
  RawBatchPool pool_;
  tbb::enumerable_thread_specific<std::unique_ptr<kernels::BlockDecoder>> decoders_;
  tbb::enumerable_thread_specific<std::unique_ptr<DecodeState>> decode_;
};

std::unique_ptr<DecodeState> Stages::MakeDecodeState() const {
  auto state = std::make_unique<DecodeState>();
  state->ctx.sites = config_.registry;
  state->ctx.rejects = &state->rejects;
  state->ctx.visitor_key = config_.visitor_key;
  state->ctx.bytes = config_.bytes;
  if (config_.user_agents != nullptr) {
    state->user_agents = std::make_unique<kernels::UserAgentCache>(*config_.user_agents);
    state->ctx.user_agents = state->user_agents.get();
  }
  return state;
}

void Stages::Decompress(Token& token) {
  kernels::BlockDecoder& decoder = *decoders_.local();
  kernels::RawBatch* raw = nullptr;
  for (size_t b = 0; b < token.blocks.size(); ++b) {
    if (decoder.Decode(token.blocks[b], token.versions[b]) != kernels::ArchiveError::kOk) {
      stats_->damaged_blocks.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    stats_->blocks.fetch_add(1, std::memory_order_relaxed);
    uint64_t beacons = 0;
    uint64_t others = 0;
    for (const kernels::ArchiveRecord& record : decoder.records()) {
      if (!IsBeaconRecord(record)) {
        ++others;
        continue;
      }
      if (!InRange(record)) continue;
      if (raw == nullptr || !AddArchivedRecord(record, raw)) {
        // A record of a live batch always fits an empty one.
        raw = token.raws.emplace_back(pool_.Take()).get();
        token.weights.emplace_back();
        AddArchivedRecord(record, raw);
      }
      token.weights.back().push_back(record.weight);
      ++beacons;
    }
    stats_->beacons.fetch_add(beacons, std::memory_order_relaxed);
    stats_->other_records.fetch_add(others, std::memory_order_relaxed);
  }
  token.blocks = {};
  token.versions = {};
}

void Stages::Decode(Token& token) {
  const DecodeState& state = *decode_.local();
  for (size_t r = 0; r < token.raws.size(); ++r) {
    const size_t before = token.events.size();
    kernels::DecodeBatch(*token.raws[r], state.ctx, &token.events);
    // Each event weighs its record's archived weight, as it did live.
    const std::vector<uint32_t>& weights = token.weights[r];
    for (size_t i = before; i < token.events.size(); ++i) {
      token.events.weight[i] = weights[token.events.source[i]];
    }
    pool_.Give(std::move(token.raws[r]));
  }
  token.raws.clear();
  token.weights.clear();
  if (config_.sites.empty()) return;
  std::vector<uint8_t> keep(token.events.size());
  for (size_t i = 0; i < keep.size(); ++i) {
    keep[i] = std::find(config_.sites.begin(), config_.sites.end(), token.events.site_id[i]) !=
              config_.sites.end();
  }
  token.events.Retain(keep);
}

void Stages::Aggregate(Token& token) const {
  kernels::MinuteAggregator aggregator(token.batch.worker, config_.aggregate);
  aggregator.Add(token.events);
  token.events = {};
  token.batch.rows = aggregator.CloseEpoch();
  stats_->events.fetch_add(token.batch.rows.events, std::memory_order_relaxed);
}

void Stages::SumRejects() {
  for (const auto& state : decode_) {
    for (size_t r = 0; r < kernels::kRejectReasonCount; ++r) {
      const auto reason = static_cast<kernels::RejectReason>(r);
      if (const uint64_t n = state->rejects.Get(reason); n != 0) stats_->rejects.Add(reason, n);
    }
  }
}

}  // namespace

int ReplayArchive(FileSystem& fs, const ReplayConfig& config, const ReplaySink& sink,
                  ReplayStats* stats) {
  std::vector<SegmentFile> segments;
  if (const int error = ListSegments(fs, config.directory, &segments); error != 0) return error;
  BatchReader reader(fs, config, std::move(segments), stats);
  Stages stages(config, stats);
  const int threads = std::max(config.threads, 1);
  using Mode = tbb::filter_mode;
  // Tokens are owned raw pointers between the stages: the last stage deletes each.
  const auto read = [&](tbb::flow_control& control) -> Token* {
    std::unique_ptr<Token> token = reader.Next();
    if (token == nullptr) control.stop();
    return token.release();
  };
  const auto stage = [](auto work) {
    return [work](Token* token) {
      work(*token);
      return token;
    };
  };
  const auto forward = [&](Token* token) {
    std::unique_ptr<Token> owned(token);
    if (owned->batch.rows.empty()) return;
    const bool delivered = sink(owned->batch);
    (delivered ? stats->batches : stats->failed_batches).fetch_add(1, std::memory_order_relaxed);
  };
  tbb::task_arena arena(threads);
  arena.execute([&] {
    tbb::parallel_pipeline(static_cast<size_t>(threads) * 2,
                           tbb::make_filter<void, Token*>(Mode::serial_in_order, read) &
                               tbb::make_filter<Token*, Token*>(
                                   Mode::parallel, stage([&](Token& t) { stages.Decompress(t); })) &
                               tbb::make_filter<Token*, Token*>(
                                   Mode::parallel, stage([&](Token& t) { stages.Decode(t); })) &
                               tbb::make_filter<Token*, Token*>(
                                   Mode::parallel, stage([&](Token& t) { stages.Aggregate(t); })) &
                               tbb::make_filter<Token*, void>(Mode::parallel, forward));
  });
  stages.SumRejects();
  return 0;
}

uint64_t ReplayBatchId(uint64_t node, const ReplayBatch& batch, uint32_t shard) {
  const uint64_t fields[] = {node, batch.worker, batch.first_sequence, batch.end_sequence, shard};
  const std::string_view bytes(reinterpret_cast<const char*>(fields), sizeof(fields));
  return kernels::Hash64(bytes, kernels::Hash64("replay", 0));
}

namespace {

// The sink's state: the shard ring and one client per thread and replica.
class ClickHouseInserter {
 public:
  explicit ClickHouseInserter(ReplayTarget target)
      : target_(std::move(target)),
        shards_(target_.shards.empty()
                    ? std::vector<std::vector<std::string>>{{target_.clickhouse.url}}
                    : target_.shards),
        ring_(static_cast<uint32_t>(shards_.size())) {}

  bool Insert(const ReplayBatch& batch);

 private:
  bool InsertTable(uint32_t shard, std::string_view table, const std::string& rows);
  ClickHouseClient& Client(const std::string& url);

  const ReplayTarget target_;
  const std::vector<std::vector<std::string>> shards_;
  const ShardRing ring_;
  tbb::enumerable_thread_specific<std::map<std::string, std::unique_ptr<ClickHouseClient>>>
      clients_;
};

ClickHouseClient& ClickHouseInserter::Client(const std::string& url) {
  std::unique_ptr<ClickHouseClient>& client = clients_.local()[url];
  if (client == nullptr) {
    ClickHouseEndpoint endpoint = target_.clickhouse;
    endpoint.url = url;
    client = std::make_unique<ClickHouseClient>(endpoint);
  }
  return *client;
}

bool ClickHouseInserter::InsertTable(uint32_t shard, std::string_view table,
                                     const std::string& rows) {
  auto pause = std::chrono::milliseconds(200);
  for (int attempt = 0; attempt < std::max(target_.attempts, 1); ++attempt) {
    if (attempt > 0) {
      std::this_thread::sleep_for(pause);
      pause *= 2;
    }
    for (const std::string& url : shards_[shard]) {
      if (Client(url).InsertRowBinary(table, rows).ok()) return true;
    }
  }
  return false;
}

bool ClickHouseInserter::Insert(const ReplayBatch& batch) {
  const size_t n = shards_.size();
  std::vector<std::string> sites(n);
  std::vector<std::string> breakdowns(n);
  std::vector<uint64_t> ids(n);
  for (uint32_t s = 0; s < n; ++s) ids[s] = ReplayBatchId(target_.node, batch, s);
  for (const kernels::SiteMinuteRow& row : batch.rows.site_minutes) {
    const uint32_t s = ring_.ShardOf(row.site_id);
    AppendSiteMinuteRowBinary(row, &sites[s]);
    AppendRowTailBinary(ids[s], row.weighted_pageviews, row.weighted_events, &sites[s]);
  }
  for (const kernels::BreakdownRow& row : batch.rows.breakdowns) {
    const uint32_t s = ring_.ShardOf(row.site_id);
    AppendBreakdownRowBinary(row, &breakdowns[s]);
    AppendRowTailBinary(ids[s], row.weighted_pageviews, row.weighted_events, &breakdowns[s]);
  }
  const bool cluster = !target_.cluster.empty();
  const std::string_view site_table = cluster ? kSiteMinutesLocalTable : kSiteMinutesTable;
  const std::string_view breakdown_table =
      cluster ? kBreakdownMinutesLocalTable : kBreakdownMinutesTable;
  bool ok = true;
  for (uint32_t s = 0; s < n; ++s) {
    if (!sites[s].empty()) ok = InsertTable(s, site_table, sites[s]) && ok;
    if (!breakdowns[s].empty()) ok = InsertTable(s, breakdown_table, breakdowns[s]) && ok;
  }
  return ok;
}

}  // namespace

ReplaySink ClickHouseReplaySink(const ReplayTarget& target) {
  auto inserter = std::make_shared<ClickHouseInserter>(target);
  return [inserter](ReplayBatch& batch) { return inserter->Insert(batch); };
}

}  // namespace beacon::host
