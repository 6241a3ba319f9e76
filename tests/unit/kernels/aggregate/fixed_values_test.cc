// FixedValues: per-id rows equal to a map of the same hits, in first-seen order, and its memory
// accounting.
#include "kernels/aggregate/fixed_values.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

namespace beacon::kernels {
namespace {

std::string Bytes(const UniqHll12& sketch) {
  std::string out;
  sketch.Serialize(&out);
  return out;
}

TEST(FixedValuesTest, RowsEqualAMapOfTheHitsInFirstSeenOrder) {
  constexpr uint32_t kDomain = 676;
  std::mt19937_64 rng(5);
  FixedValues values;
  struct Expected {
    uint64_t pageviews = 0;
    uint64_t events = 0;
    UniqHll12 visitors;
  };
  std::map<uint32_t, Expected> expected;
  std::vector<uint32_t> first_seen;
  for (int i = 0; i < 50000; ++i) {
    const uint32_t id = static_cast<uint32_t>(rng() % 40 == 0 ? rng() % kDomain : rng() % 8);
    const bool pageview = rng() % 3 != 0;
    const uint64_t visitor = rng() % (i < 25000 ? 12 : 3000);
    values.Add(id, kDomain, pageview, visitor);
    if (!expected.count(id)) first_seen.push_back(id);
    Expected& e = expected[id];
    ++(pageview ? e.pageviews : e.events);
    e.visitors.Add(visitor);
  }
  ASSERT_EQ(values.size(), expected.size());
  const std::vector<FixedValues::Row> rows = values.Rows();
  ASSERT_EQ(rows.size(), first_seen.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].id, first_seen[i]);
    const Expected& e = expected.at(rows[i].id);
    EXPECT_EQ(std::tie(rows[i].pageviews, rows[i].events), std::tie(e.pageviews, e.events));
    EXPECT_EQ(Bytes(*rows[i].visitors), Bytes(e.visitors)) << rows[i].id;
  }
}

TEST(FixedValuesTest, HeapBytesAreTheMapTheEntriesAndTheSketches) {
  FixedValues values;
  EXPECT_TRUE(values.empty());
  EXPECT_EQ(values.heap_bytes(), 0u);
  values.Add(3, 40, true, 1);
  EXPECT_EQ(values.heap_bytes(), FixedValues::MapBytes(40) + FixedValues::EntryBytes());
  const size_t one = values.heap_bytes();
  // Sixteen distinct visitors fit inline; the 17th gives the sketch its 32-slot set.
  for (uint64_t v = 2; v <= 16; ++v) values.Add(3, 40, false, v);
  EXPECT_EQ(values.heap_bytes(), one);
  values.Add(3, 40, false, 17);
  EXPECT_EQ(values.heap_bytes(), one + 32 * sizeof(uint32_t));
}

}  // namespace
}  // namespace beacon::kernels
