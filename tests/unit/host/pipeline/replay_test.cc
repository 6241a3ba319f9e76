// ReplayArchive over a real archive written by SegmentWriter from every format's beacons: the
// batches (rows as ClickHouse receives them) do not depend on the threads, the events are the
// live decode's, and the time range and site filter hold.
#include "host/pipeline/replay.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "host/archive/segment_writer.h"
#include "host/forward/schema.h"
#include "host/pipeline/archive_record.h"
#include "kernels/decode.h"
#include "tests/unit/host/archive/archive_test_util.h"
#include "tests/unit/kernels/decode_inputs.h"

namespace beacon::host {
namespace {

using kernels::decode_inputs::kNowMs;

constexpr kernels::VisitorSalts kSalts{kNowMs / 86'400'000, 0x1111'2222'3333'4444,
                                       0x5555'6666'7777'8888};
constexpr uint64_t kVisitorKey = 0x5eed'1234'abcd'0042;
// Between the receive times of consecutive beacons.
constexpr int64_t kSpacingMs = 10;

class ReplayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    inputs_ = kernels::decode_inputs::RealisticInputs(registry_, 5);
    for (uint32_t worker : {0u, 1u}) WriteWorker(worker);
  }

  // Worker w archives the inputs i with i % 2 == w, as the live path does, and counts the
  // events their live decode accepts.
  void WriteWorker(uint32_t worker) {
    SegmentWriterOptions options;
    options.directory = scratch_.archive();
    options.worker = worker;
    options.block_bytes = 8 << 10;
    options.segment_bytes = 256 << 10;
    options.clock_ms = [] { return kNowMs; };
    std::unique_ptr<SegmentWriter> writer;
    ASSERT_EQ(SegmentWriter::Open(fs_, options, &writer), 0);
    kernels::RawBatch raw;
    std::string scratch;
    for (size_t i = worker; i < inputs_.size(); i += 2) {
      const auto& in = inputs_[i];
      raw.Clear();
      ASSERT_TRUE(raw.Add(in.endpoint, kernels::IngressKind::kHttp, in.payload, in.user_agent,
                          kernels::IpAddress::FromV4(0x0A000000 + static_cast<uint32_t>(i)),
                          TimeOf(i), in.query));
      ASSERT_NE(writer->Append(ArchiveRecordOf(raw, 0, kSalts, &scratch)), 0u);
      kernels::RejectCounters rejects;
      kernels::EventBatch events;
      kernels::DecodeBatch(raw, {&registry_, &rejects, kVisitorKey, kSalts}, &events);
      live_events_[i] = events.size();
    }
    ASSERT_TRUE(writer->Flush());
  }

  static int64_t TimeOf(size_t i) { return kNowMs + static_cast<int64_t>(i) * kSpacingMs; }

  // Batches by (worker, first sequence): their rows as RowBinary, as a ClickHouse sink sends them.
  using Batches = std::map<std::pair<uint32_t, uint64_t>, std::string>;

  Batches Replay(ReplayConfig config, ReplayStats* stats) {
    config.directory = scratch_.archive();
    config.records_per_batch = 64;
    config.visitor_key = kVisitorKey;
    config.registry = &registry_;
    Batches batches;
    std::mutex mu;
    const ReplaySink sink = [&](ReplayBatch& batch) {
      std::string rows;
      for (const auto& row : batch.rows.site_minutes) AppendSiteMinuteRowBinary(row, &rows);
      for (const auto& row : batch.rows.breakdowns) AppendBreakdownRowBinary(row, &rows);
      std::lock_guard lock(mu);
      EXPECT_TRUE(batches.emplace(std::pair(batch.worker, batch.first_sequence), rows).second);
      EXPECT_EQ(batch.end_sequence, batch.first_sequence + 64);
      return true;
    };
    EXPECT_EQ(ReplayArchive(fs_, config, sink, stats), 0);
    EXPECT_EQ(stats->failed_batches.load(), 0u);
    EXPECT_EQ(stats->damaged_blocks.load(), 0u);
    return batches;
  }

  ScratchDir scratch_;
  PosixFileSystem fs_;
  const kernels::SiteRegistry registry_ =
      kernels::SiteRegistry::Parse(kernels::decode_inputs::RegistryText());
  std::vector<kernels::decode_inputs::Input> inputs_;
  std::map<size_t, uint64_t> live_events_;  // by input
};

TEST_F(ReplayTest, TheThreadsDoNotChangeTheBatchesAndTheEventsAreTheLiveOnes) {
  ReplayStats one;
  ReplayStats three;
  ReplayConfig config;
  config.threads = 1;
  const Batches a = Replay(config, &one);
  config.threads = 3;
  const Batches b = Replay(config, &three);
  EXPECT_GT(a.size(), 20u);
  EXPECT_EQ(a, b);
  uint64_t live = 0;
  for (const auto& [i, n] : live_events_) live += n;
  EXPECT_EQ(one.events.load(), live);
  EXPECT_EQ(three.events.load(), live);
  EXPECT_EQ(one.beacons.load(), inputs_.size());
  EXPECT_EQ(one.rejects.Total(), three.rejects.Total());
}

TEST_F(ReplayTest, TheTimeRangeAndTheSitesSelect) {
  ReplayConfig config;
  config.threads = 2;
  config.from_ms = TimeOf(100);
  config.to_ms = TimeOf(900);
  ReplayStats stats;
  Replay(config, &stats);
  EXPECT_EQ(stats.beacons.load(), 800u);
  uint64_t live = 0;
  for (size_t i = 100; i < 900; ++i) live += live_events_[i];
  EXPECT_EQ(stats.events.load(), live);

  const uint32_t shop = registry_.FindByTrackingId("G-SHOP1")->site_id;
  config.sites = {shop};
  ReplayStats one_site;
  ReplayConfig one = config;
  one.directory = scratch_.archive();
  one.records_per_batch = 64;
  one.visitor_key = kVisitorKey;
  one.registry = &registry_;
  std::set<uint32_t> seen;
  std::mutex mu;
  ASSERT_EQ(ReplayArchive(
                fs_, one,
                [&](ReplayBatch& batch) {
                  std::lock_guard lock(mu);
                  for (const auto& row : batch.rows.site_minutes) seen.insert(row.site_id);
                  return true;
                },
                &one_site),
            0);
  EXPECT_EQ(seen, std::set<uint32_t>{shop});
  EXPECT_GT(one_site.events.load(), 0u);
  EXPECT_LT(one_site.events.load(), stats.events.load());
}

// Worker 2 archives 200 beacons a second apart, a day after the others, on a clock that follows
// them; then the clock steps back 10 minutes and it archives 100 more. Every 20 records are a
// block of their own and, segment_bytes being tiny, a segment of their own, created when the
// clock reads its last record's time; the segment after the step is created 10 minutes before
// the last records of the one before it.
TEST_F(ReplayTest, ABackfillAfterAClockStepBackKeepsEveryRecordOfItsRange) {
  const int64_t day = kNowMs + 86'400'000;
  auto clock = std::make_shared<std::atomic<int64_t>>(day);
  SegmentWriterOptions options;
  options.directory = scratch_.archive();
  options.worker = 2;
  options.segment_bytes = 1;
  options.clock_ms = [clock] { return clock->load(); };
  std::unique_ptr<SegmentWriter> writer;
  ASSERT_EQ(SegmentWriter::Open(fs_, options, &writer), 0);
  kernels::RawBatch raw;
  std::string scratch;
  const auto archive = [&](int64_t time_ms, size_t i) {
    clock->store(time_ms);
    const auto& in = inputs_[i % inputs_.size()];
    raw.Clear();
    ASSERT_TRUE(raw.Add(in.endpoint, kernels::IngressKind::kHttp, in.payload, in.user_agent,
                        kernels::IpAddress::FromV4(0x0A000001), time_ms, in.query));
    ASSERT_NE(writer->Append(ArchiveRecordOf(raw, 0, kSalts, &scratch)), 0u);
    if (i % 20 == 19) {
      ASSERT_TRUE(writer->Flush());
    }
  };
  for (size_t i = 0; i < 200; ++i) archive(day + static_cast<int64_t>(i) * 1000, i);
  for (size_t i = 0; i < 100; ++i)
    archive(day + 200'000 - 600'000 + static_cast<int64_t>(i) * 1000, i);
  writer.reset();
  // Received in [150 s, 200 s) after `day`: the records 150 to 199 before the step.
  ReplayConfig config;
  config.from_ms = day + 150'000;
  config.to_ms = day + 200'000;
  ReplayStats stats;
  Replay(config, &stats);
  EXPECT_EQ(stats.beacons.load(), 50u);
  // Segments are still skipped by their records' times: read are those of the records 140 to
  // 199 and each worker's newest, whose times no successor holds.
  EXPECT_EQ(stats.segments.load(), 6u);
}

TEST(ReplayBatchIdTest, DependsOnNodeWorkerRangeAndShardOnly) {
  ReplayBatch batch;
  batch.worker = 1;
  batch.first_sequence = 129;
  batch.end_sequence = 193;
  const uint64_t id = ReplayBatchId(7, batch, 0);
  EXPECT_EQ(id, ReplayBatchId(7, batch, 0));
  batch.rows.events = 99;  // the rows do not enter it
  EXPECT_EQ(id, ReplayBatchId(7, batch, 0));
  EXPECT_NE(id, ReplayBatchId(8, batch, 0));
  EXPECT_NE(id, ReplayBatchId(7, batch, 1));
  batch.worker = 2;
  EXPECT_NE(id, ReplayBatchId(7, batch, 0));
  batch.worker = 1;
  batch.first_sequence = 193;
  batch.end_sequence = 257;
  EXPECT_NE(id, ReplayBatchId(7, batch, 0));
}

}  // namespace
}  // namespace beacon::host
