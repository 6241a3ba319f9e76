// HexDigitValue: every byte value, against the digits' definition.
#include "kernels/bytes/hex.h"

#include <gtest/gtest.h>

#include <string_view>

namespace beacon::kernels {
namespace {

TEST(HexTest, EveryByteHasItsDigitValueOrNone) {
  constexpr std::string_view kLower = "0123456789abcdef";
  constexpr std::string_view kUpper = "0123456789ABCDEF";
  for (int byte = 0; byte < 256; ++byte) {
    const char c = static_cast<char>(byte);
    const size_t lower = kLower.find(c);
    const size_t upper = kUpper.find(c);
    const int expected = lower != std::string_view::npos   ? static_cast<int>(lower)
                         : upper != std::string_view::npos ? static_cast<int>(upper)
                                                           : kNotHex;
    EXPECT_EQ(HexDigitValue(c), expected) << "byte " << byte;
  }
}

TEST(HexTest, UsableInConstantExpressions) {
  static_assert(HexDigitValue('f') == 15 && HexDigitValue('A') == 10 &&
                HexDigitValue('g') == kNotHex);
}

}  // namespace
}  // namespace beacon::kernels
