// GA4 gtag /g/collect through DecodeBatch: query and body-line merging, every reject reason,
// the limits at their boundaries, and the rows of accepted events.
#include "kernels/formats/ga4_gtag.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kernels/visitor.h"
#include "tests/unit/kernels/formats/format_fixture.h"

namespace beacon::kernels::testing {
namespace {

constexpr std::string_view kQuery =
    "v=2&tid=G-SHOP1&gtm=45je3&_p=123&cid=111.222&dl=https%3A%2F%2Fshop.example%2Fp%3Fq%3D1"
    "&en=page_view";

class GtagTest : public FormatTest {
 protected:
  std::vector<std::string> Send(std::string query, std::string body = {},
                                std::string ua = std::string(kBrowserUa)) {
    return Outcomes({Endpoint::kGa4Gtag, std::move(body), std::move(query), std::move(ua)});
  }
  std::string One(std::string query, std::string body = {},
                  std::string ua = std::string(kBrowserUa)) {
    return Outcome({Endpoint::kGa4Gtag, std::move(body), std::move(query), std::move(ua)});
  }
};

TEST_F(GtagTest, QueryAloneIsOnePageview) {
  EXPECT_EQ(One(std::string(kQuery)), kAccepted);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_.site_id[0], 1u);
  EXPECT_EQ(events_.kind[0], EventKind::kPageview);
  EXPECT_EQ(events_.minute[0], kNowMinute);
  EXPECT_EQ(events_.flags[0], 0);
  EXPECT_EQ(LastPath(), "/p");
  EXPECT_EQ(events_.visitor[0], VisitorFromClientId("111.222", 1, kVisitorKey));
}

TEST_F(GtagTest, BodyLinesOverrideTheQuery) {
  const std::string body =
      "en=scroll&_et=10\r\n"
      "\n"
      "en=page_view&dl=https%3A%2F%2Fshop.example%2Fsecond\n"
      "en=click&tid=G-ANY1\n";
  EXPECT_EQ(Send(std::string(kQuery), body),
            (std::vector<std::string>{"accepted", "accepted", "accepted"}));
  ASSERT_EQ(events_.size(), 3u);
  EXPECT_EQ(events_.kind[0], EventKind::kEvent);
  EXPECT_EQ(events_.str(events_.path[0]), "");
  EXPECT_EQ(events_.kind[1], EventKind::kPageview);
  EXPECT_EQ(events_.str(events_.path[1]), "/second");
  EXPECT_EQ(events_.site_id[2], 2u);
  EXPECT_EQ(events_.visitor[2], VisitorFromClientId("111.222", 2, kVisitorKey));
}

TEST_F(GtagTest, WithoutClientIdTheVisitorIsTheSaltedAddressHash) {
  EXPECT_EQ(One("v=2&tid=G-SHOP1&en=page_view&dl=https://shop.example/"), kAccepted);
  uint64_t expected = 0;
  ASSERT_TRUE(VisitorFromAddress(ctx_.salts, kNowMs, 1, IpAddress::FromV4(0xC0A80001), kBrowserUa,
                                 &expected));
  EXPECT_EQ(events_.visitor.back(), expected);
  // uid stands in for a missing cid.
  EXPECT_EQ(One("v=2&tid=G-SHOP1&uid=u7&en=page_view&dl=https://shop.example/"), kAccepted);
  EXPECT_EQ(events_.visitor.back(), VisitorFromClientId("u7", 1, kVisitorKey));
}

struct Case {
  const char* name;
  std::string query;
  std::string body;
  std::string expected;
  std::string ua = std::string(kBrowserUa);
};

TEST_F(GtagTest, EveryRejectReason) {
  const std::vector<Case> cases = {
      {"empty", "", "", "empty_payload"},
      {"query too large", std::string(kQuery) + "&z=" + std::string(8192, 'x'), "",
       "hit_too_large"},
      {"line too large", std::string(kQuery), "en=x&z=" + std::string(8192, 'x'), "hit_too_large"},
      {"bad escape in query", std::string(kQuery) + "&z=%G1", "", "bad_percent_encoding"},
      {"bad escape in line", std::string(kQuery), "en=x%2", "bad_percent_encoding"},
      {"invalid utf8", std::string(kQuery) + "&dt=%C3%28", "", "invalid_utf8"},
      {"no v", "tid=G-SHOP1&cid=1.2&en=click", "", "missing_version"},
      {"v=1", "v=1&tid=G-SHOP1&cid=1.2&en=click", "", "bad_version"},
      {"no tid", "v=2&cid=1.2&en=click", "", "missing_measurement_id"},
      {"unknown tid", "v=2&tid=G-NOPE&cid=1.2&en=click", "", "unknown_site"},
      {"no en", "v=2&tid=G-SHOP1&cid=1.2&dl=https://shop.example/", "", "missing_event_name"},
      {"bad en", "v=2&tid=G-SHOP1&cid=1.2&en=page-view", "", "bad_event_name"},
      {"en of 41", "v=2&tid=G-SHOP1&cid=1.2&en=" + std::string(41, 'e'), "", "bad_event_name"},
      {"dl too long",
       "v=2&tid=G-SHOP1&cid=1.2&en=page_view&dl=https://shop.example/" + std::string(2048, 'p'), "",
       "field_too_long"},
      {"dt too long", std::string(kQuery) + "&dt=" + std::string(1501, 't'), "", "field_too_long"},
      {"pageview without dl", "v=2&tid=G-SHOP1&cid=1.2&en=page_view", "", "missing_page"},
      {"foreign host", "v=2&tid=G-SHOP1&cid=1.2&en=page_view&dl=https://evil.example/", "",
       "host_not_allowed"},
      {"event without page on a host-restricted site", "v=2&tid=G-SHOP1&cid=1.2&en=click", "",
       "host_not_allowed"},
      {"bot", std::string(kQuery), "", "bot_user_agent", std::string(kBotUa)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(Outcome({Endpoint::kGa4Gtag, c.body, c.query, c.ua}), c.expected);
  }
}

TEST_F(GtagTest, StaleSaltWithoutClientId) {
  ctx_.salts = {kNowDay - 5, 1, 2};
  EXPECT_EQ(One("v=2&tid=G-SHOP1&en=page_view&dl=https://shop.example/"), "stale_salt");
  EXPECT_EQ(One(std::string(kQuery)), kAccepted);  // a client id needs no salt
}

TEST_F(GtagTest, PrecedenceFollowsTheDocumentedOrder) {
  // Each pair: the first fault wins over the second.
  EXPECT_EQ(One("v=1&tid=G-NOPE&z=%zz"), "bad_percent_encoding");
  EXPECT_EQ(One("v=1&tid=G-NOPE&z=%FF"), "invalid_utf8");
  EXPECT_EQ(One("v=1&tid=G-NOPE"), "bad_version");
  EXPECT_EQ(One("v=2&tid=G-NOPE"), "unknown_site");
  EXPECT_EQ(One("v=2&tid=G-SHOP1&en=bad-name&dt=" + std::string(2000, 't')), "bad_event_name");
  EXPECT_EQ(One("v=2&tid=G-SHOP1&en=page_view&dt=" + std::string(2000, 't')), "field_too_long");
  EXPECT_EQ(One("v=2&tid=G-SHOP1&en=page_view", {}, std::string(kBotUa)), "missing_page");
  EXPECT_EQ(One("v=2&tid=G-SHOP1&en=page_view&dl=https://x.example/", {}, std::string(kBotUa)),
            "host_not_allowed");
}

TEST_F(GtagTest, LimitsAtTheirBoundaries) {
  // 25 event lines are decoded; the 26th and later are rejected one by one.
  std::string body;
  for (int i = 0; i < 27; ++i) body += "en=click" + std::to_string(i) + "\n";
  const std::vector<std::string> outcomes = Send("v=2&tid=G-ANY1&cid=1.2", body);
  EXPECT_EQ(std::count(outcomes.begin(), outcomes.end(), "accepted"), 25);
  EXPECT_EQ(std::count(outcomes.begin(), outcomes.end(), "too_many_events"), 2);
  // A line of exactly 8192 bytes and a query of exactly 8192 bytes are accepted.
  std::string line = "en=click&z=";
  line += std::string(kGtagMaxLineBytes - line.size(), 'z');
  EXPECT_EQ(One("v=2&tid=G-ANY1&cid=1.2", line), kAccepted);
  std::string query = "v=2&tid=G-ANY1&cid=1.2&en=click&z=";
  query += std::string(kGtagMaxQueryBytes - query.size(), 'z');
  EXPECT_EQ(One(query), kAccepted);
  EXPECT_EQ(One(query + "z"), "hit_too_large");
  // An event name of 40 bytes is accepted.
  EXPECT_EQ(One("v=2&tid=G-ANY1&cid=1.2&en=" + std::string(40, 'e')), kAccepted);
  // A bad query rejects every event line once.
  EXPECT_EQ(Send("v=2&tid=G-ANY1&z=%", "en=a\nen=b\n"),
            (std::vector<std::string>{"bad_percent_encoding", "bad_percent_encoding"}));
}

}  // namespace
}  // namespace beacon::kernels::testing
