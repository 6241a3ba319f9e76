// WatermarkStore on real files: the file survives a crash at every sync point of a write as the
// old watermarks or the new ones, never a mix; damage is refused; the replay start is the
// lowest breakdown watermark; a shard count change is taken only while the shards agree.
#include "host/forward/watermarks.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <string>

#include "host/archive/fault_injection_file_system.h"
#include "host/archive/file_system.h"

namespace beacon::host {
namespace {

class WatermarksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/watermarks_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_;
  PosixFileSystem posix_;
};

TEST_F(WatermarksTest, AdvancesPerShardAndTableAndReloads) {
  {
    WatermarkStore store(posix_, dir_, 2);
    ASSERT_EQ(store.Load(), 0);
    EXPECT_FALSE(store.Has(3));
    EXPECT_EQ(store.ReplayStart(3), 1u);
    ASSERT_EQ(store.Advance(3, 0, &ShardWatermark::site, 40), 0);
    ASSERT_EQ(store.Advance(3, 0, &ShardWatermark::breakdown, 20), 0);
    ASSERT_EQ(store.Advance(3, 1, &ShardWatermark::breakdown, 30), 0);
    ASSERT_EQ(store.Advance(3, 1, &ShardWatermark::breakdown, 25), 0);  // never lowered
    EXPECT_EQ(store.writes(), 3u);
  }
  WatermarkStore store(posix_, dir_, 2);
  ASSERT_EQ(store.Load(), 0);
  ASSERT_TRUE(store.Has(3));
  const std::vector<ShardWatermark> marks = store.Get(3);
  EXPECT_EQ(marks[0].site, 40u);
  EXPECT_EQ(marks[0].breakdown, 20u);
  EXPECT_EQ(marks[1].site, 0u);
  EXPECT_EQ(marks[1].breakdown, 30u);
  EXPECT_EQ(store.ReplayStart(3), 21u);  // the lowest breakdown watermark, + 1
  EXPECT_EQ(store.Highest(3), 40u);
  EXPECT_EQ(store.RetentionLimits(), (std::map<uint32_t, uint64_t>{{3, 20}}));
  EXPECT_EQ(std::filesystem::status(dir_ + "/" + WatermarkStore::FileName(3)).permissions() &
                std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TEST_F(WatermarksTest, CoalescedWritesReachTheFileAtWriteDirty) {
  WatermarkStore store(posix_, dir_, 1, /*coalesce_ms=*/60'000);
  ASSERT_EQ(store.Advance(0, 0, &ShardWatermark::site, 5), 0);
  ASSERT_EQ(store.Advance(0, 0, &ShardWatermark::site, 9), 0);
  EXPECT_EQ(store.writes(), 1u);
  const auto reread = [this] {
    WatermarkStore again(posix_, dir_, 1);
    EXPECT_EQ(again.Load(), 0);
    return again.Get(0)[0].site;
  };
  EXPECT_EQ(reread(), 5u);
  ASSERT_EQ(store.WriteDirty(), 0);
  EXPECT_EQ(reread(), 9u);
  ASSERT_EQ(store.WriteDirty(), 0);
  EXPECT_EQ(store.writes(), 2u);  // nothing dirty: nothing written
}

TEST_F(WatermarksTest, ACrashAtEverySyncPointLeavesTheOldOrTheNewFile) {
  {
    WatermarkStore store(posix_, dir_, 1);
    ASSERT_EQ(store.SetAll(0, 10), 0);
  }
  for (const bool after : {false, true}) {
    for (uint64_t point = 1; point <= 2; ++point) {
      FaultInjectionFileSystem faulty(posix_);
      faulty.CrashAtSyncPoint(point, after);
      WatermarkStore store(faulty, dir_, 1);
      ASSERT_EQ(store.Load(), 0);
      const bool written = point == 2 && after;  // crashed after the last sync point
      EXPECT_EQ(store.Advance(0, 0, &ShardWatermark::breakdown, 99) == 0, written);
      faulty.Restart();
      WatermarkStore reread(posix_, dir_, 1);
      ASSERT_EQ(reread.Load(), 0) << point << " " << after;
      const uint64_t mark = reread.Get(0)[0].breakdown;
      // The rename is durable only with the directory sync, the second point.
      EXPECT_EQ(mark, written ? 99u : 10u) << point << " " << after;
      ASSERT_EQ(reread.SetAll(0, 10), 0);
    }
  }
}

TEST_F(WatermarksTest, RefusesDamageAndAShardCountChangeWhileTheShardsDisagree) {
  std::vector<ShardWatermark> shards = {{50, 30}, {60, 40}, {70, 35}};
  std::string bytes = WatermarkStore::Encode(shards);
  std::vector<ShardWatermark> decoded;
  ASSERT_TRUE(WatermarkStore::Decode(bytes, &decoded));
  EXPECT_EQ(decoded[2].site, 70u);
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string flipped = bytes;
    flipped[i] ^= 0x10;
    EXPECT_FALSE(WatermarkStore::Decode(flipped, &decoded)) << i;
  }
  EXPECT_FALSE(WatermarkStore::Decode(bytes.substr(0, bytes.size() - 1), &decoded));
  ASSERT_EQ(WriteFileAtomically(posix_, dir_, WatermarkStore::FileName(1), bytes), 0);
  // Three shards that acknowledged different ranges: no reading of them fits two shards.
  WatermarkStore two_shards(posix_, dir_, 2);
  std::string detail;
  EXPECT_EQ(two_shards.Load(&detail), ESTALE);
  EXPECT_FALSE(two_shards.Has(1));
  EXPECT_NE(detail.find("worker 1's watermarks were written for 3 shards, not 2"),
            std::string::npos)
      << detail;
  EXPECT_NE(detail.find("50/30, 60/40, 70/35"), std::string::npos) << detail;
  // Once they agree (the node drained), every shard of the new count takes their watermarks.
  const std::string agreed = WatermarkStore::Encode({{70, 40}, {70, 40}, {70, 40}});
  ASSERT_EQ(WriteFileAtomically(posix_, dir_, WatermarkStore::FileName(1), agreed), 0);
  WatermarkStore resized(posix_, dir_, 2);
  ASSERT_EQ(resized.Load(), 0);
  ASSERT_EQ(resized.Get(1).size(), 2u);
  for (const ShardWatermark& mark : resized.Get(1)) {
    EXPECT_EQ(mark.site, 70u);
    EXPECT_EQ(mark.breakdown, 40u);
  }
  bytes[bytes.size() - 1] ^= 1;
  ASSERT_EQ(WriteFileAtomically(posix_, dir_, WatermarkStore::FileName(2), bytes), 0);
  WatermarkStore damaged(posix_, dir_, 3);
  EXPECT_EQ(damaged.Load(), EINVAL);
}

}  // namespace
}  // namespace beacon::host
