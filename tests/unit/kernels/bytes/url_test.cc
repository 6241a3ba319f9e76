// SplitUrl / StripQueryAndFragment: hosts and paths of page URLs, table-driven.
#include "kernels/bytes/url.h"

#include <gtest/gtest.h>

#include <string_view>

namespace beacon::kernels {
namespace {

struct UrlCase {
  std::string_view url;
  std::string_view host;
  std::string_view path;
};

TEST(SplitUrlTest, SplitsHostAndPath) {
  const UrlCase cases[] = {
      {"https://shop.example/cart", "shop.example", "/cart"},
      {"http://shop.example/a/b/c.html", "shop.example", "/a/b/c.html"},
      {"https://shop.example/cart?step=2&x=1", "shop.example", "/cart"},
      {"https://shop.example/cart#summary", "shop.example", "/cart"},
      {"https://shop.example/cart?x=1#f", "shop.example", "/cart"},
      {"https://shop.example:8443/cart", "shop.example:8443", "/cart"},
      {"https://shop.example", "shop.example", ""},
      {"https://shop.example/", "shop.example", "/"},
      {"https://shop.example?x=1", "shop.example", ""},
      {"https://shop.example#top", "shop.example", ""},
      {"https://user:secret@shop.example/p", "shop.example", "/p"},
      {"https://a@b@shop.example/p", "shop.example", "/p"},
      {"//cdn.shop.example/p", "cdn.shop.example", "/p"},
      {"HTTPS://Shop.Example/P", "Shop.Example", "/P"},
      {"https://[2001:db8::1]:8443/x", "[2001:db8::1]:8443", "/x"},
      {"https://m\xC3\xBCnchen.example/stra\xC3\x9F"
       "e",
       "m\xC3\xBCnchen.example",
       "/stra\xC3\x9F"
       "e"},
      {"https://xn--mnchen-3ya.example/a", "xn--mnchen-3ya.example", "/a"},
      {"/relative/path?x=1", "", "/relative/path"},
      {"relative", "", "relative"},
      {"about:blank", "", "about:blank"},
      {"1http://x.example/p", "", "1http://x.example/p"},
      {"", "", ""},
  };
  for (const auto& c : cases) {
    const UrlParts parts = SplitUrl(c.url);
    EXPECT_EQ(parts.host, c.host) << c.url;
    EXPECT_EQ(parts.path, c.path) << c.url;
  }
}

TEST(StripQueryAndFragmentTest, KeepsThePathOnly) {
  EXPECT_EQ(StripQueryAndFragment("/a/b?c=d"), "/a/b");
  EXPECT_EQ(StripQueryAndFragment("/a#b?c"), "/a");
  EXPECT_EQ(StripQueryAndFragment("?only"), "");
  EXPECT_EQ(StripQueryAndFragment("/plain"), "/plain");
}

}  // namespace
}  // namespace beacon::kernels
