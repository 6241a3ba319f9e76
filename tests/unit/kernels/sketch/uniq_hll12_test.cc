// UniqHll12 without a server: golden values taken from clickhouse-server 18.16.1, small/large
// transitions, merges, round trips, malformed states, and every Highway target against the
// scalar register merge.
#include "kernels/sketch/uniq_hll12.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kernels/simd/byte_kernels.h"

namespace beacon::kernels {
namespace {

std::vector<uint64_t> RandomValues(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> values(n);
  for (auto& v : values) v = rng();
  return values;
}

UniqHll12 SketchOf(const std::vector<uint64_t>& values) {
  UniqHll12 sketch;
  for (uint64_t v : values) sketch.Add(v);
  return sketch;
}

std::string Serialized(const UniqHll12& sketch) {
  std::string out;
  sketch.Serialize(&out);
  return out;
}

std::vector<uint8_t> Registers(const UniqHll12& sketch) {
  std::vector<uint8_t> registers;
  for (size_t b = 0; b < UniqHll12::kRegisters; ++b) registers.push_back(sketch.rank(b));
  return registers;
}

// The tier and heap bytes a stream of adds gives, as the header states them: small while at
// most 16 distinct values; the 17th logs the 16 values' hashes and its own, and every add after
// it logs one more, repeats too; the log takes 32 slots and doubles when full; a full log of
// kMediumSlots turns large.
class TierModel {
 public:
  void Add(uint64_t v) {
    if (std::find(distinct_.begin(), distinct_.end(), v) == distinct_.end()) distinct_.push_back(v);
    if (large_) return;
    if (logged_ != 0) {
      large_ = ++logged_ == UniqHll12::kMediumSlots;
    } else if (distinct_.size() > UniqHll12::kSmallCapacity) {
      logged_ = UniqHll12::kSmallCapacity + 1;
    }
  }
  // The distinct values added, in first-seen order.
  const std::vector<uint64_t>& distinct() const { return distinct_; }
  size_t logged() const { return large_ ? 0 : logged_; }
  bool medium() const { return logged_ != 0 && !large_; }
  bool large() const { return large_; }
  size_t heap_bytes() const {
    if (large_) return UniqHll12::kLargeHeapBytes;
    return logged_ == 0 ? 0 : 4 * std::max<size_t>(32, std::bit_ceil(logged_ + 1));
  }

 private:
  std::vector<uint64_t> distinct_;
  size_t logged_ = 0;
  bool large_ = false;
};

TEST(UniqHll12, EmptyState) {
  static_assert(sizeof(UniqHll12) == 152, "the README and header state this footprint");
  UniqHll12 sketch;
  EXPECT_EQ(sketch.Estimate(), 0u);
  EXPECT_EQ(Serialized(sketch), std::string("\x00\x00", 2));
  EXPECT_EQ(sketch.SerializedSize(), 2u);
}

// arrayReduce('uniqHLL12State', [5, 3, 5, 1]) FORMAT RowBinary: insertion order, no repeats.
TEST(UniqHll12, SmallStateKeepsInsertionOrder) {
  const UniqHll12 sketch = SketchOf({5, 3, 5, 1});
  std::string expected("\x00\x03", 2);
  for (uint64_t v : {5, 3, 1}) expected += std::string(reinterpret_cast<const char*>(&v), 8);
  EXPECT_EQ(Serialized(sketch), expected);
  EXPECT_EQ(sketch.Estimate(), 3u);
  EXPECT_EQ(sketch.SerializedSize(), expected.size());
}

TEST(UniqHll12, SixteenStaySmallTheSeventeenthTurnsLarge) {
  UniqHll12 sketch;
  for (uint64_t v = 0; v < 16; ++v) sketch.Add(v * 7);
  for (uint64_t v = 0; v < 16; ++v) sketch.Add(v * 7);  // repeats do not count
  EXPECT_FALSE(sketch.is_large());
  EXPECT_EQ(sketch.Estimate(), 16u);
  EXPECT_EQ(sketch.SerializedSize(), 2u + 16 * 8);
  sketch.Add(0);
  EXPECT_FALSE(sketch.is_large());
  sketch.Add(1000);
  EXPECT_TRUE(sketch.is_large());
  EXPECT_EQ(sketch.small_size(), 0u);
  EXPECT_EQ(Serialized(sketch).size(), UniqHll12::kLargeStateBytes);
  EXPECT_EQ(UniqHll12::kLargeStateBytes, 2651u);
}

// SELECT uniqHLL12State(toUInt64(number)) FROM numbers(17): the non-zero registers of the
// server's state, and uniqHLL12 of the same is 15. (The SQL function intHash32 cannot serve
// as a golden source: it is intHash32 salted with 0x75D9543DE018BF45; the state uses salt 0.)
TEST(UniqHll12, LargeStateOfZeroToSixteenMatchesTheServer) {
  UniqHll12 sketch;
  for (uint64_t v = 0; v < 17; ++v) sketch.Add(v);
  const std::vector<std::pair<size_t, uint8_t>> expected = {
      {0, 21},   {533, 2},  {1072, 1}, {1556, 1}, {2048, 1}, {2283, 1}, {2626, 1}, {2718, 5},
      {2965, 1}, {3146, 1}, {3195, 2}, {3336, 2}, {3453, 2}, {3640, 1}, {3691, 1}};
  std::vector<std::pair<size_t, uint8_t>> nonzero;
  for (size_t b = 0; b < UniqHll12::kRegisters; ++b) {
    if (sketch.rank(b) != 0) nonzero.emplace_back(b, sketch.rank(b));
  }
  EXPECT_EQ(nonzero, expected);
  EXPECT_EQ(sketch.Estimate(), 15u);
  // The tail: 4096 - 15 registers of rank 0, 9 of rank 1, 4 of 2, one of 5 and one of 21; the
  // zero count again as UInt16.
  const std::string bytes = Serialized(sketch);
  const auto count_at = [&](size_t rank) {
    uint32_t count = 0;
    memcpy(&count, bytes.data() + 1 + UniqHll12::kPackedRegisterBytes + 4 * rank, 4);
    return count;
  };
  EXPECT_EQ(count_at(0), 4081u);
  EXPECT_EQ(count_at(1), 9u);
  EXPECT_EQ(count_at(2), 4u);
  EXPECT_EQ(count_at(5), 1u);
  EXPECT_EQ(count_at(21), 1u);
  EXPECT_EQ(static_cast<uint8_t>(bytes[bytes.size() - 2]), 4081 & 0xff);
  EXPECT_EQ(static_cast<uint8_t>(bytes[bytes.size() - 1]), 4081 >> 8);
}

// uniqHLL12(toUInt64(number)) FROM numbers(n) on 18.16.1: linear counting up to 2.5 * 4096
// raw, the harmonic mean beyond.
TEST(UniqHll12, EstimatesOfConsecutiveNumbersMatchTheServer) {
  const std::vector<std::pair<uint64_t, uint64_t>> server = {
      {100, 98}, {1000, 973}, {10000, 9037}, {100000, 101344}, {1000000, 1008797}};
  for (const auto& [n, estimate] : server) {
    UniqHll12 sketch;
    for (uint64_t v = 0; v < n; ++v) sketch.Add(v);
    EXPECT_EQ(sketch.Estimate(), estimate) << n;
  }
}

TEST(UniqHll12, MergeOfSmallsTurnsLargeBeyondSixteen) {
  UniqHll12 a = SketchOf({1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  const UniqHll12 b = SketchOf({9, 10, 11, 12, 13, 14});
  a.Merge(b);
  EXPECT_FALSE(a.is_large());
  EXPECT_EQ(a.Estimate(), 14u);
  // Server order: a's values, then b's new ones in b's order.
  EXPECT_EQ(Serialized(a), Serialized(SketchOf({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14})));
  a.Merge(SketchOf({15, 16, 17}));
  EXPECT_TRUE(a.is_large());
  std::vector<uint64_t> all;
  for (uint64_t v = 1; v <= 17; ++v) all.push_back(v);
  EXPECT_EQ(Serialized(a), Serialized(SketchOf(all)));
}

TEST(UniqHll12, MergeEqualsTheSketchOfTheUnion) {
  const auto x = RandomValues(5000, 1);
  const auto y = RandomValues(300, 2);
  const auto z = RandomValues(7, 3);
  std::vector<uint64_t> all = x;
  all.insert(all.end(), y.begin(), y.end());
  all.insert(all.end(), z.begin(), z.end());
  const std::string union_bytes = Serialized(SketchOf(all));
  // Any grouping and order of large, large and small gives the union's state.
  UniqHll12 xyz = SketchOf(x);
  xyz.Merge(SketchOf(y));
  xyz.Merge(SketchOf(z));
  EXPECT_EQ(Serialized(xyz), union_bytes);
  UniqHll12 zyx = SketchOf(z);
  zyx.Merge(SketchOf(y));
  zyx.Merge(SketchOf(x));
  EXPECT_EQ(Serialized(zyx), union_bytes);
  // Merging a state twice changes nothing (a resent insert leaves visitors unchanged).
  zyx.Merge(SketchOf(y));
  zyx.Merge(xyz);
  EXPECT_EQ(Serialized(zyx), union_bytes);
}

// A sketch that is large from its first value: the state of an empty large counter, read
// back, then the values added one by one to its registers.
UniqHll12 IncrementalLargeOf(const std::vector<uint64_t>& values) {
  std::string empty(UniqHll12::kLargeStateBytes, '\0');
  empty[0] = 1;
  const size_t counts = 1 + UniqHll12::kPackedRegisterBytes;
  empty[counts + 1] = 0x10;                       // rank 0: 4096 registers (UInt32 LE)
  empty[UniqHll12::kLargeStateBytes - 1] = 0x10;  // zero registers: 4096 (UInt16 LE)
  UniqHll12 sketch;
  EXPECT_EQ(sketch.Deserialize(empty), UniqHll12::kLargeStateBytes);
  EXPECT_FALSE(sketch.is_medium());
  for (uint64_t v : values) sketch.Add(v);
  return sketch;
}

// Medium sketches (past 16 values, their hashes logged) write the state the registers built
// value by value would: the same bytes, estimate and registers, and so once the log turned large.
TEST(UniqHll12, MediumStateEqualsTheIncrementalLargeState) {
  std::mt19937_64 rng(42);
  int medium = 0;
  for (int round = 0; round < 300; ++round) {
    const size_t n = 17 + rng() % (2000 - 17 + 1);
    std::vector<uint64_t> values = RandomValues(n, round);
    for (size_t i = 0; i < n / 3; ++i) values.push_back(values[rng() % n]);  // repeats
    if (round % 2 == 0) values.push_back(0);
    std::shuffle(values.begin(), values.end(), rng);
    const UniqHll12 sketch = SketchOf(values);
    const UniqHll12 reference = IncrementalLargeOf(values);
    TierModel model;
    for (uint64_t v : values) model.Add(v);
    EXPECT_TRUE(sketch.is_large());
    EXPECT_EQ(sketch.is_medium(), model.medium()) << n;
    medium += sketch.is_medium();
    ASSERT_EQ(Serialized(sketch), Serialized(reference)) << n;
    EXPECT_EQ(sketch.Estimate(), reference.Estimate()) << n;
    if (round % 20 == 0) {
      EXPECT_EQ(Registers(sketch), Registers(reference)) << n;
    }
  }
  EXPECT_GT(medium, 30);  // both tiers were exercised
}

// Random streams with repeats and zeros against a brute-force reference of the 18.16 semantics:
// the distinct values in first-seen order give the small state, all of them added to a large
// counter the large one; the tier and heap bytes follow TierModel. Checked after every value.
TEST(UniqHll12, AddMatchesABruteForceReference) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 60; ++round) {
    // Few distinct values make repeats frequent; some streams stay small, some end large.
    const size_t pool_size = 1 + rng() % (round % 3 == 0 ? 24 : 600);
    std::vector<uint64_t> pool = RandomValues(pool_size, 1000 + round);
    if (round % 2 == 0) pool[0] = 0;
    const size_t n = 1 + rng() % 1500;
    UniqHll12 sketch;
    TierModel model;
    for (size_t i = 0; i < n; ++i) {
      const uint64_t v = pool[rng() % pool_size];
      sketch.Add(v);
      model.Add(v);
      const std::vector<uint64_t>& distinct = model.distinct();
      const size_t d = distinct.size();
      ASSERT_EQ(sketch.is_large(), d > UniqHll12::kSmallCapacity) << round << " " << i;
      ASSERT_EQ(sketch.is_medium(), model.medium()) << round << " " << i;
      ASSERT_EQ(sketch.small_size(), d <= UniqHll12::kSmallCapacity ? d : 0);
      ASSERT_EQ(sketch.heap_bytes(), model.heap_bytes()) << round << " " << i;
      if (i % 97 == 0 || i + 1 == n) {
        const UniqHll12 reference =
            d <= UniqHll12::kSmallCapacity ? SketchOf(distinct) : IncrementalLargeOf(distinct);
        ASSERT_EQ(Serialized(sketch), Serialized(reference)) << round << " " << i;
        ASSERT_EQ(sketch.Estimate(), reference.Estimate());
      }
    }
  }
}

// The first three values from 0 up whose IntHash32 is 0.
constexpr uint64_t kZeroHashValues[] = {0, 528038771, 1530889310};

// Pairs of distinct values below 400 000 that share an IntHash32, found by sorting the hashes.
std::vector<std::pair<uint64_t, uint64_t>> CollidingPairs() {
  std::vector<std::pair<uint32_t, uint64_t>> hashes;
  for (uint64_t v = 1; v < 400'000; ++v) hashes.emplace_back(IntHash32(v), v);
  std::sort(hashes.begin(), hashes.end());
  std::vector<std::pair<uint64_t, uint64_t>> pairs;
  for (size_t i = 1; i < hashes.size(); ++i) {
    if (hashes[i].first == hashes[i - 1].first) {
      pairs.emplace_back(hashes[i - 1].second, hashes[i].second);
    }
  }
  return pairs;
}

// 18.16's uniqHLL12 written out plainly: the distinct values in first-seen order while at most
// 16, then 4096 registers updated value by value and packed bit by bit.
class ReferenceHll12 {
 public:
  void Add(uint64_t v) {
    if (std::find(small_.begin(), small_.end(), v) != small_.end()) return;
    if (!large_ && small_.size() < UniqHll12::kSmallCapacity) {
      small_.push_back(v);
      return;
    }
    if (!large_) {
      large_ = true;
      for (uint64_t s : small_) Update(s);
    }
    small_.push_back(v);  // every distinct value, to be found again
    Update(v);
  }
  bool is_large() const { return large_; }
  std::string State() const {
    std::string out(1, large_ ? '\x01' : '\x00');
    if (!large_) {
      out += static_cast<char>(small_.size());
      for (uint64_t v : small_) out.append(reinterpret_cast<const char*>(&v), 8);
      return out;
    }
    std::string packed(UniqHll12::kPackedRegisterBytes, '\0');
    std::vector<uint32_t> counts(UniqHll12::kMaxRank + 1, 0);
    for (size_t i = 0; i < UniqHll12::kRegisters; ++i) {
      ++counts[registers_[i]];
      for (size_t b = 0; b < 5; ++b) {
        if (registers_[i] >> b & 1)
          packed[(5 * i + b) / 8] |= static_cast<char>(1 << (5 * i + b) % 8);
      }
    }
    out += packed;
    for (uint32_t c : counts) out.append(reinterpret_cast<const char*>(&c), 4);
    const auto zeros = static_cast<uint16_t>(counts[0]);
    out.append(reinterpret_cast<const char*>(&zeros), 2);
    return out;
  }

 private:
  void Update(uint64_t v) {
    const uint32_t h = IntHash32(v);
    uint32_t tail = h >> UniqHll12::kPrecision;
    uint8_t rank = 1;
    for (; rank < UniqHll12::kMaxRank && (tail & 1) == 0; tail >>= 1) ++rank;
    uint8_t& reg = registers_[h % UniqHll12::kRegisters];
    reg = std::max(reg, rank);
  }
  std::vector<uint64_t> small_;
  bool large_ = false;
  std::array<uint8_t, UniqHll12::kRegisters> registers_{};
};

// Streams mixing values that share an IntHash32 (0 among them) with random ones: the small
// tier keeps distinct values (two sharing a hash are two), the medium log their hashes, and the
// state bytes and the estimate equal the reference's after every value near a transition (and
// every 13th elsewhere), the tier and heap bytes following TierModel. Two halves merged give
// the whole.
TEST(UniqHll12, CollidingHashesMatchABruteForceReference) {
  const auto pairs = CollidingPairs();
  ASSERT_GE(pairs.size(), 15u);
  for (const uint64_t v : kZeroHashValues) ASSERT_EQ(IntHash32(v), 0u) << v;
  std::vector<uint64_t> colliding(std::begin(kZeroHashValues), std::end(kZeroHashValues));
  for (const auto& [a, b] : pairs) {
    ASSERT_NE(IntHash32(a), 0u);
    colliding.push_back(a);
    colliding.push_back(b);
  }
  std::mt19937_64 rng(11);
  int colliding_medium = 0;
  for (int round = 0; round < 40; ++round) {
    std::vector<uint64_t> pool = colliding;
    const auto random = RandomValues(rng() % (round % 2 == 0 ? 40 : 420), 2000 + round);
    pool.insert(pool.end(), random.begin(), random.end());
    std::shuffle(pool.begin(), pool.end(), rng);
    const size_t n = 1 + rng() % 2000;
    UniqHll12 sketch, first_half, second_half;
    ReferenceHll12 reference;
    TierModel model;
    for (size_t i = 0; i < n; ++i) {
      const uint64_t v = pool[rng() % pool.size()];
      sketch.Add(v);
      (i < n / 2 ? first_half : second_half).Add(v);
      reference.Add(v);
      model.Add(v);
      const size_t d = model.distinct().size();
      ASSERT_EQ(sketch.is_large(), d > UniqHll12::kSmallCapacity) << round << " " << i;
      ASSERT_EQ(sketch.is_large(), reference.is_large());
      ASSERT_EQ(sketch.is_medium(), model.medium()) << round << " " << i;
      ASSERT_EQ(sketch.heap_bytes(), model.heap_bytes()) << round << " " << i;
      colliding_medium += sketch.is_medium() && IntHash32(v) == 0;
      const size_t logged = model.logged();
      const bool near_transition =
          (d >= 15 && d <= 19) || (logged >= 30 && logged <= 34) || logged >= 509;
      if (near_transition || i % 13 == 0 || i + 1 == n) {
        const std::string state = reference.State();
        ASSERT_EQ(Serialized(sketch), state) << round << " " << i;
        UniqHll12 read;
        ASSERT_EQ(read.Deserialize(state), state.size());
        ASSERT_EQ(sketch.Estimate(), read.Estimate()) << round << " " << i;
      }
    }
    // The halves' union in first-seen order is the stream's, small or large.
    first_half.Merge(second_half);
    EXPECT_EQ(Serialized(first_half), reference.State()) << round;
    EXPECT_EQ(first_half.Estimate(), sketch.Estimate()) << round;
  }
  EXPECT_GT(colliding_medium, 0);  // the hash 0 went into a medium log
}

// What Add returns is what heap_bytes() grew by, through every tier: random streams with repeats
// and a value hashing to 0, past small, through each doubling of the log and into large.
TEST(UniqHll12, AddReturnsTheHeapBytesItTook) {
  for (const size_t distinct : {10u, 17u, 100u, 384u, 385u, 3000u}) {
    std::mt19937_64 rng(distinct);
    const std::vector<uint64_t> values = RandomValues(distinct, distinct + 1);
    UniqHll12 sketch;
    size_t total = 0;
    for (size_t i = 0; i < 4 * distinct; ++i) {
      const uint64_t v = i == distinct / 2 ? kZeroHashValues[1] : values[rng() % distinct];
      const size_t before = sketch.heap_bytes();
      const size_t took = sketch.Add(v);
      ASSERT_EQ(took, sketch.heap_bytes() - before) << distinct << " " << i;
      total += took;
    }
    EXPECT_EQ(total, sketch.heap_bytes()) << distinct;
    EXPECT_EQ(sketch.is_large(), distinct > UniqHll12::kSmallCapacity) << distinct;
  }
}

// Past 16 distinct values every add is logged, a repeat too, in 32 slots that double when full;
// the add that fills 512 turns the sketch large. A copy holds the log; a medium state read back
// is large (the wire has no hashes).
TEST(UniqHll12, MediumLogsEveryAddUntilItWouldOutgrowTheRegisters) {
  UniqHll12 sketch;
  for (uint64_t v = 0; v < 16; ++v) EXPECT_EQ(sketch.Add(v), 0u);
  EXPECT_EQ(sketch.heap_bytes(), 0u);
  EXPECT_EQ(sketch.Add(16), 32 * 4u);  // 17 hashes logged
  EXPECT_TRUE(sketch.is_medium());
  for (uint64_t i = 17; i < 31; ++i) EXPECT_EQ(sketch.Add(3), 0u) << i;  // repeats: 31 logged
  EXPECT_EQ(sketch.Add(3), 32 * 4u);  // the 32nd fills the log: 64 slots
  EXPECT_EQ(sketch.heap_bytes(), 64 * 4u);
  size_t logged = 32;
  for (; logged < UniqHll12::kMediumCapacity; ++logged) sketch.Add(logged % 20);
  EXPECT_TRUE(sketch.is_medium());
  EXPECT_EQ(sketch.heap_bytes(), UniqHll12::kMediumSlots * 4);
  EXPECT_LT(sketch.heap_bytes(), UniqHll12::kLargeHeapBytes);
  const UniqHll12 copy = sketch;
  EXPECT_TRUE(copy.is_medium());
  EXPECT_EQ(copy.heap_bytes(), sketch.heap_bytes());
  EXPECT_EQ(Serialized(copy), Serialized(sketch));
  ReferenceHll12 reference;
  for (uint64_t v = 0; v < 20; ++v) reference.Add(v);
  EXPECT_EQ(Serialized(copy), reference.State());
  sketch.Add(5);
  EXPECT_FALSE(sketch.is_medium());
  EXPECT_TRUE(sketch.is_large());
  EXPECT_EQ(sketch.heap_bytes(), UniqHll12::kLargeHeapBytes);
  EXPECT_EQ(Serialized(sketch), Serialized(copy));  // 20 values, however often logged
  UniqHll12 read;
  EXPECT_EQ(read.Deserialize(Serialized(copy)), UniqHll12::kLargeStateBytes);
  EXPECT_FALSE(read.is_medium());
  EXPECT_EQ(Serialized(read), Serialized(copy));
  read.Clear();
  EXPECT_EQ(read.heap_bytes(), 0u);
}

// Hashes logged twice, the hash 0 among them, give the reference's state and estimate, and so
// does a medium sketch merged into a medium one, into a small one and into itself.
TEST(UniqHll12, RepeatedHashesInTheLogGiveTheReferenceState) {
  std::vector<uint64_t> values = RandomValues(40, 77);
  values.insert(values.end(), std::begin(kZeroHashValues), std::end(kZeroHashValues));
  ReferenceHll12 reference;
  UniqHll12 sketch;
  for (int pass = 0; pass < 3; ++pass) {
    for (uint64_t v : values) {
      sketch.Add(v);
      reference.Add(v);
    }
  }
  EXPECT_TRUE(sketch.is_medium());
  EXPECT_EQ(Serialized(sketch), reference.State());
  UniqHll12 read;
  ASSERT_EQ(read.Deserialize(reference.State()), UniqHll12::kLargeStateBytes);
  EXPECT_EQ(sketch.Estimate(), read.Estimate());
  UniqHll12 merged = sketch;
  merged.Merge(sketch);
  merged.Merge(merged);
  EXPECT_EQ(Serialized(merged), reference.State());
  UniqHll12 small = SketchOf({values[0], values[1], 12345});
  small.Merge(sketch);
  reference.Add(12345);
  EXPECT_EQ(Serialized(small), reference.State());
}

// Every pair of tiers, both ways round, gives the state of the union built value by value (all
// unions exceed 16 values: small + small is MergeOfSmallsTurnsLargeBeyondSixteen).
TEST(UniqHll12, MergesOfEveryTierEqualTheUnion) {
  struct Tier {
    const char* name;
    size_t size;
    bool incremental_large;
  };
  const Tier tiers[] = {{"small", 9, false},
                        {"medium", 40, false},
                        {"full medium", UniqHll12::kMediumCapacity, false},
                        {"large", 3000, false},
                        {"large from 30", 30, true}};
  uint64_t seed = 100;
  for (const Tier& a : tiers) {
    for (const Tier& b : tiers) {
      std::vector<uint64_t> x = RandomValues(a.size, ++seed);
      std::vector<uint64_t> y = RandomValues(b.size, ++seed);
      y.insert(y.end(), x.begin(), x.begin() + static_cast<std::ptrdiff_t>(x.size() / 2));
      std::vector<uint64_t> all = x;
      all.insert(all.end(), y.begin(), y.end());
      const std::string expected = Serialized(IncrementalLargeOf(all));
      const UniqHll12 sx = a.incremental_large ? IncrementalLargeOf(x) : SketchOf(x);
      const UniqHll12 sy = b.incremental_large ? IncrementalLargeOf(y) : SketchOf(y);
      UniqHll12 xy = sx;
      xy.Merge(sy);
      UniqHll12 yx = sy;
      yx.Merge(sx);
      EXPECT_EQ(Serialized(xy), expected) << a.name << " + " << b.name;
      EXPECT_EQ(Serialized(yx), expected) << b.name << " + " << a.name;
      EXPECT_EQ(xy.Estimate(), yx.Estimate());
      xy.Merge(sy);  // merging again changes nothing
      EXPECT_EQ(Serialized(xy), expected) << a.name << " + " << b.name << " twice";
    }
  }
}

TEST(UniqHll12, CopiesAreIndependent) {
  const UniqHll12 large = SketchOf(RandomValues(500, 4));
  UniqHll12 copy = large;
  const std::string before = Serialized(large);
  EXPECT_EQ(Serialized(copy), before);
  for (uint64_t v : RandomValues(5000, 5)) copy.Add(v);
  EXPECT_EQ(Serialized(large), before);
  EXPECT_NE(Serialized(copy), before);
  copy = SketchOf({1, 2});
  EXPECT_FALSE(copy.is_large());
  EXPECT_EQ(copy.Estimate(), 2u);
}

TEST(UniqHll12, RoundTrips) {
  for (size_t n : {0, 1, 15, 16, 17, 100, 1000, 100000}) {
    const std::string bytes = Serialized(SketchOf(RandomValues(n, n)));
    UniqHll12 back;
    // Trailing bytes (the next column of a row) are not taken.
    EXPECT_EQ(back.Deserialize(bytes + "next"), bytes.size()) << n;
    EXPECT_EQ(Serialized(back), bytes) << n;
    EXPECT_EQ(back.Estimate(), SketchOf(RandomValues(n, n)).Estimate()) << n;
  }
}

TEST(UniqHll12, RefusesMalformedStates) {
  const std::string large = Serialized(SketchOf(RandomValues(1000, 9)));
  const std::string small = Serialized(SketchOf(RandomValues(5, 9)));
  UniqHll12 sketch = SketchOf({1, 2});
  EXPECT_EQ(sketch.Deserialize(""), 0u);
  EXPECT_EQ(sketch.Estimate(), 0u) << "a refused state leaves the sketch empty";
  EXPECT_EQ(sketch.Deserialize(std::string("\x02\x00", 2)), 0u);         // flag
  EXPECT_EQ(sketch.Deserialize(std::string("\x00\x11", 2)), 0u);         // 17 small values
  EXPECT_EQ(sketch.Deserialize(small.substr(0, small.size() - 1)), 0u);  // truncated small
  EXPECT_EQ(sketch.Deserialize(large.substr(0, large.size() - 1)), 0u);  // truncated large
  std::string bad_rank = large;
  bad_rank[1] = static_cast<char>(bad_rank[1] | 0x1f);  // register 0 = 31 > 21
  EXPECT_EQ(sketch.Deserialize(bad_rank), 0u);
  std::string bad_count = large;
  bad_count[1 + UniqHll12::kPackedRegisterBytes + 4] ^= 1;  // the count of rank 1
  EXPECT_EQ(sketch.Deserialize(bad_count), 0u);
  std::string bad_zeros = large;
  bad_zeros[large.size() - 1] ^= 1;
  EXPECT_EQ(sketch.Deserialize(bad_zeros), 0u);
  EXPECT_EQ(sketch.Deserialize(large), large.size());
}

// The register merge on every Highway target this CPU supports against the scalar one.
class RegisterKernelsOnEveryTarget : public ::testing::Test {
 protected:
  void TearDown() override { ForceSimdTargetForTest(0); }
};

TEST_F(RegisterKernelsOnEveryTarget, MaxRegistersEqualScalar) {
  std::mt19937 rng(3);
  for (size_t n : {size_t{0}, size_t{1}, size_t{31}, size_t{65}, UniqHll12::kRegisters}) {
    // Sparse (few raised registers, whole vectors skipped) and dense sources.
    for (int sparse = 0; sparse < 2; ++sparse) {
      std::vector<uint8_t> dst(n), src(n);
      std::vector<uint32_t> counts(UniqHll12::kMaxRank + 1, 0);
      for (size_t i = 0; i < n; ++i) {
        dst[i] = static_cast<uint8_t>(rng() % 22);
        src[i] = sparse && rng() % 50 != 0 ? 0 : static_cast<uint8_t>(rng() % 22);
        ++counts[dst[i]];
      }
      std::vector<uint8_t> want = dst;
      std::vector<uint32_t> want_counts = counts;
      hll12::MaxRegistersScalar(want.data(), src.data(), n, want_counts.data());
      std::vector<uint32_t> recount(UniqHll12::kMaxRank + 1, 0);
      for (uint8_t r : want) ++recount[r];
      ASSERT_EQ(want_counts, recount);
      for (const SimdTarget& target : SupportedSimdTargets()) {
        ForceSimdTargetForTest(target.bits);
        std::vector<uint8_t> got = dst;
        std::vector<uint32_t> got_counts = counts;
        hll12::MaxRegisters(got.data(), src.data(), n, got_counts.data());
        EXPECT_EQ(got, want) << target.name << " n=" << n << " sparse=" << sparse;
        EXPECT_EQ(got_counts, want_counts) << target.name << " n=" << n << " sparse=" << sparse;
      }
    }
  }
}

// The small tier's scan is a dispatched kernel too: streams of 1 to 40 values drawn from small
// pools (so most adds are repeats, found at every position of the 16) give the reference's
// state on every target.
TEST_F(RegisterKernelsOnEveryTarget, SmallAddsEqualTheReferenceOnEveryTarget) {
  for (const SimdTarget& target : SupportedSimdTargets()) {
    ForceSimdTargetForTest(target.bits);
    std::mt19937_64 rng(11);
    for (int round = 0; round < 200; ++round) {
      const std::vector<uint64_t> pool = RandomValues(1 + round % 20, round);
      ReferenceHll12 reference;
      UniqHll12 sketch;
      for (size_t i = 0, n = 1 + rng() % 40; i < n; ++i) {
        const uint64_t v = pool[rng() % pool.size()];
        reference.Add(v);
        sketch.Add(v);
        ASSERT_EQ(Serialized(sketch), reference.State()) << target.name << " round " << round;
      }
    }
  }
}

TEST_F(RegisterKernelsOnEveryTarget, SketchesAreIdenticalOnEveryTarget) {
  const auto x = RandomValues(20'000, 31);
  const auto y = RandomValues(3'000, 32);
  UniqHll12 reference = SketchOf(x);
  reference.Merge(SketchOf(y));
  const std::vector<uint8_t> want = Registers(reference);
  for (const SimdTarget& target : SupportedSimdTargets()) {
    ForceSimdTargetForTest(target.bits);
    UniqHll12 a = SketchOf(x);
    a.Merge(SketchOf(y));
    EXPECT_EQ(Registers(a), want) << target.name;
    EXPECT_EQ(Serialized(a), Serialized(reference)) << target.name;
  }
}

}  // namespace
}  // namespace beacon::kernels
