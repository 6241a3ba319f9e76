// Address prefixes (CIDR) over kernels::IpAddress, IPv4 as v4-mapped IPv6 (::ffff:a.b.c.d/96+n),
// and a source filter built from a list of them: the allowed senders of an ingress.
#pragma once

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kernels/raw_batch.h"

namespace beacon::kernels {

struct IpPrefix {
  IpAddress address;  // bits past `bits` are zero
  uint8_t bits = 0;   // of the 128-bit (v4-mapped) address

  bool Contains(const IpAddress& ip) const {
    const size_t whole = bits / 8;
    if (std::memcmp(ip.bytes.data(), address.bytes.data(), whole) != 0) return false;
    if (bits % 8 == 0) return true;
    const auto mask = static_cast<uint8_t>(0xff << (8 - bits % 8));
    return (ip.bytes[whole] & mask) == address.bytes[whole];
  }
};

// "192.0.2.0/24", "2001:db8::/32", or an address alone (a /32 or /128). nullopt for anything
// else, a prefix length past the family's, or host bits set below the prefix.
inline std::optional<IpPrefix> ParseIpPrefix(std::string_view text) {
  const size_t slash = text.find('/');
  const std::string address(text.substr(0, slash));
  IpPrefix prefix;
  unsigned family_bits = 128;
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, address.c_str(), &v4) == 1) {
    prefix.address = IpAddress::FromV4(ntohl(v4.s_addr));
    family_bits = 32;
  } else if (inet_pton(AF_INET6, address.c_str(), &v6) == 1) {
    std::memcpy(prefix.address.bytes.data(), v6.s6_addr, 16);
  } else {
    return std::nullopt;
  }
  unsigned length = family_bits;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), length);
    if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() ||
        length > family_bits) {
      return std::nullopt;
    }
  }
  prefix.bits = static_cast<uint8_t>(128 - family_bits + length);
  IpPrefix masked = prefix;
  for (size_t i = 0; i < 16; ++i) {
    const unsigned keep =
        prefix.bits > 8 * i ? std::min(8u, prefix.bits - 8 * static_cast<unsigned>(i)) : 0;
    masked.address.bytes[i] &= static_cast<uint8_t>(0xff00 >> keep);
  }
  if (masked.address.bytes != prefix.address.bytes) return std::nullopt;
  return prefix;
}

// The senders an ingress takes datagrams from; an empty list allows every sender.
class SourceFilter {
 public:
  SourceFilter() = default;
  explicit SourceFilter(std::vector<IpPrefix> prefixes) : prefixes_(std::move(prefixes)) {}

  bool Allows(const IpAddress& source) const {
    if (prefixes_.empty()) return true;
    for (const IpPrefix& p : prefixes_) {
      if (p.Contains(source)) return true;
    }
    return false;
  }

 private:
  std::vector<IpPrefix> prefixes_;
};

}  // namespace beacon::kernels
