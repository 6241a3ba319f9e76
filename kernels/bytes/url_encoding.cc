// Form-urlencoded component decoding, table-driven.
#include "kernels/bytes/url_encoding.h"

#include <cstdint>

#include "kernels/bytes/hex.h"

namespace beacon::kernels {

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
      const int hi = HexDigitValue(in[i + 1]);
      const int lo = HexDigitValue(in[i + 2]);
      if (hi == kNotHex || lo == kNotHex) return false;
      out[o++] = static_cast<char>((hi << 4) | lo);
      i += 2;
    }
  }
  *out_size = o;
  return true;
}

}  // namespace beacon::kernels
