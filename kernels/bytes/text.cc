// Line and field splitting and the relay log unescaping, scanning through a byte kernel table.
#include "kernels/bytes/text.h"

#include <cstring>

#include "kernels/bytes/hex.h"

namespace beacon::kernels {
std::string_view NextField(std::string_view* rest, char delimiter, bool* last,
                           const ByteKernels& bytes) {
  const size_t at = bytes.find_byte(rest->data(), rest->size(), delimiter);
  std::string_view field = rest->substr(0, at);
  if (at == rest->size()) {
    *rest = {};
    *last = true;
  } else {
    rest->remove_prefix(at + 1);
    *last = false;
  }
  return field;
}

std::string_view NextLine(std::string_view* rest, const ByteKernels& bytes) {
  bool last = false;
  std::string_view line = NextField(rest, '\n', &last, bytes);
  if (line.ends_with('\r')) line.remove_suffix(1);
  return line;
}

size_t SplitFields(std::string_view text, char delimiter, std::string_view* fields,
                   size_t max_fields, const ByteKernels& bytes) {
  size_t count = 0;
  bool last = false;
  while (!last) {
    const std::string_view field = NextField(&text, delimiter, &last, bytes);
    if (count == max_fields) return max_fields + 1;
    fields[count++] = field;
  }
  return count;
}

bool UnescapeLogField(std::string_view escaped, char* out, size_t* out_size,
                      const ByteKernels& bytes) {
  size_t n = 0;
  size_t i = 0;
  while (i < escaped.size()) {
    const size_t backslash = i + bytes.find_byte(escaped.data() + i, escaped.size() - i, '\\');
    std::memcpy(out + n, escaped.data() + i, backslash - i);
    n += backslash - i;
    if (backslash == escaped.size()) break;
    if (backslash + 1 >= escaped.size()) return false;
    const char code = escaped[backslash + 1];
    i = backslash + 2;
    switch (code) {
      case '"':
      case '\\':
      case '/':
        out[n++] = code;
        break;
      case 'b':
        out[n++] = '\b';
        break;
      case 'f':
        out[n++] = '\f';
        break;
      case 'n':
        out[n++] = '\n';
        break;
      case 'r':
        out[n++] = '\r';
        break;
      case 't':
        out[n++] = '\t';
        break;
      case 'u': {
        if (escaped.size() - i < 4 || escaped[i] != '0' || escaped[i + 1] != '0') return false;
        const int hi = HexDigitValue(escaped[i + 2]);
        const int lo = HexDigitValue(escaped[i + 3]);
        if (hi < 0 || lo < 0) return false;
        out[n++] = static_cast<char>(hi * 16 + lo);
        i += 4;
        break;
      }
      default:
        return false;
    }
  }
  *out_size = n;
  return true;
}

size_t FindEnd(std::string_view text, std::string_view needle, const ByteKernels& bytes) {
  if (needle.empty()) return 0;
  for (size_t from = 0;;) {
    const size_t at = from + bytes.find_byte(text.data() + from, text.size() - from, needle[0]);
    if (needle.size() > text.size() - at) return std::string_view::npos;
    if (text.substr(at, needle.size()) == needle) return at + needle.size();
    from = at + 1;
  }
}

}  // namespace beacon::kernels
