// `beaconctl archive replay` over a real archive (SegmentWriter) into a real clickhouse-server:
// a damaged dictionary file costs only the blocks that need it, and a range holding records that
// beacond has not had acknowledged yet (or that reaches into the future) is refused, since the node
// still forwards those itself and the backfill would count them twice.
#include "appliance/ctl/archive_replay.h"

#include <gtest/gtest.h>

#include <fstream>
#include <limits>
#include <memory>
#include <sstream>
#include <string>

#include "host/archive/dictionary_files.h"
#include "host/archive/segment_writer.h"
#include "host/forward/clickhouse_client.h"
#include "host/forward/schema.h"
#include "host/forward/watermarks.h"
#include "kernels/archive/dictionary.h"
#include "tests/unit/host/archive/archive_test_util.h"
#include "tests/unit/host/forward/local_clickhouse.h"

namespace beacon::app {
namespace {

constexpr int64_t kFirstMs = 1'700'000'000'000;  // record s was received at kFirstMs + s

// A GA pageview of the example registry's site 1 (UA-100001-1).
std::string Pageview(uint64_t s) {
  return "v=1&t=pageview&tid=UA-100001-1&cid=" + std::to_string(s % 97) +
         ".1&dl=https%3A%2F%2Fshop.example%2Fp" + std::to_string(s % 13);
}

class ArchiveReplayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host::ClickHouseClient client(host::Endpoint(host::LocalClickHouse::Shared().url(), ""));
    ASSERT_TRUE(client.Execute("DROP DATABASE IF EXISTS " + database_).ok());
    for (const std::string& statement : host::SchemaStatements(database_)) {
      const host::ClickHouseResult result = client.Execute(statement);
      ASSERT_TRUE(result.ok()) << statement << "\n" << result.error << result.body;
    }
    std::ofstream(config_path()) << "[sites]\nregistry = \"" << BEACON_EXAMPLE_SITES
                                 << "\"\n[state]\ndir = \"" << scratch_.path() << "/state\"\n"
                                 << "[archive]\ndir = \"" << scratch_.archive() << "\"\n"
                                 << "[clickhouse]\nurl = \""
                                 << host::LocalClickHouse::Shared().url() << "\"\ndatabase = \""
                                 << database_ << "\"\n";
  }

  std::string config_path() const { return scratch_.path() + "/beacond.toml"; }

  // Worker 0 archives records first .. first + count - 1 (zstd `dictionary`, when not null).
  void Archive(uint64_t first, uint64_t count,
               const kernels::ArchiveDictionary* dictionary = nullptr) {
    host::SegmentWriterOptions options;
    options.directory = scratch_.archive();
    options.block_bytes = 4 << 10;
    options.dictionary = dictionary;
    options.min_first_sequence = first;
    options.clock_ms = [first] { return kFirstMs + static_cast<int64_t>(first); };
    std::unique_ptr<host::SegmentWriter> writer;
    ASSERT_EQ(host::SegmentWriter::Open(fs_, options, &writer), 0);
    for (uint64_t s = first; s < first + count; ++s) {
      const std::string payload = Pageview(s);
      kernels::ArchiveRecord record = host::TestRecord(s, payload);
      record.receive_time_ms = kFirstMs + static_cast<int64_t>(s);
      ASSERT_EQ(writer->Append(record), s);
    }
    ASSERT_TRUE(writer->Flush());
  }

  // Runs the replay of [from, to) (receive times of records from .. to); its exit status.
  int Replay(uint64_t from, uint64_t to) {
    ArchiveReplayOptions options;
    options.config_path = config_path();
    options.from_ms = kFirstMs + static_cast<int64_t>(from);
    options.to_ms = kFirstMs + static_cast<int64_t>(to);
    out_.str("");
    err_.str("");
    return ArchiveReplay(options, out_, err_);
  }

  std::string Pageviews() {
    host::ClickHouseClient client(host::Endpoint(host::LocalClickHouse::Shared().url(), database_));
    return client.Execute("SELECT sum(pageviews) FROM site_minutes FORMAT TSV").body;
  }

  host::ScratchDir scratch_;
  host::PosixFileSystem fs_;
  const std::string database_ = "archive_replay_db";
  std::ostringstream out_, err_;
};

std::unique_ptr<const kernels::ArchiveDictionary> Trained(const std::string& salt) {
  std::vector<std::string> payloads;
  for (uint64_t s = 0; s < 2000; ++s) payloads.push_back(Pageview(s) + salt);
  std::vector<kernels::ArchiveRecord> records;
  for (uint64_t s = 0; s < payloads.size(); ++s) {
    records.push_back(host::TestRecord(s, payloads[s]));
  }
  return kernels::ArchiveDictionary::Load(kernels::TrainArchiveDictionary(records, 8 << 10));
}

// A damaged dictionary file that no block of the range needs does not stop the replay: it is
// named, and every record lands.
TEST_F(ArchiveReplayTest, ADamagedDictionaryFileCostsOnlyTheBlocksThatNeedIt) {
  const auto dictionary = Trained("");
  ASSERT_NE(dictionary, nullptr);
  Archive(1, 400, dictionary.get());
  ASSERT_EQ(host::SaveDictionary(fs_, scratch_.archive(), *dictionary), 0);
  ASSERT_EQ(host::WriteFileAtomically(fs_, scratch_.archive(), host::DictionaryFileName(77),
                                      "not a dictionary"),
            0);
  EXPECT_EQ(Replay(1, 401), 0) << out_.str() << err_.str();
  EXPECT_NE(out_.str().find("replayed 400 beacons"), std::string::npos) << out_.str();
  EXPECT_NE(err_.str().find(host::DictionaryFileName(77)), std::string::npos) << err_.str();
  EXPECT_EQ(Pageviews(), "400\n");
}

// The node's watermarks say what ClickHouse acknowledged: records above them are still the node's
// to forward (live, from its spool, or by its startup replay after a kill), so a backfill of a
// range holding one would land them twice. It is refused before anything is inserted, naming the
// worker, the record and its time; a range that ends before it runs.
TEST_F(ArchiveReplayTest, RefusesRecordsTheNodeHasNotForwardedYet) {
  Archive(1, 600);
  const std::string watermarks = scratch_.path() + "/state/watermarks";
  ASSERT_EQ(fs_.EnsureDirectory(scratch_.path() + "/state"), 0);
  ASSERT_EQ(fs_.EnsureDirectory(watermarks), 0);
  host::WatermarkStore store(fs_, watermarks, 1);
  ASSERT_EQ(store.SetAll(0, 450), 0);

  EXPECT_EQ(Replay(1, 601), 2) << out_.str() << err_.str();
  EXPECT_NE(err_.str().find("worker 0's record 451"), std::string::npos) << err_.str();
  EXPECT_EQ(out_.str().find("replayed"), std::string::npos) << out_.str();
  EXPECT_EQ(Pageviews(), "0\n");

  EXPECT_EQ(Replay(1, 451), 0) << out_.str() << err_.str();
  EXPECT_EQ(Pageviews(), "450\n");
}

// A --to in the future: records of the range may still arrive, and be forwarded by the node.
TEST_F(ArchiveReplayTest, RefusesARangeThatEndsInTheFuture) {
  Archive(1, 10);
  ArchiveReplayOptions options;
  options.config_path = config_path();
  options.from_ms = kFirstMs;
  options.to_ms = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(ArchiveReplay(options, out_, err_), 2) << out_.str() << err_.str();
  EXPECT_NE(err_.str().find("in the future"), std::string::npos) << err_.str();
  EXPECT_EQ(Pageviews(), "0\n");
}

}  // namespace
}  // namespace beacon::app
