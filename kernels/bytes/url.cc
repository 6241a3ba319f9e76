// URL splitting per RFC 3986's generic syntax, without normalisation.
#include "kernels/bytes/url.h"

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

constexpr AsciiSet kPathEnd("?#");
constexpr AsciiSet kAuthorityEnd("?#/");

}  // namespace

std::string_view StripQueryAndFragment(std::string_view path, const ByteKernels& bytes) {
  return path.substr(0, bytes.find_any_of(path.data(), path.size(), kPathEnd));
}

UrlParts SplitUrl(std::string_view url, const ByteKernels& bytes) {
  std::string_view rest = url.substr(SchemeLength(url));
  if (!rest.starts_with("//")) return {{}, StripQueryAndFragment(url, bytes)};
  rest.remove_prefix(2);
  const size_t authority_end = bytes.find_any_of(rest.data(), rest.size(), kAuthorityEnd);
  std::string_view authority = rest.substr(0, authority_end);
  const size_t at = authority.rfind('@');
  if (at != std::string_view::npos) authority.remove_prefix(at + 1);
  return {authority, StripQueryAndFragment(rest.substr(authority_end), bytes)};
}

}  // namespace beacon::kernels
