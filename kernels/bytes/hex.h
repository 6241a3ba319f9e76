// Hex digit values: the one table every reader of hex escapes and chunk sizes uses.
#pragma once

#include <array>
#include <cstdint>

namespace beacon::kernels {

inline constexpr int8_t kNotHex = -1;

namespace hex_internal {
constexpr std::array<int8_t, 256> MakeHexDigitTable() {
  std::array<int8_t, 256> table{};
  for (auto& v : table) v = kNotHex;
  for (int c = '0'; c <= '9'; ++c) table[c] = static_cast<int8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) table[c] = static_cast<int8_t>(c - 'a' + 10);
  for (int c = 'A'; c <= 'F'; ++c) table[c] = static_cast<int8_t>(c - 'A' + 10);
  return table;
}
}  // namespace hex_internal

// kHexDigitValue[byte]: the value 0..15 of a hex digit (either case), kNotHex for any other byte.
inline constexpr std::array<int8_t, 256> kHexDigitValue = hex_internal::MakeHexDigitTable();

// The value 0..15 of hex digit `c` (either case), or kNotHex.
constexpr int HexDigitValue(char c) { return kHexDigitValue[static_cast<unsigned char>(c)]; }

}  // namespace beacon::kernels
