// Strict UTF-8 validation (RFC 3629) of decoded beacon values.
#pragma once

#include <string_view>

namespace beacon::kernels {

// Whether `bytes` is well-formed UTF-8: no stray continuation bytes, no truncated sequences,
// no overlong forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF. U+0000 is valid.
bool IsValidUtf8(std::string_view bytes);

}  // namespace beacon::kernels
