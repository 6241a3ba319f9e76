// The archive as the write-ahead log of the aggregates, against a real ClickHouse (one server,
// Replicated tables): epochs rebuilt by replaying a worker's archive give byte-identical
// batches (the table drops every resend; a sample's weights too), a replay over acknowledged
// watermarks sends nothing, and records a failed archive sync lost are never counted.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <zstd.h>

#include "host/archive/fault_injection_file_system.h"
#include "host/archive/file_system.h"
#include "host/backend/fpga_device.h"
#include "host/forward/clickhouse_client.h"
#include "host/forward/dead_letter.h"
#include "host/forward/forwarder.h"
#include "host/forward/schema.h"
#include "host/forward/watermarks.h"
#include "host/pipeline/worker_pipeline.h"
#include "kernels/simd/byte_kernels.h"
#include "kernels/site_registry.h"
#include "tests/unit/host/forward/local_clickhouse.h"

namespace beacon::host {
namespace {

using std::chrono::milliseconds;

constexpr char kSites[] = "1 shop UA-1-1 shop.example\n2 blog UA-2-1 blog.example\n";
constexpr int64_t kNowMs = 1'740'000'000'000;  // 2025-02-19 21:20 UTC

// The writer's own compression (libzstd), run on the worker thread as a card compressor's is, that
// lets a test order the I/O thread's work against the worker's: `before(n)` runs before the n-th
// block compressed once armed, and may wait for the I/O thread.
class OrderingCompressor final : public kernels::BlockCompressor {
 public:
  OrderingCompressor() : cctx_(ZSTD_createCCtx()) {}
  ~OrderingCompressor() override { ZSTD_freeCCtx(cctx_); }
  void Compress(std::string_view raw, std::string* frames) override {
    if (armed) before(++blocks);
    frames->resize(ZSTD_compressBound(raw.size()));
    frames->resize(
        ZSTD_compressCCtx(cctx_, frames->data(), frames->size(), raw.data(), raw.size(), 1));
  }
  bool armed = false;
  int blocks = 0;
  std::function<void(int)> before;

 private:
  ZSTD_CCtx* cctx_;
};

// Waits (at most 10 s) until `done`.
bool WaitFor(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

class ReplayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/replay_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    database_ = "replay_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name();
    client_ =
        std::make_unique<ClickHouseClient>(Endpoint(LocalClickHouse::Shared().url(), database_));
    for (const std::string& statement : SchemaStatements(database_)) {
      ASSERT_TRUE(client_->Execute(statement).ok()) << statement;
    }
    pipeline_.archive.enabled = true;
    pipeline_.archive.writer.directory = dir_ + "/archive";
    pipeline_.archive.writer.retry_interval_ms = 20;
    pipeline_.breakdown_flush_interval_ms = 60'000;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A forwarder of this test's database, node 9, recording into `watermarks`.
  std::unique_ptr<Forwarder> MakeForwarder(WatermarkStore* watermarks,
                                           size_t max_pending_bytes = 256 << 20) {
    ForwarderConfig config;
    config.clickhouse = Endpoint(LocalClickHouse::Shared().url(), database_);
    config.flush_interval_ms = 20;
    config.max_pending_bytes = max_pending_bytes;
    config.node = 9;
    config.watermarks = watermarks;
    auto forwarder = std::make_unique<Forwarder>(config);
    forwarder->Start();
    return forwarder;
  }

  std::unique_ptr<WatermarkStore> MakeWatermarks(const std::string& name) {
    std::filesystem::create_directories(dir_ + "/" + name);
    auto store = std::make_unique<WatermarkStore>(posix_, dir_ + "/" + name, 1);
    EXPECT_EQ(store->Load(), 0);
    return store;
  }

  // `count` pageviews of site 1 or 2 over five pages, each with a client id (no salt needed).
  static kernels::RawBatch Hits(int first, int count) {
    kernels::RawBatch batch;
    for (int i = first; i < first + count; ++i) {
      const int site = 1 + i % 2;
      const std::string hit = "v=1&t=pageview&tid=UA-" + std::to_string(site) +
                              "-1&cid=" + std::to_string(i % 37) + ".1&dl=https%3A%2F%2F" +
                              (site == 1 ? "shop" : "blog") + ".example%2Fp" +
                              std::to_string(i % 5);
      EXPECT_TRUE(batch.Add(kernels::Endpoint::kGaCollect, kernels::IngressKind::kHttp, hit,
                            "Mozilla/5.0", kernels::IpAddress{}, kNowMs + i));
    }
    return batch;
  }

  // `epochs` epochs of `hits` hits through a live pipeline, the last one cut at Flush.
  void RunLive(FileSystem& fs, Forwarder& forwarder, int epochs = 3, int hits = 100) {
    WorkerPipeline live(0, pipeline_, &sites_, &forwarder);
    ASSERT_EQ(live.OpenArchive(fs), 0);
    live.OnTick(1);
    for (int epoch = 0; epoch < epochs; ++epoch) {
      kernels::RawBatch batch = Hits(epoch * hits, hits);
      live.OnBatch(batch);
      live.OnTick(1 + (epoch + 1) * pipeline_.epoch_ms);  // closes the epoch
    }
    ASSERT_TRUE(live.Flush());
  }

  // Four epochs of 10 hits and the cut Flush closes in the archive (records 1-45), handed to a
  // forwarder that never sends them.
  void ArchiveUnsent() {
    ForwarderConfig config;
    config.clickhouse = Endpoint("http://127.0.0.1:1", database_);
    Forwarder unsent(config);
    RunLive(posix_, unsent, 4, 10);
  }

  // A live worker over `fs` that took the first 100 hits into its open epoch.
  std::unique_ptr<WorkerPipeline> StartLive(FileSystem& fs, Forwarder* forwarder) {
    auto live = std::make_unique<WorkerPipeline>(0, pipeline_, &sites_, forwarder);
    EXPECT_EQ(live->OpenArchive(fs), 0);
    live->OnTick(1);
    kernels::RawBatch batch = Hits(0, 100);
    live->OnBatch(batch);
    return live;
  }

  // `epochs` epochs of ten hits through a live pipeline over the real disk, each closed by a
  // tick, forwarded and acknowledged into `watermarks`.
  void RunLiveEpochs(int epochs, WatermarkStore* watermarks) {
    const auto forwarder = MakeForwarder(watermarks);
    WorkerPipeline live(0, pipeline_, &sites_, forwarder.get());
    ASSERT_EQ(live.OpenArchive(posix_), 0);
    live.OnTick(1);
    for (int epoch = 0; epoch < epochs; ++epoch) {
      kernels::RawBatch batch = Hits(epoch * 10, 10);
      live.OnBatch(batch);
      live.OnTick(1 + (epoch + 1) * pipeline_.epoch_ms);  // closes the epoch
    }
    ASSERT_TRUE(live.Flush());
    ASSERT_TRUE(forwarder->Drain(milliseconds(30'000)));
  }

  // Ticks `worker` until it is no longer behind (30 s at most); the ticks it took.
  static int TickUntilCaughtUp(WorkerPipeline& worker) {
    int ticks = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (worker.behind() && std::chrono::steady_clock::now() < deadline) {
      worker.OnTick(1);  // hands on what the forwarder takes; closes no epoch
      ++ticks;
      std::this_thread::sleep_for(milliseconds(2));
    }
    return ticks;
  }

  struct SyncFailure {
    uint64_t replayed_records = 0;  // by the worker's rebuild after the failure
    std::string pageviews;          // in site_minutes at the end
    uint64_t accepted_events = 0;   // the worker's counters at the end
    uint64_t site_events = 0;       // summed over the sites
    uint64_t offered_events = 0;    // the forwarder's ledger
  };
  // A live worker takes 100 hits until they are durable; then the archive's syncs fail while
  // `lose` runs and until the failure lost records through `lost_through`; then they work
  // again, 100 more hits come in and everything is drained into ClickHouse.
  SyncFailure FailSyncsWhile(uint64_t lost_through,
                             const std::function<void(WorkerPipeline&)>& lose) {
    FaultInjectionFileSystem fs(posix_);
    const auto watermarks = MakeWatermarks("marks");
    const auto forwarder = MakeForwarder(watermarks.get());
    const auto live = StartLive(fs, forwarder.get());
    while (live->PollDurability().durable < 100) std::this_thread::sleep_for(milliseconds(1));
    fs.FailSyncs(EIO);
    lose(*live);
    while (live->PollDurability().lost_through < lost_through) {
      std::this_thread::sleep_for(milliseconds(1));
    }
    SyncFailure out;
    out.replayed_records = live->replayed_records();
    fs.FailSyncs(0);
    while (!live->Admitting()) std::this_thread::sleep_for(milliseconds(5));
    kernels::RawBatch after = Hits(200, 100);
    live->OnBatch(after);
    EXPECT_TRUE(live->Flush());
    EXPECT_TRUE(forwarder->Drain(milliseconds(30'000)));
    out.pageviews = client_->Execute("SELECT sum(pageviews) FROM site_minutes FORMAT TSV").body;
    out.accepted_events = live->accepted_events();
    for (const auto& site : live->site_events()) out.site_events += site.events;
    out.offered_events = forwarder->ledger().offered;
    return out;
  }

  std::string Sums() {
    const ClickHouseResult site = client_->Execute(
        "SELECT site_id, sum(pageviews), uniqHLL12Merge(visitors) FROM site_minutes GROUP BY "
        "site_id ORDER BY site_id FORMAT TSV");
    const ClickHouseResult pages = client_->Execute(
        "SELECT site_id, value, sum(pageviews) FROM breakdown_minutes WHERE dimension = 'page' "
        "GROUP BY site_id, value ORDER BY site_id, value FORMAT TSV");
    EXPECT_TRUE(site.ok() && pages.ok()) << site.body << pages.body;
    return site.body + pages.body;
  }

  // 256 pageviews of about 2 KiB each (a long cache buster): one batch over four archive blocks.
  static kernels::RawBatch LargeBatch() {
    kernels::RawBatch batch;
    for (int i = 0; i < 256; ++i) {
      const std::string hit = "v=1&t=pageview&tid=UA-1-1&cid=" + std::to_string(i % 37) +
                              ".1&dl=https%3A%2F%2Fshop.example%2Fp" + std::to_string(i % 5) +
                              "&z=" + std::string(2000, static_cast<char>('a' + i % 26));
      EXPECT_TRUE(batch.Add(kernels::Endpoint::kGaCollect, kernels::IngressKind::kHttp, hit,
                            "Mozilla/5.0", kernels::IpAddress{}, kNowMs + 1000 + i));
    }
    return batch;
  }

  // The beacons of the worker's last batch answered 2xx: taken, and durable.
  static uint64_t Answered2xx(WorkerPipeline& live) {
    const uint64_t durable = live.PollDurability().durable;
    uint64_t answered = 0;
    for (size_t i = 0; i < live.batch_status().size(); ++i) {
      const uint64_t sequence = live.batch_sequences()[i];
      const bool taken = live.batch_status()[i] == kernels::BeaconStatus::kTaken;
      if (taken && sequence != 0 && sequence <= durable) ++answered;
    }
    return answered;
  }

  // A live worker takes 100 hits until they are durable; then a batch over four archive blocks
  // comes in. Its first block is synced; the second one's sync fails, and the worker sees the
  // failure at its poll after the batch's appends: the failure's Rebuild replays the durable
  // records, the first block's (answered 2xx) among them, into the open epoch. Then syncs work
  // again, 100 more hits come in, and every pageview answered 2xx lands once in ClickHouse.
  void ExpectABatchDurableInPartCountedOnce() {
    OrderingCompressor compressor;
    pipeline_.archive.writer.compressor = &compressor;
    FaultInjectionFileSystem fs(posix_);
    const auto watermarks = MakeWatermarks("marks");
    const auto forwarder = MakeForwarder(watermarks.get());
    const auto live = StartLive(fs, forwarder.get());
    ASSERT_TRUE(WaitFor([&] { return live->PollDurability().durable >= 100; }));
    const SegmentWriter& archive = *live->archive();
    compressor.before = [&](int block) {
      if (block == 2) {  // block 1 written and synced; block 2's sync fails, the truncation's too
        EXPECT_TRUE(WaitFor([&] { return archive.durable_sequence() > 100; }));
        fs.FailSyncs(EIO);
      }
      if (block == 3) {  // the failure's truncation done (Fail, CutUnsynced): the poll sees it
        EXPECT_TRUE(WaitFor([&] { return archive.stats().write_errors.load() >= 2; }));
      }
    };
    compressor.armed = true;
    kernels::RawBatch large = LargeBatch();
    live->OnBatch(large);
    EXPECT_GE(compressor.blocks, 3);
    const uint64_t answered_2xx = Answered2xx(*live);
    EXPECT_GT(answered_2xx, 0u);    // the first block's
    EXPECT_LT(answered_2xx, 256u);  // not the later ones'
    fs.FailSyncs(0);
    ASSERT_TRUE(WaitFor([&] { return live->Admitting(); }));
    kernels::RawBatch after = Hits(200, 100);
    live->OnBatch(after);
    EXPECT_TRUE(live->Flush());
    EXPECT_TRUE(forwarder->Drain(milliseconds(30'000)));
    const uint64_t expected = 100 + answered_2xx + 100;
    EXPECT_EQ(client_->Execute("SELECT sum(pageviews) FROM site_minutes FORMAT TSV").body,
              std::to_string(expected) + "\n");
    EXPECT_EQ(live->accepted_events(), expected);
    EXPECT_EQ(forwarder->ledger().offered, expected);
  }

  std::string dir_;
  std::string database_;
  std::unique_ptr<ClickHouseClient> client_;
  PipelineConfig pipeline_;
  PosixFileSystem posix_;
  const kernels::SiteRegistry sites_ = kernels::SiteRegistry::Parse(kSites);
  const kernels::ByteKernels simd_ = kernels::SimdByteKernels();
};

// 150 pageviews of 37 client ids per site, 30 per page.
constexpr char kSums[] =
    "1\t150\t37\n2\t150\t37\n"
    "1\t/p0\t30\n1\t/p1\t30\n1\t/p2\t30\n1\t/p3\t30\n1\t/p4\t30\n"
    "2\t/p0\t30\n2\t/p1\t30\n2\t/p2\t30\n2\t/p3\t30\n2\t/p4\t30\n";

TEST_F(ReplayTest, ReplayedEpochsAreByteIdenticalBatchesThatCountOnce) {
  const auto acknowledged = MakeWatermarks("acknowledged");
  {
    const auto forwarder = MakeForwarder(acknowledged.get());
    RunLive(posix_, *forwarder);
    ASSERT_TRUE(forwarder->Drain(milliseconds(30'000)));
  }
  const std::string sums = Sums();
  EXPECT_EQ(sums, kSums);
  // Three site batches (one per epoch) and the breakdown rows of all three, cut at the last.
  const ShardWatermark mark = acknowledged->Get(0)[0];
  EXPECT_EQ(mark.site, 300u + 2);  // 300 beacons, two markers before the last epoch
  EXPECT_EQ(mark.breakdown, mark.site);

  // The watermark writes lost in a crash: everything is rebuilt and sent again, and the
  // replicated tables drop every block as a duplicate.
  const auto lost = MakeWatermarks("lost");
  {
    const auto forwarder = MakeForwarder(lost.get());
    WorkerPipeline replay(0, pipeline_, &sites_, forwarder.get());
    ASSERT_EQ(replay.OpenArchive(posix_), 0);
    const WorkerReplayStats stats = replay.Replay(lost->ReplayStart(0));
    EXPECT_EQ(stats.records, 300u);
    EXPECT_EQ(stats.epochs, 4u);  // the three, and the empty one Flush closed to cut
    ASSERT_TRUE(forwarder->Drain(milliseconds(30'000)));
    EXPECT_EQ(forwarder->totals().inserts, 4u);  // 3 site batches, 1 breakdown batch
  }
  EXPECT_EQ(Sums(), sums);
  EXPECT_EQ(lost->Get(0)[0].site, mark.site);
  EXPECT_EQ(lost->Get(0)[0].breakdown, mark.breakdown);

  // Over the acknowledged watermarks, a replay from the start sends nothing.
  {
    const auto forwarder = MakeForwarder(acknowledged.get());
    WorkerPipeline replay(0, pipeline_, &sites_, forwarder.get());
    ASSERT_EQ(replay.OpenArchive(posix_), 0);
    EXPECT_EQ(replay.Replay(1).epochs, 4u);
    ASSERT_TRUE(forwarder->Drain(milliseconds(30'000)));
    EXPECT_EQ(forwarder->totals().inserts, 0u);
  }
  EXPECT_EQ(Sums(), sums);
}

// The files a scan reads: every other call goes to the real disk.
class ReadCountingFileSystem final : public FileSystem {
 public:
  explicit ReadCountingFileSystem(FileSystem& base) : base_(base) {}
  int MakeDirectory(const std::string& dir, bool* created) override {
    return base_.MakeDirectory(dir, created);
  }
  int CreateFile(const std::string& path, std::unique_ptr<WritableFile>* file) override {
    return base_.CreateFile(path, file);
  }
  int OpenFile(const std::string& path, std::unique_ptr<WritableFile>* file) override {
    return base_.OpenFile(path, file);
  }
  int ReadPrefix(const std::string& path, uint64_t max_bytes, std::string* contents) override {
    ++reads_;
    return base_.ReadPrefix(path, max_bytes, contents);
  }
  int List(const std::string& dir, std::vector<DirEntry>* entries) override {
    return base_.List(dir, entries);
  }
  int Rename(const std::string& from, const std::string& to) override {
    return base_.Rename(from, to);
  }
  int Unlink(const std::string& path) override { return base_.Unlink(path); }
  int SyncDirectory(const std::string& dir) override { return base_.SyncDirectory(dir); }
  uint64_t reads() const { return reads_; }

 private:
  FileSystem& base_;
  std::atomic<uint64_t> reads_{0};
};

// A replay the forwarder refuses falls behind, and the ticks hand the rest on from the archive
// as the forwarder takes it: one epoch at a time here (it takes an epoch only when nothing else
// waits), so forty ticks or more, and still one read of the segment, not one per tick; every
// epoch lands once, in order, up to the acknowledged watermark.
TEST_F(ReplayTest, ACatchUpReadsTheArchiveOnceHoweverManyTicksItTakes) {
  constexpr int kEpochs = 40;
  const auto acknowledged = MakeWatermarks("acknowledged");
  RunLiveEpochs(kEpochs, acknowledged.get());
  const std::string sums = Sums();
  const ShardWatermark mark = acknowledged->Get(0)[0];

  const auto lost = MakeWatermarks("lost");
  ReadCountingFileSystem fs(posix_);
  const auto forwarder = MakeForwarder(lost.get(), /*max_pending_bytes=*/1);
  WorkerPipeline replay(0, pipeline_, &sites_, forwarder.get());
  ASSERT_EQ(replay.OpenArchive(fs), 0);
  const WorkerReplayStats stats = replay.Replay(lost->ReplayStart(0));
  EXPECT_EQ(stats.records, 10u * kEpochs);
  ASSERT_TRUE(stats.behind);
  const uint64_t reads = fs.reads();
  const int ticks = TickUntilCaughtUp(replay);
  ASSERT_FALSE(replay.behind());
  EXPECT_GE(ticks, kEpochs - 1);
  // The segment of the forty epochs, and the one this run's archive opened after it.
  EXPECT_LE(fs.reads() - reads, 2u);
  ASSERT_TRUE(replay.Flush());
  ASSERT_TRUE(forwarder->Drain(milliseconds(30'000)));
  EXPECT_EQ(Sums(), sums);
  EXPECT_EQ(lost->Get(0)[0].site, mark.site);
  EXPECT_EQ(lost->Get(0)[0].breakdown, mark.breakdown);
}

// Damage in the archive between a replay and its catch-up costs the records it holds (counted
// by the scan), and nothing after: once caught up, the worker holds no events for them.
TEST_F(ReplayTest, ACatchUpPastDamageHoldsNoEventsOnceCaughtUp) {
  const auto acknowledged = MakeWatermarks("acknowledged");
  RunLiveEpochs(40, acknowledged.get());
  const auto lost = MakeWatermarks("lost");
  const auto forwarder = MakeForwarder(lost.get(), /*max_pending_bytes=*/1);
  WorkerPipeline replay(0, pipeline_, &sites_, forwarder.get());
  ASSERT_EQ(replay.OpenArchive(posix_), 0);
  ASSERT_TRUE(replay.Replay(lost->ReplayStart(0)).behind);
  EXPECT_GT(replay.held_events(), 0u);
  // The first segment (the forty epochs): sixteen bytes in its middle flipped.
  std::vector<std::filesystem::path> segments;
  for (const auto& entry :
       std::filesystem::directory_iterator(pipeline_.archive.writer.directory)) {
    if (entry.path().extension() == ".seg") segments.push_back(entry.path());
  }
  std::sort(segments.begin(), segments.end());
  ASSERT_FALSE(segments.empty());
  std::string bytes;
  ASSERT_EQ(posix_.ReadFile(segments.front(), &bytes), 0);
  for (size_t i = bytes.size() / 2; i < bytes.size() / 2 + 16; ++i) bytes[i] ^= 0x5a;
  std::ofstream(segments.front(), std::ios::binary | std::ios::trunc) << bytes;
  TickUntilCaughtUp(replay);
  ASSERT_FALSE(replay.behind());
  EXPECT_EQ(replay.held_events(), 0u);
  // What the damage cost is counted: each of the 400 events was handed on or counted lost.
  EXPECT_GT(replay.catch_up_lost_events(), 0u);
  EXPECT_EQ(forwarder->ledger().offered + replay.catch_up_lost_events(), 400u);
  // And the breakdown rows handed on before the damage are cut and sent, though their cut was
  // in it: the drain leaves nothing for a next start.
  ASSERT_TRUE(replay.Flush());
  EXPECT_TRUE(forwarder->Drain(milliseconds(30'000)));
}

// An over-budget site's sample weighs what its records say: the replayed epochs give the same
// batches (dropped as duplicates), though the budgets are spent and a replay applies none.
// A worker behind whose archive's sync fails while its catch-up holds a scan: the scan read the
// open segment while the failed block, an epoch's marker (B), could still be read back (its
// truncation failing too), and stopped at the epoch before it (A, refused). The failure drops B
// and the durable records of its epoch (D2) go into the next epoch (M, in a new segment). The
// catch-up must hand D2 on in M's epoch, as the archive now has it, not in a B epoch of its
// stale read: a kill once that B epoch is acknowledged would replay D2 again in M's epoch
// (site watermark at B's range, below M's), counting them twice in site_minutes.
TEST_F(ReplayTest, ACatchUpNeverHandsOnAnEpochWhoseMarkerAFailedSyncLost) {
  const auto marks = MakeWatermarks("marks");
  ArchiveUnsent();  // four epochs of 10 hits and the cut Flush closes: records 1-45
  FaultInjectionFileSystem fs(posix_);
  ForwarderConfig config;
  config.clickhouse = Endpoint(LocalClickHouse::Shared().url(), database_);
  config.flush_interval_ms = 20;
  config.max_pending_bytes = 1;  // one epoch at a time; not started until the failure
  config.node = 9;
  config.watermarks = marks.get();
  auto forwarder = std::make_unique<Forwarder>(config);
  auto live = std::make_unique<WorkerPipeline>(0, pipeline_, &sites_, forwarder.get());
  ASSERT_EQ(live->OpenArchive(fs), 0);
  ASSERT_TRUE(live->Replay(marks->ReplayStart(0)).behind);
  const auto durable_through = [&](uint64_t sequence) {
    while (live->PollDurability().durable < sequence) std::this_thread::sleep_for(milliseconds(1));
  };
  live->OnTick(1);
  kernels::RawBatch d1 = Hits(100, 100);
  live->OnBatch(d1);                     // 46-145
  live->OnTick(1 + pipeline_.epoch_ms);  // A: 146
  durable_through(146);
  kernels::RawBatch d2 = Hits(200, 100);
  live->OnBatch(d2);  // 147-246
  durable_through(246);
  fs.FailSyncs(EIO);
  fs.FailTruncates(EIO);
  live->OnTick(1 + 2 * pipeline_.epoch_ms);  // B: 247, written, never durable
  while (live->Admitting()) {
    live->PollDurability();
    std::this_thread::sleep_for(milliseconds(1));
  }
  forwarder->Start();
  // The catch-up hands on the replay's epochs (2, 3 and 4, the cut) and stops at A, refused;
  // its scan read the segment holding B.
  const auto idle = [&] {
    while (!forwarder->HasRoom()) std::this_thread::sleep_for(milliseconds(2));
  };
  for (int tick = 0; tick < 4; ++tick) {
    idle();
    live->OnTick(1 + 2 * pipeline_.epoch_ms);
  }
  fs.FailTruncates(0);
  fs.FailSyncs(0);
  while (live->PollDurability().lost_through < 247) std::this_thread::sleep_for(milliseconds(1));
  while (!live->Admitting()) std::this_thread::sleep_for(milliseconds(2));
  kernels::RawBatch n = Hits(300, 100);
  live->OnBatch(n);                          // 248-347, a new segment
  live->OnTick(1 + 3 * pipeline_.epoch_ms);  // A handed on; M: 348
  durable_through(348);
  // Until D2 is acknowledged, then the kill.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (marks->Get(0)[0].site < 246 && std::chrono::steady_clock::now() < deadline) {
    idle();
    live->OnTick(1 + 3 * pipeline_.epoch_ms);
    idle();
  }
  ASSERT_GE(marks->Get(0)[0].site, 246u);
  live.reset();
  forwarder.reset();

  const auto restarted_forwarder = MakeForwarder(marks.get());
  WorkerPipeline restarted(0, pipeline_, &sites_, restarted_forwarder.get());
  ASSERT_EQ(restarted.OpenArchive(fs), 0);
  restarted.Replay(marks->ReplayStart(0));
  ASSERT_TRUE(restarted.Flush());
  ASSERT_TRUE(restarted_forwarder->Drain(milliseconds(30'000)));
  const auto sum = [this](const std::string& table) {
    return client_->Execute("SELECT sum(pageviews) FROM " + table + " FORMAT TSV").body;
  };
  EXPECT_EQ(sum("site_minutes"), "340\n");
  EXPECT_EQ(sum("breakdown_minutes WHERE dimension = 'page'"), "340\n");
}

// A worker behind loses records to a failed sync: its Rebuild keeps the durable ones, the
// catch-up hands on every epoch once, and the counters say the hits answered 2xx (the 40
// replayed, counted by this run, and the 200 durable), never the 100 answered 503.
TEST_F(ReplayTest, ARebuildWhileBehindLosesNothingAndCountsOnce) {
  const auto marks = MakeWatermarks("marks");
  ArchiveUnsent();  // records 1-45
  FaultInjectionFileSystem fs(posix_);
  const auto forwarder = MakeForwarder(marks.get(), /*max_pending_bytes=*/1);
  WorkerPipeline live(0, pipeline_, &sites_, forwarder.get());
  ASSERT_EQ(live.OpenArchive(fs), 0);
  ASSERT_TRUE(live.Replay(marks->ReplayStart(0)).behind);
  live.OnTick(1);
  kernels::RawBatch durable = Hits(100, 100);
  live.OnBatch(durable);  // 46-145
  while (live.PollDurability().durable < 145) std::this_thread::sleep_for(milliseconds(1));
  fs.FailSyncs(EIO);
  kernels::RawBatch lost = Hits(200, 100);
  live.OnBatch(lost);  // 146-245, answered 503
  while (live.PollDurability().lost_through < 245) std::this_thread::sleep_for(milliseconds(1));
  fs.FailSyncs(0);
  while (!live.Admitting()) std::this_thread::sleep_for(milliseconds(5));
  kernels::RawBatch after = Hits(300, 100);
  live.OnBatch(after);
  for (int i = 2; i < 3000 && live.behind(); ++i) {
    live.OnTick(1 + i * pipeline_.epoch_ms);
    std::this_thread::sleep_for(milliseconds(2));
  }
  ASSERT_FALSE(live.behind());
  for (int i = 0; i < 1000 && !live.Flush(); ++i) std::this_thread::sleep_for(milliseconds(10));
  ASSERT_TRUE(forwarder->Drain(milliseconds(30'000)));
  const auto sum = [this](const std::string& table) {
    return client_->Execute("SELECT sum(pageviews) FROM " + table + " FORMAT TSV").body;
  };
  EXPECT_EQ(sum("site_minutes"), "240\n");
  EXPECT_EQ(sum("breakdown_minutes WHERE dimension = 'page'"), "240\n");
  EXPECT_EQ(live.accepted_events(), 240u);
  uint64_t site_events = 0;
  for (const auto& site : live.site_events()) site_events += site.events;
  EXPECT_EQ(site_events, 240u);
  EXPECT_EQ(forwarder->ledger().offered, 240u);
  EXPECT_EQ(live.held_events(), 0u);
}

// ClickHouse refusing inserts while the worker runs (its database made only later) fills the
// forwarder. With when_forwarder_full = "archive" the worker falls behind instead of shedding:
// it takes every beacon into its archive, and once the inserts work, every one lands once.
TEST_F(ReplayTest, ARunningWorkerFallsBehindWhenTheForwarderIsFullAndLosesNothing) {
  pipeline_.archive.behind_when_forwarder_full = true;
  const auto marks = MakeWatermarks("marks");
  database_ += "_late";  // MakeForwarder's; no such database yet
  const auto forwarder = MakeForwarder(marks.get(), /*max_pending_bytes=*/1);
  WorkerPipeline live(0, pipeline_, &sites_, forwarder.get());
  ASSERT_EQ(live.OpenArchive(posix_), 0);
  live.OnTick(1);
  constexpr int kEpochs = 8;
  for (int epoch = 0; epoch < kEpochs; ++epoch) {
    // The forwarder took the first epoch and refuses the next ones.
    ASSERT_TRUE(WaitFor([&] { return live.Admitting(); })) << "shedding at epoch " << epoch;
    kernels::RawBatch batch = Hits(epoch * 50, 50);
    live.OnBatch(batch);
    ASSERT_TRUE(WaitFor([&] { return live.PollDurability().durable >= epoch * 51u + 50; }));
    live.OnTick(1 + (epoch + 1) * pipeline_.epoch_ms);  // closes the epoch
  }
  ASSERT_TRUE(live.behind());
  EXPECT_EQ(live.fell_behind(), 1u);
  EXPECT_FALSE(live.shedding());
  EXPECT_EQ(live.accepted_events(), 50u * kEpochs);

  ClickHouseClient late(Endpoint(LocalClickHouse::Shared().url(), database_));
  for (const std::string& statement : SchemaStatements(database_)) {
    ASSERT_TRUE(late.Execute(statement).ok()) << statement;
  }
  for (int i = 0; i < 3000 && live.behind(); ++i) {
    live.OnTick(1 + (kEpochs + 1) * pipeline_.epoch_ms);  // hands on what the forwarder takes
    std::this_thread::sleep_for(milliseconds(2));
  }
  ASSERT_FALSE(live.behind());
  for (int i = 0; i < 1000 && !live.Flush(); ++i) std::this_thread::sleep_for(milliseconds(10));
  ASSERT_TRUE(forwarder->Drain(milliseconds(30'000)));
  const auto sum = [&](const std::string& table) {
    return late.Execute("SELECT sum(pageviews) FROM " + table + " FORMAT TSV").body;
  };
  EXPECT_EQ(sum("site_minutes"), "400\n");
  EXPECT_EQ(sum("breakdown_minutes WHERE dimension = 'page'"), "400\n");
  EXPECT_EQ(forwarder->ledger().offered, 400u);
  EXPECT_EQ(live.held_events(), 0u);
}

TEST_F(ReplayTest, ReplayedSampledEpochsKeepTheWeightsOfTheirRecords) {
  SiteBudgetConfig budget_config{{0.001, 1}, {}};
  budget_config.over_budget = OverBudget::kSample;
  budget_config.sample_one_in = 4;
  SiteBudgets budgets(sites_, budget_config);
  pipeline_.budgets = &budgets;
  const auto weighted = [this] {
    const ClickHouseResult site = client_->Execute(
        "SELECT site_id, sum(pageviews), sum(weighted_pageviews) FROM site_minutes GROUP BY "
        "site_id ORDER BY site_id FORMAT TSV");
    const ClickHouseResult pages = client_->Execute(
        "SELECT sum(pageviews), sum(weighted_pageviews) FROM breakdown_minutes WHERE "
        "dimension = 'page' FORMAT TSV");
    EXPECT_TRUE(site.ok() && pages.ok()) << site.body << pages.body;
    return site.body + pages.body;
  };
  const auto acknowledged = MakeWatermarks("acknowledged");
  {
    const auto forwarder = MakeForwarder(acknowledged.get());
    RunLive(posix_, *forwarder);
    ASSERT_TRUE(forwarder->Drain(milliseconds(30'000)));
  }
  const std::string live = weighted();
  const uint64_t sampled_out = budgets.dropped(1, BudgetDrop::kSampledOut);
  EXPECT_GT(sampled_out, 0u);
  const ClickHouseResult site1 = client_->Execute(
      "SELECT sum(pageviews), sum(weighted_pageviews) FROM site_minutes WHERE site_id = 1 "
      "FORMAT TSV");
  EXPECT_EQ(site1.body, std::to_string(150 - sampled_out) + "\t" +
                            std::to_string(1 + 4 * (149 - sampled_out)) + "\n");

  const auto lost = MakeWatermarks("lost");
  {
    const auto forwarder = MakeForwarder(lost.get());
    WorkerPipeline replay(0, pipeline_, &sites_, forwarder.get());
    ASSERT_EQ(replay.OpenArchive(posix_), 0);
    EXPECT_EQ(replay.Replay(lost->ReplayStart(0)).epochs, 4u);
    ASSERT_TRUE(forwarder->Drain(milliseconds(30'000)));
  }
  EXPECT_EQ(weighted(), live);
}

TEST_F(ReplayTest, AnIdleWorkerCutsItsHeldBreakdownRowsAfterTheInterval) {
  pipeline_.breakdown_flush_interval_ms = 50;
  const auto watermarks = MakeWatermarks("marks");
  const auto forwarder = MakeForwarder(watermarks.get());
  const auto owned = StartLive(posix_, forwarder.get());
  WorkerPipeline& live = *owned;
  live.OnTick(1 + pipeline_.epoch_ms);  // closes the epoch; its breakdown rows are held
  std::this_thread::sleep_for(milliseconds(60));
  live.OnTick(1 + 2 * pipeline_.epoch_ms);  // idle: an empty epoch cuts them
  for (int i = 0; i < 1000 && watermarks->Get(0)[0].breakdown == 0; ++i) {
    live.PollDurability();
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(watermarks->Get(0)[0].breakdown, 100u);
  const ClickHouseResult result = client_->Execute(
      "SELECT sum(pageviews) FROM breakdown_minutes WHERE dimension = 'page' FORMAT TSV");
  EXPECT_EQ(result.body, "100\n");
}

// The idle worker's cut is lost with its marker (a failed sync): the held rows are still owed
// a cut, which the worker makes once the archive takes writes again.
TEST_F(ReplayTest, AnIdleWorkerCutsAgainWhenItsCutWasLost) {
  pipeline_.breakdown_flush_interval_ms = 50;
  FaultInjectionFileSystem fs(posix_);
  const auto watermarks = MakeWatermarks("marks");
  const auto forwarder = MakeForwarder(watermarks.get());
  const auto live = StartLive(fs, forwarder.get());
  live->OnTick(1 + pipeline_.epoch_ms);  // closes the epoch; its breakdown rows are held
  while (watermarks->Get(0)[0].site < 100) {
    live->PollDurability();
    std::this_thread::sleep_for(milliseconds(10));
  }
  std::this_thread::sleep_for(milliseconds(60));
  fs.FailSyncs(EIO);
  live->OnTick(1 + 2 * pipeline_.epoch_ms);  // idle: an empty epoch cuts them, its marker lost
  while (live->PollDurability().lost_through < 102) std::this_thread::sleep_for(milliseconds(1));
  fs.FailSyncs(0);
  for (int i = 3; i < 1000 && watermarks->Get(0)[0].breakdown == 0; ++i) {
    live->Admitting();
    live->OnTick(1 + i * pipeline_.epoch_ms);
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(watermarks->Get(0)[0].breakdown, 100u);
  const ClickHouseResult result = client_->Execute(
      "SELECT sum(pageviews) FROM breakdown_minutes WHERE dimension = 'page' FORMAT TSV");
  EXPECT_EQ(result.body, "100\n");
}

// The breakdown interval runs from when the held rows came in, not from the last start: after
// a restart the replayed rows, taken in long ago, are cut at the first epoch, so that kills
// more frequent than the interval still let the watermark (and the next replay's start) move.
TEST_F(ReplayTest, ARestartKeepsTheBreakdownIntervalOfTheHeldRows) {
  const auto watermarks = MakeWatermarks("marks");
  {
    const auto forwarder = MakeForwarder(watermarks.get());
    const auto live = StartLive(posix_, forwarder.get());
    live->OnTick(1 + pipeline_.epoch_ms);  // closes the epoch; its breakdown rows are held
    for (int i = 0; i < 1000 && watermarks->Get(0)[0].site == 0; ++i) {
      live->PollDurability();
      std::this_thread::sleep_for(milliseconds(10));
    }
    ASSERT_EQ(watermarks->Get(0)[0].site, 100u);
  }  // the crash: the held rows are gone, their breakdown watermark is still 0
  ASSERT_EQ(watermarks->ReplayStart(0), 1u);
  const auto forwarder = MakeForwarder(watermarks.get());
  WorkerPipeline restarted(0, pipeline_, &sites_, forwarder.get());
  ASSERT_EQ(restarted.OpenArchive(posix_), 0);
  EXPECT_EQ(restarted.Replay(1).epochs, 1u);
  restarted.OnTick(1);
  restarted.OnTick(1 + pipeline_.epoch_ms);  // the hits came in long ago: the rows are cut
  for (int i = 0; i < 1000 && watermarks->Get(0)[0].breakdown == 0; ++i) {
    restarted.PollDurability();
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(watermarks->Get(0)[0].breakdown, 100u);
  EXPECT_EQ(watermarks->ReplayStart(0), 101u);
  const ClickHouseResult result = client_->Execute(
      "SELECT sum(pageviews) FROM breakdown_minutes WHERE dimension = 'page' FORMAT TSV");
  EXPECT_EQ(result.body, "100\n");
}

// A batch refused for its contents is set aside while later batches raise the watermarks past
// its range; retried with `beaconctl dead-letter retry`, it comes back through the spool and is
// sent all the same: a dead letter carries no archive range for a watermark to skip it by.
TEST_F(ReplayTest, ARetriedDeadLetterLandsThoughTheWatermarkPassedIt) {
  const auto watermarks = MakeWatermarks("marks");
  ASSERT_TRUE(client_->Execute("DROP TABLE " + database_ + ".breakdown_minutes").ok());
  ASSERT_TRUE(client_
                  ->Execute("CREATE TABLE " + database_ +
                            ".breakdown_minutes (site_id UInt32, minute DateTime, dimension " +
                            DimensionEnumType() +
                            ", value String, pageviews UInt64, events UInt64, visitors "
                            "AggregateFunction(uniqHLL12, UInt64)) ENGINE = MergeTree() "
                            "ORDER BY site_id")
                  .ok());
  ForwarderConfig config;
  config.clickhouse = Endpoint(LocalClickHouse::Shared().url(), database_);
  config.flush_interval_ms = 20;
  config.retry_initial_ms = 10;
  config.retry_max_ms = 50;
  config.node = 9;
  config.watermarks = watermarks.get();
  config.spool_dir = dir_ + "/spool";
  config.spool_fsync = false;
  Forwarder forwarder(config);
  forwarder.Start();
  DeadLetters letters(config.spool_dir, 1 << 20, false);
  const auto live = StartLive(posix_, &forwarder);
  ASSERT_TRUE(live->Flush());  // cut: the breakdown rows of the first 100 hits are refused
  for (int i = 0; i < 1000 && letters.List().empty(); ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_EQ(letters.List().size(), 1u);
  ASSERT_TRUE(client_->Execute("DROP TABLE " + database_ + ".breakdown_minutes").ok());
  for (const std::string& statement : SchemaStatements(database_)) {
    ASSERT_TRUE(client_->Execute(statement).ok()) << statement;
  }
  kernels::RawBatch more = Hits(100, 100);
  live->OnBatch(more);
  ASSERT_TRUE(live->Flush());  // these land, and the breakdown watermark passes the first cut
  for (int i = 0; i < 1000 && watermarks->Get(0)[0].breakdown < 200; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_GT(watermarks->Get(0)[0].breakdown, 200u);
  std::string error;
  ASSERT_TRUE(letters.Retry(letters.List()[0].id, &error)) << error;
  ASSERT_TRUE(forwarder.Drain(milliseconds(30'000)));
  EXPECT_TRUE(letters.List().empty());
  const ClickHouseResult result = client_->Execute(
      "SELECT sum(pageviews) FROM breakdown_minutes WHERE dimension = 'page' FORMAT TSV");
  EXPECT_EQ(result.body, "200\n");
}

TEST_F(ReplayTest, RecordsLostToAFailedSyncAreNeverCounted) {
  // Aggregated, then lost: the failed sync drops them, and the open epoch is rebuilt from the
  // 100 durable records.
  const SyncFailure failure = FailSyncsWhile(200, [](WorkerPipeline& live) {
    kernels::RawBatch lost = Hits(100, 100);
    live.OnBatch(lost);
  });
  EXPECT_EQ(failure.replayed_records, 100u);
  EXPECT_EQ(failure.pageviews, "200\n");  // the lost 100 were answered 503, and are not counted
  // Nor accepted: beacond_events_accepted_total, the stop's ledger and the forward lag say the
  // 200 answered 2xx, not the 100 a client sends again.
  EXPECT_EQ(failure.accepted_events, 200u);
  EXPECT_EQ(failure.site_events, 200u);
  EXPECT_EQ(failure.offered_events, 200u);
}

// A failed sync that loses only an epoch's marker: its 100 records were durable (answered
// 2xx), so the rebuilt open epoch holds them and they are counted once.
TEST_F(ReplayTest, DurableRecordsOfAnEpochWhoseMarkerWasLostAreCounted) {
  const SyncFailure failure = FailSyncsWhile(101, [this](WorkerPipeline& live) {
    live.OnTick(1 + pipeline_.epoch_ms);  // closes the epoch: its marker (101) is lost
  });
  EXPECT_EQ(failure.replayed_records, 100u);
  EXPECT_EQ(failure.pageviews, "200\n");
}

// The same failure's counters: the rebuilt epoch's hits were counted when they came in, not
// again when the rebuild aggregates them anew, and per site once they are offered; nothing was
// lost, so the stop's ledger (accepted - offered: never handed to the forwarder) says 0.
TEST_F(ReplayTest, ARebuildCountsNoEventTwice) {
  const SyncFailure failure = FailSyncsWhile(101, [this](WorkerPipeline& live) {
    live.OnTick(1 + pipeline_.epoch_ms);  // closes the epoch: its marker (101) is lost
  });
  EXPECT_EQ(failure.pageviews, "200\n");
  EXPECT_EQ(failure.offered_events, 200u);
  EXPECT_EQ(failure.accepted_events, 200u);
  EXPECT_EQ(failure.site_events, 200u);
}

// A Rebuild decodes again records the live path decoded and counted: their rejects (hits of a
// site this node does not serve) are not counted a second time.
TEST_F(ReplayTest, ARebuildCountsNoRejectTwice) {
  FaultInjectionFileSystem fs(posix_);
  const auto watermarks = MakeWatermarks("marks");
  const auto forwarder = MakeForwarder(watermarks.get());
  const auto live = StartLive(fs, forwarder.get());
  kernels::RawBatch unknown;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(unknown.Add(kernels::Endpoint::kGaCollect, kernels::IngressKind::kHttp,
                            "v=1&t=pageview&tid=UA-9-1&cid=" + std::to_string(i) + ".1&dp=%2F",
                            "Mozilla/5.0", kernels::IpAddress{}, kNowMs + i));
  }
  live->OnBatch(unknown);
  while (live->PollDurability().durable < 110) std::this_thread::sleep_for(milliseconds(1));
  const uint64_t rejects = live->rejects().Get(kernels::RejectReason::kUnknownSite);
  ASSERT_EQ(rejects, 10u);
  fs.FailSyncs(EIO);
  live->OnTick(1 + pipeline_.epoch_ms);  // closes the epoch: its marker (111) is lost
  while (live->PollDurability().lost_through < 111) std::this_thread::sleep_for(milliseconds(1));
  fs.FailSyncs(0);
  while (!live->Admitting()) std::this_thread::sleep_for(milliseconds(5));
  EXPECT_EQ(live->replayed_records(), 110u);  // the rebuild decoded the ten again
  EXPECT_EQ(live->rejects().Get(kernels::RejectReason::kUnknownSite), rejects);
  EXPECT_EQ(live->rejects().Total(), rejects);
  EXPECT_TRUE(live->Flush());
  EXPECT_TRUE(forwarder->Drain(milliseconds(30'000)));
  EXPECT_EQ(client_->Execute("SELECT sum(pageviews) FROM site_minutes FORMAT TSV").body, "100\n");
}

// A failure first reported while a batch is durable in part: the Rebuild aggregates the batch's
// durable beacons, so the batch itself must not aggregate them again (nor the lost ones).
TEST_F(ReplayTest, ABatchDurableInPartWhenAFailureIsReportedCountsOnce) {
  ExpectABatchDurableInPartCountedOnce();
}

// The same on a card backend: the batch's beacons must not go to the card, whose delivery
// (AcceptCard) would aggregate them after the Rebuild.
TEST_F(ReplayTest, OnACardBackendABatchDurableInPartWhenAFailureIsReportedCountsOnce) {
  pipeline_.bytes = &simd_;
  pipeline_.make_device = [] { return std::unique_ptr<FpgaDevice>(new CsimDevice); };
  pipeline_.fpga.deadline = milliseconds(1);
  ExpectABatchDurableInPartCountedOnce();
}

}  // namespace
}  // namespace beacon::host
