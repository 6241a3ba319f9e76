// Retention by age and size never deletes past a worker's watermark or a worker's newest segment;
// the runner applies it on its thread, with the watermark hook or without one.
#include "host/archive/retention.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>

#include "host/archive/archive_scanner.h"
#include "host/archive/retention_runner.h"
#include "host/archive/segment_files.h"
#include "host/archive/segment_writer.h"
#include "tests/unit/host/archive/archive_test_util.h"

namespace beacon::host {
namespace {

// Two workers, each with several segments opened one simulated minute apart.
void WriteArchive(FileSystem& fs, const std::string& dir, std::atomic<int64_t>* clock) {
  for (uint32_t worker : {0u, 1u}) {
    SegmentWriterOptions options;
    options.directory = dir;
    options.worker = worker;
    options.block_bytes = 1 << 10;
    options.segment_bytes = 2 << 10;
    options.clock_ms = [clock] { return clock->load(); };
    std::unique_ptr<SegmentWriter> writer;
    ASSERT_EQ(SegmentWriter::Open(fs, options, &writer), 0);
    for (uint64_t s = 1; s <= 600; ++s) {
      const std::string payload = TestPayload(s);
      ASSERT_EQ(writer->Append(TestRecord(s, payload)), s);
      if (s % 20 == 0) {
        ASSERT_TRUE(writer->Flush());
        clock->fetch_add(60'000);
      }
    }
  }
}

uint64_t FirstSequence(FileSystem& fs, const std::string& dir, uint32_t worker) {
  ArchiveScanner scanner(fs, dir);
  EXPECT_EQ(scanner.Seek(worker, 0), 0);
  uint64_t sequence = 0;
  kernels::ArchiveRecord record;
  EXPECT_TRUE(scanner.Next(&sequence, &record));
  return sequence;
}

std::vector<SegmentFile> Segments(FileSystem& fs, const std::string& dir, uint32_t worker) {
  std::vector<SegmentFile> all, mine;
  EXPECT_EQ(ListSegments(fs, dir, &all), 0);
  for (const SegmentFile& s : all) {
    if (s.worker == worker) mine.push_back(s);
  }
  return mine;
}

TEST(Retention, SizeLimitStopsAtTheWatermark) {
  ScratchDir scratch;
  PosixFileSystem fs;
  std::atomic<int64_t> clock{1'000'000};
  WriteArchive(fs, scratch.archive(), &clock);
  const size_t before = Segments(fs, scratch.archive(), 0).size();
  ASSERT_GT(before, 4u);
  // Worker 0 acknowledged through 250, worker 1 nothing: only worker 0's segments that end at
  // or below 250 may go, however far over the limit the archive is.
  const RetentionResult result =
      ApplyRetention(fs, scratch.archive(), {.max_total_bytes = 1}, {{0, 250}}, clock.load());
  EXPECT_EQ(result.error, 0);
  EXPECT_TRUE(result.held_by_watermark);
  EXPECT_GT(result.deleted_segments, 0u);
  const std::vector<SegmentFile> left = Segments(fs, scratch.archive(), 0);
  EXPECT_EQ(left.size() + result.deleted_segments, before);
  EXPECT_LE(left.front().first_sequence, 251u);  // record 251 is still there
  EXPECT_LE(FirstSequence(fs, scratch.archive(), 0), 251u);
  EXPECT_EQ(FirstSequence(fs, scratch.archive(), 1), 1u);
  // Everything acknowledged: all but each worker's newest segment go.
  ApplyRetention(fs, scratch.archive(), {.max_total_bytes = 1}, {{0, 600}, {1, 600}}, clock.load());
  EXPECT_EQ(Segments(fs, scratch.archive(), 0).size(), 1u);
  EXPECT_EQ(Segments(fs, scratch.archive(), 1).size(), 1u);
}

TEST(Retention, AgeLimitDeletesOnlyOldSegmentsBelowTheWatermark) {
  ScratchDir scratch;
  PosixFileSystem fs;
  std::atomic<int64_t> clock{1'000'000};
  WriteArchive(fs, scratch.archive(), &clock);
  const std::vector<SegmentFile> before = Segments(fs, scratch.archive(), 1);
  // Nothing is older than a day: nothing goes.
  RetentionResult result = ApplyRetention(fs, scratch.archive(), {.max_age_ms = 86'400'000},
                                          {{0, 600}, {1, 600}}, clock.load());
  EXPECT_EQ(result.deleted_segments, 0u);
  EXPECT_FALSE(result.held_by_watermark);
  // Closed more than 10 minutes ago, and acknowledged.
  result = ApplyRetention(fs, scratch.archive(), {.max_age_ms = 600'000}, {{1, 600}}, clock.load());
  EXPECT_GT(result.deleted_segments, 0u);
  EXPECT_TRUE(result.held_by_watermark);  // worker 0 has no watermark
  EXPECT_EQ(Segments(fs, scratch.archive(), 0).size(), Segments(fs, scratch.archive(), 0).size());
  const std::vector<SegmentFile> after = Segments(fs, scratch.archive(), 1);
  EXPECT_LT(after.size(), before.size());
  EXPECT_EQ(after.back().path, before.back().path);
  EXPECT_EQ(FirstSequence(fs, scratch.archive(), 0), 1u);
}

// Worker 0 writes one segment of `records` records from `first` on, created at `created_ms`.
void WriteSegment(FileSystem& fs, const std::string& dir, uint64_t first, uint64_t records,
                  int64_t created_ms) {
  SegmentWriterOptions options;
  options.directory = dir;
  options.min_first_sequence = first;
  options.clock_ms = [created_ms] { return created_ms; };
  std::unique_ptr<SegmentWriter> writer;
  ASSERT_EQ(SegmentWriter::Open(fs, options, &writer), 0);
  for (uint64_t s = first; s < first + records; ++s) {
    const std::string payload = TestPayload(s);
    ASSERT_EQ(writer->Append(TestRecord(s, payload)), s);
  }
  ASSERT_TRUE(writer->Flush());
}

// The clock stepped forward, then back: a segment's successor can carry an earlier creation time
// than the successor of an older segment. Retention still deletes a worker's segments oldest
// first, by sequence, never a newer one while an older one stays (a hole in the middle of the
// archive, which a backfill over it would silently miss).
// Four segments of worker 0, the clock stepped an hour forward for the second, then back.
std::vector<SegmentFile> ClockStepArchive(FileSystem& fs, const std::string& dir) {
  WriteSegment(fs, dir, 1, 100, 10'000'000);
  WriteSegment(fs, dir, 101, 100, 90'000'000);  // the clock an hour+ ahead
  WriteSegment(fs, dir, 201, 100, 11'000'000);  // stepped back
  WriteSegment(fs, dir, 301, 100, 12'000'000);
  return Segments(fs, dir, 0);
}

TEST(Retention, AClockStepBackStillDeletesTheOldestSegmentFirst) {
  {
    ScratchDir scratch;
    PosixFileSystem fs;
    const std::vector<SegmentFile> before = ClockStepArchive(fs, scratch.archive());
    ASSERT_EQ(before.size(), 4u);
    uint64_t total = 0;
    for (const SegmentFile& s : before) total += s.bytes;
    // One segment over the size limit: the oldest goes, whatever the creation times say.
    const RetentionResult result = ApplyRetention(
        fs, scratch.archive(), {.max_total_bytes = total - 1}, {{0, 400}}, 12'000'000);
    EXPECT_EQ(result.deleted_segments, 1u);
    const std::vector<SegmentFile> left = Segments(fs, scratch.archive(), 0);
    ASSERT_EQ(left.size(), 3u);
    EXPECT_EQ(left.front().first_sequence, 101u);
  }
  // By age, 30 minutes after the step back: the first segment, whose successor claims to have
  // been created an hour+ later, is no younger than the second, closed at the step back.
  ScratchDir scratch;
  PosixFileSystem fs;
  ClockStepArchive(fs, scratch.archive());
  const RetentionResult result = ApplyRetention(fs, scratch.archive(), {.max_age_ms = 1'800'000},
                                                {{0, 400}}, 11'000'000 + 1'800'000);
  EXPECT_EQ(result.deleted_segments, 2u);
  const std::vector<SegmentFile> left = Segments(fs, scratch.archive(), 0);
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left.front().first_sequence, 201u);
}

// The runner without a watermark hook: every closed segment is free, each newest one is kept,
// and its counters say what went and what is left.
TEST(RetentionRunner, WithoutWatermarksKeepsOnlyEachNewestSegment) {
  ScratchDir scratch;
  PosixFileSystem fs;
  std::atomic<int64_t> clock{1'000'000};
  WriteArchive(fs, scratch.archive(), &clock);
  const size_t before =
      Segments(fs, scratch.archive(), 0).size() + Segments(fs, scratch.archive(), 1).size();
  RetentionRunner runner(fs, scratch.archive(), {.max_total_bytes = 1}, 60'000);
  const RetentionResult result = runner.RunOnce(clock.load());
  EXPECT_EQ(result.error, 0);
  EXPECT_EQ(result.deleted_segments, before - 2);
  EXPECT_EQ(Segments(fs, scratch.archive(), 0).size(), 1u);
  EXPECT_EQ(Segments(fs, scratch.archive(), 1).size(), 1u);
  EXPECT_EQ(runner.stats().deleted_segments.load(), before - 2);
  EXPECT_EQ(runner.stats().deleted_bytes.load(), result.deleted_bytes);
  uint64_t left = 0;
  for (uint32_t worker : {0u, 1u}) {
    for (const SegmentFile& s : Segments(fs, scratch.archive(), worker)) left += s.bytes;
  }
  EXPECT_EQ(runner.stats().disk_bytes.load(), left);
}

// A watermark hook (what acknowledged aggregates will feed) holds what a worker still needs;
// the timer thread applies it without being called.
TEST(RetentionRunner, TheWatermarkHookHoldsSegmentsOnItsThread) {
  ScratchDir scratch;
  PosixFileSystem fs;
  std::atomic<int64_t> clock{1'000'000};
  WriteArchive(fs, scratch.archive(), &clock);
  std::atomic<int> calls{0};
  RetentionRunner runner(fs, scratch.archive(), {.max_total_bytes = 1}, 10, [&calls] {
    calls.fetch_add(1);
    return std::map<uint32_t, uint64_t>{{0, 250}};
  });
  runner.Start();
  while (runner.stats().runs.load() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_GE(calls.load(), 2);
  EXPECT_TRUE(runner.stats().held_by_watermark.load());
  EXPECT_LE(FirstSequence(fs, scratch.archive(), 0), 251u);
  EXPECT_EQ(FirstSequence(fs, scratch.archive(), 1), 1u);
  EXPECT_GT(runner.stats().deleted_segments.load(), 0u);
}

}  // namespace
}  // namespace beacon::host
