// ClickHouse 18.16's uniqHLL12 over UInt64, reproduced bit for bit: the same insert, merge and
// estimate, and Serialize() writes the bytes the server writes for uniqHLL12State, so beacond
// can insert states into an AggregateFunction(uniqHLL12, UInt64) column itself.
#pragma once

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
// Not thread-safe. 144 bytes while small, plus 4.2 KiB of registers and counts once large.
class UniqHll12 {
 public:
  static constexpr size_t kSmallCapacity = 16;
  static constexpr int kPrecision = 12;
  static constexpr size_t kRegisters = size_t{1} << kPrecision;
  static constexpr uint8_t kMaxRank = 32 - kPrecision + 1;  // 21
  // Serialized large state: flag, 4096 five-bit registers, UInt32 count per rank 0..21,
  // UInt16 count of zero registers (18.16 writes the packed HyperLogLogCounter object).
  static constexpr size_t kPackedRegisterBytes = kRegisters * 5 / 8;  // 2560
  static constexpr size_t kLargeStateBytes = 1 + kPackedRegisterBytes + 4 * (kMaxRank + 1) + 2;

  UniqHll12() = default;
  UniqHll12(const UniqHll12& other);
  UniqHll12& operator=(const UniqHll12& other);
  UniqHll12(UniqHll12&&) noexcept = default;
  UniqHll12& operator=(UniqHll12&&) noexcept = default;

  // Adds one value (uniqHLL12 hashes nothing before this: the value is the UInt64 argument).
  void Add(uint64_t value);
  // Unions `other` into this sketch as the server does: a small `other` is added value by
  // value in its order; a large one turns this large and takes the register maxima (SIMD).
  void Merge(const UniqHll12& other);

  // What uniqHLL12 / uniqHLL12Merge return for this state.
  uint64_t Estimate() const;

  bool is_large() const { return large_ != nullptr; }
  // Distinct values held while small (the exact count); 0 once large.
  size_t small_size() const { return small_size_; }
  // The register of `bucket` (< kRegisters) once large.
  uint8_t rank(size_t bucket) const { return large_->registers[bucket]; }

  size_t SerializedSize() const;
  // Appends the state exactly as 18.16 serializes it: RowBinary of an AggregateFunction
  // column, and the bytes `SELECT uniqHLL12State(x) ... FORMAT RowBinary` returns.
  void Serialize(std::string* out) const;
  // Replaces this sketch by the state at the start of `bytes`; returns the bytes it took, or 0
  // (and leaves this empty) when they are not a state 18.16 writes: truncated, a flag other
  // than 0/1, more than 16 small values, a rank above 21, or counts that do not match the
  // registers.
  size_t Deserialize(std::string_view bytes);

  void Clear();

 private:
  // The registers one rank per byte, and how many registers hold each rank (kept on every
  // update, as the server does: Serialize and Estimate need them).
  struct Large {
    std::array<uint8_t, kRegisters> registers{};
    std::array<uint32_t, kMaxRank + 1> rank_counts{};
  };

  void ToLarge();
  void UpdateRegister(uint64_t value);

  uint32_t small_size_ = 0;
  std::array<uint64_t, kSmallCapacity> small_{};
  std::unique_ptr<Large> large_;  // null while small
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
