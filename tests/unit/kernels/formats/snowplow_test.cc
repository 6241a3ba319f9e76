// Snowplow GET /i and POST tp2 through DecodeBatch: both transports, every reject reason, the
// event limit, visitors from duid/nuid/uid or the salted address.
#include "kernels/formats/snowplow.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kernels/visitor.h"
#include "tests/unit/kernels/formats/format_fixture.h"

namespace beacon::kernels::testing {
namespace {

constexpr std::string_view kGet =
    "e=pv&url=https%3A%2F%2Fshop.example%2Fhome%3Fa%3D1&page=Home&tv=js-3.5.0&tna=sp&aid=shopapp"
    "&p=web&duid=d-1&eid=e-1&dtm=1700000000000";

std::string Post(const std::string& events) {
  return R"({"schema":"iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4","data":[)" +
         events + "]}";
}

std::string Event(const std::string& extra) {
  return R"({"e":"se","tv":"js-3.5.0","p":"web","aid":"anyapp","se_ca":"c","se_ac":"a")" + extra +
         "}";
}

class SnowplowTest : public FormatTest {
 protected:
  std::string Get(std::string query, std::string ua = std::string(kBrowserUa)) {
    return Outcome({Endpoint::kSnowplowGet, std::move(query), {}, std::move(ua)});
  }
  std::vector<std::string> PostAll(std::string body) {
    return Outcomes({Endpoint::kSnowplowPost, std::move(body), {}});
  }
  std::string PostOne(std::string body) {
    return Outcome({Endpoint::kSnowplowPost, std::move(body), {}});
  }
};

TEST_F(SnowplowTest, GetPageview) {
  EXPECT_EQ(Get(std::string(kGet)), kAccepted);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_.site_id[0], 1u);
  EXPECT_EQ(events_.kind[0], EventKind::kPageview);
  EXPECT_EQ(events_.minute[0], kNowMinute);
  EXPECT_EQ(LastPath(), "/home");
  EXPECT_EQ(events_.visitor[0], VisitorFromClientId("d-1", 1, kVisitorKey));
}

TEST_F(SnowplowTest, PostEventsAndVisitorChoice) {
  const std::string body = Post(
      R"({"e":"pv","url":"https://a.any.example/x","tv":"js-3","p":"web","aid":"anyapp","nuid":"n-1"},)" +
      Event(R"(,"uid":"user-9")") + "," + Event(""));
  EXPECT_EQ(PostAll(body), (std::vector<std::string>{"accepted", "accepted", "accepted"}));
  ASSERT_EQ(events_.size(), 3u);
  EXPECT_EQ(events_.kind[0], EventKind::kPageview);
  EXPECT_EQ(events_.str(events_.path[0]), "/x");
  EXPECT_EQ(events_.visitor[0], VisitorFromClientId("n-1", 2, kVisitorKey));
  EXPECT_EQ(events_.kind[1], EventKind::kEvent);
  EXPECT_EQ(events_.visitor[1], VisitorFromClientId("user-9", 2, kVisitorKey));
  uint64_t expected = 0;
  ASSERT_TRUE(VisitorFromAddress(ctx_.salts, kNowMs, 2, IpAddress::FromV4(0xC0A80001), kBrowserUa,
                                 &expected));
  EXPECT_EQ(events_.visitor[2], expected);
}

TEST_F(SnowplowTest, GetRejects) {
  const std::string get(kGet);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "empty_payload"},
      {get + "&z=" + std::string(kSnowplowMaxQueryBytes, 'z'), "hit_too_large"},
      {get + "&z=%", "bad_percent_encoding"},
      {get + "&page=%C0%AF", "invalid_utf8"},
      {"e=pv&url=https://shop.example/&aid=shopapp&p=web", "missing_required_field"},
      {"e=pv&url=https://shop.example/&aid=shopapp&tv=js", "missing_required_field"},
      {"url=https://shop.example/&aid=shopapp&tv=js&p=web", "missing_hit_type"},
      {"e=xx&url=https://shop.example/&aid=shopapp&tv=js&p=web", "unknown_hit_type"},
      {"e=pv&url=https://shop.example/&tv=js&p=web", "missing_app_id"},
      {"e=pv&url=https://shop.example/&aid=nope&tv=js&p=web", "unknown_site"},
      {"e=pv&aid=shopapp&tv=js&p=web", "missing_page"},
      {"e=pv&aid=shopapp&tv=js&p=web&url=https://shop.example/" +
           std::string(kSnowplowMaxUrlBytes, 'u'),
       "field_too_long"},
      {"e=pv&aid=shopapp&tv=js&p=web&url=https://evil.example/", "host_not_allowed"},
      {get + "&ua=Mozilla%2F5.0+(compatible%3B+bingbot%2F2.0)", "bot_user_agent"},
  };
  for (const auto& [query, expected] : cases) {
    SCOPED_TRACE(query.substr(0, 80));
    EXPECT_EQ(Get(query), expected);
  }
  EXPECT_EQ(Get(get, std::string(kBotUa)), "bot_user_agent");
  // The event's ua overrides the HTTP User-Agent.
  EXPECT_EQ(Get(get + "&ua=Mozilla%2F5.0", std::string(kBotUa)), kAccepted);
}

TEST_F(SnowplowTest, PostRejects) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {Post(Event("")) + std::string(kSnowplowMaxBodyBytes, ' '), "batch_too_large"},
      {"{", "bad_json"},
      {R"({"data":[]})", "bad_schema"},
      {R"({"schema":"iglu:com.acme/payload/jsonschema/1-0-0","data":[{}]})", "bad_schema"},
      {R"({"schema":"iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"})",
       "bad_json"},
      {Post(""), "empty_payload"},
      {"{\"schema\":\"iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4\","
       "\"data\":[{\"e\":\"\xFF\"}]}",
       "invalid_utf8"},
      {Post("[]"), "bad_json"},
      {Post(Event(R"(,"vid":2)")), "bad_json"},
      {Post(R"({"e":"se","p":"web","aid":"anyapp"})"), "missing_required_field"},
      {Post(R"({"tv":"js","p":"web","aid":"anyapp"})"), "missing_hit_type"},
      {Post(Event(R"(,"ua":"Screaming Frog SEO Spider/19")")), "bot_user_agent"},
  };
  for (const auto& [body, expected] : cases) {
    SCOPED_TRACE(body.substr(0, 100));
    EXPECT_EQ(PostOne(body), expected);
  }
}

TEST_F(SnowplowTest, EventLimitAndStaleSalt) {
  std::string events;
  for (size_t i = 0; i < kSnowplowMaxEvents + 3; ++i) {
    // Appended piecewise: GCC 12's -Wrestrict misfires on "literal" + std::string at -O3.
    if (i > 0) events += ',';
    events += Event("");
  }
  const std::vector<std::string> outcomes = PostAll(Post(events));
  EXPECT_EQ(std::count(outcomes.begin(), outcomes.end(), "accepted"),
            static_cast<long>(kSnowplowMaxEvents));
  EXPECT_EQ(std::count(outcomes.begin(), outcomes.end(), "too_many_events"), 3);
  ctx_.salts = {};
  EXPECT_EQ(PostOne(Post(Event(""))), "stale_salt");
  EXPECT_EQ(PostOne(Post(Event(R"(,"duid":"d")"))), kAccepted);
}

}  // namespace
}  // namespace beacon::kernels::testing
