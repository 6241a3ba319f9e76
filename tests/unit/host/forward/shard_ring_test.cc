// ShardRing: sites spread evenly, and growing the ring moves only the sites the new shard
// takes, about 1/(N+1) of them.
#include "host/forward/shard_ring.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>
#include <vector>

namespace beacon::host {
namespace {

constexpr uint32_t kSites = 100'000;

TEST(ShardRingTest, SpreadsSitesEvenly) {
  for (uint32_t n : {2u, 3u, 5u}) {
    const ShardRing ring(n);
    std::vector<uint32_t> count(n);
    for (uint32_t site = 1; site <= kSites; ++site) ++count[ring.ShardOf(site)];
    for (uint32_t s = 0; s < n; ++s) {
      // Binomial: sigma = sqrt(kSites p (1-p)) < 160; 5 sigma.
      EXPECT_NEAR(count[s], kSites / n, 800) << "shard " << s << " of " << n;
    }
  }
}

TEST(ShardRingTest, AddingAShardMovesAboutOneOverNPlusOneOnlyOntoTheNewShard) {
  for (uint32_t n = 1; n <= 8; ++n) {
    const ShardRing before(n);
    const ShardRing after(n + 1);
    uint32_t moved = 0;
    for (uint32_t site = 1; site <= kSites; ++site) {
      const uint32_t from = before.ShardOf(site);
      const uint32_t to = after.ShardOf(site);
      if (from == to) continue;
      ++moved;
      ASSERT_EQ(to, n) << "site " << site << " moved between old shards " << from << " -> " << to;
    }
    const double fraction = static_cast<double>(moved) / kSites;
    // sigma = sqrt(p (1-p) / kSites) <= 0.0016; 5 sigma.
    EXPECT_NEAR(fraction, 1.0 / (n + 1), 0.008) << n << " -> " << n + 1 << " shards";
  }
}

TEST(ShardRingTest, OneShardTakesEverySite) {
  const ShardRing ring(1);
  for (uint32_t site : {0u, 1u, 42u, 0xffffffffu}) EXPECT_EQ(ring.ShardOf(site), 0u);
}

TEST(ShardRingTest, RefusesAShardCountOutOfRange) {
  EXPECT_THROW(ShardRing(0), std::invalid_argument);
  EXPECT_THROW(ShardRing(65537), std::invalid_argument);
}

}  // namespace
}  // namespace beacon::host
