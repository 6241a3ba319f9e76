// Referrer host, campaign, page path and country rules (kernels/enrich/README.md).
#include "kernels/enrich/attribution.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace beacon::kernels {
namespace {

std::string Referrer(std::string_view url, std::string_view page_host = "",
                     const Site* site = nullptr) {
  char out[kMaxReferrerHostBytes];
  return std::string(out, ReferrerHost(url, page_host, site, out));
}

std::string Path(std::string_view path, bool* truncated = nullptr) {
  char out[kMaxPagePathBytes];
  return std::string(out, NormalisePagePath(path, out, truncated));
}

TEST(ReferrerHostTest, NormalisesTheHost) {
  EXPECT_EQ(Referrer("https://www.Google.COM/search?q=x"), "google.com");
  EXPECT_EQ(Referrer("http://user:pw@News.Example.org:8080/a"), "news.example.org");
  EXPECT_EQ(Referrer("https://example.org./"), "example.org");
  EXPECT_EQ(Referrer("//t.co/abc"), "t.co");
  EXPECT_EQ(Referrer("android-app://com.google.android.gm/"), "com.google.android.gm");
  EXPECT_EQ(Referrer("http://[2001:DB8::1]:80/"), "[2001:db8::1]");
  EXPECT_EQ(Referrer("https://www./"), "www");  // "www." alone is not stripped to nothing
  EXPECT_EQ(Referrer(""), "");
  EXPECT_EQ(Referrer("/relative/path"), "");
  EXPECT_EQ(Referrer("https://bad host/"), "");
  EXPECT_EQ(Referrer("https://" + std::string(254, 'a') + "/"), "");
  EXPECT_EQ(Referrer("https://" + std::string(253, 'a') + "/"), std::string(253, 'a'));
}

TEST(ReferrerHostTest, DropsSelfReferrals) {
  EXPECT_EQ(Referrer("https://www.shop.example/cart", "shop.example"), "");
  EXPECT_EQ(Referrer("https://shop.example/cart", "WWW.Shop.Example:443"), "");
  EXPECT_EQ(Referrer("https://blog.example/", "shop.example"), "blog.example");
  Site site;
  site.hostnames = {"shop.example", "*.shop.example"};
  EXPECT_EQ(Referrer("https://m.shop.example/", "shop.example", &site), "");
  EXPECT_EQ(Referrer("https://checkout.shop.example/", "", &site), "");
  EXPECT_EQ(Referrer("https://google.com/", "shop.example", &site), "google.com");
  Site any;
  any.hostnames = {"*"};
  EXPECT_EQ(Referrer("https://google.com/", "shop.example", &any), "google.com");
}

TEST(CampaignTest, ReadsUtmParameters) {
  const Campaign c = ParseCampaign(
      "https://shop.example/p?a=1&utm_source=news%20letter&utm_medium=email&utm_campaign=Black+"
      "Friday&utm_source=second#utm_medium=frag",
      "", "", "");
  EXPECT_EQ(c.source(), "news letter");
  EXPECT_EQ(c.medium(), "email");
  EXPECT_EQ(c.name(), "Black Friday");
  EXPECT_TRUE(ParseCampaign("https://shop.example/p", "", "", "").empty());
  EXPECT_TRUE(
      ParseCampaign("https://shop.example/p?utm_source=&utm_medium=%zz", "", "", "").empty());
  EXPECT_EQ(ParseCampaign("/p?utm_source=&utm_source=b", "", "", "").source(), "b");
  EXPECT_TRUE(ParseCampaign("/p?utm_source=%ff", "", "", "").empty());  // not UTF-8
  EXPECT_EQ(ParseCampaign("/p#x?utm_source=a", "", "", "").source(), "");
  EXPECT_TRUE(
      ParseCampaign("/p?utm_sourcex=a&xutm_source=b&utm_=c&utm_medium&=d", "", "", "").empty());
  EXPECT_EQ(ParseCampaign("/p??utm_source=a&&utm_medium=b#", "", "", "").medium(), "b");
}

TEST(CampaignTest, HitParametersTakePrecedenceAsAWhole) {
  const Campaign c = ParseCampaign("/p?utm_source=u&utm_medium=m&utm_campaign=n", "google", "", "");
  EXPECT_EQ(c.source(), "google");
  EXPECT_EQ(c.medium(), "");
  EXPECT_EQ(c.name(), "");
}

TEST(CampaignTest, CapsAtCharacterBoundaries) {
  // 49 ASCII bytes then "é" (2 bytes): 51 bytes, the cap of medium is 50.
  const std::string medium = std::string(49, 'm') + "\xc3\xa9";
  const Campaign c = ParseCampaign("/p?utm_medium=" + std::string(49, 'm') + "%C3%A9", "", "", "");
  EXPECT_EQ(c.medium(), std::string(49, 'm'));
  EXPECT_EQ(ParseCampaign("", std::string(150, 's'), "", "").source(), std::string(100, 's'));
  EXPECT_EQ(ParseCampaign("", "", medium, "").medium(), std::string(49, 'm'));
}

TEST(PagePathTest, NormalisesConservatively) {
  EXPECT_EQ(Path(""), "/");
  EXPECT_EQ(Path("/"), "/");
  EXPECT_EQ(Path("//"), "/");
  EXPECT_EQ(Path("/a//b///c/"), "/a/b/c");
  EXPECT_EQ(Path("a/b"), "/a/b");
  EXPECT_EQ(Path("/Shop/Item?id=1#top"), "/Shop/Item");
  EXPECT_EQ(Path("/%7euser/%41%2d%5F"), "/~user/A-_");
  EXPECT_EQ(Path("/a%2fb/%c3%a9"), "/a%2Fb/%C3%A9");
  EXPECT_EQ(Path("/100%/x%4"), "/100%/x%4");
  EXPECT_EQ(Path("/a+b/./../c"), "/a+b/./../c");
  EXPECT_EQ(Path("/caf\xc3\xa9/"), "/caf\xc3\xa9");
}

TEST(PagePathTest, BarePathNormalisesAsAFullOne) {
  for (const std::string_view path : {"", "/", "//", "/a//b///c/", "a/b", "/%7euser/%41%2d%5F",
                                      "/a%2fb/%c3%a9", "/100%/x%4", "/caf\xc3\xa9/"}) {
    char full[kMaxPagePathBytes];
    char bare[kMaxPagePathBytes];
    EXPECT_EQ(std::string_view(bare, NormaliseBarePagePath(path, bare)),
              std::string_view(full, NormalisePagePath(path, full)))
        << path;
  }
}

TEST(PagePathTest, CapsWithoutSplittingEscapesOrCharacters) {
  bool truncated = false;
  EXPECT_EQ(Path("/" + std::string(kMaxPagePathBytes - 1, 'a'), &truncated).size(),
            kMaxPagePathBytes);
  EXPECT_FALSE(truncated);
  EXPECT_EQ(Path("/" + std::string(kMaxPagePathBytes, 'a'), &truncated).size(), kMaxPagePathBytes);
  EXPECT_TRUE(truncated);
  const std::string escaped =
      Path("/" + std::string(kMaxPagePathBytes - 3, 'a') + "%2F", &truncated);
  EXPECT_EQ(escaped.size(), kMaxPagePathBytes - 2);
  EXPECT_TRUE(truncated);
  const std::string utf8 =
      Path("/" + std::string(kMaxPagePathBytes - 2, 'a') + "\xe2\x82\xac", &truncated);
  EXPECT_EQ(utf8.size(), kMaxPagePathBytes - 1);
  EXPECT_TRUE(truncated);
  const std::string slash = Path("/" + std::string(kMaxPagePathBytes - 2, 'a') + "/bc", &truncated);
  EXPECT_EQ(slash, "/" + std::string(kMaxPagePathBytes - 2, 'a'));
}

// Random paths of escapes, slashes, UTF-8 and plain bytes, short and past the cap: leading
// slashes (collapsed) shift where every later byte falls in the 8-byte steps of the copy, and
// must not change the result or its truncation.
TEST(PagePathTest, LeadingSlashesChangeNothingAtAnyAlignment) {
  std::mt19937_64 rng(5);
  const std::vector<std::string> pieces = {
      "a",  "Z9",       "-_.~",         "/",    "//", "%41",      "%2f", "%",
      "%4", "\xc3\xa9", "\xe2\x82\xac", "\x80", "+",  "plainword"};
  for (int round = 0; round < 400; ++round) {
    std::string path;
    const size_t target = round % 4 == 0 ? kMaxPagePathBytes + rng() % 64 : rng() % 80;
    while (path.size() < target) path += pieces[rng() % pieces.size()];
    bool truncated = false;
    const std::string expected = Path(path, &truncated);
    for (size_t slashes = 1; slashes <= 8; ++slashes) {
      bool shifted_truncated = false;
      EXPECT_EQ(Path(std::string(slashes, '/') + path, &shifted_truncated), expected) << path;
      EXPECT_EQ(shifted_truncated, truncated) << path;
    }
  }
}

// Plain bytes between single slashes are copied as they are, up to the cap (a slash the cut
// leaves last is dropped, as any trailing slash).
TEST(PagePathTest, PlainSegmentsAreCopiedUpToTheCap) {
  for (size_t size = 2; size <= kMaxPagePathBytes + 9; ++size) {
    std::string path = "/";
    for (size_t i = 1; i < size; ++i) path += i % 11 == 0 ? '/' : static_cast<char>('a' + i % 26);
    if (path.back() == '/') path.back() = 'x';
    std::string expected = path.substr(0, kMaxPagePathBytes);
    if (expected.back() == '/') expected.pop_back();
    bool truncated = false;
    EXPECT_EQ(Path(path, &truncated), expected) << size;
    EXPECT_EQ(truncated, size > kMaxPagePathBytes) << size;
  }
}

TEST(CountryTest, ValidatesAndPacks) {
  std::array<char, 2> buffer;
  EXPECT_EQ(CountryLetters(CountryFromHeader("DE"), &buffer), "DE");
  EXPECT_EQ(CountryLetters(CountryFromHeader(" us "), &buffer), "US");
  EXPECT_EQ(CountryFromHeader("GB"), ('G' << 8) | 'B');
  for (const char* unknown :
       {"", "XX", "xx", "T1", "ZZ", "EU", "AP", "D", "DEU", "D1", "\xc3\x84"}) {
    EXPECT_EQ(CountryFromHeader(unknown), kUnknownCountry) << unknown;
  }
  EXPECT_EQ(CountryLetters(kUnknownCountry, &buffer), "");
}

}  // namespace
}  // namespace beacon::kernels
