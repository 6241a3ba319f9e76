// TopValues against a brute-force Space-Saving of the same rule (a scan for the lowest
// (count, admission) at each eviction): the same rows, counts, admission errors, folds and
// visitor states, byte for byte; and its memory accounting.
#include "kernels/aggregate/top_values.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
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

// Space-Saving as the README states it, with every step a scan.
class BruteForceTopValues {
 public:
  uint64_t Add(std::string value, bool pageview, uint64_t visitor, uint32_t k) {
    if (value.size() > kMaxBreakdownValueBytes) {
      size_t cut = kMaxBreakdownValueBytes;
      while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;
      value.resize(cut);
    }
    if (value == kOtherValue || k == 0) {
      Count(other_, pageview, visitor);
      return 0;
    }
    for (Slot& slot : slots_) {
      if (slot.value == value) {
        Count(slot.tally, pageview, visitor);
        ++slot.count;
        return 0;
      }
    }
    if (slots_.size() < k) {
      slots_.push_back({value, 1, 0, next_++, {}});
      Count(slots_.back().tally, pageview, visitor);
      return 0;
    }
    Slot& min = *std::min_element(slots_.begin(), slots_.end(), [](const Slot& a, const Slot& b) {
      return std::tie(a.count, a.admitted) < std::tie(b.count, b.admitted);
    });
    const uint64_t folded = min.tally.pageviews + min.tally.events;
    other_.pageviews += min.tally.pageviews;
    other_.events += min.tally.events;
    other_.visitors.Merge(min.tally.visitors);
    min = {value, min.count + 1, min.count, next_++, {}};
    Count(min.tally, pageview, visitor);
    return folded;
  }

  // value -> (pageviews, events, admission error, state bytes)
  std::map<std::string, std::tuple<uint64_t, uint64_t, uint64_t, std::string>> Rows() const {
    std::map<std::string, std::tuple<uint64_t, uint64_t, uint64_t, std::string>> rows;
    for (const Slot& s : slots_) {
      rows[s.value] = {s.tally.pageviews, s.tally.events, s.admission_error,
                       Bytes(s.tally.visitors)};
    }
    if (other_.pageviews + other_.events > 0) {
      rows[std::string(kOtherValue)] = {other_.pageviews, other_.events, 0, Bytes(other_.visitors)};
    }
    return rows;
  }

 private:
  struct Tally {
    uint64_t pageviews = 0;
    uint64_t events = 0;
    UniqHll12 visitors;
  };
  struct Slot {
    std::string value;
    uint64_t count;
    uint64_t admission_error;
    uint64_t admitted;
    Tally tally;
  };
  static void Count(Tally& t, bool pageview, uint64_t visitor) {
    ++(pageview ? t.pageviews : t.events);
    t.visitors.Add(visitor);
  }
  std::vector<Slot> slots_;
  Tally other_;
  uint64_t next_ = 0;
};

std::map<std::string, std::tuple<uint64_t, uint64_t, uint64_t, std::string>> RowsOf(
    TopValues& top) {
  std::map<std::string, std::tuple<uint64_t, uint64_t, uint64_t, std::string>> rows;
  for (const TopValues::Row& row : top.Rows()) {
    EXPECT_TRUE(rows.emplace(std::string(row.value),
                             std::make_tuple(row.pageviews, row.events, row.admission_error,
                                             Bytes(*row.visitors)))
                    .second)
        << "a value in two rows: " << row.value;
  }
  return rows;
}

// Zipf values with bursts of new ones, some "(other)" and over-long values, few or many
// visitors: the heap (built at the first eviction), the tagged index with backward-shift
// deletion and the split arrays give exactly the brute force's rows after every phase.
TEST(TopValuesTest, RowsEqualABruteForceSpaceSavingOfTheSameRule) {
  const std::string long_value = std::string(kMaxBreakdownValueBytes - 1, 'x') + "\xC3\xA9" + "z";
  for (const uint32_t seed : {1u, 2u, 3u}) {
    for (const uint32_t k : {1u, 2u, 7u, 50u, 300u}) {
      std::mt19937_64 rng(seed * 1000 + k);
      std::vector<double> weights;
      for (int i = 1; i <= 2000; ++i) weights.push_back(1.0 / std::pow(i, 1.05));
      std::discrete_distribution<int> zipf(weights.begin(), weights.end());
      const uint64_t visitors = seed == 1 ? 10 : 5000;
      TopValues top;
      BruteForceTopValues reference;
      uint64_t folded = 0, reference_folded = 0;
      for (int i = 0; i < 12000; ++i) {
        std::string value = "/v/" + std::to_string(zipf(rng));
        if (i % 3000 > 2500) value = "burst-" + std::to_string(i);
        if (i % 997 == 0) value = std::string(kOtherValue);
        if (i % 1499 == 0) value = long_value;
        const bool pageview = rng() % 4 != 0;
        const uint64_t visitor = rng() % visitors;
        folded += top.Add(value, pageview, visitor, k);
        reference_folded += reference.Add(value, pageview, visitor, k);
        if (i % 4000 == 3999) {
          ASSERT_EQ(RowsOf(top), reference.Rows()) << "seed " << seed << " k " << k << " at " << i;
        }
      }
      EXPECT_EQ(folded, reference_folded);
      EXPECT_LE(top.size(), k);
    }
  }
}

// Values of every length around the inline size, many of them long: replacing a long value by
// a shorter one reuses its bytes, a longer one goes to the arena's end, and the arena is
// rebuilt from the live values when full. The rows stay the brute force's, and the arena holds
// at most twice the live values' bytes, whatever the number of evictions.
TEST(TopValuesTest, LongValuesThroughManyEvictionsEqualBruteForceWithABoundedArena) {
  for (const uint32_t k : {1u, 3u, 20u, 100u}) {
    std::mt19937_64 rng(k);
    TopValues top;
    BruteForceTopValues reference;
    uint64_t folded = 0, reference_folded = 0;
    size_t longest = 0;
    for (int i = 0; i < 20000; ++i) {
      // A few hot values, the rest distinct: lengths 1 to 300, some cut at 1024 bytes.
      const uint64_t id = rng() % 3 == 0 ? rng() % 5 : 1000 + i;
      const size_t length = i % 501 == 0 ? 1500 : 1 + (id * 7919) % 300;
      std::string value = std::to_string(id) + "-";
      value.resize(std::max(length, value.size()), static_cast<char>('a' + id % 26));
      longest = std::max(longest, std::min(value.size(), kMaxBreakdownValueBytes));
      const bool pageview = rng() % 3 != 0;
      const uint64_t visitor = rng() % 8;
      folded += top.Add(value, pageview, visitor, k);
      reference_folded += reference.Add(value, pageview, visitor, k);
      if (i % 2500 == 2499) {
        ASSERT_EQ(RowsOf(top), reference.Rows()) << "k " << k << " at " << i;
      }
      // Arrays (entries, sketches, heap ids, an index at most half full) and the arena.
      const size_t arrays = top.size() * 2 * (TopValues::EntryBytes() + TopValues::HeapBytes()) +
                            std::max<size_t>(TopValues::kMinIndexSlots, 4 * top.size()) * 8;
      ASSERT_LE(top.heap_bytes(),
                arrays + std::max(TopValues::kMinArenaBytes, 2 * top.size() * longest))
          << "k " << k << " at " << i;
    }
    EXPECT_EQ(folded, reference_folded);
    EXPECT_GT(folded, 10000u);
  }
}

TEST(TopValuesTest, HeapBytesFollowTheArraysAndTheSketches) {
  TopValues top;
  EXPECT_EQ(top.heap_bytes(), 0u);
  EXPECT_TRUE(top.empty());
  top.Add("/short", true, 1, 10);
  // One entry in each array but the weights' (no weighted hit yet), a 16-slot index, no value
  // buffer (inline), a small sketch.
  EXPECT_EQ(top.heap_bytes(),
            TopValues::EntryBytes() - TopValues::WeightBytes() + TopValues::kMinIndexSlots * 8);
  top.Add("/a-value-longer-than-fifteen-bytes", true, 1, 10);
  const size_t two = top.heap_bytes();
  EXPECT_GT(two, 2 * TopValues::EntryBytes() + TopValues::kMinIndexSlots * 8);
  // The 17th distinct visitor gives the value's sketch its 32-slot set.
  for (uint64_t v = 2; v <= 17; ++v) top.Add("/short", true, v, 10);
  EXPECT_EQ(top.heap_bytes(), two + 32 * sizeof(uint32_t));
  // The first weighted hit makes the weights array, one entry per value.
  top.Add("/short", true, 1, 10, 5);
  EXPECT_EQ(top.heap_bytes(), two + 32 * sizeof(uint32_t) + 2 * TopValues::WeightBytes());
}

TEST(TopValuesTest, WeightsMoveWithTheCountsIntoOther) {
  TopValues top;
  top.Add("/a", true, 1, 1, 7);
  top.Add("/a", false, 1, 1, 3);
  top.Add("/b", true, 2, 1);  // evicts "/a": its weighted sums go to (other)
  top.Add("/b", true, 2, 1, 4);
  std::vector<TopValues::Row> rows = top.Rows();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].value, "/b");
  EXPECT_EQ(rows[0].pageviews, 2u);
  EXPECT_EQ(rows[0].weighted_pageviews, 5u);
  EXPECT_EQ(rows[1].value, kOtherValue);
  EXPECT_EQ(rows[1].pageviews, 1u);
  EXPECT_EQ(rows[1].events, 1u);
  EXPECT_EQ(rows[1].weighted_pageviews, 7u);
  EXPECT_EQ(rows[1].weighted_events, 3u);
}

}  // namespace
}  // namespace beacon::kernels
