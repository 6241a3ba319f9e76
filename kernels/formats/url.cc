// URL splitting per RFC 3986's generic syntax, without normalisation.
#include "kernels/formats/url.h"

namespace beacon::kernels {
namespace {

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsSchemeChar(char c) {
  return IsAlpha(c) || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

// Length of "scheme:" at the start of `url` (RFC 3986: ALPHA *(ALPHA/DIGIT/"+"/"-"/".") ":"),
// or 0 when there is none.
size_t SchemeLength(std::string_view url) {
  if (url.empty() || !IsAlpha(url[0])) return 0;
  for (size_t i = 1; i < url.size(); ++i) {
    if (url[i] == ':') return i + 1;
    if (!IsSchemeChar(url[i])) return 0;
  }
  return 0;
}

// Index of the first '?' or '#' (and '/' when `slash`), or url.size(). A plain loop: the
// generic find_first_of calls memchr once per byte.
size_t FindDelimiter(std::string_view url, bool slash) {
  for (size_t i = 0; i < url.size(); ++i) {
    const char c = url[i];
    if (c == '?' || c == '#' || (slash && c == '/')) return i;
  }
  return url.size();
}

}  // namespace

std::string_view StripQueryAndFragment(std::string_view path) {
  return path.substr(0, FindDelimiter(path, false));
}

UrlParts SplitUrl(std::string_view url) {
  std::string_view rest = url.substr(SchemeLength(url));
  if (!rest.starts_with("//")) return {{}, StripQueryAndFragment(url)};
  rest.remove_prefix(2);
  const size_t authority_end = FindDelimiter(rest, true);
  std::string_view authority = rest.substr(0, authority_end);
  const size_t at = authority.rfind('@');
  if (at != std::string_view::npos) authority.remove_prefix(at + 1);
  return {authority, StripQueryAndFragment(rest.substr(authority_end))};
}

}  // namespace beacon::kernels
