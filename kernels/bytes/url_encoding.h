// Decoding of application/x-www-form-urlencoded components (GA payload keys and values).
#pragma once

#include <cstddef>
#include <string_view>

namespace beacon::kernels {

// Decodes one component: '+' becomes a space, "%XX" (hex digits, either case) the byte XX.
// Writes at most component.size() bytes to `out` and stores their count in *out_size.
// Returns false, with `out` unspecified, when a '%' is not followed by two hex digits.
bool FormDecode(std::string_view component, char* out, size_t* out_size);

}  // namespace beacon::kernels
