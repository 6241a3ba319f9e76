// Hash64: fixed values (stored in ClickHouse, so they must never change silently), seeds,
// and every length's tail handling.
#include "kernels/bytes/hash.h"

#include <gtest/gtest.h>

#include <bit>
#include <set>
#include <string>

namespace beacon::kernels {
namespace {

TEST(HashTest, GoldenValuesDoNotChange) {
  // Changing these changes every visitor id already stored: only on purpose, with a note.
  EXPECT_EQ(Hash64("", 0), 0x7de53de772ea694cULL);
  EXPECT_EQ(Hash64("1234567890.1698765432", 42), 0x5e29bd524579a866ULL);
}

TEST(HashTest, SeedAndEveryByteMatter) {
  const std::string base = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::set<uint64_t> seen;
  for (size_t len = 0; len <= base.size(); ++len) {
    EXPECT_TRUE(seen.insert(Hash64(base.substr(0, len), 1)).second) << len;
    EXPECT_NE(Hash64(base.substr(0, len), 1), Hash64(base.substr(0, len), 2)) << len;
  }
  for (size_t i = 0; i < base.size(); ++i) {
    std::string flipped = base;
    flipped[i] ^= 1;
    EXPECT_NE(Hash64(flipped, 1), Hash64(base, 1)) << i;
  }
}

TEST(HashTest, AvalancheIsRoughlyHalf) {
  // One flipped input bit changes about half of the output bits on average.
  std::string key = "visitor-0000000000";
  double changed = 0;
  int trials = 0;
  for (size_t byte = 0; byte < key.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string k = key;
      k[byte] = static_cast<char>(k[byte] ^ (1 << bit));
      changed += std::popcount(Hash64(k, 7) ^ Hash64(key, 7));
      ++trials;
    }
  }
  const double mean = changed / trials;
  EXPECT_GT(mean, 28.0);
  EXPECT_LT(mean, 36.0);
}

}  // namespace
}  // namespace beacon::kernels
