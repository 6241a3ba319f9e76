// Attribution dimensions of a hit: referrer host (self-referrals dropped), campaign (UTM or GA
// cs/cm/cn), normalised page path and country. Per-hit functions writing into caller buffers:
// no allocation, no exceptions. Rules: kernels/enrich/README.md.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kernels/site_registry.h"

namespace beacon::kernels {

inline constexpr size_t kMaxReferrerHostBytes = 253;  // a DNS name
inline constexpr size_t kMaxPagePathBytes = 1024;
inline constexpr size_t kMaxCampaignSourceBytes = 100;  // GA cs
inline constexpr size_t kMaxCampaignMediumBytes = 50;   // GA cm
inline constexpr size_t kMaxCampaignNameBytes = 100;    // GA cn

// `host` (of a URL authority) normalised: userinfo, ":port" and one trailing dot dropped, ASCII
// lower-cased, a leading "www." stripped. Writes at most kMaxReferrerHostBytes bytes to `out`
// and returns their count; 0 when the host is empty, longer than that, or holds a byte other
// than letters, digits, '-', '.', '_' (IPv6 literals keep their brackets and ':').
size_t NormaliseHost(std::string_view host, char* out);

// The normalised host of `referrer_url` (an absolute URL or "//host/..."), or 0 bytes when it
// has none, or when it is a self-referral: the same normalised host as `page_host`, or a host
// `site`'s allowlist names (an allowlist of "*" alone names no host for this purpose).
// `site` may be null. `out` holds kMaxReferrerHostBytes bytes.
size_t ReferrerHost(std::string_view referrer_url, std::string_view page_host, const Site* site,
                    char* out);

// Campaign source / medium / name. Each is decoded, valid UTF-8, cut to its cap at a character
// boundary; empty when absent.
struct Campaign {
  std::array<char, kMaxCampaignSourceBytes> source_bytes;
  std::array<char, kMaxCampaignMediumBytes> medium_bytes;
  std::array<char, kMaxCampaignNameBytes> name_bytes;
  uint8_t source_size = 0;
  uint8_t medium_size = 0;
  uint8_t name_size = 0;

  std::string_view source() const { return {source_bytes.data(), source_size}; }
  std::string_view medium() const { return {medium_bytes.data(), medium_size}; }
  std::string_view name() const { return {name_bytes.data(), name_size}; }
  bool empty() const { return source_size == 0 && medium_size == 0 && name_size == 0; }
};

// The campaign of a hit. When any of the hit's own campaign parameters (GA v1 `cs`, `cm`, `cn`,
// already decoded) is present, all three come from them; otherwise from `utm_source`,
// `utm_medium`, `utm_campaign` in the query of `page_url` (form-decoded; first occurrence wins;
// an empty value, a bad escape or invalid UTF-8 counts as absent).
Campaign ParseCampaign(std::string_view page_url, std::string_view cs, std::string_view cm,
                       std::string_view cn);

// The normalised form of a page path (a query and fragment are dropped first). Writes at most
// kMaxPagePathBytes bytes to `out` and returns their count (never 0: the root is "/"); sets
// *truncated when the path was cut.
size_t NormalisePagePath(std::string_view path, char* out, bool* truncated = nullptr);
// NormalisePagePath of a path that holds no '?' or '#' (SplitUrl's path): no scan for them.
size_t NormaliseBarePagePath(std::string_view path, char* out, bool* truncated = nullptr);

// Country: two ASCII letters packed as (first << 8) | second, upper case; 0 is unknown.
inline constexpr uint16_t kUnknownCountry = 0;

// CDN request headers carrying the client's country, in the order beacond looks for them when
// the configuration names none.
inline constexpr std::array<std::string_view, 4> kDefaultCountryHeaders = {
    "CF-IPCountry", "CloudFront-Viewer-Country", "X-Country-Code", "X-AppEngine-Country"};

// The country of a CDN header value: surrounding spaces ignored, exactly two ASCII letters
// (either case), else unknown; the placeholders "XX" (Cloudflare: unknown), "ZZ", "EU" and "AP"
// (continent-level) are unknown too ("T1", Cloudflare's Tor, is not two letters).
uint16_t CountryFromHeader(std::string_view value);

// The two letters of a packed country; "" for unknown.
std::string_view CountryLetters(uint16_t country, std::array<char, 2>* buffer);

}  // namespace beacon::kernels
