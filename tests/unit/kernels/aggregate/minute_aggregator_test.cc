// MinuteAggregator: exact sums per (site, minute), distinct visitors, the page bound with
// "(other)", epoch sequencing and determinism.
#include "kernels/aggregate/minute_aggregator.h"

#include <gtest/gtest.h>

#include <string>

namespace beacon::kernels {
namespace {

void AddHit(EventBatch* batch, uint32_t site, uint32_t minute, EventKind kind, uint64_t visitor,
            std::string_view path) {
  EventDims dims;
  dims.path = batch->AddString(path);
  batch->Append(site, minute, kind, 0, visitor, dims, 0);
}

TEST(MinuteAggregatorTest, SumsPerSiteMinuteAndCountsDistinctVisitors) {
  MinuteAggregator agg(3, AggregateLimits{});
  EventBatch batch;
  AddHit(&batch, 2, 100, EventKind::kPageview, 11, "/a");
  AddHit(&batch, 2, 100, EventKind::kEvent, 11, "");
  AddHit(&batch, 2, 100, EventKind::kPageview, 12, "/a");
  AddHit(&batch, 2, 100, EventKind::kPageview, 11, "/b");
  AddHit(&batch, 1, 101, EventKind::kOther, 13, "");
  AddHit(&batch, 2, 99, EventKind::kPageview, 12, "/");
  agg.Add(batch);
  EXPECT_EQ(agg.open_events(), 6u);

  const EpochRows rows = agg.CloseEpoch();
  EXPECT_EQ(rows.worker, 3u);
  EXPECT_EQ(rows.epoch, 0u);
  EXPECT_EQ(rows.events, 6u);
  ASSERT_EQ(rows.site_minutes.size(), 3u);
  // Sorted by (site, minute).
  EXPECT_EQ(rows.site_minutes[0].site_id, 1u);
  EXPECT_EQ(rows.site_minutes[0].events, 1u);
  EXPECT_EQ(rows.site_minutes[1].minute, 99u);
  const SiteMinuteRow& busy = rows.site_minutes[2];
  EXPECT_EQ(busy.site_id, 2u);
  EXPECT_EQ(busy.minute, 100u);
  EXPECT_EQ(busy.pageviews, 3u);
  EXPECT_EQ(busy.events, 1u);
  EXPECT_EQ(busy.visitors, (std::vector<uint64_t>{11, 12}));

  ASSERT_EQ(rows.page_minutes.size(), 3u);
  EXPECT_EQ(rows.page_minutes[0].path, "/");
  EXPECT_EQ(rows.page_minutes[1].path, "/a");
  EXPECT_EQ(rows.page_minutes[1].pageviews, 2u);
  EXPECT_EQ(rows.page_minutes[2].path, "/b");

  const EpochRows next = agg.CloseEpoch();
  EXPECT_EQ(next.epoch, 1u);
  EXPECT_TRUE(next.empty());
  EXPECT_TRUE(next.site_minutes.empty());
}

TEST(MinuteAggregatorTest, PagesBeyondTheBoundFoldIntoOther) {
  MinuteAggregator agg(0, AggregateLimits{.max_pages_per_site_minute = 3});
  EventBatch batch;
  for (int i = 0; i < 1000; ++i) {
    AddHit(&batch, 1, 5, EventKind::kPageview, static_cast<uint64_t>(i),
           "/random/" + std::to_string(i));
  }
  AddHit(&batch, 1, 5, EventKind::kPageview, 1, "/random/0");  // a kept path still counts
  agg.Add(batch);
  EXPECT_EQ(agg.folded_pageviews(), 997u);
  const EpochRows rows = agg.CloseEpoch();
  ASSERT_EQ(rows.page_minutes.size(), 4u);  // 3 kept + (other)
  uint64_t total = 0;
  for (const auto& row : rows.page_minutes) total += row.pageviews;
  EXPECT_EQ(total, 1001u);
  EXPECT_EQ(rows.page_minutes[0].path, kOtherPath);
  EXPECT_EQ(rows.page_minutes[0].pageviews, 997u);
  EXPECT_EQ(rows.page_minutes[1].path, "/random/0");
  EXPECT_EQ(rows.page_minutes[1].pageviews, 2u);
  EXPECT_EQ(rows.site_minutes[0].visitors.size(), 1000u);
}

TEST(MinuteAggregatorTest, SameEventsGiveIdenticalRows) {
  auto run = [] {
    MinuteAggregator agg(0, AggregateLimits{.max_pages_per_site_minute = 50});
    EventBatch batch;
    for (uint32_t i = 0; i < 5000; ++i) {
      AddHit(&batch, i % 7, 1000 + i % 3, i % 4 == 0 ? EventKind::kEvent : EventKind::kPageview,
             (i * 2654435761u) % 300, "/p/" + std::to_string(i % 90));
    }
    agg.Add(batch);
    return agg.CloseEpoch();
  };
  const EpochRows a = run();
  const EpochRows b = run();
  ASSERT_EQ(a.site_minutes.size(), b.site_minutes.size());
  for (size_t i = 0; i < a.site_minutes.size(); ++i) {
    EXPECT_EQ(a.site_minutes[i].site_id, b.site_minutes[i].site_id);
    EXPECT_EQ(a.site_minutes[i].minute, b.site_minutes[i].minute);
    EXPECT_EQ(a.site_minutes[i].pageviews, b.site_minutes[i].pageviews);
    EXPECT_EQ(a.site_minutes[i].visitors, b.site_minutes[i].visitors);
  }
  ASSERT_EQ(a.page_minutes.size(), b.page_minutes.size());
  for (size_t i = 0; i < a.page_minutes.size(); ++i) {
    EXPECT_EQ(a.page_minutes[i].path, b.page_minutes[i].path);
    EXPECT_EQ(a.page_minutes[i].pageviews, b.page_minutes[i].pageviews);
  }
}

TEST(MinuteAggregatorTest, MemoryIsReportedAndReleasedAtClose) {
  MinuteAggregator agg(0, AggregateLimits{});
  EventBatch batch;
  for (int i = 0; i < 2000; ++i) {
    AddHit(&batch, static_cast<uint32_t>(i % 50), 7, EventKind::kPageview, static_cast<uint64_t>(i),
           "/x");
  }
  agg.Add(batch);
  EXPECT_GT(agg.memory_bytes(), 2000u * sizeof(uint64_t));
  agg.CloseEpoch();
  EXPECT_LT(agg.memory_bytes(), 4096u);
}

}  // namespace
}  // namespace beacon::kernels
