// ClickHouse 18.16's uniqHLL12 over UInt64, reproduced bit for bit: the same insert, merge and
// estimate, and Serialize() writes the bytes the server writes for uniqHLL12State, so beacond
// can insert states into an AggregateFunction(uniqHLL12, UInt64) column itself.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace beacon::kernels {

// ClickHouse's intHash32<0> (Common/HashTable/Hash.h): the hash uniqHLL12 applies to a UInt64
// argument before the HyperLogLog (the small set stores the raw values).
inline uint32_t IntHash32(uint64_t key) {
  key = (~key) + (key << 18);
  key = key ^ ((key >> 31) | (key << 33));
  key = key * 21;
  key = key ^ ((key >> 11) | (key << 53));
  key = key + (key << 6);
  key = key ^ ((key >> 22) | (key << 42));
  return static_cast<uint32_t>(key);
}

// HyperLogLogWithSmallSetOptimization<UInt64, 16, 12> as in 18.16: up to 16 distinct values in
// an array in insertion order (exact), then 2^12 registers of the largest rank (trailing zeros
// + 1 of the hash's upper 20 bits, at most 21) per bucket (the hash's lower 12 bits).
// In memory a third tier sits between the two: past 16 distinct values the sketch logs the
// IntHash32 of every value added (an array on the heap, repeats included, up to
// kMediumCapacity of them) and computes the registers when it serializes, estimates or meets a
// large sketch. A register is a max over hashes, repeats change none, so the result is the
// large state the server builds, byte for byte, whenever the log turns large; only the memory
// differs (4 bytes per add, the array doubling, instead of 4.2 KiB from the 17th value on). An
// add to the log writes its end and reads nothing: a set of the distinct hashes, probed per
// add, missed the cache on most adds (kernels/sketch/README.md, "Medium tier").
// Not thread-safe. 152 bytes inline; on the heap less than 8 bytes per add while medium (at
// most 2 KiB), then 4.2 KiB of registers and counts once large.
class UniqHll12 {
 public:
  static constexpr size_t kSmallCapacity = 16;
  // The log doubles from 32 slots when full and turns large when it would outgrow 512 slots
  // (2 KiB; the next doubling would take 4 KiB, next to nothing saved on the large tier's
  // 4 184 bytes): it holds at most kMediumCapacity hashes.
  static constexpr size_t kMediumSlots = 512;
  static constexpr size_t kMediumCapacity = kMediumSlots - 1;
  static constexpr int kPrecision = 12;
  static constexpr size_t kRegisters = size_t{1} << kPrecision;
  static constexpr uint8_t kMaxRank = 32 - kPrecision + 1;  // 21
  // Serialized large state: flag, 4096 five-bit registers, UInt32 count per rank 0..21,
  // UInt16 count of zero registers (18.16 writes the packed HyperLogLogCounter object).
  static constexpr size_t kPackedRegisterBytes = kRegisters * 5 / 8;  // 2560
  static constexpr size_t kLargeStateBytes = 1 + kPackedRegisterBytes + 4 * (kMaxRank + 1) + 2;
  // Heap bytes of a large sketch: a byte per register, a UInt32 per rank.
  static constexpr size_t kLargeHeapBytes = kRegisters + sizeof(uint32_t) * (kMaxRank + 1);

  UniqHll12() = default;
  UniqHll12(const UniqHll12& other);
  UniqHll12& operator=(const UniqHll12& other);
  UniqHll12(UniqHll12&&) noexcept = default;
  UniqHll12& operator=(UniqHll12&&) noexcept = default;

  // A value with its IntHash32, for a caller that adds one value to several sketches: the hash
  // is computed once.
  struct Hashed {
    uint64_t value = 0;
    uint32_t hash = 0;
  };
  static Hashed Hash(uint64_t value) { return {value, IntHash32(value)}; }

  // Adds one value (uniqHLL12 hashes nothing before this: the value is the UInt64 argument).
  // Returns the heap bytes the add took (heap_bytes() after minus before: 0 unless the sketch
  // grew), so that a caller keeping a total reads no sizes around it. A large add is inline.
  size_t Add(uint64_t value) { return Add(Hash(value)); }
  size_t Add(Hashed v) {
    if (large_) {
      large_->Update(v.hash);
      return 0;
    }
    if (medium_) return AppendToLog(v.hash);
    return AddSmall(v);
  }
  // Unions `other` into this sketch as the server does: a small `other` is added value by
  // value in its order; a large one turns this large and takes the register maxima (SIMD). A
  // medium `other` is a large state to the server; its values are added (the same registers).
  void Merge(const UniqHll12& other);

  // What uniqHLL12 / uniqHLL12Merge return for this state.
  uint64_t Estimate() const;

  // Whether the state is the large one on the wire (medium or large in memory).
  bool is_large() const { return large_ != nullptr || medium_size_ != 0; }
  // Whether it logs its values' hashes rather than registers beyond 16 (is_large() too).
  bool is_medium() const { return medium_size_ != 0; }
  // Distinct values held while small (the exact count); 0 once large.
  size_t small_size() const { return small_size_; }
  // The register of `bucket` (< kRegisters) once large (computed from the hashes if medium).
  uint8_t rank(size_t bucket) const;
  // Bytes allocated on the heap: none while small, 4 per slot of the hashes' log while medium
  // (a power of two, 32 to kMediumSlots), kLargeHeapBytes once large.
  size_t heap_bytes() const {
    if (large_) return kLargeHeapBytes;
    return medium_ ? sizeof(uint32_t) << medium_bits_ : 0;
  }
  // Asks the CPU to fetch the lines Add(v) touches past the header (the small values, the log's
  // end or the register), so that a caller adding to many sketches can overlap their cache
  // misses. Changes nothing.
  void Prefetch(Hashed v) const {
    if (large_) {
      __builtin_prefetch(&large_->registers[v.hash & (kRegisters - 1)]);
    } else if (medium_) {
      __builtin_prefetch(&medium_[medium_size_], 1);
    } else if (small_size_ != 0) {
      __builtin_prefetch(&small_[0]);
      __builtin_prefetch(&small_[small_size_ - 1]);
    }
  }

  size_t SerializedSize() const;
  // Appends the state exactly as 18.16 serializes it: RowBinary of an AggregateFunction
  // column, and the bytes `SELECT uniqHLL12State(x) ... FORMAT RowBinary` returns.
  void Serialize(std::string* out) const;
  // Replaces this sketch by the state at the start of `bytes`; returns the bytes it took, or 0
  // (and leaves this empty) when they are not a state 18.16 writes: truncated, a flag other
  // than 0/1, more than 16 small values, a rank above 21, or counts that do not match the
  // registers. A large state gives a large sketch (the values are gone).
  size_t Deserialize(std::string_view bytes);

  void Clear();

 private:
  // The registers one rank per byte, and how many registers hold each rank (kept on every
  // update, as the server does: Serialize and Estimate need them).
  struct Large {
    std::array<uint8_t, kRegisters> registers{};
    std::array<uint32_t, kMaxRank + 1> rank_counts{};
    Large() { rank_counts[0] = kRegisters; }
    void Update(uint32_t hash) {
      // Only a rising register moves the counts: moving them either way would touch their line
      // on every add, a returning visitor's too.
      uint8_t& reg = registers[hash & (kRegisters - 1)];
      const uint8_t rank = RankOfTail(hash >> kPrecision);
      if (rank > reg) {
        --rank_counts[reg];
        ++rank_counts[rank];
        reg = rank;
      }
    }
  };
  static_assert(sizeof(Large) == kLargeHeapBytes);

  // Trailing zeros of the hash's upper 20 bits plus one; kMaxRank when they are all zero.
  static uint8_t RankOfTail(uint32_t tail) {
    if (tail == 0) return kMaxRank;
    return static_cast<uint8_t>(std::min(__builtin_ctz(tail) + 1, int{kMaxRank}));
  }
  // Calls f(hash) for each logged hash, in the order they were added.
  template <typename F>
  void ForEachMediumHash(F f) const;
  // Add to a small sketch (the 17th distinct value turns it medium); returns the heap bytes it
  // took.
  size_t AddSmall(Hashed v);
  // Adds a value's hash to a medium or large sketch; returns the heap bytes it took.
  size_t AddHash(uint32_t hash) {
    if (large_) {
      large_->Update(hash);
      return 0;
    }
    return AppendToLog(hash);
  }
  // Adds a hash to a medium sketch's log; returns the heap bytes it took.
  size_t AppendToLog(uint32_t hash) {
    medium_[medium_size_++] = hash;
    // Full: twice the slots, or large.
    if (medium_size_ == uint32_t{1} << medium_bits_) return Overflow();
    return 0;
  }
  // After AppendToLog filled the log: twice the slots, or large at kMediumSlots; returns the
  // heap bytes it took. The rare part, out of line.
  [[gnu::noinline]] size_t Overflow();
  // The registers of the medium hashes.
  Large MediumRegisters() const;
  void ToMedium();
  void ToLarge();

  // What Add reads past small comes first, in 24 bytes (one cache line mostly): the heap
  // pointers, then the sizes; the small values last.
  // The hashes logged while medium, medium_size_ of 2^medium_bits_ slots (never full).
  std::unique_ptr<uint32_t[]> medium_;
  std::unique_ptr<Large> large_;  // null unless large
  uint8_t small_size_ = 0;
  uint8_t medium_bits_ = 0;   // log2 of the log's slots while medium
  uint32_t medium_size_ = 0;  // hashes logged while medium (at least 17); 0 otherwise
  std::array<uint64_t, kSmallCapacity> small_{};
};

// The register merge behind UniqHll12::Merge, as the scalar reference and as the Highway
// version of the best target this CPU supports (dispatched per call); bit-identical
// (tests/unit/kernels/sketch/). dst[i] = max(dst[i], src[i]) for i < n, and for each raised
// register rank_counts[old]-- and rank_counts[new]++ (ranks index rank_counts).
namespace hll12 {

void MaxRegistersScalar(uint8_t* dst, const uint8_t* src, size_t n, uint32_t* rank_counts);
void MaxRegisters(uint8_t* dst, const uint8_t* src, size_t n, uint32_t* rank_counts);

}  // namespace hll12
}  // namespace beacon::kernels
