// IpPrefix parsing (IPv4, IPv6, bare addresses, what is refused) and SourceFilter matching.
#include "kernels/ip_prefix.h"

#include <gtest/gtest.h>

namespace beacon::kernels {
namespace {

IpAddress V6(std::initializer_list<uint8_t> head, uint8_t last) {
  IpAddress ip;
  size_t i = 0;
  for (const uint8_t b : head) ip.bytes[i++] = b;
  ip.bytes[15] = last;
  return ip;
}

TEST(IpPrefixTest, ParsesIpv4AsV4MappedAndIpv6) {
  const auto v4 = ParseIpPrefix("192.0.2.0/24");
  ASSERT_TRUE(v4.has_value());
  EXPECT_EQ(v4->bits, 96 + 24);
  EXPECT_TRUE(v4->Contains(IpAddress::FromV4(0xc0000207)));
  EXPECT_FALSE(v4->Contains(IpAddress::FromV4(0xc0000307)));
  EXPECT_FALSE(v4->Contains(V6({0x20, 0x01}, 7)));
  const auto v6 = ParseIpPrefix("2001:db8::/33");
  ASSERT_TRUE(v6.has_value());
  EXPECT_TRUE(v6->Contains(V6({0x20, 0x01, 0x0d, 0xb8, 0x7f}, 1)));
  EXPECT_FALSE(v6->Contains(V6({0x20, 0x01, 0x0d, 0xb8, 0x80}, 1)));
  EXPECT_FALSE(v6->Contains(IpAddress::FromV4(0xc0000207)));
  const auto host = ParseIpPrefix("10.1.2.3");
  ASSERT_TRUE(host.has_value());
  EXPECT_EQ(host->bits, 128);
  EXPECT_TRUE(host->Contains(IpAddress::FromV4(0x0a010203)));
  EXPECT_FALSE(host->Contains(IpAddress::FromV4(0x0a010204)));
  const auto all = ParseIpPrefix("0.0.0.0/0");
  ASSERT_TRUE(all.has_value());
  EXPECT_TRUE(all->Contains(IpAddress::FromV4(0xffffffff)));
  EXPECT_FALSE(all->Contains(V6({0x20}, 0)));  // every IPv4 address, not every address
  EXPECT_TRUE(ParseIpPrefix("::/0")->Contains(V6({0x20}, 0)));
}

TEST(IpPrefixTest, RefusesMalformedPrefixes) {
  for (const char* bad :
       {"", "/8", "10.0.0.0/", "10.0.0.0/33", "2001:db8::/129", "10.0.0.1/8", "2001:db8::1/32",
        "10.0.0.0/8x", "10.0.0.0/-1", "example.com/8", "10.0.0/8", "10.0.0.0 /8"}) {
    EXPECT_FALSE(ParseIpPrefix(bad).has_value()) << bad;
  }
}

TEST(IpPrefixTest, SourceFilterAllowsListedPrefixesOrEveryoneWhenEmpty) {
  EXPECT_TRUE(SourceFilter().Allows(IpAddress::FromV4(0x01020304)));
  const SourceFilter filter({*ParseIpPrefix("127.0.0.0/8"), *ParseIpPrefix("::1")});
  EXPECT_TRUE(filter.Allows(IpAddress::FromV4(0x7f000001)));
  EXPECT_TRUE(filter.Allows(V6({}, 1)));
  EXPECT_FALSE(filter.Allows(IpAddress::FromV4(0x0a000001)));
  EXPECT_FALSE(filter.Allows(V6({}, 2)));
}

}  // namespace
}  // namespace beacon::kernels
