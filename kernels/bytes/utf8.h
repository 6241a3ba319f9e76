// Strict UTF-8 validation (RFC 3629) of decoded beacon values, and cuts at character boundaries.
#pragma once

#include <cstddef>
#include <string_view>

namespace beacon::kernels {

// Whether `bytes` is well-formed UTF-8: no stray continuation bytes, no truncated sequences,
// no overlong forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF. U+0000 is valid.
bool IsValidUtf8(std::string_view bytes);

// Length of the longest prefix of `s` of at most `cap` bytes that ends on a character boundary:
// cutting there never splits a character (`s` is valid UTF-8).
size_t Utf8PrefixLength(std::string_view s, size_t cap);

}  // namespace beacon::kernels
