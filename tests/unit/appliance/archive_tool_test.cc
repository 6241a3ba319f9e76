// beaconctl archive over real segments written by SegmentWriter on the real disk: listing,
// verification (a torn tail and a flipped bit), JSON lines with filters, and training.
#include "appliance/ctl/archive_tool.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "host/archive/dictionary_files.h"
#include "host/archive/segment_files.h"
#include "host/archive/segment_writer.h"
#include "kernels/archive/dictionary.h"
#include "tests/unit/host/archive/archive_test_util.h"

namespace beacon::app {
namespace {

using host::ScratchDir;

constexpr int64_t kStartMs = 1'700'000'000'000;  // 2023-11-14T22:13:20Z

// `count` records for `worker` (receive time kStartMs + sequence), in blocks of ~1 KiB raw and
// segments of ~4 KiB, synced.
void WriteArchive(host::FileSystem& fs, const std::string& dir, uint32_t worker, int count) {
  host::SegmentWriterOptions options;
  options.directory = dir;
  options.node = 42;
  options.worker = worker;
  options.block_bytes = 1 << 10;
  options.segment_bytes = 4 << 10;
  options.clock_ms = [] { return kStartMs; };
  std::unique_ptr<host::SegmentWriter> writer;
  ASSERT_EQ(host::SegmentWriter::Open(fs, options, &writer), 0);
  for (int i = 1; i <= count; ++i) {
    const std::string payload = host::TestPayload(static_cast<uint64_t>(i));
    kernels::ArchiveRecord record = host::TestRecord(static_cast<uint64_t>(i), payload);
    record.country = static_cast<uint16_t>(('D' << 8) | 'E');
    record.endpoint = i % 2 == 0 ? kernels::Endpoint::kGaCollect : kernels::Endpoint::kGa4Gtag;
    if (i == 3) record.user_agent = "quote\" back\\ nl\n \x01 \xff";
    ASSERT_EQ(writer->Append(record), static_cast<uint64_t>(i));
  }
  ASSERT_TRUE(writer->Flush());
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Worker 0 with 400 records over several segments, worker 1 with 5 in one.
class TwoWorkerArchive : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteArchive(fs_, scratch_.archive(), 0, 400);
    WriteArchive(fs_, scratch_.archive(), 1, 5);
  }
  ScratchDir scratch_;
  host::PosixFileSystem fs_;
};

TEST_F(TwoWorkerArchive, ListsSegmentsPerWorkerWithSequenceRangesAndTimes) {
  std::ostringstream out, err;
  EXPECT_EQ(ArchiveList(fs_, scratch_.archive(), out, err), 0) << err.str();
  const auto lines = Lines(out.str());
  ASSERT_GE(lines.size(), 5u) << out.str();
  EXPECT_EQ(lines[1].rfind("0\t1\t", 0), 0u) << lines[1];
  EXPECT_NE(lines[1].find("\t2023-11-14T22:13:20.000Z\t2023-11-14T22:13:20.001Z\t"),
            std::string::npos)
      << lines[1];
  EXPECT_NE(out.str().find("worker 0: "), std::string::npos);
  EXPECT_NE(out.str().find(", sequences 1..400, 400 records, "), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("worker 1: 1 segments, sequences 1..5, 5 records, "), std::string::npos)
      << out.str();
}

// A segment whose header never reached the disk (a crash right after its file was made: empty,
// or cut inside the header) holds no records: its row and its worker's total say so, not a
// last sequence of 2^64 - 1 and a creation in 1970.
TEST_F(TwoWorkerArchive, ListsASegmentWithoutAHeaderAsEmpty) {
  const std::string dir = scratch_.archive();
  std::ofstream(dir + "/" + host::SegmentFileName(1, 6), std::ios::binary);
  std::ofstream(dir + "/" + host::SegmentFileName(2, 1), std::ios::binary) << "BSEG\x02";
  std::ostringstream out, err;
  EXPECT_EQ(ArchiveList(fs_, dir, out, err), 0) << err.str();
  EXPECT_EQ(out.str().find("18446744073709551615"), std::string::npos) << out.str();
  EXPECT_EQ(out.str().find("1970-"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("\n1\t6\t5\t0\t0\t0\t-\t-\t-\t" + host::SegmentFileName(1, 6) + "\n"),
            std::string::npos)
      << out.str();
  EXPECT_NE(out.str().find("worker 1: 2 segments, sequences 1..5, 5 records, "), std::string::npos)
      << out.str();
  EXPECT_NE(out.str().find("worker 2: 1 segments, sequences 1..0, 0 records, 5 bytes"),
            std::string::npos)
      << out.str();
}

std::vector<host::SegmentFile> Segments(host::FileSystem& fs, const std::string& dir) {
  std::vector<host::SegmentFile> segments;
  EXPECT_EQ(host::ListSegments(fs, dir, &segments), 0);
  return segments;
}

TEST_F(TwoWorkerArchive, VerifyReportsATornTailAndAFlippedBitWithTheirOffsets) {
  {
    std::ostringstream out, err;
    EXPECT_EQ(ArchiveVerify(fs_, scratch_.archive(), out, err), 0) << out.str() << err.str();
    EXPECT_NE(out.str().find(" 405 records; 0 torn, 0 corrupt, "), std::string::npos) << out.str();
  }
  const auto segments = Segments(fs_, scratch_.archive());
  ASSERT_GE(segments.size(), 3u);
  // A bit of worker 0's first (closed) segment, inside its first block's frame.
  {
    std::fstream file(segments[0].path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekg(kernels::kSegmentHeaderBytes + kernels::kBlockHeaderBytes + 20);
    char byte = 0;
    file.read(&byte, 1);
    byte = static_cast<char>(byte ^ 0x10);
    file.seekp(kernels::kSegmentHeaderBytes + kernels::kBlockHeaderBytes + 20);
    file.write(&byte, 1);
  }
  // Worker 1's only segment loses its last 10 bytes: a write cut short.
  std::filesystem::resize_file(segments.back().path, segments.back().bytes - 10);
  std::ostringstream out, err;
  EXPECT_EQ(ArchiveVerify(fs_, scratch_.archive(), out, err), 1);
  EXPECT_NE(out.str().find(segments[0].path + " offset 64 bytes "), std::string::npos) << out.str();
  EXPECT_NE(out.str().find(" corrupt (bad_checksum)"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find(segments.back().path + " offset 64 bytes "), std::string::npos)
      << out.str();
  EXPECT_NE(out.str().find(" torn ("), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("; 1 torn, 1 corrupt, "), std::string::npos) << out.str();
}

TEST_F(TwoWorkerArchive, CatPrintsEscapedJsonLinesFilteredByWorkerAndTime) {
  ArchiveFilter filter;
  filter.worker = 1;
  filter.from_ms = kStartMs + 3;
  filter.to_ms = kStartMs + 5;
  std::ostringstream out, err;
  EXPECT_EQ(ArchiveCat(fs_, scratch_.archive(), filter, out, err), 0) << err.str();
  const auto lines = Lines(out.str());
  ASSERT_EQ(lines.size(), 2u) << out.str();
  EXPECT_EQ(
      lines[0],
      "{\"worker\":1,\"sequence\":3,\"time\":\"2023-11-14T22:13:20.003Z\","
      "\"time_ms\":1700000000003,\"ingress\":\"http\",\"endpoint\":\"ga4_gtag\","
      "\"country\":\"DE\",\"address_hash\":\"" +
          [] {
            char hex[20];
            std::snprintf(hex, sizeof(hex), "%016llx",
                          static_cast<unsigned long long>(3 * 0x9E3779B97F4A7C15ull));
            return std::string(hex);
          }() +
          "\",\"user_agent_base64\":\"" + "cXVvdGUiIGJhY2tcIG5sCiABIP8=" +
          "\",\"query\":\"\",\"payload\":\"" + host::TestPayload(3) + "\"}");
  EXPECT_NE(lines[1].find("\"sequence\":4,"), std::string::npos);
  EXPECT_NE(lines[1].find("\"user_agent\":\"Mozilla/5.0\""), std::string::npos);

  std::string escaped;
  kernels::ArchiveRecord record;
  record.user_agent = "a\"b\\c\n\x01\u00e9";
  record.country = 0x000A;  // not two letters: written as its number
  AppendRecordJson(0, 1, record, &escaped);
  EXPECT_NE(escaped.find("\"user_agent\":\"a\\\"b\\\\c\\n\\u0001\u00e9\""), std::string::npos)
      << escaped;
  EXPECT_NE(escaped.find("\"country\":\"#10\","), std::string::npos) << escaped;
}

// Output that cannot be written (stdout redirected to a full disk, a closed pipe's file): the
// export is cut short, so the exit status must say so.
class FullDisk : public std::streambuf {
 protected:
  int_type overflow(int_type) override { return traits_type::eof(); }
  std::streamsize xsputn(const char*, std::streamsize) override { return 0; }
};

TEST_F(TwoWorkerArchive, FailsWhenItsOutputCannotBeWritten) {
  using Tool = int (*)(host::FileSystem&, const std::string&, const ArchiveFilter&, std::ostream&,
                       std::ostream&);
  for (const Tool tool : {Tool{ArchiveCat}, Tool{ArchiveExportRowBinary}}) {
    FullDisk full;
    std::ostream out(&full);
    std::ostringstream err;
    EXPECT_EQ(tool(fs_, scratch_.archive(), ArchiveFilter{}, out, err), 1);
    EXPECT_NE(err.str().find("cannot write the output"), std::string::npos) << err.str();
  }
  FullDisk full;
  std::ostream out(&full);
  std::ostringstream err;
  EXPECT_EQ(ArchiveList(fs_, scratch_.archive(), out, err), 1);
  EXPECT_NE(err.str().find("cannot write the output"), std::string::npos) << err.str();
}

TEST(ArchiveToolTest, ParsesTimeBounds) {
  int64_t ms = 0;
  ASSERT_TRUE(ParseArchiveTime("1700000000003", &ms));
  EXPECT_EQ(ms, 1'700'000'000'003);
  ASSERT_TRUE(ParseArchiveTime("2023-11-14T22:13:20Z", &ms));
  EXPECT_EQ(ms, 1'700'000'000'000);
  ASSERT_TRUE(ParseArchiveTime("2023-11-14T22:13", &ms));
  EXPECT_EQ(ms, 1'699'999'980'000);
  ASSERT_TRUE(ParseArchiveTime("2023-11-14", &ms));
  EXPECT_EQ(ms, 1'699'920'000'000);
  EXPECT_FALSE(ParseArchiveTime("yesterday", &ms));
  EXPECT_FALSE(ParseArchiveTime("2023-11-14T22", &ms));
  EXPECT_FALSE(ParseArchiveTime("2023-11-14 junk", &ms));
  // A date or time that does not exist is refused, not moved on by the calendar: an export
  // of "2026-13-45" would otherwise cover February 2027.
  for (const char* impossible :
       {"2026-13-45", "2026-02-30", "2026-00-10", "2026-01-01T24:00", "2026-01-01T10:60",
        "2026-01-01T10:00:61", "2026- 1- 5", "2026-1-5T-1:00"}) {
    EXPECT_FALSE(ParseArchiveTime(impossible, &ms)) << impossible;
  }
  ASSERT_TRUE(ParseArchiveTime("2024-02-29T23:59:59", &ms));
  EXPECT_EQ(ms, 1'709'251'199'000);
}

TEST(ArchiveToolTest, TrainsAndSavesADictionaryPerFormat) {
  ScratchDir scratch;
  host::PosixFileSystem fs;
  WriteArchive(fs, scratch.archive(), 0, 4000);
  std::ostringstream out, err;
  EXPECT_EQ(ArchiveTrain(fs, scratch.archive(), 16 << 10, 100'000, out, err), 0) << err.str();
  const auto lines = Lines(out.str());
  ASSERT_EQ(lines.size(), 2u) << out.str();
  EXPECT_EQ(lines[0].rfind("ga_collect: 2000 records: dictionary ", 0), 0u) << lines[0];
  EXPECT_EQ(lines[1].rfind("ga4_gtag: 2000 records: dictionary ", 0), 0u) << lines[1];
  kernels::DictionarySet dictionaries;
  ASSERT_EQ(host::LoadDictionaries(fs, scratch.archive(), &dictionaries), 0);
  const uint32_t id = static_cast<uint32_t>(
      std::stoul(lines[0].substr(std::string("ga_collect: 2000 records: dictionary ").size())));
  ASSERT_NE(dictionaries.Find(id), nullptr);
  EXPECT_LE(dictionaries.Find(id)->bytes().size(), size_t{16 << 10});
  // Trained again from the same records: the same dictionary, already stored.
  std::ostringstream again;
  EXPECT_EQ(ArchiveTrain(fs, scratch.archive(), 16 << 10, 100'000, again, err), 0);
  EXPECT_NE(again.str().find("is already stored"), std::string::npos) << again.str();
}

}  // namespace
}  // namespace beacon::app
