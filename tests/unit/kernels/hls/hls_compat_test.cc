// The kernels' coding contract (kernels/hls/README.md): the ap_uint and hls::stream operations
// they use behave the same with the project's shim and with Xilinx's ap_int.h (this file is
// built against both when Xilinx's headers are present), and an empty-stream read fails.
#include "kernels/hls/hls_compat.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace {

TEST(HlsCompatTest, WordsStartZeroAndHoldA64BitValue) {
  const ap_uint<512> zero(0);
  EXPECT_EQ(zero.range(511, 448).to_uint64(), 0u);
  const ap_uint<512> v(0x0123456789abcdefULL);
  EXPECT_EQ(v.to_uint64(), 0x0123456789abcdefULL);
  EXPECT_EQ(v.range(7, 0).to_uint64(), 0xefu);
  EXPECT_EQ(v.range(63, 56).to_uint64(), 0x01u);
  EXPECT_EQ(v.range(127, 64).to_uint64(), 0u);
}

TEST(HlsCompatTest, RangesReadAndWriteBytesAndFieldsAcrossWordBoundaries) {
  ap_uint<512> w(0);
  for (int byte = 0; byte < 64; ++byte) w.range(8 * byte + 7, 8 * byte) = uint64_t(byte * 3 + 1);
  for (int byte = 0; byte < 64; ++byte) {
    EXPECT_EQ(w.range(8 * byte + 7, 8 * byte).to_uint64(), uint64_t(byte * 3 + 1)) << byte;
  }
  w.range(95, 32) = 0xfedcba9876543210ULL;  // a 64-bit field straddling two 64-bit limbs
  EXPECT_EQ(w.range(95, 32).to_uint64(), 0xfedcba9876543210ULL);
  EXPECT_EQ(w.range(31, 0).to_uint64(), 0x0a070401u);  // untouched below
  EXPECT_EQ(w.range(103, 96).to_uint64(), 37u);        // untouched above
  w.range(140, 130) = 0xFFFFFu;                        // wider values are truncated to the field
  EXPECT_EQ(w.range(140, 130).to_uint64(), 0x7FFu);
  const uint64_t converted = w.range(95, 32);
  EXPECT_EQ(converted, 0xfedcba9876543210ULL);
}

TEST(HlsCompatTest, WordsCompareByEveryBit) {
  ap_uint<512> a(7);
  ap_uint<512> b(7);
  EXPECT_TRUE(a == b);
  b.range(511, 511) = 1;
  EXPECT_TRUE(a != b);
  a.range(511, 511) = 1;
  EXPECT_TRUE(a == b);
}

struct Item {
  ap_uint<512> data;
  bool last;
};

TEST(HlsCompatTest, StreamsAreFifos) {
  hls::stream<Item> s("items");
  EXPECT_TRUE(s.empty());
  for (uint64_t i = 0; i < 100; ++i) s.write({ap_uint<512>(i), i == 99});
  EXPECT_EQ(s.size(), 100u);
  for (uint64_t i = 0; i < 100; ++i) {
    const Item item = s.read();
    EXPECT_EQ(item.data.to_uint64(), i);
    EXPECT_EQ(item.last, i == 99);
  }
  EXPECT_TRUE(s.empty());
}

#ifndef BEACON_HLS_VENDOR_STREAM
TEST(HlsCompatDeathTest, ReadingAnEmptyStreamFailsWithItsName) {
  hls::stream<int> s("under_run");
  s.write(1);
  EXPECT_EQ(s.read(), 1);
  EXPECT_DEATH(s.read(), "hls::stream 'under_run': read while empty");
}
#endif

#ifndef BEACON_HLS_VENDOR_AP_INT
TEST(HlsCompatDeathTest, RangesOutsideTheWordFail) {
  ap_uint<64> w(0);
  EXPECT_DEATH(w.range(64, 60) = 1, "outside the word or wider than 64 bits");
  const ap_uint<512> wide(0);
  EXPECT_DEATH(static_cast<void>(wide.range(100, 0).to_uint64()), "wider than 64 bits");
}
#endif

}  // namespace
