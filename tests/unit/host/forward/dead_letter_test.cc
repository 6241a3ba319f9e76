// Dead letters: kept durably with their sidecar, listed, put back into their shard's spool
// (which adopts them), dropped; bounded. And which ClickHouse answers make one.
#include "host/forward/dead_letter.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "host/forward/clickhouse_client.h"
#include "host/forward/spool.h"

namespace beacon::host {
namespace {

namespace fs = std::filesystem;

class DeadLetterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "beacon-dead-letter-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    spool_dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(spool_dir_); }

  std::string spool_dir_;
};

TEST_F(DeadLetterTest, KeepsListsRetriesAndDrops) {
  DeadLetters letters(spool_dir_, 1 << 20, true);
  std::string first;
  std::string second;
  std::string error;
  ASSERT_TRUE(letters.Put(2, "rows one", "breakdown_minutes",
                          "HTTP 500: Code: 33, e.displayText() = Cannot read all data\n", &first,
                          &error))
      << error;
  ASSERT_TRUE(letters.Put(1, "rows two", "site_minutes", "HTTP 400", &second, &error)) << error;

  const auto listed = letters.List();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].id, first);
  EXPECT_EQ(listed[0].shard, 2u);
  EXPECT_EQ(listed[0].table, "breakdown_minutes");
  EXPECT_EQ(listed[0].error, "HTTP 500: Code: 33, e.displayText() = Cannot read all data ");
  EXPECT_EQ(listed[0].bytes, Spool::RecordBytes(8));
  EXPECT_EQ(listed[0].time.size(), 20u);  // 2026-12-06T11:15:00Z
  EXPECT_EQ(listed[1].shard, 1u);
  struct stat st {};
  ASSERT_EQ(stat(letters.dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  for (const auto& entry : fs::directory_iterator(letters.dir())) {
    ASSERT_EQ(stat(entry.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << entry.path();
  }

  // Retry: into shard 2's spool, which takes it as its newest record, byte for byte.
  Spool shard_two(DeadLetters::ShardDir(spool_dir_, 2), 1 << 20, false);
  EXPECT_FALSE(letters.Retry(first + "x", &error));
  ASSERT_TRUE(letters.Retry(first, &error)) << error;
  EXPECT_EQ(shard_two.AdoptReturned(), 1u);
  std::string payload;
  ASSERT_TRUE(shard_two.Front(&payload));
  EXPECT_EQ(payload, "rows one");
  EXPECT_TRUE(shard_two.front_inherited());

  // Shard 1 has no spool directory here: the letter stays.
  EXPECT_FALSE(letters.Retry(second, &error));
  EXPECT_NE(error.find("shard-1"), std::string::npos) << error;
  ASSERT_EQ(letters.List().size(), 1u);
  EXPECT_FALSE(letters.Drop("../" + second, &error));
  ASSERT_TRUE(letters.Drop(second, &error)) << error;
  EXPECT_TRUE(letters.List().empty());
  EXPECT_TRUE(fs::is_empty(letters.dir()));
}

TEST_F(DeadLetterTest, RefusesBeyondItsBoundOnceItHoldsOne) {
  DeadLetters letters(spool_dir_, Spool::RecordBytes(100), false);
  std::string id;
  std::string error;
  ASSERT_TRUE(letters.Put(1, std::string(300, 'a'), "site_minutes", "x", &id, &error)) << error;
  EXPECT_FALSE(letters.Put(1, "b", "site_minutes", "x", &id, &error));
  EXPECT_NE(error.find("full"), std::string::npos) << error;
  EXPECT_EQ(letters.List().size(), 1u);
}

TEST_F(DeadLetterTest, TakesADamagedSpoolRecordWithItsReason) {
  const std::string shard_dir = DeadLetters::ShardDir(spool_dir_, 3);
  DeadLetters letters(spool_dir_, 1 << 20, true);
  {
    Spool spool(shard_dir, 1 << 20, false);
    std::string error;
    ASSERT_EQ(spool.Append("cut", &error), SpoolAppend::kOk);
  }
  const std::string record = shard_dir + "/00000000000000000000.rec";
  fs::resize_file(record, 5);
  Spool spool(shard_dir, 1 << 20, false, [&](const std::string& path, const std::string& reason) {
    return letters.Take(path, 3, reason);
  });
  std::string payload;
  EXPECT_FALSE(spool.Front(&payload));
  EXPECT_EQ(spool.torn_records(), 1u);
  EXPECT_FALSE(fs::exists(record));
  const auto listed = letters.List();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].shard, 3u);
  EXPECT_EQ(listed[0].table, "-");
  EXPECT_NE(listed[0].error.find("torn"), std::string::npos) << listed[0].error;
  EXPECT_EQ(listed[0].bytes, 5u);
}

ClickHouseResult Answer(long status, std::string body) {
  ClickHouseResult result;
  result.status = status;
  result.body = std::move(body);
  return result;
}

// ClickHouse 18.16's answers as seen (forward_test sends the real ones): what the rows cause
// makes a dead letter; what the deployment or the moment causes is retried.
TEST(DeterministicRefusalTest, ClassifiesClickHouseAnswers) {
  EXPECT_TRUE(IsDeterministicRefusal(Answer(
      500, "Code: 33, e.displayText() = DB::Exception: Cannot read all data. Bytes read: 1.")));
  EXPECT_TRUE(IsDeterministicRefusal(
      Answer(500, "Code: 27, e.displayText() = DB::Exception: Cannot parse input: expected")));
  EXPECT_TRUE(IsDeterministicRefusal(
      Answer(500, "Code: 16, e.displayText() = DB::Exception: No such column zz in table t")));
  EXPECT_TRUE(IsDeterministicRefusal(
      Answer(500, "Code: 117, e.displayText() = DB::Exception: Illegal size: (at row 1)")));
  EXPECT_TRUE(IsDeterministicRefusal(Answer(400, "Code: 62, e.displayText() = Syntax error")));
  // Missing schema, credentials, memory, too many parts, ZooKeeper: fixed elsewhere, retried.
  EXPECT_FALSE(IsDeterministicRefusal(
      Answer(404, "Code: 60, e.displayText() = DB::Exception: Table b.t doesn't exist.")));
  EXPECT_FALSE(IsDeterministicRefusal(
      Answer(404, "Code: 81, e.displayText() = DB::Exception: Database x doesn't exist")));
  EXPECT_FALSE(IsDeterministicRefusal(
      Answer(401, "Code: 193, e.displayText() = DB::Exception: Wrong password for user")));
  EXPECT_FALSE(IsDeterministicRefusal(
      Answer(500, "Code: 241, e.displayText() = DB::Exception: Memory limit (for query)")));
  EXPECT_FALSE(IsDeterministicRefusal(Answer(500, "Code: 252, e.displayText() = Too many parts")));
  EXPECT_FALSE(IsDeterministicRefusal(Answer(500, "Code: 242, e.displayText() = read-only")));
  EXPECT_FALSE(IsDeterministicRefusal(Answer(503, "")));
  EXPECT_FALSE(IsDeterministicRefusal(Answer(500, "not ClickHouse")));
  ClickHouseResult transport;
  transport.error = "Timeout was reached";
  EXPECT_FALSE(IsDeterministicRefusal(transport));
}

}  // namespace
}  // namespace beacon::host
