// The byte-kernel table: the scanning, percent-decoding, UTF-8 and hashing operations the
// decoders call, as one struct of function pointers. kernels/bytes/scalar_kernels.h is the
// reference implementation; kernels/simd/byte_kernels.h gives bit-identical Highway ones.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>

namespace beacon::kernels {

// A set of ASCII bytes (0x00..0x7F) in the two 16-entry nibble tables that a byte shuffle
// classifies with ("shufti"): c is in the set iff low_nibble[c & 15] & high_nibble[c >> 4] != 0.
// Build once (constexpr); bytes >= 0x80 are never members.
class AsciiSet {
 public:
  // Throws std::invalid_argument on a non-ASCII member (a compile error in a constant
  // expression): build sets at start, never per beacon.
  constexpr explicit AsciiSet(std::string_view members) {
    for (int h = 0; h < 8; ++h) high_nibble_[h] = static_cast<uint8_t>(1u << h);
    for (const char c : members) {
      const auto u = static_cast<uint8_t>(c);
      if (u >= 0x80) throw std::invalid_argument("AsciiSet: member byte >= 0x80 (ASCII expected)");
      low_nibble_[u & 15] = static_cast<uint8_t>(low_nibble_[u & 15] | (1u << (u >> 4)));
    }
  }

  constexpr bool Contains(char c) const {
    const auto u = static_cast<uint8_t>(c);
    return (low_nibble_[u & 15] & high_nibble_[u >> 4]) != 0;
  }
  const uint8_t* low_nibble() const { return low_nibble_.data(); }
  const uint8_t* high_nibble() const { return high_nibble_.data(); }

 private:
  std::array<uint8_t, 16> low_nibble_{};
  std::array<uint8_t, 16> high_nibble_{};
};

// The structural characters of a form-urlencoded hit (GA v1, /batch bodies): pair and
// key/value separators, escapes, '+' spaces and line ends.
inline constexpr AsciiSet kFormStructurals("&=%+\n");

// Where split_form writes the positions in the decoded output of a hit's separators: every
// '&' and '=' byte of the hit itself (not those decoded from %26 or %3D), in order. The pairs
// are the runs between the '&'s; a pair's key ends at its first '=' (none: the whole pair is
// the key and its value is empty). The caller tells the two apart by the output byte at each
// position and walks them into pairs (as the decoders' SplitFormPairs does).
struct FormSeparators {
  uint32_t* positions;
  size_t capacity;  // entries of `positions`: only the first `capacity` separators are stored
};

// What split_form found in one hit.
struct FormScan {
  bool escapes_ok;    // false: a '%' without two hex digits somewhere (nothing else is valid)
  bool utf8_ok;       // every decoded key and value is well-formed UTF-8 (kernels/bytes/utf8.h)
  size_t separators;  // all of them, stored or not
  size_t decoded_size;

  friend bool operator==(const FormScan&, const FormScan&) = default;
};

// One implementation of every byte kernel. The decoders take a table once per batch (from
// the backend chosen at start) and call through it; every table gives identical results.
struct ByteKernels {
  const char* backend;  // "scalar" or "simd"
  const char* target;   // the Highway target that runs ("AVX3", "AVX2", ...), or "reference"

  // kernels/bytes/utf8.h IsValidUtf8.
  bool (*is_valid_utf8)(std::string_view bytes);
  // kernels/bytes/url_encoding.h FormDecode: same output, same false on a bad escape.
  bool (*form_decode)(std::string_view component, char* out, size_t* out_size);
  // Index of the first `c` in p[0, n), or n.
  size_t (*find_byte)(const char* p, size_t n, char c);
  // Index of the first byte of p[0, n) in `set`, or n.
  size_t (*find_any_of)(const char* p, size_t n, const AsciiSet& set);
  // Bitmap of the bytes of p[0, n) in `set`, 64 bytes a word: bit j of bits[w] is set iff
  // p[64 * w + j] is in the set. Writes (n + 63) / 64 words; bits at or past n are zero.
  void (*classify)(const char* p, size_t n, const AsciiSet& set, uint64_t* bits);
  // Field extraction of one hit (GA v1 rules, kernels/formats/README.md): decodes `hit` into
  // out (capacity >= hit.size(), not overlapping hit) as FormDecode does, checks its escapes
  // and the UTF-8 of every key and value (the runs between separators) in the same pass, and
  // writes the output positions of its first separators.capacity separators (on a bad escape:
  // {false, false, 0, 0}, positions unspecified). Writes nothing past the capacity.
  FormScan (*split_form)(std::string_view hit, char* out, FormSeparators separators);
  // out[i] = Hash64(keys[i], seed) (kernels/bytes/hash.h).
  void (*hash64_batch)(const std::string_view* keys, size_t n, uint64_t seed, uint64_t* out);
  // kernels/bytes/internet_sum.h InternetSum: the folded one's-complement sum of p[0, n) (the
  // UDP and TCP checksums the data plane verifies where the NIC did not).
  uint16_t (*internet_sum)(const uint8_t* p, size_t n);
};

}  // namespace beacon::kernels
