// Visitor ids: keyed per site; address-based ids change with the daily salt and are refused
// for days no salt covers.
#include "kernels/visitor.h"

#include <gtest/gtest.h>

namespace beacon::kernels {
namespace {

constexpr int64_t kDayMs = 86'400'000;

TEST(VisitorTest, ClientIdHashIsKeyedBySiteAndDeployment) {
  const uint64_t a = VisitorFromClientId("555.1700000000", 1, 42);
  EXPECT_EQ(a, VisitorFromClientId("555.1700000000", 1, 42));
  EXPECT_NE(a, VisitorFromClientId("555.1700000000", 2, 42));
  EXPECT_NE(a, VisitorFromClientId("555.1700000000", 1, 43));
  EXPECT_NE(a, VisitorFromClientId("555.1700000001", 1, 42));
}

TEST(VisitorTest, AddressHashUsesTheSaltOfTheReceiveDay) {
  const VisitorSalts salts{.day = 20000, .today = 0x1111, .yesterday = 0x2222};
  const IpAddress ip = IpAddress::FromV4(0xc6120005);
  uint64_t today1 = 0, today2 = 0, yesterday = 0, unused = 0;
  ASSERT_TRUE(VisitorFromAddress(salts, 20000 * kDayMs + 5, 7, ip, "UA", &today1));
  ASSERT_TRUE(VisitorFromAddress(salts, 20001 * kDayMs - 1, 7, ip, "UA", &today2));
  EXPECT_EQ(today1, today2);  // same person, same day
  ASSERT_TRUE(VisitorFromAddress(salts, 20000 * kDayMs - 1, 7, ip, "UA", &yesterday));
  EXPECT_NE(today1, yesterday);  // not linkable across days
  EXPECT_FALSE(VisitorFromAddress(salts, 19999 * kDayMs - 1, 7, ip, "UA", &unused));
  EXPECT_FALSE(VisitorFromAddress(salts, 20001 * kDayMs, 7, ip, "UA", &unused));

  uint64_t other = 0;
  ASSERT_TRUE(VisitorFromAddress(salts, 20000 * kDayMs, 8, ip, "UA", &other));
  EXPECT_NE(other, today1);  // per site
  ASSERT_TRUE(
      VisitorFromAddress(salts, 20000 * kDayMs, 7, IpAddress::FromV4(0xc6120006), "UA", &other));
  EXPECT_NE(other, today1);  // per address
  ASSERT_TRUE(VisitorFromAddress(salts, 20000 * kDayMs, 7, ip, "UA2", &other));
  EXPECT_NE(other, today1);  // per user agent
}

TEST(VisitorTest, AddressHashAloneGivesTheVisitor) {
  const VisitorSalts salts{.day = 20000, .today = 0x1111, .yesterday = 0x2222};
  const IpAddress ip = IpAddress::FromV4(0xc6120005);
  uint64_t address_hash = 0, visitor = 0, other_ua = 0, other_day = 0;
  ASSERT_TRUE(AddressHash(salts, 20000 * kDayMs, ip, &address_hash));
  ASSERT_TRUE(VisitorFromAddress(salts, 20000 * kDayMs, 7, ip, "UA", &visitor));
  EXPECT_EQ(visitor, VisitorFromAddressHash(address_hash, "UA", 7));  // what a replay derives
  EXPECT_NE(visitor, VisitorFromAddressHash(address_hash, "UA", 8));
  // Another user agent (Snowplow's own `ua`) with the same archived hash: as the live path.
  ASSERT_TRUE(VisitorFromAddress(salts, 20000 * kDayMs, 7, ip, "UA2", &other_ua));
  EXPECT_EQ(other_ua, VisitorFromAddressHash(address_hash, "UA2", 7));
  ASSERT_TRUE(AddressHash(salts, 20000 * kDayMs - 1, ip, &other_day));
  EXPECT_NE(address_hash, other_day);
}

TEST(VisitorTest, MissingSaltIsRefused) {
  const VisitorSalts none{};
  uint64_t unused = 0;
  EXPECT_FALSE(VisitorFromAddress(none, 0, 1, {}, "UA", &unused));
}

}  // namespace
}  // namespace beacon::kernels
