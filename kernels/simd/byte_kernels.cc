// Highway implementations of the byte kernels. This file re-includes itself once per compiled
// target (hwy/foreach_target.h); the dispatch tables are defined once. The scalar reference
// they reproduce is kernels/bytes/scalar_kernels.cc.
#include "kernels/simd/byte_kernels.h"

#include <array>
#include <cstdint>
#include <cstring>

#include "kernels/bytes/hash.h"
#include "kernels/bytes/hex.h"
#include "kernels/bytes/internet_sum.h"
#include "kernels/bytes/utf8.h"

#ifndef BEACON_KERNELS_SIMD_BYTE_KERNELS_SHARED
#define BEACON_KERNELS_SIMD_BYTE_KERNELS_SHARED
namespace beacon::kernels::byte_kernels_shared {

// Widest vector of any x86 target (AVX-512): sizes the stack buffers for tails.
constexpr size_t kMaxVectorBytes = 64;

// UTF-8 validation by three nibble lookups (Keiser & Lemire, "Validating UTF-8 in less than one
// instruction per byte", as in simdjson): each error class is one bit, set in all three tables
// exactly for the (previous byte, current byte) pairs that are that error.
constexpr uint8_t kTooShort = 1 << 0;   // 11______ 0_______ / 11______ 11______
constexpr uint8_t kTooLong = 1 << 1;    // 0_______ 10______
constexpr uint8_t kOverlong3 = 1 << 2;  // 11100000 100_____
constexpr uint8_t kTooLarge = 1 << 3;   // 11110100 1001____, 11110100 101_____, 11110101+ 10______
constexpr uint8_t kSurrogate = 1 << 4;  // 11101101 101_____
constexpr uint8_t kOverlong2 = 1 << 5;  // 1100000_ 10______
constexpr uint8_t kTooLarge1000 = 1 << 6;  // 11110101+ 1000____
constexpr uint8_t kOverlong4 = 1 << 6;     // 11110000 1000____
constexpr uint8_t kTwoConts = 1 << 7;      // 10______ 10______
constexpr uint8_t kCarry = kTooShort | kTooLong | kTwoConts;

alignas(16) constexpr uint8_t kByte1High[16] = {kTooLong,
                                                kTooLong,
                                                kTooLong,
                                                kTooLong,
                                                kTooLong,
                                                kTooLong,
                                                kTooLong,
                                                kTooLong,
                                                kTwoConts,
                                                kTwoConts,
                                                kTwoConts,
                                                kTwoConts,
                                                kTooShort | kOverlong2,
                                                kTooShort,
                                                kTooShort | kOverlong3 | kSurrogate,
                                                kTooShort | kTooLarge | kTooLarge1000 | kOverlong4};
alignas(16) constexpr uint8_t kByte1Low[16] = {kCarry | kOverlong3 | kOverlong2 | kOverlong4,
                                               kCarry | kOverlong2,
                                               kCarry,
                                               kCarry,
                                               kCarry | kTooLarge,
                                               kCarry | kTooLarge | kTooLarge1000,
                                               kCarry | kTooLarge | kTooLarge1000,
                                               kCarry | kTooLarge | kTooLarge1000,
                                               kCarry | kTooLarge | kTooLarge1000,
                                               kCarry | kTooLarge | kTooLarge1000,
                                               kCarry | kTooLarge | kTooLarge1000,
                                               kCarry | kTooLarge | kTooLarge1000,
                                               kCarry | kTooLarge | kTooLarge1000,
                                               kCarry | kTooLarge | kTooLarge1000 | kSurrogate,
                                               kCarry | kTooLarge | kTooLarge1000,
                                               kCarry | kTooLarge | kTooLarge1000};
alignas(16) constexpr uint8_t kByte2High[16] = {
    kTooShort,
    kTooShort,
    kTooShort,
    kTooShort,
    kTooShort,
    kTooShort,
    kTooShort,
    kTooShort,
    kTooLong | kOverlong2 | kTwoConts | kOverlong3 | kTooLarge1000 | kOverlong4,
    kTooLong | kOverlong2 | kTwoConts | kOverlong3 | kTooLarge,
    kTooLong | kOverlong2 | kTwoConts | kSurrogate | kTooLarge,
    kTooLong | kOverlong2 | kTwoConts | kSurrogate | kTooLarge,
    kTooShort,
    kTooShort,
    kTooShort,
    kTooShort};

// kCompact[m]: indices of the lanes 0..7 not set in drop mask m, in order (then 0x80, which a
// byte shuffle turns into zero); kCompactHigh: the same for lanes 8..15.
constexpr std::array<std::array<uint8_t, 8>, 256> MakeCompactTable(uint8_t base) {
  std::array<std::array<uint8_t, 8>, 256> table{};
  for (int m = 0; m < 256; ++m) {
    int kept = 0;
    for (int lane = 0; lane < 8; ++lane) {
      if ((m & (1 << lane)) == 0) table[m][kept++] = static_cast<uint8_t>(base + lane);
    }
    while (kept < 8) table[m][kept++] = 0x80;
  }
  return table;
}
alignas(64) constexpr std::array<std::array<uint8_t, 8>, 256> kCompact = MakeCompactTable(0);
alignas(64) constexpr std::array<std::array<uint8_t, 8>, 256> kCompactHigh = MakeCompactTable(8);

// Hex digit tables for a 128-entry byte permute (vpermi2b) indexed by the digit byte:
// kHexHigh[c] = value << 4, kHexLow[c] = value, and 0x01 / 0x10 (the other nibble) for a
// byte that is no hex digit.
constexpr std::array<uint8_t, 128> MakeHexTable(bool high) {
  std::array<uint8_t, 128> table{};
  for (int c = 0; c < 128; ++c) {
    const int8_t value = kHexDigitValue[c];
    if (value == kNotHex) {
      table[c] = high ? 0x01 : 0x10;
    } else {
      table[c] = static_cast<uint8_t>(high ? value << 4 : value);
    }
  }
  return table;
}
alignas(64) constexpr std::array<uint8_t, 128> kHexHigh = MakeHexTable(true);
alignas(64) constexpr std::array<uint8_t, 128> kHexLow = MakeHexTable(false);

// Writes the output positions of a hit's separators (FormSeparators), given in order.
class SeparatorPositions {
 public:
  explicit SeparatorPositions(FormSeparators separators) : separators_(separators) {}

  void Separator(size_t pos) {
    if (count_ < separators_.capacity) separators_.positions[count_] = static_cast<uint32_t>(pos);
    ++count_;
  }
  size_t count() const { return count_; }

 private:
  FormSeparators separators_;
  size_t count_ = 0;
};

}  // namespace beacon::kernels::byte_kernels_shared
#endif  // BEACON_KERNELS_SIMD_BYTE_KERNELS_SHARED

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/byte_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace beacon::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
namespace shared = byte_kernels_shared;

using FullTag = hn::ScalableTag<uint8_t>;
// Tails of a few dozen bytes run on 16-byte vectors, also on AVX2/AVX-512.
using BlockTag = hn::CappedTag<uint8_t, 16>;
static_assert(hn::MaxLanes(FullTag()) <= shared::kMaxVectorBytes, "buffers too small");

inline const uint8_t* Bytes(const char* p) { return reinterpret_cast<const uint8_t*>(p); }

// ---------------------------------------------------------------- FormDecode, SplitForm
#if HWY_TARGET != HWY_SCALAR
// Value of the hex digit in each lane, and which lanes hold one.
template <class D>
HWY_INLINE hn::Vec<D> HexDigits(D d, hn::Vec<D> c, hn::Mask<D>* valid) {
  const auto digit = hn::Sub(c, hn::Set(d, '0'));
  const auto letter = hn::Sub(hn::Or(c, hn::Set(d, 0x20)), hn::Set(d, 'a'));  // a-f and A-F
  const auto is_digit = hn::Eq(hn::Min(digit, hn::Set(d, 9)), digit);
  const auto is_letter = hn::Eq(hn::Min(letter, hn::Set(d, 5)), letter);
  *valid = hn::Or(is_digit, is_letter);
  return hn::IfThenElse(is_digit, digit, hn::Add(letter, hn::Set(d, 10)));
}

#endif

#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
// AVX-512: simdjson-style stage 1 over 64-byte blocks (bitmaps of '%', '&', '=' and bytes >=
// 0x80 from one load), escapes checked on the bitmaps, the digit bytes squeezed out, then
// stage 2 walks the separator bits with tzcnt. Masked loads and stores (which never fault on
// masked-off lanes) keep every access inside the input and the output, without tail copies.
using Block = hn::Full512<uint8_t>;
using BlockMask = hn::Mask512<uint8_t>;

HWY_INLINE uint64_t BitsOf(BlockMask m) { return static_cast<uint64_t>(m.raw); }
HWY_INLINE BlockMask MaskOf(uint64_t bits) { return BlockMask{static_cast<__mmask64>(bits)}; }

// in[at, at + 64), with zeros at and past n (at may be past n). kInside: at + 64 <= n.
template <bool kInside>
HWY_INLINE hn::Vec512<uint8_t> LoadBlock(const uint8_t* HWY_RESTRICT in, size_t at, size_t n) {
  const Block d;
  if (kInside || at + 64 <= n) return hn::LoadU(d, in + at);
  if (at >= n) return hn::Zero(d);  // no pointer past in + n
  return hn::MaskedLoad(hn::FirstN(d, n - at), d, in + at);
}

// Writes the first `count` lanes of v to out[o, o + count); out holds `capacity` bytes.
// kInside: o + 64 <= capacity.
template <bool kInside>
HWY_INLINE void StoreFirst(hn::Vec512<uint8_t> v, size_t count, uint8_t* HWY_RESTRICT out, size_t o,
                           size_t capacity) {
  const Block d;
  if (kInside || o + 64 <= capacity) {
    hn::StoreU(v, d, out + o);
  } else {
    hn::BlendedStore(v, hn::FirstN(d, count), d, out + o);
  }
}

// Writes the lanes of v set in `keep`, in order, to out[o, ...). Compress is vpcompressb to a
// register on AVX3_DL (the memory form is microcoded on AMD Zen 4) and four vpcompressd of
// widened quarters on AVX3, which beats a byte shuffle from kCompact per 8 lanes there.
template <bool kInside>
HWY_INLINE void StoreKept(hn::Vec512<uint8_t> v, uint64_t keep, uint8_t* HWY_RESTRICT out, size_t o,
                          size_t capacity) {
  const size_t count = static_cast<size_t>(__builtin_popcountll(keep));
  StoreFirst<kInside>(hn::Compress(v, MaskOf(keep)), count, out, o, capacity);
}

// The byte that an escape at each lane of in[i, i + 64) decodes to, from the bytes at +1 and
// +2; `ok` gets the lanes where both are hex digits. kInside: i + 66 <= n.
template <bool kInside>
HWY_INLINE hn::Vec512<uint8_t> EscapeValues(const uint8_t* HWY_RESTRICT in, size_t i, size_t n,
                                            uint64_t* ok) {
  const Block d;
  const auto high = LoadBlock<kInside>(in, i + 1, n);
  const auto low = LoadBlock<kInside>(in, i + 2, n);
#if HWY_TARGET == HWY_AVX3_DL
  // Two permutes of 128-entry tables (VBMI); they read 7 bits, so bytes >= 0x80 are no digits
  // by their sign.
  const hn::Vec512<uint8_t> high_value{
      _mm512_permutex2var_epi8(hn::Load(d, shared::kHexHigh.data()).raw, high.raw,
                               hn::Load(d, shared::kHexHigh.data() + 64).raw)};
  const hn::Vec512<uint8_t> low_value{
      _mm512_permutex2var_epi8(hn::Load(d, shared::kHexLow.data()).raw, low.raw,
                               hn::Load(d, shared::kHexLow.data() + 64).raw)};
  const hn::RebindToSigned<Block> di;
  const uint64_t not_digit =
      BitsOf(hn::TestBit(high_value, hn::Set(d, 0x0F))) |
      BitsOf(hn::TestBit(low_value, hn::Set(d, 0xF0))) |
      BitsOf(hn::RebindMask(d, hn::Lt(hn::BitCast(di, hn::Or(high, low)), hn::Zero(di))));
  *ok = ~not_digit;
  return hn::Or(high_value, low_value);
#else
  hn::Mask<Block> high_ok;
  hn::Mask<Block> low_ok;
  const auto high_digit = HexDigits(d, high, &high_ok);
  const auto low_digit = HexDigits(d, low, &low_ok);
  *ok = BitsOf(hn::And(high_ok, low_ok));
  return hn::Or(hn::ShiftLeft<4>(high_digit), low_digit);
#endif
}

// The most entries FlattenFew handles (AVX3_DL), and the most it writes past them (AVX3).
constexpr size_t kFlattenFew = 16;
constexpr size_t kFlattenSlack = 16;

// Writes offset + the index of every set bit of `bits`, in order, to dst[0, popcount), by
// compressing the lane indices. AVX3_DL: at most kFlattenFew bits; writes kFlattenFew entries.
// AVX3: any bits; writes up to kFlattenSlack entries past the last.
HWY_INLINE void FlattenFew(uint64_t bits, hn::Vec512<uint32_t> offset, uint32_t* HWY_RESTRICT dst) {
  const hn::Full512<uint32_t> d32;
#if HWY_TARGET == HWY_AVX3_DL
  const hn::Full128<uint8_t> d8;
  const auto indices = hn::Compress(hn::Iota(Block(), 0), MaskOf(bits));
  hn::StoreU(hn::Add(hn::PromoteTo(d32, hn::LowerHalf(d8, hn::LowerHalf(indices))), offset), d32,
             dst);
#else
  size_t at = 0;
  for (uint32_t chunk = 0; chunk < 64; chunk += 16) {
    const auto chunk_bits = static_cast<__mmask16>(bits >> chunk);
    const hn::Mask512<uint32_t> m{chunk_bits};
    hn::StoreU(hn::Add(hn::Compress(hn::Iota(d32, chunk), m), offset), d32, dst + at);
    at += static_cast<size_t>(__builtin_popcount(chunk_bits));
  }
#endif
}

// FlattenFew for any bits, writing only dst[0, min(popcount, room)).
HWY_NOINLINE void FlattenBounded(uint64_t bits, hn::Vec512<uint32_t> offset,
                                 uint32_t* HWY_RESTRICT dst, size_t room) {
  uint32_t buffer[64 + kFlattenSlack];
  const size_t count = static_cast<size_t>(__builtin_popcountll(bits));
#if HWY_TARGET == HWY_AVX3_DL
  const hn::Full512<uint32_t> d32;
  const hn::Full128<uint8_t> d8;
  uint8_t lanes[64];
  hn::StoreU(hn::Compress(hn::Iota(Block(), 0), MaskOf(bits)), Block(), lanes);
  for (size_t k = 0; k < count; k += kFlattenFew) {
    hn::StoreU(hn::Add(hn::PromoteTo(d32, hn::LoadU(d8, lanes + k)), offset), d32, buffer + k);
  }
#else
  FlattenFew(bits, offset, buffer);
#endif
  std::memcpy(dst, buffer, HWY_MIN(count, room) * sizeof(uint32_t));
}

// Stage 2 of SplitForm: the output positions of a hit's separators from their bitmaps, block
// by block flattened straight into the caller's FormSeparators array.
class SeparatorFlattener {
 public:
  explicit SeparatorFlattener(FormSeparators separators) : separators_(separators) {}

  // The separator bits of the block of output bytes [o, o + 64).
  void Block(uint64_t bits, size_t o) {
    const auto base = hn::Set(hn::Full512<uint32_t>(), static_cast<uint32_t>(o));
    if (HWY_LIKELY(__builtin_popcountll(bits) <= kFlattenFew &&
                   count_ + kFlattenFew + kFlattenSlack <= separators_.capacity)) {
      FlattenFew(bits, base, separators_.positions + count_);
    } else if (count_ < separators_.capacity) {  // many separators, or near the capacity
      FlattenBounded(bits, base, separators_.positions + count_, separators_.capacity - count_);
    }
    count_ += static_cast<size_t>(__builtin_popcountll(bits));
  }
  size_t count() const { return count_; }

 private:
  FormSeparators separators_;
  size_t count_ = 0;
};
using Positions = SeparatorFlattener;

// What DecodeForm carries from one 64-byte block to the next.
struct FormDecodeState {
  size_t o;                 // output bytes so far
  uint64_t digits_ahead;    // lanes of the next block that are digits of this one's escapes
  hn::Vec512<uint8_t> any;  // the OR of the decoded blocks
};

// One 64-byte block of DecodeForm at in[i]. kInside: the block and the escape digits after it
// lie inside the input (i + 66 <= n), so no load or store needs a mask.
template <bool kInside>
HWY_INLINE bool DecodeBlock(const uint8_t* HWY_RESTRICT in, size_t n, size_t i,
                            uint8_t* HWY_RESTRICT out, SeparatorFlattener* positions,
                            FormDecodeState* state) {
  const Block d;
  const uint64_t valid = kInside || n - i >= 64 ? ~uint64_t{0} : (uint64_t{1} << (n - i)) - 1;
  const auto v = LoadBlock<kInside>(in, i, n);
  const uint64_t escapes = BitsOf(hn::Eq(v, hn::Set(d, '%')));
  auto decoded = hn::IfThenElse(hn::Eq(v, hn::Set(d, '+')), hn::Set(d, ' '), v);
  uint64_t keep = valid & ~state->digits_ahead;
  state->digits_ahead = 0;
  if (escapes != 0) {
    // Every '%' starts an escape (a '%' is no hex digit); zeros past n are none either.
    uint64_t digits_ok = 0;
    const auto values = EscapeValues<kInside>(in, i, n, &digits_ok);
    if ((escapes & ~digits_ok) != 0) return false;
    decoded = hn::IfThenElse(MaskOf(escapes), values, decoded);
    keep &= ~((escapes << 1) | (escapes << 2));
    state->digits_ahead = (escapes >> 62) | (escapes >> 63);
  }
  const size_t o = state->o;
  if (positions != nullptr) {
    // Digit lanes are hex digits, never separators: compress the bits to output lanes (they
    // are the input lanes when no lane is dropped).
    uint64_t separators = BitsOf(hn::Or(hn::Eq(v, hn::Set(d, '&')), hn::Eq(v, hn::Set(d, '='))));
    if (keep != valid) separators = _pext_u64(separators, keep);
    positions->Block(separators, o);
  }
  state->any = hn::Or(state->any, decoded);
  // The output never runs ahead of the input: o + 64 <= i + 64 <= n inside.
  if (keep == valid) {
    StoreFirst<kInside>(decoded, static_cast<size_t>(__builtin_popcountll(keep)), out, o, n);
  } else {
    StoreKept<kInside>(decoded, keep, out, o, n);
  }
  state->o = o + static_cast<size_t>(__builtin_popcountll(keep));
  return true;
}

// FormDecode of in[0, n) to out, reporting '&' and '=' to `positions` when not null and, to
// `high` when not null, whether the output holds a byte >= 0x80 (false: it is ASCII).
HWY_INLINE bool DecodeForm(const uint8_t* HWY_RESTRICT in, size_t n, uint8_t* HWY_RESTRICT out,
                           size_t* out_size, SeparatorFlattener* positions, bool* high) {
  const Block d;
  FormDecodeState state{0, 0, hn::Zero(d)};
  size_t i = 0;
  for (; i + 66 <= n; i += 64) {
    if (!DecodeBlock<true>(in, n, i, out, positions, &state)) return false;
  }
  for (; i < n; i += 64) {
    if (!DecodeBlock<false>(in, n, i, out, positions, &state)) return false;
  }
  *out_size = state.o;
  if (high != nullptr) *high = !hn::AllFalse(d, hn::TestBit(state.any, hn::Set(d, 0x80)));
  return true;
}
#else
using Positions = shared::SeparatorPositions;

// The reference loop, for components too short to fill a vector (and the one-lane target).
// Reports '&' and '=' to `positions` when not null.
inline bool DecodeShort(const uint8_t* in, size_t n, uint8_t* out, size_t* out_size,
                        shared::SeparatorPositions* positions) {
  size_t o = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t c = in[i];
    if (c == '+') {
      out[o++] = ' ';
    } else if (c != '%') {
      if (positions != nullptr && (c == '&' || c == '=')) positions->Separator(o);
      out[o++] = c;
    } else {
      if (n - i < 3) return false;
      const int8_t hi = kHexDigitValue[in[i + 1]];
      const int8_t lo = kHexDigitValue[in[i + 2]];
      if (hi == kNotHex || lo == kNotHex) return false;
      out[o++] = static_cast<uint8_t>((hi << 4) | lo);
      i += 2;
    }
  }
  *out_size = o;
  return true;
}

#if HWY_TARGET != HWY_SCALAR
// The lanes of a vector that are '&' or '=', as bits.
template <class D>
HWY_INLINE uint64_t FindSeparators(D d, hn::Vec<D> v) {
  uint8_t bytes[8] = {};
  hn::StoreMaskBits(d, hn::Or(hn::Eq(v, hn::Set(d, '&')), hn::Eq(v, hn::Set(d, '='))), bytes);
  uint64_t bits;
  std::memcpy(&bits, bytes, 8);
  return bits;
}

// Reports the separators of a decoded vector or chunk: lane k lands at out position
// o + k - (dropped lanes below k).
inline void ReportSeparators(uint64_t separators, uint32_t dropped, size_t o,
                             shared::SeparatorPositions* positions) {
  for (uint64_t bits = separators; bits != 0; bits &= bits - 1) {
    const int k = __builtin_ctzll(bits);
    // Only 16-lane chunks drop lanes, so k < 16 whenever `dropped` is not zero.
    const int below = dropped == 0 ? 0 : __builtin_popcount(dropped & ((uint32_t{1} << k) - 1));
    positions->Separator(o + static_cast<size_t>(k - below));
  }
}

// Decodes the `lanes` (<= 16) bytes at in[*i] to out[*o]: escapes and '+' by vector ops, then
// the two digit bytes of every escape are squeezed out, eight lanes at a time by a shuffle
// from kCompact. Reads in[*i, *i + 18) and writes out[*o, *o + 16): the caller guarantees
// both (or pads). An escape whose digits lie past the chunk consumes them: *i moves past.
// Separators go to `positions` (when not null) at out position + `report_offset`. Returns false
// on a bad escape anywhere in the chunk.
HWY_INLINE bool DecodeChunk(const uint8_t* HWY_RESTRICT in, size_t lanes, uint8_t* HWY_RESTRICT out,
                            size_t* i, size_t* o, shared::SeparatorPositions* positions,
                            size_t report_offset = 0) {
  const hn::Full128<uint8_t> d;
  const auto v = hn::LoadU(d, in + *i);
  const auto escapes = hn::Eq(v, hn::Set(d, '%'));
  uint8_t escape_bytes[8];
  hn::StoreMaskBits(d, escapes, escape_bytes);
  const uint32_t escape_bits = escape_bytes[0] | (uint32_t{escape_bytes[1]} << 8);
  const auto plain = hn::IfThenElse(hn::Eq(v, hn::Set(d, '+')), hn::Set(d, ' '), v);
  if (escape_bits == 0) {
    if (positions != nullptr) {
      ReportSeparators(FindSeparators(d, v), 0, report_offset + *o, positions);
    }
    hn::StoreU(plain, d, out + *o);
    *i += lanes;
    *o += lanes;
    return true;
  }
  hn::Mask<decltype(d)> high_ok;
  hn::Mask<decltype(d)> low_ok;
  const auto high = HexDigits(d, hn::LoadU(d, in + *i + 1), &high_ok);
  const auto low = HexDigits(d, hn::LoadU(d, in + *i + 2), &low_ok);
  // Every '%' starts an escape: a '%' inside another escape is a bad digit of that one.
  if (!hn::AllFalse(d, hn::AndNot(hn::And(high_ok, low_ok), escapes))) return false;
  const auto decoded = hn::IfThenElse(escapes, hn::Or(hn::ShiftLeft<4>(high), low), plain);
  const uint32_t dropped = (escape_bits << 1) | (escape_bits << 2);  // the digit bytes
  if (positions != nullptr) {
    ReportSeparators(FindSeparators(d, v), dropped, report_offset + *o, positions);
  }
  const uint32_t dropped_low = dropped & 0xFF;
  const uint32_t dropped_high = (dropped >> 8) & 0xFF;
  HWY_ALIGN uint8_t indices[16];
  std::memcpy(indices, shared::kCompact[dropped_low].data(), 8);
  std::memcpy(indices + 8, shared::kCompactHigh[dropped_high].data(), 8);
  const auto packed = hn::TableLookupBytes(decoded, hn::Load(d, indices));
  const size_t kept_low = 8 - static_cast<size_t>(__builtin_popcount(dropped_low));
  hn::StoreU(packed, d, out + *o);
  hn::StoreU(hn::UpperHalf(hn::Full64<uint8_t>(), packed), hn::Full64<uint8_t>(),
             out + *o + kept_low);
  *o += lanes - static_cast<size_t>(__builtin_popcount(dropped & 0xFFFF));
  *i += lanes + static_cast<size_t>(__builtin_popcount(dropped >> 16));
  return true;
}
#endif

// FormDecode of in[0, n) to out, reporting '&' and '=' to `positions` when not null.
bool DecodeWithVectors(const uint8_t* HWY_RESTRICT in, size_t n, uint8_t* HWY_RESTRICT out,
                       size_t* out_size, shared::SeparatorPositions* positions) {
#if HWY_TARGET == HWY_SCALAR
  return DecodeShort(in, n, out, out_size, positions);
#else
  if (n < 16) return DecodeShort(in, n, out, out_size, positions);
  const FullTag d;
  const size_t lanes = hn::Lanes(d);
  size_t i = 0;
  size_t o = 0;
  // A vector without '%' is blended and stored whole; one with escapes goes 16 bytes at a
  // time through DecodeChunk. The margins keep every chunk's reads and writes inside [0, n).
  while (i + lanes + 8 <= n) {
    const auto v = hn::LoadU(d, in + i);
    if (hn::AllFalse(d, hn::Eq(v, hn::Set(d, '%')))) {
      if (positions != nullptr) {
        ReportSeparators(FindSeparators(d, v), 0, o, positions);
      }
      hn::StoreU(hn::IfThenElse(hn::Eq(v, hn::Set(d, '+')), hn::Set(d, ' '), v), d, out + o);
      i += lanes;
      o += lanes;
      continue;
    }
    for (size_t k = 0; k < lanes; k += 16) {
      if (!DecodeChunk(in, 16, out, &i, &o, positions)) return false;
    }
  }
  while (i + 24 <= n) {
    if (!DecodeChunk(in, 16, out, &i, &o, positions)) return false;
  }
  // The last bytes (fewer than 24), from a zero-padded copy: a zero is no hex digit, so an
  // escape cut off by the end is bad, as in the reference.
  HWY_ALIGN uint8_t tail_in[48] = {};
  HWY_ALIGN uint8_t tail_out[48];
  const size_t rest = n - i;
  std::memcpy(tail_in, in + i, rest);
  size_t ti = 0;
  size_t to = 0;
  while (ti < rest) {
    if (!DecodeChunk(tail_in, HWY_MIN(size_t{16}, rest - ti), tail_out, &ti, &to, positions, o)) {
      return false;
    }
  }
  std::memcpy(out + o, tail_out, to);
  *out_size = o + to;
  return true;
#endif
}

// FormDecode of in[0, n) to out, reporting '&' and '=' to `positions` when not null; `high`,
// when not null, is set to true (these targets do not track the bytes >= 0x80).
bool DecodeForm(const uint8_t* HWY_RESTRICT in, size_t n, uint8_t* HWY_RESTRICT out,
                size_t* out_size, shared::SeparatorPositions* positions, bool* high) {
  if (!DecodeWithVectors(in, n, out, out_size, positions)) return false;
  if (high != nullptr) *high = true;
  return true;
}
#endif

bool FormDecodeSimd(std::string_view component, char* out, size_t* out_size) {
  return DecodeForm(Bytes(component.data()), component.size(), reinterpret_cast<uint8_t*>(out),
                    out_size, nullptr, nullptr);
}

// ---------------------------------------------------------------- UTF-8

#if HWY_TARGET != HWY_SCALAR
// Error bits of the Lanes(d) bytes at cur; cur[-3, 0) must be readable (the bytes before).
template <class D>
HWY_INLINE void AccumulateUtf8Errors(D d, const uint8_t* cur, hn::Vec<D>* errors) {
  const hn::RebindToSigned<D> di;
  const auto input = hn::LoadU(d, cur);
  const auto prev3 = hn::LoadU(d, cur - 3);
  // prev3 and input cover cur[-3, Lanes): all ASCII means no error can start or end here.
  if (hn::AllFalse(di, hn::Lt(hn::BitCast(di, hn::Or(input, prev3)), hn::Zero(di)))) return;
  const auto prev1 = hn::LoadU(d, cur - 1);
  const auto prev2 = hn::LoadU(d, cur - 2);
  const auto nibble = hn::Set(d, 0x0F);
  const auto byte1_high =
      hn::TableLookupBytes(hn::LoadDup128(d, shared::kByte1High), hn::ShiftRight<4>(prev1));
  const auto byte1_low =
      hn::TableLookupBytes(hn::LoadDup128(d, shared::kByte1Low), hn::And(prev1, nibble));
  const auto byte2_high =
      hn::TableLookupBytes(hn::LoadDup128(d, shared::kByte2High), hn::ShiftRight<4>(input));
  const auto special = hn::And(hn::And(byte1_high, byte1_low), byte2_high);
  // A third byte after E0..FF or a fourth after F0..FF must be a continuation (bit 7 of the
  // saturated difference is set exactly then); the tables flag it as kTwoConts, so xor.
  const auto must_continue = hn::Or(hn::SaturatedSub(prev2, hn::Set(d, 0xE0 - 0x80)),
                                    hn::SaturatedSub(prev3, hn::Set(d, 0xF0 - 0x80)));
  *errors = hn::Or(*errors, hn::Xor(hn::And(must_continue, hn::Set(d, 0x80)), special));
}

// Copies the (up to) three bytes before p[i] and p[i, i + count) into buf[0, 3 + count), with
// zeros where there is nothing: zeros are ASCII and end any sequence (truncation is an error).
inline void FillPadded(const uint8_t* p, size_t i, size_t count, uint8_t* buf) {
  const size_t before = HWY_MIN(i, size_t{3});
  std::memcpy(buf + 3 - before, p + i - before, before);
  std::memcpy(buf + 3, p + i, count);
}
#endif

bool IsValidUtf8Simd(std::string_view bytes) {
#if HWY_TARGET == HWY_SCALAR
  // The nibble tables need 16-byte shuffles; one-lane vectors have none.
  return IsValidUtf8(bytes);
#else
  // Below one 16-byte block the reference's byte loop is cheaper than padding a copy.
  if (bytes.size() < 16) return IsValidUtf8(bytes);
  const uint8_t* p = Bytes(bytes.data());
  const size_t n = bytes.size();
  const FullTag d;
  const size_t lanes = hn::Lanes(d);
  auto errors = hn::Zero(d);
  size_t i = 0;
  if (n >= lanes) {  // the first block has no bytes before it to load
    HWY_ALIGN uint8_t buf[3 + shared::kMaxVectorBytes] = {};
    FillPadded(p, 0, lanes, buf);
    AccumulateUtf8Errors(d, buf + 3, &errors);
    i = lanes;
  }
  for (; i + lanes <= n; i += lanes) AccumulateUtf8Errors(d, p + i, &errors);
  // The rest, zero-padded: always run, so that a sequence truncated at n is caught.
  const BlockTag d16;
  auto tail_errors = hn::Zero(d16);
  if (i == 0 && n >= 16) {
    HWY_ALIGN uint8_t buf[3 + 16] = {};
    FillPadded(p, 0, 16, buf);
    AccumulateUtf8Errors(d16, buf + 3, &tail_errors);
    i = 16;
  }
  for (; i + 16 <= n; i += 16) AccumulateUtf8Errors(d16, p + i, &tail_errors);
  HWY_ALIGN uint8_t buf[3 + 16] = {};
  FillPadded(p, i, n - i, buf);
  AccumulateUtf8Errors(d16, buf + 3, &tail_errors);
  return hn::AllFalse(d, hn::Ne(errors, hn::Zero(d))) &&
         hn::AllFalse(d16, hn::Ne(tail_errors, hn::Zero(d16)));
#endif
}

FormScan SplitForm(std::string_view hit, char* out, FormSeparators separators) {
  Positions positions(separators);
  bool high = false;
  size_t size = 0;
  if (!DecodeForm(Bytes(hit.data()), hit.size(), reinterpret_cast<uint8_t*>(out), &size, &positions,
                  &high)) {
    return {false, false, 0, 0};
  }
  // Most hits decode to ASCII only: no call when the output is known to be.
  const bool utf8_ok = !high || IsValidUtf8Simd({out, size});
  return {true, utf8_ok, positions.count(), size};
}

// ---------------------------------------------------------------- scanning

size_t FindByte(const char* p, size_t n, char c) {
  const uint8_t* in = Bytes(p);
  size_t i = 0;
  const FullTag d;
  const size_t lanes = hn::Lanes(d);
  const auto target = hn::Set(d, static_cast<uint8_t>(c));
  for (; i + lanes <= n; i += lanes) {
    const auto hits = hn::Eq(hn::LoadU(d, in + i), target);
    if (!hn::AllFalse(d, hits)) return i + hn::FindKnownFirstTrue(d, hits);
  }
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  // The tail in one masked load (masked-off lanes never fault and are no hits).
  const auto valid = hn::FirstN(d, n - i);
  const auto hits = hn::And(valid, hn::Eq(hn::MaskedLoad(valid, d, in + i), target));
  return hn::AllFalse(d, hits) ? n : i + hn::FindKnownFirstTrue(d, hits);
#else
  const BlockTag d16;
  const auto target16 = hn::Set(d16, static_cast<uint8_t>(c));
  for (; i + hn::Lanes(d16) <= n; i += hn::Lanes(d16)) {
    const auto hits = hn::Eq(hn::LoadU(d16, in + i), target16);
    if (!hn::AllFalse(d16, hits)) return i + hn::FindKnownFirstTrue(d16, hits);
  }
  for (; i < n; ++i) {
    if (p[i] == c) return i;
  }
  return n;
#endif
}

#if HWY_TARGET != HWY_SCALAR
// Lanes of v whose byte is in the set whose nibble tables are low / high (LoadDup128'd).
template <class D>
HWY_INLINE hn::Mask<D> InSet(D d, hn::Vec<D> v, hn::Vec<D> low, hn::Vec<D> high) {
  const auto classes = hn::And(hn::TableLookupBytes(low, hn::And(v, hn::Set(d, 0x0F))),
                               hn::TableLookupBytes(high, hn::ShiftRight<4>(v)));
  return hn::Ne(classes, hn::Zero(d));
}
#endif

size_t FindAnyOf(const char* p, size_t n, const AsciiSet& set) {
  size_t i = 0;
#if HWY_TARGET != HWY_SCALAR
  const uint8_t* in = Bytes(p);
  const FullTag d;
  const size_t lanes = hn::Lanes(d);
  const auto low = hn::LoadDup128(d, set.low_nibble());
  const auto high = hn::LoadDup128(d, set.high_nibble());
  for (; i + lanes <= n; i += lanes) {
    const auto hits = InSet(d, hn::LoadU(d, in + i), low, high);
    if (!hn::AllFalse(d, hits)) return i + hn::FindKnownFirstTrue(d, hits);
  }
#endif
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  // The tail in one masked load (masked-off lanes never fault; their zeros may be members).
  const auto valid = hn::FirstN(d, n - i);
  const auto hits = hn::And(valid, InSet(d, hn::MaskedLoad(valid, d, in + i), low, high));
  return hn::AllFalse(d, hits) ? n : i + hn::FindKnownFirstTrue(d, hits);
#else
#if HWY_TARGET != HWY_SCALAR
  const BlockTag d16;
  const auto low16 = hn::LoadDup128(d16, set.low_nibble());
  const auto high16 = hn::LoadDup128(d16, set.high_nibble());
  for (; i + 16 <= n; i += 16) {
    const auto hits = InSet(d16, hn::LoadU(d16, in + i), low16, high16);
    if (!hn::AllFalse(d16, hits)) return i + hn::FindKnownFirstTrue(d16, hits);
  }
#endif
  for (; i < n; ++i) {
    if (set.Contains(p[i])) return i;
  }
  return n;
#endif
}

void Classify(const char* p, size_t n, const AsciiSet& set, uint64_t* bits) {
#if HWY_TARGET == HWY_SCALAR
  for (size_t w = 0; w < (n + 63) / 64; ++w) bits[w] = 0;
  for (size_t i = 0; i < n; ++i) {
    if (set.Contains(p[i])) bits[i / 64] |= uint64_t{1} << (i % 64);
  }
#else
  const FullTag d;
  const size_t lanes = hn::Lanes(d);
  const auto low = hn::LoadDup128(d, set.low_nibble());
  const auto high = hn::LoadDup128(d, set.high_nibble());
  // StoreMaskBits writes lane j's bit at bit j % 8 of byte j / 8: on a little-endian host the
  // bytes of a block's lanes are the bits of its uint64_t word in order.
  auto* bit_bytes = reinterpret_cast<uint8_t*>(bits);
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    for (size_t k = 0; k < 64; k += lanes) {
      hn::StoreMaskBits(d, InSet(d, hn::LoadU(d, Bytes(p) + i + k), low, high),
                        bit_bytes + (i + k) / 8);
    }
  }
  if (i < n) {  // the last, partial block: classify a zero-padded copy, drop bits past n
    const size_t rest = n - i;
    HWY_ALIGN uint8_t block[64] = {};
    std::memcpy(block, p + i, rest);
    for (size_t k = 0; k < 64; k += lanes) {
      hn::StoreMaskBits(d, InSet(d, hn::Load(d, block + k), low, high), bit_bytes + (i + k) / 8);
    }
    bits[i / 64] &= (uint64_t{1} << rest) - 1;  // rest < 64
  }
#endif
}

// The words' sum in 32-bit lanes: each lane adds its two 16-bit words (in memory order, read in
// the host's byte order, as the reference reads them). A vector adds at most 2 * 0xFFFF to a
// lane, so the lanes are added up into 64 bits every 2^14 vectors, long before one could wrap.
// The last, partial vector is summed zero-padded (a masked load, or a copy): zeros add nothing,
// and an odd last byte becomes the first byte of a word whose second is zero, as in the
// reference.
uint16_t InternetSum(const uint8_t* p, size_t n) {
#if HWY_TARGET == HWY_SCALAR
  return ::beacon::kernels::InternetSum(p, n);
#else
  const hn::ScalableTag<uint32_t> d32;
  const FullTag d8;
  const size_t lanes = hn::Lanes(d8);
  const auto low_words = hn::Set(d32, 0xFFFFu);
  constexpr size_t kVectorsPerFlush = size_t{1} << 14;
  uint64_t total = 0;
  auto sums = hn::Zero(d32);
  size_t pending = 0;
  const auto add = [&](hn::Vec<decltype(d32)> words) {
    sums = hn::Add(sums, hn::Add(hn::And(words, low_words), hn::ShiftRight<16>(words)));
    if (++pending < kVectorsPerFlush) return;
    HWY_ALIGN uint32_t lane_sums[shared::kMaxVectorBytes / 4];
    hn::Store(sums, d32, lane_sums);
    for (size_t k = 0; k < hn::Lanes(d32); ++k) total += lane_sums[k];
    sums = hn::Zero(d32);
    pending = 0;
  };
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) add(hn::BitCast(d32, hn::LoadU(d8, p + i)));
  if (i < n) {
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
    // One masked load (masked-off lanes read as zero and never fault): a copy to the stack
    // would stall the load on store forwarding, and pseudo headers are all tail.
    add(hn::BitCast(d32, hn::MaskedLoad(hn::FirstN(d8, n - i), d8, p + i)));
#else
    HWY_ALIGN uint8_t block[shared::kMaxVectorBytes] = {};
    std::memcpy(block, p + i, n - i);
    add(hn::BitCast(d32, hn::Load(d8, block)));
#endif
  }
  HWY_ALIGN uint32_t lane_sums[shared::kMaxVectorBytes / 4];
  hn::Store(sums, d32, lane_sums);
  for (size_t k = 0; k < hn::Lanes(d32); ++k) total += lane_sums[k];
  return FoldInternetSum(total);
#endif
}

// The table of this target's kernels.
ByteKernels MakeByteKernels() {
  return {.backend = "simd",
          .target = hwy::TargetName(HWY_TARGET),
          .is_valid_utf8 = &IsValidUtf8Simd,
          .form_decode = &FormDecodeSimd,
          .find_byte = &FindByte,
          .find_any_of = &FindAnyOf,
          .classify = &Classify,
          .split_form = &SplitForm,
          .hash64_batch = &Hash64Batch,
          .internet_sum = &InternetSum};
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace beacon::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace beacon::kernels {

HWY_EXPORT(IsValidUtf8Simd);
HWY_EXPORT(FormDecodeSimd);
HWY_EXPORT(FindByte);
HWY_EXPORT(FindAnyOf);
HWY_EXPORT(Classify);
HWY_EXPORT(SplitForm);
HWY_EXPORT(MakeByteKernels);

SimdTarget ActiveSimdTarget() {
  const int64_t supported = hwy::SupportedTargets() & HWY_TARGETS;
  const int64_t best = supported & -supported;  // lower bits are better targets
  return {best, hwy::TargetName(best)};
}

ByteKernels SimdByteKernels() { return HWY_DYNAMIC_DISPATCH(MakeByteKernels)(); }

std::vector<NamedByteKernels> ByteKernelsPerTarget() {
  std::vector<NamedByteKernels> tables = {{"scalar", ScalarByteKernels()}};
  for (const SimdTarget& target : SupportedSimdTargets()) {
    ForceSimdTargetForTest(target.bits);
    tables.push_back({target.name, SimdByteKernels()});
  }
  ForceSimdTargetForTest(0);
  return tables;
}

bool IsValidUtf8Simd(std::string_view bytes) {
  return HWY_DYNAMIC_DISPATCH(IsValidUtf8Simd)(bytes);
}

bool FormDecodeSimd(std::string_view component, char* out, size_t* out_size) {
  return HWY_DYNAMIC_DISPATCH(FormDecodeSimd)(component, out, out_size);
}

size_t FindByte(const char* p, size_t n, char c) { return HWY_DYNAMIC_DISPATCH(FindByte)(p, n, c); }

size_t FindAnyOf(const char* p, size_t n, const AsciiSet& set) {
  return HWY_DYNAMIC_DISPATCH(FindAnyOf)(p, n, set);
}

void Classify(const char* p, size_t n, const AsciiSet& set, uint64_t* bits) {
  HWY_DYNAMIC_DISPATCH(Classify)(p, n, set, bits);
}

FormScan SplitForm(std::string_view hit, char* out, FormSeparators separators) {
  return HWY_DYNAMIC_DISPATCH(SplitForm)(hit, out, separators);
}

std::vector<SimdTarget> SupportedSimdTargets() {
  std::vector<SimdTarget> targets;
  for (const int64_t bits : hwy::SupportedAndGeneratedTargets()) {
    targets.push_back({bits, hwy::TargetName(bits)});
  }
  return targets;
}

std::vector<SimdTarget> CompiledSimdTargets() {
  std::vector<SimdTarget> targets;
  for (int64_t rest = HWY_TARGETS; rest != 0; rest &= rest - 1) {
    const int64_t bits = rest & -rest;
    targets.push_back({bits, hwy::TargetName(bits)});
  }
  return targets;
}

void ForceSimdTargetForTest(int64_t target_bits) { hwy::SetSupportedTargetsForTest(target_bits); }

}  // namespace beacon::kernels
#endif  // HWY_ONCE
