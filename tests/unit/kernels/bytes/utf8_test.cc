// IsValidUtf8: the RFC 3629 boundaries, table-driven; Utf8PrefixLength at every cut.
#include "kernels/bytes/utf8.h"

#include <gtest/gtest.h>

#include <iterator>
#include <string>
#include <string_view>

namespace beacon::kernels {
namespace {

using std::string_view_literals::operator""sv;

struct Utf8Case {
  std::string_view bytes;
  bool valid;
  std::string_view what;
};

TEST(Utf8Test, AcceptsWellFormedAndRejectsIllFormedSequences) {
  const Utf8Case cases[] = {
      {"", true, "empty"},
      {"hello, world", true, "ASCII"},
      {"\0"sv, true, "U+0000"},
      {"\x7F", true, "U+007F"},
      {"\xC2\x80", true, "U+0080, smallest two-byte"},
      {"\xC3\xA9", true, "e acute"},
      {"\xDF\xBF", true, "U+07FF"},
      {"\xE0\xA0\x80", true, "U+0800, smallest three-byte"},
      {"\xE2\x82\xAC", true, "euro sign"},
      {"\xED\x9F\xBF", true, "U+D7FF, below the surrogates"},
      {"\xEE\x80\x80", true, "U+E000, above the surrogates"},
      {"\xEF\xBF\xBF", true, "U+FFFF"},
      {"\xF0\x90\x80\x80", true, "U+10000, smallest four-byte"},
      {"\xF0\x9D\x84\x9E", true, "musical symbol G clef"},
      {"\xF4\x8F\xBF\xBF", true, "U+10FFFF, the largest code point"},
      {"M\xC3\xBCnchen Stra\xC3\x9F"
       "e \xE6\x9D\xB1\xE4\xBA\xAC",
       true, "mixed scripts"},
      {"\x80", false, "stray continuation byte"},
      {"\xBF", false, "stray continuation byte BF"},
      {"\xC0\xAF", false, "overlong '/' (C0)"},
      {"\xC1\xBF", false, "overlong (C1)"},
      {"\xE0\x80\xAF", false, "overlong three-byte '/'"},
      {"\xE0\x9F\xBF", false, "overlong three-byte U+07FF"},
      {"\xF0\x80\x80\xAF", false, "overlong four-byte '/'"},
      {"\xF0\x8F\xBF\xBF", false, "overlong four-byte U+FFFF"},
      {"\xED\xA0\x80", false, "surrogate U+D800"},
      {"\xED\xBF\xBF", false, "surrogate U+DFFF"},
      {"\xED\xA0\xBD\xED\xB8\x80", false, "CESU-8 surrogate pair"},
      {"\xF4\x90\x80\x80", false, "U+110000"},
      {"\xF5\x80\x80\x80", false, "lead F5"},
      {"\xF8\x88\x80\x80\x80", false, "five-byte form"},
      {"\xFE", false, "FE"},
      {"\xFF", false, "FF"},
      {"\xC3", false, "truncated two-byte"},
      {"\xE2\x82", false, "truncated three-byte"},
      {"\xF0\x9D\x84", false, "truncated four-byte"},
      {"\xC3\x28", false, "two-byte with ASCII continuation"},
      {"\xE2\x28\xAC", false, "three-byte with bad second byte"},
      {"\xE2\x82\x28", false, "three-byte with bad third byte"},
      {"\xF0\x9D\x28\x9E", false, "four-byte with bad third byte"},
      {"\xF0\x9D\x84\x28", false, "four-byte with bad fourth byte"},
      {"abcdefgh\xC3\xA9", true, "multi-byte after an ASCII word"},
      {"abcdefg\xC3\xA9z", true, "multi-byte across the word boundary"},
      {"abcdefgh\x80", false, "stray byte after an ASCII word"},
      {"abcdefghijklmno\xE2\x82", false, "truncated at the end after ASCII words"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(IsValidUtf8(c.bytes), c.valid) << c.what;
  }
}

TEST(Utf8Test, NeverReadsPastTheView) {
  const std::string buffer = "\xE2\x82\xAC";
  EXPECT_FALSE(IsValidUtf8(std::string_view(buffer).substr(0, 2)));
  EXPECT_TRUE(IsValidUtf8(buffer));
}

TEST(Utf8Test, PrefixNeverSplitsACharacter) {
  const std::string_view text =
      "a\xC3\xA9\xE2\x82\xAC\xF0\x9D\x84\x9E";  // a, e acute, euro, G clef
  const size_t expected[] = {0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10, 10};
  for (size_t cap = 0; cap < std::size(expected); ++cap) {
    const size_t n = Utf8PrefixLength(text, cap);
    EXPECT_EQ(n, expected[cap]) << "cap " << cap;
    EXPECT_TRUE(IsValidUtf8(text.substr(0, n))) << "cap " << cap;
  }
}

}  // namespace
}  // namespace beacon::kernels
