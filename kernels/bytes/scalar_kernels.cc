// The scalar reference byte kernels: kernels/bytes' building blocks and plain loops, the
// behaviour every other table must reproduce bit for bit.
#include "kernels/bytes/scalar_kernels.h"

#include <algorithm>

#include "kernels/bytes/hash.h"
#include "kernels/bytes/url_encoding.h"
#include "kernels/bytes/utf8.h"

namespace beacon::kernels {
namespace {

bool ReferenceIsValidUtf8(std::string_view bytes) { return IsValidUtf8(bytes); }
bool ReferenceFormDecode(std::string_view component, char* out, size_t* out_size) {
  return FormDecode(component, out, out_size);
}
size_t ReferenceFindByte(const char* p, size_t n, char c) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] == c) return i;
  }
  return n;
}
size_t ReferenceFindAnyOf(const char* p, size_t n, const AsciiSet& set) {
  for (size_t i = 0; i < n; ++i) {
    if (set.Contains(p[i])) return i;
  }
  return n;
}
void ReferenceClassify(const char* p, size_t n, const AsciiSet& set, uint64_t* bits) {
  for (size_t w = 0; w < (n + 63) / 64; ++w) bits[w] = 0;
  for (size_t i = 0; i < n; ++i) {
    if (set.Contains(p[i])) bits[i / 64] |= uint64_t{1} << (i % 64);
  }
}

// Field extraction the plain way: FormDecode and IsValidUtf8 per key and value.
FormScan ReferenceSplitForm(std::string_view hit, char* out, FormPairs pairs) {
  size_t o = 0;
  size_t count = 0;
  bool utf8_ok = true;
  size_t start = 0;
  while (true) {
    const size_t amp = std::min(hit.find('&', start), hit.size());
    const std::string_view pair = hit.substr(start, amp - start);
    const size_t equals = pair.find('=');
    size_t key_size = 0;
    if (!FormDecode(pair.substr(0, equals), out + o, &key_size)) return {false, false, 0, 0};
    utf8_ok = utf8_ok && IsValidUtf8({out + o, key_size});
    o += key_size;
    const size_t key_end = o;
    if (equals != std::string_view::npos) {
      out[o++] = '=';
      size_t value_size = 0;
      if (!FormDecode(pair.substr(equals + 1), out + o, &value_size)) return {false, false, 0, 0};
      utf8_ok = utf8_ok && IsValidUtf8({out + o, value_size});
      o += value_size;
    }
    if (count < pairs.capacity) {
      pairs.pair_ends[count] = static_cast<uint32_t>(o);
      pairs.key_ends[count] = static_cast<uint32_t>(key_end);
    }
    ++count;
    if (amp == hit.size()) break;
    out[o++] = '&';
    start = amp + 1;
  }
  return {true, utf8_ok, count, o};
}

constexpr ByteKernels kScalarByteKernels{.backend = "scalar",
                                         .target = "reference",
                                         .is_valid_utf8 = &ReferenceIsValidUtf8,
                                         .form_decode = &ReferenceFormDecode,
                                         .find_byte = &ReferenceFindByte,
                                         .find_any_of = &ReferenceFindAnyOf,
                                         .classify = &ReferenceClassify,
                                         .split_form = &ReferenceSplitForm,
                                         .hash64_batch = &Hash64Batch};

}  // namespace

ByteKernels ScalarByteKernels() { return kScalarByteKernels; }

const ByteKernels& ReferenceByteKernels() {
  static const ByteKernels reference = ScalarByteKernels();
  return reference;
}

}  // namespace beacon::kernels
