// InternetSum, the reference one's-complement sum: RFC 1071's worked example, odd lengths and
// the two zeros of one's-complement arithmetic.
#include "kernels/bytes/internet_sum.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace beacon::kernels {
namespace {

// The words as this host reads them: RFC 1071 sums big-endian words, and its section 2(B)
// shows the sum of byte-swapped words is the byte-swapped sum.
uint16_t HostOrder(uint16_t big_endian) {
  const uint8_t bytes[2] = {static_cast<uint8_t>(big_endian >> 8),
                            static_cast<uint8_t>(big_endian)};
  uint16_t word = 0;
  std::memcpy(&word, bytes, 2);
  return word;
}

TEST(InternetSumTest, Rfc1071Example) {
  // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2 (with end-around carries).
  const uint8_t bytes[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(InternetSum(bytes, sizeof(bytes)), HostOrder(0xddf2));
}

TEST(InternetSumTest, AnOddLastByteIsTheFirstByteOfAZeroPaddedWord) {
  const uint8_t odd[] = {0x12, 0x34, 0x56};
  const uint8_t padded[] = {0x12, 0x34, 0x56, 0x00};
  EXPECT_EQ(InternetSum(odd, 3), InternetSum(padded, 4));
  EXPECT_EQ(InternetSum(odd, 3), FoldInternetSum(uint64_t{HostOrder(0x1234)} + HostOrder(0x5600)));
}

TEST(InternetSumTest, ZeroOnlyForZerosAndAllOnesForOtherMultiplesOfFfff) {
  EXPECT_EQ(InternetSum(nullptr, 0), 0);
  const std::vector<uint8_t> zeros(100, 0);
  EXPECT_EQ(InternetSum(zeros.data(), zeros.size()), 0);
  const uint8_t ones[] = {0xff, 0xff, 0xff, 0xff};
  EXPECT_EQ(InternetSum(ones, 4), 0xffff);
  const uint8_t cancel[] = {0x12, 0x34, 0xed, 0xcb};  // a word and its complement
  EXPECT_EQ(InternetSum(cancel, 4), 0xffff);
  EXPECT_EQ(FoldInternetSum(0xffff0000u), 0xffff);
  EXPECT_EQ(FoldInternetSum(0x1fffeu), 0xffff);
}

}  // namespace
}  // namespace beacon::kernels
