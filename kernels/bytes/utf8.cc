// UTF-8 validation: eight ASCII bytes a step, then the RFC 3629 table of well-formed sequences.
#include "kernels/bytes/utf8.h"

#include <cstdint>
#include <cstring>

namespace beacon::kernels {
namespace {

inline bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

}  // namespace

bool IsValidUtf8(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  size_t i = 0;
  while (i < n) {
    if (n - i >= 8) {
      uint64_t word;
      std::memcpy(&word, p + i, 8);
      if ((word & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
    } else if (c < 0xC2) {  // a continuation byte, or an overlong two-byte lead (C0, C1)
      return false;
    } else if (c < 0xE0) {
      if (n - i < 2 || !IsContinuation(p[i + 1])) return false;
      i += 2;
    } else if (c < 0xF0) {
      if (n - i < 3) return false;
      const unsigned char c1 = p[i + 1];
      const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;  // E0 80..9F: overlong
      const unsigned char hi = c == 0xED ? 0x9F : 0xBF;  // ED A0..BF: surrogates
      if (c1 < lo || c1 > hi || !IsContinuation(p[i + 2])) return false;
      i += 3;
    } else if (c < 0xF5) {
      if (n - i < 4) return false;
      const unsigned char c1 = p[i + 1];
      const unsigned char lo = c == 0xF0 ? 0x90 : 0x80;  // F0 80..8F: overlong
      const unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;  // F4 90..: above U+10FFFF
      if (c1 < lo || c1 > hi || !IsContinuation(p[i + 2]) || !IsContinuation(p[i + 3])) {
        return false;
      }
      i += 4;
    } else {  // F5..FF never occur in UTF-8
      return false;
    }
  }
  return true;
}

size_t Utf8PrefixLength(std::string_view s, size_t cap) {
  if (s.size() <= cap) return s.size();
  size_t n = cap;
  while (n > 0 && IsContinuation(static_cast<unsigned char>(s[n]))) --n;
  return n;
}

}  // namespace beacon::kernels
