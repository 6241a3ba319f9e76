// Form-urlencoded component decoding, table-driven.
#include "kernels/formats/url_encoding.h"

#include <array>
#include <cstdint>

namespace beacon::kernels {
namespace {

constexpr int8_t kNotHex = -1;

constexpr std::array<int8_t, 256> MakeHexTable() {
  std::array<int8_t, 256> table{};
  for (auto& v : table) v = kNotHex;
  for (int c = '0'; c <= '9'; ++c) table[c] = static_cast<int8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) table[c] = static_cast<int8_t>(c - 'a' + 10);
  for (int c = 'A'; c <= 'F'; ++c) table[c] = static_cast<int8_t>(c - 'A' + 10);
  return table;
}

constexpr std::array<int8_t, 256> kHexValue = MakeHexTable();

inline int8_t HexValue(char c) { return kHexValue[static_cast<unsigned char>(c)]; }

}  // namespace

bool FormDecode(std::string_view component, char* out, size_t* out_size) {
  const char* in = component.data();
  const size_t n = component.size();
  size_t o = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = in[i];
    if (c == '+') {
      out[o++] = ' ';
    } else if (c != '%') {
      out[o++] = c;
    } else {
      if (n - i < 3) return false;
      const int8_t hi = HexValue(in[i + 1]);
      const int8_t lo = HexValue(in[i + 2]);
      if (hi == kNotHex || lo == kNotHex) return false;
      out[o++] = static_cast<char>((hi << 4) | lo);
      i += 2;
    }
  }
  *out_size = o;
  return true;
}

}  // namespace beacon::kernels
