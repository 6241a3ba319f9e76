// FormDecode: form-urlencoded components, table-driven.
#include "kernels/bytes/url_encoding.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace beacon::kernels {
namespace {

struct DecodeCase {
  std::string_view in;
  bool ok;
  std::string_view out;  // when ok
};

TEST(FormDecodeTest, DecodesOrRejectsEachComponent) {
  using std::string_view_literals::operator""sv;
  const DecodeCase cases[] = {
      {"", true, ""},
      {"plain", true, "plain"},
      {"a+b", true, "a b"},
      {"+++", true, "   "},
      {"%41", true, "A"},
      {"%4a%4A", true, "JJ"},
      {"%2B", true, "+"},
      {"%25", true, "%"},
      {"%26%3D", true, "&="},
      {"%00", true, "\0"sv},
      {"%C3%A9t%C3%A9", true, "\xC3\xA9t\xC3\xA9"},
      {"%ff", true, "\xFF"},
      {"x%2fy%2Fz", true, "x/y/z"},
      {"%", false, ""},
      {"%4", false, ""},
      {"ab%", false, ""},
      {"ab%4", false, ""},
      {"%G1", false, ""},
      {"%1G", false, ""},
      {"%%41", false, ""},
      {"100%", false, ""},
      {"%+1", false, ""},
      {"% 1", false, ""},
  };
  for (const auto& c : cases) {
    std::vector<char> out(c.in.size() + 1, '#');
    size_t size = 0;
    const bool ok = FormDecode(c.in, out.data(), &size);
    EXPECT_EQ(ok, c.ok) << "input '" << c.in << "'";
    if (ok && c.ok) {
      EXPECT_EQ(std::string_view(out.data(), size), c.out) << "input '" << c.in << "'";
      EXPECT_LE(size, c.in.size());
    }
  }
}

TEST(FormDecodeTest, NeverReadsPastTheComponent) {
  // The component is a prefix of a longer buffer whose next bytes would complete the escape.
  const std::string buffer = "ab%41";
  char out[8];
  size_t size = 0;
  EXPECT_FALSE(FormDecode(std::string_view(buffer).substr(0, 3), out, &size));
  EXPECT_FALSE(FormDecode(std::string_view(buffer).substr(0, 4), out, &size));
  EXPECT_TRUE(FormDecode(buffer, out, &size));
  EXPECT_EQ(std::string_view(out, size), "abA");
}

}  // namespace
}  // namespace beacon::kernels
