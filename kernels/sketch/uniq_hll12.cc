// UniqHll12 and its register merge. This file re-includes itself once per compiled Highway
// target (hwy/foreach_target.h); the class and the scalar reference are defined once.
#include "kernels/sketch/uniq_hll12.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <utility>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/sketch/uniq_hll12.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace beacon::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void MaxRegistersSimd(uint8_t* HWY_RESTRICT dst, const uint8_t* HWY_RESTRICT src, size_t n,
                      uint32_t* HWY_RESTRICT rank_counts) {
  const hn::ScalableTag<uint8_t> d;
  static_assert(HWY_MAX_BYTES <= 64, "the raised-lane mask must fit a uint64_t");
  const size_t lanes = hn::Lanes(d);
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto old_ranks = hn::LoadU(d, dst + i);
    const auto new_ranks = hn::LoadU(d, src + i);
    const auto raised = hn::Gt(new_ranks, old_ranks);
    if (hn::AllFalse(d, raised)) continue;
    // Only the raised registers move a count; merging into a bigger sketch raises few. x86
    // vectors hold at most 64 bytes, so the mask fits one word.
    uint8_t raised_bytes[8] = {};
    hn::StoreMaskBits(d, raised, raised_bytes);
    uint64_t raised_bits = 0;
    memcpy(&raised_bits, raised_bytes, sizeof(raised_bits));
    for (; raised_bits != 0; raised_bits &= raised_bits - 1) {
      const size_t j = i + static_cast<size_t>(__builtin_ctzll(raised_bits));
      --rank_counts[dst[j]];
      ++rank_counts[src[j]];
    }
    hn::StoreU(hn::Max(old_ranks, new_ranks), d, dst + i);
  }
  hll12::MaxRegistersScalar(dst + i, src + i, n - i, rank_counts);
}

// Whether `value` is among the first `n` (≤ 16) of `values`.
bool SmallHoldsSimd(const uint64_t* HWY_RESTRICT values, size_t n, uint64_t value) {
  const hn::ScalableTag<uint64_t> d;
  const auto want = hn::Set(d, value);
  const size_t lanes = hn::Lanes(d);
  for (size_t i = 0; i < n; i += lanes) {
    const auto eq = hn::And(hn::Eq(hn::LoadU(d, values + i), want), hn::FirstN(d, n - i));
    if (!hn::AllFalse(d, eq)) return true;
  }
  return false;
}

}  // namespace HWY_NAMESPACE
}  // namespace beacon::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace beacon::kernels {

HWY_EXPORT(MaxRegistersSimd);
HWY_EXPORT(SmallHoldsSimd);

namespace hll12 {

void MaxRegistersScalar(uint8_t* dst, const uint8_t* src, size_t n, uint32_t* rank_counts) {
  for (size_t i = 0; i < n; ++i) {
    if (src[i] > dst[i]) {
      --rank_counts[dst[i]];
      ++rank_counts[src[i]];
      dst[i] = src[i];
    }
  }
}

void MaxRegisters(uint8_t* dst, const uint8_t* src, size_t n, uint32_t* rank_counts) {
  HWY_DYNAMIC_DISPATCH(MaxRegistersSimd)(dst, src, n, rank_counts);
}

}  // namespace hll12

namespace {

constexpr uint8_t kSmallFlag = 0;
constexpr uint8_t kLargeFlag = 1;
constexpr size_t kRankCounts = UniqHll12::kMaxRank + 1;

using RankCounts = std::array<uint32_t, kRankCounts>;

// Four interleaved histograms: consecutive equal ranks (runs of empty registers) would
// otherwise serialize on one counter.
RankCounts CountRanks(const uint8_t* registers) {
  std::array<RankCounts, 4> partial{};
  for (size_t i = 0; i < UniqHll12::kRegisters; i += 4) {
    for (size_t j = 0; j < 4; ++j) ++partial[j][registers[i + j]];
  }
  RankCounts counts{};
  for (const RankCounts& p : partial) {
    for (size_t r = 0; r < kRankCounts; ++r) counts[r] += p[r];
  }
  return counts;
}

template <typename T>
T GetLittleEndian(const unsigned char* p) {
  uint64_t value = 0;
  for (size_t i = 0; i < sizeof(T); ++i) value |= static_cast<uint64_t>(p[i]) << (8 * i);
  return static_cast<T>(value);
}

}  // namespace

UniqHll12::UniqHll12(const UniqHll12& other)
    : large_(other.large_ ? std::make_unique<Large>(*other.large_) : nullptr),
      small_size_(other.small_size_),
      medium_bits_(other.medium_bits_),
      medium_size_(other.medium_size_),
      small_(other.small_) {
  if (other.medium_) {
    medium_ = std::make_unique_for_overwrite<uint32_t[]>(size_t{1} << medium_bits_);
    std::copy_n(other.medium_.get(), medium_size_, medium_.get());
  }
}

UniqHll12& UniqHll12::operator=(const UniqHll12& other) {
  if (this != &other) *this = UniqHll12(other);
  return *this;
}

void UniqHll12::Clear() {
  small_size_ = 0;
  medium_bits_ = 0;
  medium_size_ = 0;
  medium_.reset();
  large_.reset();
}

template <typename F>
void UniqHll12::ForEachMediumHash(F f) const {
  for (size_t i = 0; i < medium_size_; ++i) f(medium_[i]);
}

UniqHll12::Large UniqHll12::MediumRegisters() const {
  Large large;
  ForEachMediumHash([&](uint32_t h) { large.Update(h); });
  return large;
}

void UniqHll12::ToMedium() {
  // The 16 small values' hashes and the 17th's (AddSmall adds it) fill 17 of 32 slots.
  medium_ = std::make_unique_for_overwrite<uint32_t[]>(2 * kSmallCapacity);
  medium_bits_ = static_cast<uint8_t>(std::countr_zero(2 * kSmallCapacity));
  for (uint32_t i = 0; i < small_size_; ++i) medium_[i] = IntHash32(small_[i]);
  medium_size_ = small_size_;
  small_size_ = 0;
}

void UniqHll12::ToLarge() {
  large_ = std::make_unique<Large>();
  for (uint32_t i = 0; i < small_size_; ++i) large_->Update(IntHash32(small_[i]));
  if (medium_) ForEachMediumHash([&](uint32_t h) { large_->Update(h); });
  small_size_ = 0;
  medium_bits_ = 0;
  medium_size_ = 0;
  medium_.reset();
}

uint8_t UniqHll12::rank(size_t bucket) const {
  if (large_) return large_->registers[bucket];
  uint8_t rank = 0;
  ForEachMediumHash([&](uint32_t hash) {
    if ((hash & (kRegisters - 1)) == bucket) {
      rank = std::max(rank, RankOfTail(hash >> kPrecision));
    }
  });
  return rank;
}

size_t UniqHll12::Overflow() {
  const size_t slots = size_t{1} << medium_bits_;
  const size_t before = heap_bytes();
  if (slots == kMediumSlots) {
    // The registers are a max over hashes, so the state is the same wherever the log turns
    // large.
    ToLarge();
  } else {
    std::unique_ptr<uint32_t[]> log = std::make_unique_for_overwrite<uint32_t[]>(2 * slots);
    std::copy_n(medium_.get(), slots, log.get());
    medium_ = std::move(log);
    ++medium_bits_;
  }
  return heap_bytes() - before;
}

size_t UniqHll12::AddSmall(Hashed v) {
  const bool held = HWY_DYNAMIC_DISPATCH(SmallHoldsSimd)(small_.data(), small_size_, v.value);
  if (small_size_ < kSmallCapacity) {
    // Written either way (past the size when held): no branch on whether the value was new.
    small_[small_size_] = v.value;
    small_size_ += !held;
    return 0;
  }
  if (held) return 0;
  ToMedium();
  AppendToLog(v.hash);
  return heap_bytes();  // none while small
}

void UniqHll12::Merge(const UniqHll12& other) {
  if (other.large_) {
    if (!large_) ToLarge();
    hll12::MaxRegisters(large_->registers.data(), other.large_->registers.data(), kRegisters,
                        large_->rank_counts.data());
    return;
  }
  if (other.medium_size_ != 0) {
    if (!is_large()) {
      // A small sketch takes a copy of the medium one's hashes, then its own values: the union
      // is large on the wire, where order does not matter.
      UniqHll12 merged(other);
      for (uint32_t i = 0; i < small_size_; ++i) merged.Add(small_[i]);
      *this = std::move(merged);
      return;
    }
    // A sketch merged into itself is unchanged; otherwise the hashes go into this log or these
    // registers.
    if (&other != this) other.ForEachMediumHash([&](uint32_t h) { AddHash(h); });
    return;
  }
  for (uint32_t i = 0; i < other.small_size_; ++i) Add(other.small_[i]);
}

namespace {

// HyperLogLogCounter<12, IntHash32<UInt64>, UInt32, double>::size() in 18.16: the denominator
// sum(2^-rank) from the per-rank counts in long double (exact here), the raw estimate, then
// FullFeatured correction with the trivial bias estimator.
uint64_t EstimateOfRankCounts(const RankCounts& counts) {
  constexpr size_t kRegisters = UniqHll12::kRegisters;
  long double sum = counts[UniqHll12::kMaxRank];
  for (int r = UniqHll12::kMaxRank - 1; r >= 0; --r) {
    sum /= 2.0;
    sum += counts[r];
  }
  const double denominator = static_cast<double>(sum);
  constexpr double kAlpha = 0.7213 / (1 + 1.079 / kRegisters);
  const double raw = kAlpha * kRegisters * kRegisters / denominator;
  constexpr double kPow2_32 = 4294967296.0;
  double fixed = raw;
  if (raw > kPow2_32 / 30.0) {
    fixed = -kPow2_32 * std::log(1.0 - raw / kPow2_32);
  } else if (raw <= 2.5 * kRegisters && counts[0] != 0) {
    // Linear counting over the empty registers.
    fixed = kRegisters *
            (std::log(static_cast<double>(kRegisters)) - std::log(static_cast<double>(counts[0])));
  }
  return static_cast<uint32_t>(fixed + 0.5);
}

// The large state after its flag: CompactArray<UInt32, 5, 4096> (register i at bit 5 * i,
// little-endian; 8 registers fill 5 bytes exactly), the Denominator (StableIfBig: UInt32 count
// of registers per rank) and the UInt16 count of zero registers.
void PackLarge(const uint8_t* registers, const RankCounts& rank_counts, unsigned char* p) {
  for (size_t i = 0; i < UniqHll12::kRegisters; i += 8) {
    uint64_t bits = 0;
    for (size_t j = 0; j < 8; ++j) bits |= static_cast<uint64_t>(registers[i + j]) << (5 * j);
    for (size_t b = 0; b < 5; ++b) *p++ = static_cast<unsigned char>(bits >> (8 * b));
  }
  for (uint32_t count : rank_counts) {
    for (size_t b = 0; b < 4; ++b) *p++ = static_cast<unsigned char>(count >> (8 * b));
  }
  *p++ = static_cast<unsigned char>(rank_counts[0]);
  *p++ = static_cast<unsigned char>(rank_counts[0] >> 8);
}

}  // namespace

uint64_t UniqHll12::Estimate() const {
  if (large_) return EstimateOfRankCounts(large_->rank_counts);
  if (medium_size_ != 0) return EstimateOfRankCounts(MediumRegisters().rank_counts);
  return small_size_;
}

size_t UniqHll12::SerializedSize() const {
  if (is_large()) return kLargeStateBytes;
  return 2 + 8 * small_size_;  // flag, VarUInt count (one byte up to 16), values
}

void UniqHll12::Serialize(std::string* out) const {
  const size_t start = out->size();
  out->resize(start + SerializedSize());
  auto* p = reinterpret_cast<unsigned char*>(out->data() + start);
  if (large_) {
    *p = kLargeFlag;
    PackLarge(large_->registers.data(), large_->rank_counts, p + 1);
    return;
  }
  if (medium_size_ != 0) {
    const Large large = MediumRegisters();
    *p = kLargeFlag;
    PackLarge(large.registers.data(), large.rank_counts, p + 1);
    return;
  }
  *p++ = kSmallFlag;
  *p++ = static_cast<unsigned char>(small_size_);  // VarUInt: one byte up to 127
  for (uint32_t i = 0; i < small_size_; ++i) {
    for (size_t b = 0; b < 8; ++b) *p++ = static_cast<unsigned char>(small_[i] >> (8 * b));
  }
}

size_t UniqHll12::Deserialize(std::string_view bytes) {
  Clear();
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  if (n < 1) return 0;
  if (p[0] == kSmallFlag) {
    // 16 fits one VarUInt byte; a longer encoding would be a size above 16 anyway.
    if (n < 2 || p[1] > kSmallCapacity) return 0;
    const uint32_t count = p[1];
    if (n < 2 + 8 * size_t{count}) return 0;
    for (uint32_t i = 0; i < count; ++i) small_[i] = GetLittleEndian<uint64_t>(p + 2 + 8 * i);
    small_size_ = count;
    return 2 + 8 * size_t{count};
  }
  if (p[0] != kLargeFlag || n < kLargeStateBytes) return 0;
  large_ = std::make_unique<Large>();
  uint8_t* registers = large_->registers.data();
  const unsigned char* packed = p + 1;
  for (size_t i = 0; i < kRegisters; i += 8) {
    const uint64_t bits = GetLittleEndian<uint64_t>(packed + 5 * (i / 8)) & 0xffffffffffull;
    for (size_t j = 0; j < 8; ++j) registers[i + j] = (bits >> (5 * j)) & 31;
  }
  bool valid =
      std::all_of(registers, registers + kRegisters, [](uint8_t r) { return r <= kMaxRank; });
  if (valid) large_->rank_counts = CountRanks(registers);
  const unsigned char* tail = packed + kPackedRegisterBytes;
  for (size_t r = 0; r < kRankCounts && valid; ++r) {
    valid = GetLittleEndian<uint32_t>(tail + 4 * r) == large_->rank_counts[r];
  }
  if (!valid || GetLittleEndian<uint16_t>(tail + 4 * kRankCounts) != large_->rank_counts[0]) {
    Clear();
    return 0;
  }
  return kLargeStateBytes;
}

}  // namespace beacon::kernels
#endif  // HWY_ONCE
