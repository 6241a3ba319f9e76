// SegmentWriter on real files: round trips, group commit, rotation, recovery of torn tails,
// crash at every sync point and injected ENOSPC/EIO through the fault-injecting file system.
#include "host/archive/segment_writer.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <zstd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "host/archive/archive_scanner.h"
#include "host/archive/fault_injection_file_system.h"
#include "host/archive/segment_files.h"
#include "kernels/archive/segment_scanner.h"
#include "tests/unit/host/archive/archive_test_util.h"
#include "tests/unit/kernels/archive/version_one_block.h"

namespace beacon::host {
namespace {

SegmentWriterOptions Options(const std::string& dir) {
  SegmentWriterOptions options;
  options.directory = dir;
  options.node = 77;
  options.worker = 2;
  options.retry_interval_ms = 0;
  return options;
}

std::unique_ptr<SegmentWriter> OpenWriter(FileSystem& fs, SegmentWriterOptions options) {
  std::unique_ptr<SegmentWriter> writer;
  EXPECT_EQ(SegmentWriter::Open(fs, std::move(options), &writer), 0);
  return writer;
}

// Appends records whose content is derived from their sequence; false once one is refused.
bool AppendRecords(SegmentWriter& writer, int count) {
  for (int i = 0; i < count; ++i) {
    const std::string payload = TestPayload(writer.next_sequence());
    const uint64_t expected = writer.next_sequence();
    const uint64_t sequence = writer.Append(TestRecord(expected, payload));
    if (sequence == 0) return false;
    EXPECT_EQ(sequence, expected);
  }
  return true;
}

// The sequences of `worker`'s archived records from `from`, each checked against its content.
std::vector<uint64_t> ReadBack(FileSystem& fs, const std::string& dir, uint32_t worker,
                               uint64_t from = 0, ArchiveScanStats* stats = nullptr) {
  ArchiveScanner scanner(fs, dir);
  EXPECT_EQ(scanner.Seek(worker, from), 0);
  std::vector<uint64_t> sequences;
  uint64_t sequence;
  kernels::ArchiveRecord record;
  while (scanner.Next(&sequence, &record)) {
    EXPECT_EQ(record.payload, TestPayload(sequence));
    EXPECT_EQ(record.receive_time_ms, 1'700'000'000'000 + static_cast<int64_t>(sequence));
    EXPECT_EQ(record.address_hash, sequence * 0x9E3779B97F4A7C15ull);
    sequences.push_back(sequence);
  }
  if (stats != nullptr) *stats = scanner.stats();
  return sequences;
}

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> out;
  for (uint64_t s = first; s <= last; ++s) out.push_back(s);
  return out;
}

TEST(SegmentWriter, RoundTripFromAnySequence) {
  ScratchDir scratch;
  PosixFileSystem fs;
  {
    auto writer = OpenWriter(fs, Options(scratch.archive()));
    ASSERT_TRUE(AppendRecords(*writer, 5000));
    ASSERT_TRUE(writer->Flush());
    EXPECT_EQ(writer->durable_sequence(), 5000u);
    EXPECT_GT(writer->stats().blocks.load(), 1u);  // cut by size
    EXPECT_EQ(writer->stats().records.load(), 5000u);
  }
  EXPECT_EQ(ReadBack(fs, scratch.archive(), 2), Range(1, 5000));
  EXPECT_EQ(ReadBack(fs, scratch.archive(), 2, 4321), Range(4321, 5000));
  EXPECT_TRUE(ReadBack(fs, scratch.archive(), 3).empty());
  // Reopened, it numbers on; the destructor wrote what was appended.
  {
    auto writer = OpenWriter(fs, Options(scratch.archive()));
    EXPECT_EQ(writer->next_sequence(), 5001u);
    EXPECT_EQ(writer->durable_sequence(), 5000u);
    ASSERT_TRUE(AppendRecords(*writer, 10));
  }
  EXPECT_EQ(ReadBack(fs, scratch.archive(), 2), Range(1, 5010));
  SegmentWriterOptions options = Options(scratch.archive());
  options.min_first_sequence = 9000;
  auto writer = OpenWriter(fs, options);
  EXPECT_EQ(writer->next_sequence(), 9000u);
}

// Frames unlike the writer's own (zstd's fastest level with a content checksum), standing in
// for the card's: the scanner must read them the same. `frame_bytes` > 0 cuts a frame per that
// many raw bytes, as the card does per 32 KiB.
class FastChecksummedCompressor final : public kernels::BlockCompressor {
 public:
  explicit FastChecksummedCompressor(size_t frame_bytes = 0)
      : cctx_(ZSTD_createCCtx()), frame_bytes_(frame_bytes) {
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, -5);
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_checksumFlag, 1);
  }
  ~FastChecksummedCompressor() override { ZSTD_freeCCtx(cctx_); }
  void Compress(std::string_view raw, std::string* frames) override {
    const size_t step = frame_bytes_ > 0 ? frame_bytes_ : raw.size();
    frames->clear();
    for (size_t at = 0; at < raw.size(); at += step) {
      const std::string_view part = raw.substr(at, step);
      const size_t used = frames->size();
      frames->resize(used + ZSTD_compressBound(part.size()));
      frames->resize(used + ZSTD_compress2(cctx_, frames->data() + used, frames->size() - used,
                                           part.data(), part.size()));
      ++frame_count;
    }
    ++blocks;
  }
  int blocks = 0;
  int frame_count = 0;

 private:
  ZSTD_CCtx* cctx_;
  size_t frame_bytes_;
};

TEST(SegmentWriter, BlocksFromAnotherCompressorReadBackTheSame) {
  ScratchDir scratch;
  PosixFileSystem fs;
  FastChecksummedCompressor other;
  SegmentWriterOptions options = Options(scratch.archive());
  options.compressor = &other;
  {
    auto writer = OpenWriter(fs, options);
    ASSERT_TRUE(AppendRecords(*writer, 3000));
    ASSERT_TRUE(writer->Flush());
    EXPECT_EQ(static_cast<uint64_t>(other.blocks), writer->stats().blocks.load());
  }
  EXPECT_GT(other.blocks, 1);
  ArchiveScanStats stats;
  EXPECT_EQ(ReadBack(fs, scratch.archive(), 2, 0, &stats), Range(1, 3000));
  EXPECT_EQ(stats.corrupt_blocks, 0u);
}

TEST(SegmentWriter, BlocksOfManyFramesReadBackTheSame) {
  ScratchDir scratch;
  PosixFileSystem fs;
  FastChecksummedCompressor card_like(32 << 10);
  SegmentWriterOptions options = Options(scratch.archive());
  options.block_bytes = 1 << 20;
  options.compressor = &card_like;
  {
    auto writer = OpenWriter(fs, options);
    ASSERT_TRUE(AppendRecords(*writer, 20000));
    ASSERT_TRUE(writer->Flush());
  }
  EXPECT_GT(card_like.frame_count, 4 * card_like.blocks);
  ArchiveScanStats stats;
  EXPECT_EQ(ReadBack(fs, scratch.archive(), 2, 0, &stats), Range(1, 20000));
  EXPECT_EQ(stats.corrupt_blocks, 0u);
}

// A beacon's bytes as an attacker may send them: incompressible (no byte much more frequent
// than another, which would let zstd Huffman-code them), with a block header every 256 bytes
// whose fields are in their limits, each claiming a payload of 48 to 64 KiB.
std::string MagicLadenPayload(std::mt19937_64& rng, size_t bytes) {
  std::string payload(bytes, '\0');
  for (char& c : payload) c = static_cast<char>(1 + rng() % 255);
  for (size_t at = 0; at + kernels::kBlockHeaderBytes <= bytes; at += 256) {
    kernels::BlockHeader fake;
    fake.raw_bytes = static_cast<uint32_t>((1 << 20) + rng() % (7 << 20));
    fake.first_sequence = rng();
    fake.record_count = static_cast<uint32_t>(65536 + rng() % (fake.raw_bytes / 30 - 65536));
    fake.dictionary_id = static_cast<uint32_t>(rng());
    const std::string claimed((48 << 10) + rng() % (16 << 10), 'x');
    kernels::EncodeBlockHeader(fake, claimed, payload.data() + at);
    kernels::StoreLittleEndian<uint32_t>(payload.data() + at + 4, static_cast<uint32_t>(rng()));
  }
  return payload;
}

TEST(SegmentWriter, RecoveryAfterDamageChecksumsLinearlyWhateverTheBeaconsHold) {
  ScratchDir scratch;
  PosixFileSystem fs;
  SegmentWriterOptions options = Options(scratch.archive());
  options.block_bytes = 1 << 20;
  std::mt19937_64 rng(11);
  {
    auto writer = OpenWriter(fs, options);
    for (int i = 0; i < 64; ++i) {
      const std::string payload = MagicLadenPayload(rng, 4096);
      ASSERT_NE(writer->Append(TestRecord(writer->next_sequence(), payload)), 0u);
    }
    ASSERT_TRUE(writer->Flush());  // the block of hostile beacons
    ASSERT_TRUE(AppendRecords(*writer, 20));
    ASSERT_TRUE(writer->Flush());  // and one after it
  }
  const std::string path = scratch.archive() + "/" + SegmentFileName(2, 1);
  std::string bytes;
  ASSERT_EQ(fs.ReadFile(path, &bytes), 0);
  bytes[kernels::kSegmentHeaderBytes] ^= 1;  // the first block's magic
  kernels::SegmentScanner scanner(bytes);
  kernels::ScannedBlock block;
  ASSERT_TRUE(scanner.Next(&block));
  EXPECT_EQ(block.header.first_sequence, 65u);
  EXPECT_FALSE(scanner.Next(&block));
  ASSERT_EQ(scanner.damage().size(), 1u);
  // Every claimed payload checksummed in turn is about 150 times the segment.
  EXPECT_LE(scanner.checksummed_bytes(), 4 * bytes.size()) << bytes.size() << " bytes";
}

// A segment as format version 1 wrote it (no writer makes one any more): its header and
// `blocks` blocks of 10 records each, numbered from 1.
void WriteVersionOneSegment(const std::string& dir, int blocks) {
  kernels::SegmentHeader header;
  header.version = 1;
  header.worker = 2;
  header.node = 77;
  header.first_sequence = 1;
  header.created_ms = 1'700'000'000'000;
  std::string bytes(kernels::kSegmentHeaderBytes, '\0');
  kernels::EncodeSegmentHeader(header, bytes.data());
  for (uint64_t first = 1; first <= 10u * static_cast<uint64_t>(blocks); first += 10) {
    std::vector<std::string> payloads;
    for (uint64_t s = first; s < first + 10; ++s) payloads.push_back(TestPayload(s));
    std::vector<kernels::ArchiveRecord> records;
    for (uint64_t s = first; s < first + 10; ++s)
      records.push_back(TestRecord(s, payloads[s - first]));
    bytes += kernels::archive_test::VersionOneBlock(records, first);
  }
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/" + SegmentFileName(2, 1), std::ios::binary) << bytes;
}

TEST(ArchiveScanner, AVersionOneSegmentWithADamagedHeaderKeepsItsRecords) {
  ScratchDir scratch;
  PosixFileSystem fs;
  WriteVersionOneSegment(scratch.archive(), 3);
  ArchiveScanStats stats;
  ASSERT_EQ(ReadBack(fs, scratch.archive(), 2, 0, &stats), Range(1, 30));
  ASSERT_EQ(stats.corrupt_blocks, 0u);
  // The header's node id damaged: its CRC fails, and with it the version it names.
  const std::string path = scratch.archive() + "/" + SegmentFileName(2, 1);
  std::string bytes;
  ASSERT_EQ(fs.ReadFile(path, &bytes), 0);
  bytes[20] ^= 1;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  EXPECT_EQ(ReadBack(fs, scratch.archive(), 2, 0, &stats), Range(1, 30));
  EXPECT_EQ(stats.corrupt_blocks, 1u);  // the header
  EXPECT_EQ(stats.damaged_bytes, kernels::kSegmentHeaderBytes);
  EXPECT_EQ(stats.lost_records, 0u);
}

TEST(SegmentWriter, GroupCommitReportsDurabilityThroughPollAndEventfd) {
  ScratchDir scratch;
  PosixFileSystem fs;
  auto writer = OpenWriter(fs, Options(scratch.archive()));
  ASSERT_TRUE(AppendRecords(*writer, 3));
  EXPECT_EQ(writer->Poll().durable_sequence, 0u);  // nothing committed yet
  writer->Commit();
  pollfd ready{writer->notify_fd(), POLLIN, 0};
  ASSERT_EQ(poll(&ready, 1, 10'000), 1);
  CommitStatus status = writer->Poll();
  EXPECT_TRUE(status.healthy);
  EXPECT_EQ(status.durable_sequence, 3u);
  EXPECT_EQ(status.dropped_through, 0u);
  EXPECT_EQ(ReadBack(fs, scratch.archive(), 2), Range(1, 3));
  EXPECT_EQ(writer->stats().syncs.load(), 1u);
  // A commit while the I/O thread is busy waits for it: the deferred block goes at a Poll.
  for (int round = 0; round < 20; ++round) {
    ASSERT_TRUE(AppendRecords(*writer, 1));
    writer->Commit();
  }
  while (writer->durable_sequence() < 23) {
    ready.revents = 0;
    poll(&ready, 1, 100);
    writer->Poll();
  }
  EXPECT_LE(writer->stats().syncs.load(), 21u);
  EXPECT_EQ(ReadBack(fs, scratch.archive(), 2), Range(1, 23));
}

TEST(SegmentWriter, IntervalPolicyCutsBlocksByAge) {
  ScratchDir scratch;
  PosixFileSystem fs;
  SegmentWriterOptions options = Options(scratch.archive());
  options.commit = CommitPolicy::kInterval;
  options.commit_interval_ms = 5;
  auto clock = std::make_shared<std::atomic<int64_t>>(1000);
  options.clock_ms = [clock] { return clock->load(); };
  auto writer = OpenWriter(fs, options);
  ASSERT_TRUE(AppendRecords(*writer, 4));
  writer->Commit();  // no effect under kInterval
  writer->Poll();
  EXPECT_EQ(writer->stats().blocks.load() + writer->durable_sequence(), 0u);
  clock->store(1005);
  writer->Poll();
  ASSERT_TRUE(writer->Flush());
  EXPECT_EQ(writer->durable_sequence(), 4u);
  EXPECT_EQ(writer->stats().blocks.load(), 1u);
}

TEST(SegmentWriter, RotatesBySizeAndAgeAndSegmentsNameTheirFirstRecord) {
  ScratchDir scratch;
  PosixFileSystem fs;
  SegmentWriterOptions options = Options(scratch.archive());
  options.block_bytes = 4 << 10;
  options.segment_bytes = 16 << 10;
  options.segment_age_ms = 60'000;
  auto clock = std::make_shared<std::atomic<int64_t>>(1'000'000);
  options.clock_ms = [clock] { return clock->load(); };
  {
    auto writer = OpenWriter(fs, options);
    ASSERT_TRUE(AppendRecords(*writer, 2000));
    ASSERT_TRUE(writer->Flush());
    const uint64_t by_size = writer->stats().segments.load();
    EXPECT_GT(by_size, 3u);
    clock->fetch_add(60'000);
    ASSERT_TRUE(AppendRecords(*writer, 1));
    ASSERT_TRUE(writer->Flush());
    EXPECT_EQ(writer->stats().segments.load(), by_size + 1);  // by age
  }
  std::vector<SegmentFile> segments;
  ASSERT_EQ(ListSegments(fs, scratch.archive(), &segments), 0);
  for (size_t i = 0; i < segments.size(); ++i) {
    std::string bytes;
    ASSERT_EQ(fs.ReadFile(segments[i].path, &bytes), 0);
    kernels::SegmentHeader header;
    ASSERT_EQ(kernels::DecodeSegmentHeader(bytes, &header), kernels::ArchiveError::kOk);
    EXPECT_EQ(header.first_sequence, segments[i].first_sequence);
    EXPECT_EQ(header.worker, 2u);
    EXPECT_EQ(header.node, 77u);
    // The previous segment's records' receive times (TestRecord: 1'700'000'000'000 + sequence).
    EXPECT_EQ(header.previous_times, i > 0);
    if (i > 0) {
      EXPECT_EQ(header.previous_min_ms,
                1'700'000'000'000 + static_cast<int64_t>(segments[i - 1].first_sequence));
      EXPECT_EQ(header.previous_max_ms,
                1'700'000'000'000 + static_cast<int64_t>(segments[i].first_sequence) - 1);
    }
    if (i + 1 < segments.size()) {
      EXPECT_LE(segments[i].bytes, options.segment_bytes);
    }
  }
  EXPECT_EQ(ReadBack(fs, scratch.archive(), 2), Range(1, 2001));
  EXPECT_EQ(ReadBack(fs, scratch.archive(), 2, 1500), Range(1500, 2001));
}

TEST(SegmentWriter, RecoversATornTailCutAtEveryByteOfTheLastBlock) {
  ScratchDir scratch;
  PosixFileSystem fs;
  const std::string pristine = scratch.path() + "/pristine";
  uint64_t last_block_at = 0;
  uint64_t size = 0;
  {
    auto writer = OpenWriter(fs, Options(pristine));
    ASSERT_TRUE(AppendRecords(*writer, 30));
    ASSERT_TRUE(writer->Flush());
    last_block_at = writer->stats().bytes.load();
    ASSERT_TRUE(AppendRecords(*writer, 3));
    ASSERT_TRUE(writer->Flush());
    size = writer->stats().bytes.load();
  }
  const std::string name = SegmentFileName(2, 1);
  for (uint64_t cut = last_block_at; cut < size; ++cut) {
    std::filesystem::remove_all(scratch.archive());
    std::filesystem::create_directory(scratch.archive());
    std::filesystem::copy_file(pristine + "/" + name, scratch.archive() + "/" + name);
    std::filesystem::resize_file(scratch.archive() + "/" + name, cut);
    ArchiveScanStats stats;
    EXPECT_EQ(ReadBack(fs, scratch.archive(), 2, 0, &stats), Range(1, 30));
    ASSERT_EQ(stats.torn_blocks, cut > last_block_at ? 1u : 0u) << "cut at " << cut;
    EXPECT_EQ(stats.corrupt_blocks, 0u);
    auto writer = OpenWriter(fs, Options(scratch.archive()));
    EXPECT_EQ(writer->stats().recovered_torn_bytes.load(), cut - last_block_at);
    ASSERT_EQ(writer->next_sequence(), 31u) << "cut at " << cut;
    ASSERT_TRUE(AppendRecords(*writer, 2));
    ASSERT_TRUE(writer->Flush());
    writer.reset();
    ASSERT_EQ(ReadBack(fs, scratch.archive(), 2, 0, &stats), Range(1, 32)) << "cut at " << cut;
    ASSERT_EQ(stats.torn_blocks + stats.corrupt_blocks, 0u);
  }
}

TEST(SegmentWriter, EpochMarkersSurviveATornTailAsWholeRecordsOrNotAtAll) {
  ScratchDir scratch;
  PosixFileSystem fs;
  const std::string pristine = scratch.path() + "/pristine";
  uint64_t last_block_at = 0;
  uint64_t size = 0;
  const auto append_marker = [](SegmentWriter& writer, uint64_t epoch, uint64_t first) {
    const std::string payload = kernels::EncodeEpochMarker(
        {.epoch = epoch, .first_sequence = first, .last_sequence = writer.next_sequence() - 1});
    EXPECT_NE(writer.Append(kernels::ControlRecord(payload, 1'700'000'000'000)), 0u);
  };
  {
    auto writer = OpenWriter(fs, Options(pristine));
    ASSERT_TRUE(AppendRecords(*writer, 10));
    append_marker(*writer, 0, 1);  // sequence 11
    ASSERT_TRUE(writer->Flush());
    last_block_at = writer->stats().bytes.load();
    ASSERT_TRUE(AppendRecords(*writer, 3));
    append_marker(*writer, 1, 12);  // sequence 15
    ASSERT_TRUE(writer->Flush());
    size = writer->stats().bytes.load();
  }
  const std::string name = SegmentFileName(2, 1);
  for (uint64_t cut = last_block_at; cut <= size; ++cut) {
    std::filesystem::remove_all(scratch.archive());
    std::filesystem::create_directory(scratch.archive());
    std::filesystem::copy_file(pristine + "/" + name, scratch.archive() + "/" + name);
    std::filesystem::resize_file(scratch.archive() + "/" + name, cut);
    ArchiveScanner scanner(fs, scratch.archive());
    ASSERT_EQ(scanner.Seek(2, 1), 0);
    std::vector<uint64_t> markers;
    uint64_t records = 0;
    uint64_t sequence = 0;
    kernels::ArchiveRecord record;
    while (scanner.Next(&sequence, &record)) {
      ++records;
      if (!kernels::IsControlRecord(record)) continue;
      kernels::EpochMarker marker;
      ASSERT_EQ(kernels::DecodeEpochMarker(record.payload, &marker), kernels::ArchiveError::kOk);
      EXPECT_EQ(marker.last_sequence, sequence - 1);
      markers.push_back(marker.epoch);
    }
    const bool whole = cut == size;
    EXPECT_EQ(records, whole ? 15u : 11u) << "cut at " << cut;
    EXPECT_EQ(markers, whole ? (std::vector<uint64_t>{0, 1}) : std::vector<uint64_t>{0})
        << "cut at " << cut;
  }
}

// beacond killed after the I/O thread's pwrite and before its fdatasync: the blocks are in
// the page cache only. The next process may replay and forward them, so before it counts them
// as archived they must be on the disk, also when the newest segment is an empty one.
TEST(SegmentWriter, RecoveryMakesTheRecordsItFindsDurable) {
  for (const bool empty_newest : {false, true}) {
    ScratchDir scratch;
    PosixFileSystem posix;
    FaultInjectionFileSystem fs(posix);
    SegmentWriterOptions options = Options(scratch.archive());
    options.commit = CommitPolicy::kNone;  // written, never synced: as at the kill
    auto killed = OpenWriter(fs, options);
    ASSERT_TRUE(AppendRecords(*killed, 10));
    ASSERT_TRUE(killed->Flush());
    if (empty_newest) {
      std::unique_ptr<WritableFile> file;
      ASSERT_EQ(fs.CreateFile(scratch.archive() + "/" + SegmentFileName(2, 11), &file), 0);
    }
    fs.Restart();    // the kill: the writes stay in the page cache, the handles die
    killed.reset();  // its closing sync fails, as it never ran
    auto next = OpenWriter(fs, Options(scratch.archive()));
    ASSERT_EQ(next->durable_sequence(), 10u);
    fs.Crash();  // a power loss once the next process counted on them
    next.reset();
    fs.Restart();
    EXPECT_EQ(ReadBack(fs, scratch.archive(), 2), Range(1, 10)) << "empty newest " << empty_newest;
  }
}

// The scripted workload of the crash tests: rounds of appends, each one block committed and
// waited for (so the sync points are the same in every run), with segments small enough to
// rotate. Returns the highest sequence reported durable.
uint64_t RunWorkload(FileSystem& fs, const std::string& dir) {
  SegmentWriterOptions options = Options(dir);
  options.segment_bytes = 2 << 10;
  std::unique_ptr<SegmentWriter> writer;
  if (SegmentWriter::Open(fs, options, &writer) != 0) return 0;  // a crash at the first sync
  uint64_t durable = 0;
  for (int round = 0; round < 12; ++round) {
    if (!AppendRecords(*writer, 7 + round * 5)) break;
    writer->Commit();
    writer->Flush();
    durable = std::max(durable, writer->Poll().durable_sequence);
  }
  return std::max(durable, writer->durable_sequence());
}

TEST(SegmentWriter, CrashAtEverySyncPointKeepsExactlyTheDurableRecords) {
  uint64_t sync_points = 0;
  {
    ScratchDir scratch;
    PosixFileSystem posix;
    FaultInjectionFileSystem fs(posix);
    EXPECT_EQ(RunWorkload(fs, scratch.archive()), 414u);
    sync_points = fs.sync_points();
    ASSERT_GT(sync_points, 20u);
  }
  for (uint64_t point = 1; point <= sync_points; ++point) {
    for (const bool after : {false, true}) {
      ScratchDir scratch;
      PosixFileSystem posix;
      FaultInjectionFileSystem fs(posix);
      fs.CrashAtSyncPoint(point, after);
      const uint64_t durable = RunWorkload(fs, scratch.archive());
      ASSERT_TRUE(fs.crashed()) << "sync point " << point;
      fs.Restart();
      fs.CrashAtSyncPoint(0, false);
      // The first sync point makes the new directory's name durable; a crash before it takes
      // the directory with it.
      if (std::filesystem::exists(scratch.archive())) {
        ArchiveScanStats stats;
        ASSERT_EQ(ReadBack(fs, scratch.archive(), 2, 0, &stats), Range(1, durable))
            << "sync point " << point << (after ? " after" : " before");
        EXPECT_EQ(stats.corrupt_blocks, 0u);
      } else {
        ASSERT_EQ(point, 1u);
        ASSERT_FALSE(after);
        ASSERT_EQ(durable, 0u);
      }
      // The next process numbers on and its records land after the survivors.
      auto writer = OpenWriter(fs, Options(scratch.archive()));
      ASSERT_EQ(writer->next_sequence(), durable + 1);
      ASSERT_TRUE(AppendRecords(*writer, 3));
      ASSERT_TRUE(writer->Flush());
      writer.reset();
      ASSERT_EQ(ReadBack(fs, scratch.archive(), 2), Range(1, durable + 3));
    }
  }
}

// Answers in sequence order under the CommitStatus rule; `answers` maps last sequence -> code.
void Answer(const CommitStatus& status, std::map<uint64_t, int>* pending,
            std::map<uint64_t, int>* answers) {
  while (!pending->empty()) {
    const uint64_t last = pending->begin()->first;
    if (last <= status.durable_sequence) {
      (*answers)[last] = 200;
    } else if (last <= status.dropped_through) {
      (*answers)[last] = 503;
    } else {
      break;
    }
    pending->erase(pending->begin());
  }
}

// A write or sync fails with `error` (and, with `fail_truncates`, so does the truncation that
// cuts what it left). The records it lost are answered 503 only once that truncation succeeded:
// a block whose sync failed can still be read back until then (Linux keeps it in its cache),
// and a replay would count it. Until then they are neither durable nor dropped.
void CheckFailureAndResume(bool fail_syncs, bool fail_truncates, int error) {
  ScratchDir scratch;
  PosixFileSystem posix;
  FaultInjectionFileSystem fs(posix);
  auto writer = OpenWriter(fs, Options(scratch.archive()));
  std::map<uint64_t, int> pending, answers;
  ASSERT_TRUE(AppendRecords(*writer, 10));
  pending[10] = 0;
  writer->Commit();
  ASSERT_TRUE(writer->Flush());
  Answer(writer->Poll(), &pending, &answers);

  fail_syncs ? fs.FailSyncs(error) : fs.FailWrites(error);
  fs.FailTruncates(fail_truncates ? EIO : 0);
  const bool cut_at_once = !fail_truncates;
  ASSERT_TRUE(AppendRecords(*writer, 10));
  pending[20] = 0;
  writer->Commit();
  EXPECT_FALSE(writer->Flush());
  ASSERT_TRUE(AppendRecords(*writer, 5));  // not yet told: taken, then dropped
  pending[25] = 0;
  CommitStatus status = writer->Poll();
  EXPECT_FALSE(status.healthy);
  EXPECT_EQ(status.error, fail_truncates ? EIO : error);
  EXPECT_EQ(status.durable_sequence, 10u);
  EXPECT_EQ(status.dropped_through, cut_at_once ? 25u : 0u);
  Answer(status, &pending, &answers);
  const std::map<uint64_t, int> all_answered{{10, 200}, {20, 503}, {25, 503}};
  const std::map<uint64_t, int> only_durable{{10, 200}};
  EXPECT_EQ(answers, cut_at_once ? all_answered : only_durable);
  EXPECT_EQ(writer->Append(TestRecord(26, TestPayload(26))), 0u);
  EXPECT_EQ(writer->stats().dropped_records.load(), 15u);
  EXPECT_GE(writer->stats().write_errors.load(), 1u);

  // Still failing: the retry fails too and the writer stays unhealthy.
  writer->Poll();
  writer->Flush();
  status = writer->Poll();
  EXPECT_FALSE(status.healthy);
  EXPECT_EQ(status.dropped_through, cut_at_once ? 25u : 0u);
  // Space (or the device) is back: the next retry cuts what is left, then opens a new segment.
  fs.FailSyncs(0);
  fs.FailWrites(0);
  fs.FailTruncates(0);
  do {
    writer->Flush();
    status = writer->Poll();
  } while (!status.healthy);
  EXPECT_EQ(status.dropped_through, 25u);
  Answer(status, &pending, &answers);
  EXPECT_EQ(answers, all_answered);
  // What was answered 503 can no longer be read back, by this process or a replay.
  EXPECT_EQ(ReadBack(fs, scratch.archive(), 2), Range(1, 10));
  const uint64_t first_after = writer->next_sequence();
  EXPECT_EQ(first_after, 26u);
  ASSERT_TRUE(AppendRecords(*writer, 4));
  writer->Commit();
  ASSERT_TRUE(writer->Flush());
  EXPECT_EQ(writer->Poll().durable_sequence, 29u);
  writer.reset();
  fs.Crash();
  fs.Restart();
  std::vector<uint64_t> expected = Range(1, 10);
  for (uint64_t s = 26; s <= 29; ++s) expected.push_back(s);
  ArchiveScanStats stats;
  EXPECT_EQ(ReadBack(fs, scratch.archive(), 2, 0, &stats), expected);
  EXPECT_EQ(stats.corrupt_blocks + stats.torn_blocks, 0u);
}

TEST(SegmentWriter, FullDiskNeverReportsDurableAndRecoversWhenSpaceReturns) {
  CheckFailureAndResume(/*fail_syncs=*/false, /*fail_truncates=*/false, ENOSPC);
}

TEST(SegmentWriter, FailedSyncDropsWhatItCoveredAndNeverRetriesIt) {
  CheckFailureAndResume(/*fail_syncs=*/true, /*fail_truncates=*/false, EIO);
}

TEST(SegmentWriter, AFailedTruncationHoldsThe503sUntilARetryCuts) {
  CheckFailureAndResume(/*fail_syncs=*/true, /*fail_truncates=*/true, EIO);
  CheckFailureAndResume(/*fail_syncs=*/false, /*fail_truncates=*/true, ENOSPC);
}

TEST(SegmentWriter, FilesAre0600InA0700Directory) {
  ScratchDir scratch;
  PosixFileSystem fs;
  ASSERT_EQ(mkdir(scratch.archive().c_str(), 0777), 0);
  const mode_t old_umask = umask(0);
  {
    auto writer = OpenWriter(fs, Options(scratch.archive()));
    ASSERT_TRUE(AppendRecords(*writer, 3));
  }
  umask(old_umask);
  struct stat st;
  ASSERT_EQ(stat(scratch.archive().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(stat((scratch.archive() + "/" + SegmentFileName(2, 1)).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

}  // namespace
}  // namespace beacon::host
