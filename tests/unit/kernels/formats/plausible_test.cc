// Plausible /api/event through DecodeBatch: long and short keys, every reject reason, limits at
// their boundaries, and the salted-address visitor.
#include "kernels/formats/plausible.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernels/visitor.h"
#include "tests/unit/kernels/formats/format_fixture.h"

namespace beacon::kernels::testing {
namespace {

class PlausibleTest : public FormatTest {
 protected:
  std::string One(std::string body, std::string ua = std::string(kBrowserUa)) {
    return Outcome({Endpoint::kPlausibleEvent, std::move(body), {}, std::move(ua)});
  }
};

TEST_F(PlausibleTest, PageviewWithLongKeys) {
  EXPECT_EQ(
      One(R"({"name":"pageview","url":"https://shop.example/a/b?utm_source=x#top",)"
          R"("domain":"shop.example","referrer":"https://search.example/","props":{"k":"v"}})"),
      kAccepted);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_.site_id[0], 1u);
  EXPECT_EQ(events_.kind[0], EventKind::kPageview);
  EXPECT_EQ(events_.minute[0], kNowMinute);
  EXPECT_EQ(LastPath(), "/a/b");
  uint64_t expected = 0;
  ASSERT_TRUE(VisitorFromAddress(ctx_.salts, kNowMs, 1, IpAddress::FromV4(0xC0A80001), kBrowserUa,
                                 &expected));
  EXPECT_EQ(events_.visitor[0], expected);
}

TEST_F(PlausibleTest, CustomEventWithShortKeysAndADomainList) {
  EXPECT_EQ(One(R"({"n":"Signup","u":"https://any.example/join","d":"any.example,shop.example"})"),
            kAccepted);
  EXPECT_EQ(events_.site_id.back(), 2u);
  EXPECT_EQ(events_.kind.back(), EventKind::kEvent);
  EXPECT_EQ(LastPath(), "");
}

struct Case {
  const char* name;
  std::string body;
  std::string expected;
  std::string ua = std::string(kBrowserUa);
};

TEST_F(PlausibleTest, EveryRejectReason) {
  const std::vector<Case> cases = {
      {"too large",
       R"({"n":"pageview","u":"https://any.example/","d":"any.example","x":")" +
           std::string(kPlausibleMaxBodyBytes, 'x') + "\"}",
       "hit_too_large"},
      {"not json", "name=pageview", "bad_json"},
      {"empty body", "", "bad_json"},
      {"array", R"(["pageview"])", "bad_json"},
      {"name not a string", R"({"name":1,"url":"https://any.example/","domain":"any.example"})",
       "bad_json"},
      {"invalid utf8", "{\"name\":\"\xED\xA0\x80\",\"url\":\"u\",\"domain\":\"any.example\"}",
       "invalid_utf8"},
      {"no name", R"({"url":"https://any.example/","domain":"any.example"})", "missing_event_name"},
      {"no url", R"({"name":"pageview","domain":"any.example"})", "missing_page"},
      {"no domain", R"({"name":"pageview","url":"https://any.example/"})", "missing_domain"},
      {"unknown domain", R"({"name":"pageview","url":"https://x.example/","domain":"x.example"})",
       "unknown_site"},
      {"name too long",
       R"({"name":")" + std::string(kPlausibleMaxNameBytes + 1, 'n') +
           R"(","url":"https://any.example/","domain":"any.example"})",
       "field_too_long"},
      {"url too long",
       R"({"name":"pageview","url":"https://any.example/)" +
           std::string(kPlausibleMaxUrlBytes, 'p') + R"(","domain":"any.example"})",
       "field_too_long"},
      {"foreign host",
       R"({"name":"pageview","url":"https://evil.example/","domain":"shop.example"})",
       "host_not_allowed"},
      {"no user agent",
       R"({"name":"pageview","url":"https://any.example/","domain":"any.example"})",
       "missing_user_agent", ""},
      {"bot", R"({"name":"pageview","url":"https://any.example/","domain":"any.example"})",
       "bot_user_agent", "HeadlessChrome/120"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(One(c.body, c.ua), c.expected);
  }
}

TEST_F(PlausibleTest, StaleSaltAndBoundaries) {
  const std::string ok =
      R"({"name":"pageview","url":"https://any.example/","domain":"any.example"})";
  ctx_.salts = {kNowDay + 2, 1, 2};
  EXPECT_EQ(One(ok), "stale_salt");
  ctx_.salts = {kNowDay + 1, 1, 2};  // yesterday's salt covers it
  EXPECT_EQ(One(ok), kAccepted);
  const std::string url = "https://any.example/";
  EXPECT_EQ(
      One(R"({"name":")" + std::string(kPlausibleMaxNameBytes, 'n') + R"(","url":")" + url +
          std::string(kPlausibleMaxUrlBytes - url.size(), 'p') + R"(","domain":"any.example"})"),
      kAccepted);
}

}  // namespace
}  // namespace beacon::kernels::testing
