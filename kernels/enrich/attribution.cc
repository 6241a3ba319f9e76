// Attribution dimensions; see attribution.h and the rules in README.md.
#include "kernels/enrich/attribution.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>

#include "kernels/bytes/hex.h"
#include "kernels/bytes/url.h"
#include "kernels/bytes/url_encoding.h"
#include "kernels/bytes/utf8.h"

namespace beacon::kernels {
namespace {

constexpr char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

constexpr bool IsUnreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

constexpr uint64_t kEachByte = 0x0101'0101'0101'0101;

// Bit 7 of byte k is set when byte k of `word` is zero; exact up to the first zero byte (a borrow
// may mark bytes above it).
constexpr uint64_t ZeroBytes(uint64_t word) {
  return (word - kEachByte) & ~word & (kEachByte * 0x80);
}

// Marks the bytes of `word` (8 path bytes, the first lowest) that NormaliseBarePagePath does not
// copy as they are: '/', '%' and UTF-8 lead bytes. Exact up to the first one marked.
constexpr uint64_t PathSpecialBytes(uint64_t word) {
  return ZeroBytes(word ^ (kEachByte * '/')) | ZeroBytes(word ^ (kEachByte * '%')) |
         ZeroBytes((word & (kEachByte * 0xC0)) ^ (kEachByte * 0xC0));
}

template <size_t N>
uint8_t CopyCapped(std::string_view value, std::array<char, N>* out) {
  static_assert(N <= 255, "sizes are uint8_t");
  const size_t n = Utf8PrefixLength(value, N);
  std::copy_n(value.data(), n, out->data());
  return static_cast<uint8_t>(n);
}

// Whether form-decoding `raw` leaves it as it is and valid UTF-8: no '%', no '+', ASCII only.
bool DecodesToItself(std::string_view raw) {
  for (const char c : raw) {
    if (c == '%' || c == '+' || static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// Decodes a utm value into `buffer` (or, when it decodes to itself, leaves it where it is);
// false when it is empty, too long to hold, a bad escape or not UTF-8.
bool DecodeValue(std::string_view raw, char* buffer, size_t buffer_size, std::string_view* out) {
  if (raw.empty() || raw.size() > buffer_size) return false;
  if (DecodesToItself(raw)) {
    *out = raw;
    return true;
  }
  size_t size = 0;
  if (!FormDecode(raw, buffer, &size) || size == 0) return false;
  const std::string_view decoded(buffer, size);
  if (!IsValidUtf8(decoded)) return false;
  *out = decoded;
  return true;
}

}  // namespace

size_t NormaliseHost(std::string_view host, char* out) {
  if (const size_t at = host.rfind('@'); at != std::string_view::npos) host.remove_prefix(at + 1);
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    if (close == std::string_view::npos) return 0;
    host = host.substr(0, close + 1);
  } else if (const size_t colon = host.find(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.size() > 4 && AsciiLower(host[0]) == 'w' && AsciiLower(host[1]) == 'w' &&
      AsciiLower(host[2]) == 'w' && host[3] == '.') {
    host.remove_prefix(4);
  }
  if (host.empty() || host.size() > kMaxReferrerHostBytes) return 0;
  const bool literal = host.front() == '[';
  for (size_t i = 0; i < host.size(); ++i) {
    const char c = AsciiLower(host[i]);
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                    c == '_' || (literal && (c == ':' || c == '[' || c == ']'));
    if (!ok) return 0;
    out[i] = c;
  }
  return host.size();
}

size_t ReferrerHost(std::string_view referrer_url, std::string_view page_host, const Site* site,
                    char* out) {
  const UrlParts parts = SplitUrl(referrer_url);
  const size_t size = NormaliseHost(parts.host, out);
  if (size == 0) return 0;
  const std::string_view host(out, size);
  char page[kMaxReferrerHostBytes];
  const size_t page_size = NormaliseHost(page_host, page);
  if (page_size != 0 && host == std::string_view(page, page_size)) return 0;
  if (site != nullptr) {
    const bool any_host = site->hostnames.size() == 1 && site->hostnames[0] == "*";
    // The allowlist sees the host as sent (with "www."), so that "www.shop.example" matches
    // an allowlist naming it.
    if (!any_host && !site->hostnames.empty() &&
        (SiteRegistry::HostAllowed(*site, parts.host) || SiteRegistry::HostAllowed(*site, host))) {
      return 0;
    }
  }
  return size;
}

Campaign ParseCampaign(std::string_view page_url, std::string_view cs, std::string_view cm,
                       std::string_view cn) {
  Campaign campaign;
  if (!cs.empty() || !cm.empty() || !cn.empty()) {
    campaign.source_size = CopyCapped(cs, &campaign.source_bytes);
    campaign.medium_size = CopyCapped(cm, &campaign.medium_bytes);
    campaign.name_size = CopyCapped(cn, &campaign.name_bytes);
    return campaign;
  }
  // The query: after the first '?', unless a '#' comes first; up to the '#'.
  const size_t question = page_url.find('?');
  if (question == std::string_view::npos) return campaign;
  const size_t hash = page_url.find('#');
  if (hash < question) return campaign;
  std::string_view query = page_url.substr(0, hash).substr(question + 1);
  constexpr size_t kBufferBytes = 2048;  // GA's dl cap; longer values count as absent
  char buffer[kBufferBytes];
  bool have_source = false;
  bool have_medium = false;
  bool have_name = false;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
    if (!pair.starts_with("utm_")) continue;  // every key below does
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view key = pair.substr(0, eq);
    bool* have = nullptr;
    if (key == "utm_source") {
      have = &have_source;
    } else if (key == "utm_medium") {
      have = &have_medium;
    } else if (key == "utm_campaign") {
      have = &have_name;
    } else {
      continue;
    }
    if (*have) continue;
    std::string_view value;
    if (!DecodeValue(pair.substr(eq + 1), buffer, kBufferBytes, &value)) continue;
    *have = true;
    if (have == &have_source) {
      campaign.source_size = CopyCapped(value, &campaign.source_bytes);
    } else if (have == &have_medium) {
      campaign.medium_size = CopyCapped(value, &campaign.medium_bytes);
    } else {
      campaign.name_size = CopyCapped(value, &campaign.name_bytes);
    }
  }
  return campaign;
}

size_t NormalisePagePath(std::string_view path, char* out, bool* truncated) {
  return NormaliseBarePagePath(StripQueryAndFragment(path), out, truncated);
}

size_t NormaliseBarePagePath(std::string_view path, char* out, bool* truncated) {
  if (truncated != nullptr) *truncated = false;
  size_t size = 0;
  out[size++] = '/';
  size_t i = 0;
  // Appends `n` bytes unless that passes the cap; false (and *truncated) when it would.
  auto fits = [&](size_t n) {
    if (size + n <= kMaxPagePathBytes) return true;
    if (truncated != nullptr) *truncated = true;
    return false;
  };
  while (i < path.size()) {
    // The bytes copied as they are, 8 at a time: one load and store, then the count before the
    // first other byte (handled below). Only where all 8 fit, so the cap is never passed.
    if (i + 8 <= path.size() && size + 8 <= kMaxPagePathBytes) {
      static_assert(std::endian::native == std::endian::little, "byte 0 is the lowest");
      uint64_t word;
      std::memcpy(&word, path.data() + i, sizeof word);
      std::memcpy(out + size, &word, sizeof word);
      const uint64_t special = PathSpecialBytes(word);
      const size_t plain = special == 0 ? 8 : static_cast<size_t>(std::countr_zero(special)) / 8;
      size += plain;
      i += plain;
      if (plain == 8) continue;
    }
    const char c = path[i];
    const auto byte = static_cast<unsigned char>(c);
    if (c == '/') {
      ++i;
      if (out[size - 1] == '/') continue;  // duplicate (or the leading) slash
      if (!fits(1)) break;
      out[size++] = '/';
    } else if (c == '%' && i + 2 < path.size() && HexDigitValue(path[i + 1]) != kNotHex &&
               HexDigitValue(path[i + 2]) != kNotHex) {
      const auto decoded =
          static_cast<unsigned char>(HexDigitValue(path[i + 1]) * 16 + HexDigitValue(path[i + 2]));
      if (IsUnreserved(decoded)) {
        if (!fits(1)) break;
        out[size++] = static_cast<char>(decoded);
      } else {
        static constexpr char kHex[] = "0123456789ABCDEF";
        if (!fits(3)) break;
        out[size++] = '%';
        out[size++] = kHex[decoded >> 4];
        out[size++] = kHex[decoded & 15];
      }
      i += 3;
    } else if (byte < 0xC0) {
      if (!fits(1)) break;
      out[size++] = c;
      ++i;
    } else {
      // A UTF-8 lead byte: the sequence is kept whole, so a cut never splits it.
      size_t n = 1;
      while (i + n < path.size() && n < 4 &&
             (static_cast<unsigned char>(path[i + n]) & 0xC0) == 0x80) {
        ++n;
      }
      if (!fits(n)) break;
      std::copy_n(path.data() + i, n, out + size);
      size += n;
      i += n;
    }
  }
  if (size > 1 && out[size - 1] == '/') --size;
  return size;
}

uint16_t CountryFromHeader(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.size() != 2) return kUnknownCountry;
  char letters[2];
  for (size_t i = 0; i < 2; ++i) {
    const char c = value[i] >= 'a' && value[i] <= 'z' ? static_cast<char>(value[i] - 32) : value[i];
    if (c < 'A' || c > 'Z') return kUnknownCountry;
    letters[i] = c;
  }
  const std::string_view code(letters, 2);
  if (code == "XX" || code == "ZZ" || code == "EU" || code == "AP") return kUnknownCountry;
  return static_cast<uint16_t>((letters[0] << 8) | letters[1]);
}

std::string_view CountryLetters(uint16_t country, std::array<char, 2>* buffer) {
  if (country == kUnknownCountry) return {};
  (*buffer)[0] = static_cast<char>(country >> 8);
  (*buffer)[1] = static_cast<char>(country & 0xFF);
  return {buffer->data(), 2};
}

}  // namespace beacon::kernels
