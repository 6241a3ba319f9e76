// Host and path of a page URL (GA dl), for host allowlists and page paths.
#pragma once

#include <string_view>

#include "kernels/bytes/text.h"

namespace beacon::kernels {

struct UrlParts {
  std::string_view host;  // userinfo dropped, ":port" kept; empty when the URL has no authority
  std::string_view path;  // query and fragment dropped; may be empty
};

// Splits "scheme://authority/path?query#fragment" or "//authority/path...". A URL with no
// authority (no "scheme://" and no leading "//") has no host; its path is all of it up to the
// first '?' or '#'. Never reads outside `url`. Delimiters are found with `bytes`.
UrlParts SplitUrl(std::string_view url, const ByteKernels& bytes = ReferenceByteKernels());

// `path` up to its first '?' or '#'.
std::string_view StripQueryAndFragment(std::string_view path,
                                       const ByteKernels& bytes = ReferenceByteKernels());

}  // namespace beacon::kernels
