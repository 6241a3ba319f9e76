// The scalar reference byte kernels: kernels/bytes' building blocks and plain loops, the
// behaviour every other table must reproduce bit for bit.
#include "kernels/bytes/scalar_kernels.h"

#include "kernels/bytes/hash.h"
#include "kernels/bytes/internet_sum.h"
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

// Field extraction the plain way: FormDecode and IsValidUtf8 of the whole hit (its '&' and '='
// are ASCII, so no sequence spans a key or value: the output is valid iff each of them is),
// then the separators' output positions from a scan of the hit (every escape drops 2 bytes).
FormScan ReferenceSplitForm(std::string_view hit, char* out, FormSeparators separators) {
  size_t size = 0;
  if (!FormDecode(hit, out, &size)) return {false, false, 0, 0};
  size_t count = 0;
  size_t dropped = 0;
  for (size_t i = 0; i < hit.size(); ++i) {
    if (hit[i] == '%') {
      dropped += 2;
      i += 2;
    } else if (hit[i] == '&' || hit[i] == '=') {
      if (count < separators.capacity)
        separators.positions[count] = static_cast<uint32_t>(i - dropped);
      ++count;
    }
  }
  return {true, IsValidUtf8({out, size}), count, size};
}

constexpr ByteKernels kScalarByteKernels{.backend = "scalar",
                                         .target = "reference",
                                         .is_valid_utf8 = &ReferenceIsValidUtf8,
                                         .form_decode = &ReferenceFormDecode,
                                         .find_byte = &ReferenceFindByte,
                                         .find_any_of = &ReferenceFindAnyOf,
                                         .classify = &ReferenceClassify,
                                         .split_form = &ReferenceSplitForm,
                                         .hash64_batch = &Hash64Batch,
                                         .internet_sum = &InternetSum};

}  // namespace

ByteKernels ScalarByteKernels() { return kScalarByteKernels; }

const ByteKernels& ReferenceByteKernels() {
  static const ByteKernels reference = ScalarByteKernels();
  return reference;
}

}  // namespace beacon::kernels
