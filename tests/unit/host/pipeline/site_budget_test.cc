// SiteBudgets: a site's events within rate and burst are taken, all or none; a beacon is
// admitted whole or refused (counted), or sampled 1 in N with weight N in sample mode; the
// budget is one for all threads; sites outside the registry and no budget admit all.
#include "host/pipeline/site_budget.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace beacon::host {
namespace {

constexpr int64_t kSecond = 1'000'000'000;
const kernels::SiteRegistry kSites =
    kernels::SiteRegistry::Parse("1 a UA-1-1 a.example\n2 b UA-2-1 b.example\n");

// How many of `n` single-event takes at `now_ns` succeed.
uint32_t TakeEach(SiteBudgets& budgets, uint32_t site, uint32_t n, int64_t now_ns) {
  uint32_t taken = 0;
  for (uint32_t i = 0; i < n; ++i) taken += budgets.Take(site, 1, now_ns) ? 1 : 0;
  return taken;
}

TEST(SiteBudgetsTest, TakesTheBurstThenTheRate) {
  SiteBudgets budgets(kSites, {{100, 10}, {}});
  const int64_t t0 = 5 * kSecond;
  EXPECT_TRUE(budgets.Take(1, 1, t0));
  EXPECT_FALSE(budgets.Take(1, 10, t0));  // more than is left of the burst: none
  EXPECT_EQ(TakeEach(budgets, 1, 50, t0), 9u);
  EXPECT_EQ(TakeEach(budgets, 1, 50, t0 + kSecond / 10), 10u);  // 100 ms: 10 events
  // Site 2 has its own budget; a site outside the registry is not limited.
  EXPECT_TRUE(budgets.Take(2, 10, t0));
  EXPECT_TRUE(budgets.Take(99, 1000, t0));
  // Idle for long, the budget is back to the burst, not more.
  EXPECT_EQ(TakeEach(budgets, 1, 50, t0 + 10 * kSecond), 10u);
  budgets.Return(1, 4);
  EXPECT_EQ(TakeEach(budgets, 1, 50, t0 + 10 * kSecond), 4u);
}

TEST(SiteBudgetsTest, ABeaconOfMoreEventsThanTheBurstPassesAnIdleBucketAndPaysItBack) {
  // The default burst (1) at 100 events/s, and a GA /batch of 2 hits: refused forever, however
  // idle the site, would be a 429 that no retry can get past.
  SiteBudgets budgets(kSites, {{100, 1}, {}});
  const std::pair<uint32_t, uint32_t> batch[] = {{1, 2}};
  for (int64_t t = 1; t <= 5; ++t) {
    EXPECT_EQ(budgets.Admit(batch, 0, t * 10 * kSecond), 1u) << "at " << t * 10 << " s";
  }
  EXPECT_EQ(budgets.dropped(1), 0u);
  // It ran the bucket 20 ms into debt: nothing more until that is paid back, so the rate holds.
  const int64_t t0 = 60 * kSecond;
  ASSERT_EQ(budgets.Admit(batch, 0, t0), 1u);
  EXPECT_EQ(TakeEach(budgets, 1, 5, t0 + kSecond / 100), 0u);
  EXPECT_EQ(TakeEach(budgets, 1, 5, t0 + 2 * kSecond / 100), 1u);
  // A bucket that is not full does not take more than the burst.
  EXPECT_EQ(budgets.Admit(batch, 0, t0 + 25 * kSecond / 1000), 0u);
  EXPECT_EQ(budgets.dropped(1), 2u);
}

TEST(SiteBudgetsTest, PerSiteBudgetsByNameOrId) {
  SiteBudgets budgets(kSites, {{100, 10}, {{"a", {0, 1}}, {"2", {100, 3}}}});
  EXPECT_TRUE(budgets.Take(1, 1000, kSecond));  // "a": no budget
  EXPECT_EQ(TakeEach(budgets, 2, 1000, kSecond), 3u);
  EXPECT_THROW(SiteBudgets(kSites, {{}, {{"nosuch", {1, 1}}}}), std::runtime_error);
}

TEST(SiteBudgetsTest, NoBudgetAdmitsEverything) {
  SiteBudgets budgets(kSites, {});
  EXPECT_FALSE(budgets.enabled());
  EXPECT_TRUE(budgets.Take(1, 1'000'000, 0));
  const std::pair<uint32_t, uint32_t> events[] = {{1, 1000}};
  EXPECT_EQ(budgets.Admit(events, 0, 0), 1u);
  EXPECT_EQ(budgets.dropped(1), 0u);
}

TEST(SiteBudgetsTest, ABeaconIsAdmittedWholeOrRefusedWhole) {
  SiteBudgets budgets(kSites, {{100, 10}, {}});
  const int64_t t0 = kSecond;
  // 4 events of site 1 and 8 of site 2: site 2's 8 fit, site 1's 4 then do not; nothing is
  // kept of the refused beacon, so site 2 still has its whole burst.
  ASSERT_TRUE(budgets.Take(1, 7, t0));
  const std::pair<uint32_t, uint32_t> beacon[] = {{2, 8}, {1, 4}};
  EXPECT_EQ(budgets.Admit(beacon, 0, t0), 0u);
  EXPECT_EQ(budgets.dropped(1), 4u);
  EXPECT_EQ(budgets.dropped(2), 8u);
  EXPECT_TRUE(budgets.Take(2, 10, t0));
  const std::pair<uint32_t, uint32_t> small[] = {{1, 3}};
  EXPECT_EQ(budgets.Admit(small, 0, t0), 1u);
}

TEST(SiteBudgetsTest, OverBudgetSamplesOneInNWithWeightN) {
  SiteBudgetConfig config{{100, 1}, {}};
  config.over_budget = OverBudget::kSample;
  config.sample_one_in = 8;
  SiteBudgets budgets(kSites, config);
  const std::pair<uint32_t, uint32_t> beacon[] = {{1, 1}};
  ASSERT_EQ(budgets.Admit(beacon, 12345, kSecond), 1u);  // the burst
  uint32_t sampled = 0;
  uint64_t weight = 0;
  for (uint64_t hash = 0; hash < 8000; ++hash) {
    const uint32_t w = budgets.Admit(beacon, hash, kSecond);
    sampled += w != 0 ? 1 : 0;
    weight += w;
    // Deterministic: the same beacon bytes are picked again.
    EXPECT_EQ(budgets.Admit(beacon, hash, kSecond), w);
  }
  EXPECT_NEAR(sampled, 1000, 100);
  EXPECT_EQ(weight, sampled * 8u);
  EXPECT_EQ(budgets.dropped(1, BudgetDrop::kSampledOut), 2 * (8000u - sampled));
  EXPECT_EQ(budgets.dropped(1, BudgetDrop::kSiteRate), 0u);
}

TEST(SiteBudgetsTest, OneBudgetAcrossThreads) {
  SiteBudgets budgets(kSites, {{1000, 100}, {}});
  const int64_t t0 = kSecond;
  std::atomic<uint64_t> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      // One simulated second, in 1 ms steps, 10 events a step from each thread (40x the rate).
      for (int ms = 0; ms < 1000; ++ms) {
        granted += TakeEach(budgets, 1, 10, t0 + ms * 1'000'000);
      }
    });
  }
  for (auto& th : threads) th.join();
  // The burst plus 999 ms of rate, whatever the interleaving (a late thread's earlier
  // timestamps cannot take more than the arrival time allows).
  EXPECT_LE(granted.load(), 100u + 1000u);
  EXPECT_GE(granted.load(), 100u + 990u);
}

// A reload's budgets share each kept site's bucket with the old ones, so that neither the rate
// nor the drop count restarts, whichever set a worker still takes from.
TEST(SiteBudgetsTest, AReloadKeepsTheBucketsOfKeptSites) {
  SiteBudgets before(kSites, {{100, 10}, {}});
  const std::pair<uint32_t, uint32_t> burst[] = {{1, 10}};
  const std::pair<uint32_t, uint32_t> one[] = {{1, 1}};
  EXPECT_EQ(before.Admit(burst, 0, kSecond), 1u);
  EXPECT_EQ(before.Admit(one, 0, kSecond), 0u);
  const auto reloaded = kernels::SiteRegistry::Parse("1 a UA-1-1 a.example\n3 c UA-3-1 c\n");
  SiteBudgets after(reloaded, {{100, 10}, {}}, &before);
  EXPECT_EQ(after.Admit(one, 0, kSecond), 0u);  // the burst is spent already
  EXPECT_EQ(after.dropped(1), 2u);
  EXPECT_EQ(before.Admit(one, 0, kSecond), 0u);  // a worker still on the old set
  EXPECT_EQ(after.dropped(1), 3u);
  EXPECT_TRUE(after.Take(3, 10, kSecond));  // a new site starts with its burst
  EXPECT_FALSE(after.Take(3, 1, kSecond));
  EXPECT_TRUE(after.Take(2, 50, kSecond));  // a removed site is outside the registry
}

}  // namespace
}  // namespace beacon::host
