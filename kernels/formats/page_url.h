// The host and page path of a page URL from one SplitUrl (the allowlist needs the host, a
// pageview's row the path).
#pragma once

#include <string_view>

#include "kernels/bytes/byte_table.h"
#include "kernels/bytes/url.h"

namespace beacon::kernels {

struct PageUrl {
  std::string_view host;  // SplitUrl's host
  std::string_view path;  // PagePath (common.h): SplitUrl's path, "/" when empty
};

inline PageUrl SplitPageUrl(std::string_view url, const ByteKernels& bytes) {
  const UrlParts parts = SplitUrl(url, bytes);
  return {.host = parts.host, .path = parts.path.empty() ? std::string_view("/") : parts.path};
}

}  // namespace beacon::kernels
