// SiteBudgets: a site's events within rate and burst are granted, the rest dropped and counted;
// the budget is one for all threads; sites outside the registry and no budget grant all.
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

TEST(SiteBudgetsTest, GrantsTheBurstThenTheRate) {
  SiteBudgets budgets(kSites, {{100, 10}, {}});
  const int64_t t0 = 5 * kSecond;
  EXPECT_EQ(budgets.Take(1, 50, t0), 10u);
  EXPECT_EQ(budgets.dropped(1), 40u);
  EXPECT_EQ(budgets.Take(1, 1, t0), 0u);
  EXPECT_EQ(budgets.Take(1, 50, t0 + kSecond / 10), 10u);  // 100 ms: 10 events
  // Site 2 has its own budget; a site outside the registry is not limited.
  EXPECT_EQ(budgets.Take(2, 10, t0), 10u);
  EXPECT_EQ(budgets.Take(99, 1000, t0), 1000u);
  // Idle for long, the budget is back to the burst, not more.
  EXPECT_EQ(budgets.Take(1, 50, t0 + 10 * kSecond), 10u);
}

TEST(SiteBudgetsTest, PerSiteBudgetsByNameOrId) {
  SiteBudgets budgets(kSites, {{100, 10}, {{"a", {0, 1}}, {"2", {100, 3}}}});
  EXPECT_EQ(budgets.Take(1, 1000, kSecond), 1000u);  // "a": no budget
  EXPECT_EQ(budgets.Take(2, 1000, kSecond), 3u);
  EXPECT_THROW(SiteBudgets(kSites, {{}, {{"nosuch", {1, 1}}}}), std::runtime_error);
}

TEST(SiteBudgetsTest, NoBudgetGrantsEverything) {
  SiteBudgets budgets(kSites, {});
  EXPECT_FALSE(budgets.enabled());
  EXPECT_EQ(budgets.Take(1, 1'000'000, 0), 1'000'000u);
  EXPECT_EQ(budgets.dropped(1), 0u);
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
        granted += budgets.Take(1, 10, t0 + ms * 1'000'000);
      }
    });
  }
  for (auto& th : threads) th.join();
  // The burst plus 999 ms of rate, whatever the interleaving (a late thread's earlier
  // timestamps cannot take more than the arrival time allows).
  EXPECT_LE(granted.load(), 100u + 1000u);
  EXPECT_GE(granted.load(), 100u + 990u);
  EXPECT_EQ(granted.load() + budgets.dropped(1), 40'000u);
}

// A reload's budgets share each kept site's bucket with the old ones, so that neither the rate
// nor the drop count restarts, whichever set a worker still takes from.
TEST(SiteBudgetsTest, AReloadKeepsTheBucketsOfKeptSites) {
  SiteBudgets before(kSites, {{100, 10}, {}});
  EXPECT_EQ(before.Take(1, 50, kSecond), 10u);
  const auto reloaded = kernels::SiteRegistry::Parse("1 a UA-1-1 a.example\n3 c UA-3-1 c\n");
  SiteBudgets after(reloaded, {{100, 10}, {}}, &before);
  EXPECT_EQ(after.Take(1, 1, kSecond), 0u);  // the burst is spent already
  EXPECT_EQ(after.dropped(1), 41u);
  EXPECT_EQ(before.Take(1, 1, kSecond), 0u);  // a worker still on the old set
  EXPECT_EQ(after.dropped(1), 42u);
  EXPECT_EQ(after.Take(3, 50, kSecond), 10u);  // a new site starts with its burst
  EXPECT_EQ(after.Take(2, 50, kSecond), 50u);  // a removed site is outside the registry
}

}  // namespace
}  // namespace beacon::host
