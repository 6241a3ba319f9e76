// The breakdown dimensions every decoder derives (kernels/enrich/README.md): normalised page
// path, referrer host without self-referrals, campaign, event name, country, and the device
// class, browser and OS of the user agent, with and without the uap-core classifier.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "kernels/enrich/attribution.h"
#include "kernels/enrich/user_agent.h"
#include "tests/unit/kernels/formats/format_fixture.h"

namespace beacon::kernels::testing {
namespace {

constexpr uint16_t kCountryDe = ('D' << 8) | 'E';

constexpr std::string_view kAndroidChrome =
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.43 Mobile Safari/537.36";
constexpr std::string_view kIpad =
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1";
constexpr std::string_view kWindowsEdge =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0";
// A phone whose model name contains "bot": the marker fallback flags it, uap does not.
constexpr std::string_view kCubotPhone =
    "Mozilla/5.0 (Linux; Android 9; CUBOT_X19 Build/PPR1.180610.011) AppleWebKit/537.36 (KHTML, "
    "like Gecko) Chrome/74.0.3729.136 Mobile Safari/537.36";

class EnrichmentTest : public FormatTest {
 protected:
  std::string Ga(std::string hit, uint16_t country = 0) {
    return Outcome({.endpoint = Endpoint::kGaCollect,
                    .payload = std::move(hit),
                    .query = {},
                    .country = country});
  }
};

TEST_F(EnrichmentTest, GaV1PathReferrerCampaignAndCountry) {
  const std::string head = "v=1&tid=G-ANY1&cid=1.2&t=pageview";
  ASSERT_EQ(Ga(head + "&dl=https%3A%2F%2Fany.example%2F%2Fa%2F%2562%2F%3Futm_source%3Dnews%26utm_"
                      "medium%3Demail%26utm_campaign%3Dspring%2Bsale&dr=https%3A%2F%2FWWW.Search."
                      "Example%3A443%2Fq%3Fx",
               kCountryDe),
            kAccepted);
  EXPECT_EQ(LastPath(), "/a/b");  // runs of '/' collapse, %62 decoded, trailing '/' dropped
  EXPECT_EQ(Last(events_.referrer), "search.example");
  EXPECT_EQ(Last(events_.utm_source), "news");
  EXPECT_EQ(Last(events_.utm_medium), "email");
  EXPECT_EQ(Last(events_.utm_campaign), "spring sale");
  EXPECT_EQ(Last(events_.event_name), "");
  EXPECT_EQ(events_.country.back(), kCountryDe);

  // GA's own campaign parameters replace the URL's tags, all three together.
  ASSERT_EQ(Ga(head + "&dl=https%3A%2F%2Fany.example%2F%3Futm_source%3Dx%26utm_medium%3Dy&cs=ads"),
            kAccepted);
  EXPECT_EQ(Last(events_.utm_source), "ads");
  EXPECT_EQ(Last(events_.utm_medium), "");
  EXPECT_EQ(events_.country.back(), kUnknownCountry);
}

TEST_F(EnrichmentTest, SelfReferralsAreDropped) {
  const std::string head = "v=1&tid=G-SHOP1&cid=1.2&t=pageview&dl=https%3A%2F%2Fshop.example%2Fp";
  ASSERT_EQ(Ga(head + "&dr=https%3A%2F%2Fwww.shop.example%2Fhome"), kAccepted);
  EXPECT_EQ(Last(events_.referrer), "");  // the page's own host
  ASSERT_EQ(Ga(head + "&dr=https%3A%2F%2Fblog.shop.example%2F"), kAccepted);
  EXPECT_EQ(Last(events_.referrer), "");  // a host the site's allowlist accepts
  ASSERT_EQ(Ga(head + "&dr=https%3A%2F%2Fshop.example.evil.example%2F"), kAccepted);
  EXPECT_EQ(Last(events_.referrer), "shop.example.evil.example");
  ASSERT_EQ(Ga(head + "&dr=not+a+url"), kAccepted);
  EXPECT_EQ(Last(events_.referrer), "");
}

TEST_F(EnrichmentTest, GaV1EventNamesAndScreens) {
  ASSERT_EQ(Ga("v=1&tid=G-ANY1&cid=1.2&t=event&ec=video&ea=play"), kAccepted);
  EXPECT_EQ(Last(events_.event_name), "play");
  EXPECT_EQ(LastPath(), "");
  ASSERT_EQ(Ga("v=1&tid=G-ANY1&cid=1.2&t=timing&utc=a&utv=b&utt=5"), kAccepted);
  EXPECT_EQ(Last(events_.event_name), "timing");
  ASSERT_EQ(Ga("v=1&tid=G-ANY1&cid=1.2&t=screenview&cd=Home+Screen"), kAccepted);
  EXPECT_EQ(LastPath(), "Home Screen");  // a screen name is not a URL path: kept as sent
  EXPECT_EQ(Last(events_.event_name), "");
}

TEST_F(EnrichmentTest, Ga4GtagReferrerAndEventName) {
  const std::string query =
      "v=2&tid=G-ANY1&cid=1.2&dl=https%3A%2F%2Fany.example%2Fx%2F%3Futm_source%3Dnl"
      "&dr=https%3A%2F%2Fsocial.example%2Fpost";
  ASSERT_EQ(Outcome({.endpoint = Endpoint::kGa4Gtag,
                     .payload = "en=page_view",
                     .query = query,
                     .country = kCountryDe}),
            kAccepted);
  EXPECT_EQ(LastPath(), "/x");
  EXPECT_EQ(Last(events_.referrer), "social.example");
  EXPECT_EQ(Last(events_.utm_source), "nl");
  EXPECT_EQ(Last(events_.event_name), "");
  EXPECT_EQ(events_.country.back(), kCountryDe);
  ASSERT_EQ(Outcome({.endpoint = Endpoint::kGa4Gtag, .payload = "en=add_to_cart", .query = query}),
            kAccepted);
  EXPECT_EQ(Last(events_.event_name), "add_to_cart");
  EXPECT_EQ(LastPath(), "");
}

TEST_F(EnrichmentTest, Ga4MeasurementProtocolHasNoVisitorCountry) {
  const std::string body =
      R"({"client_id":"c1","events":[{"name":"page_view","params":{"page_location":)"
      R"("https://shop.example/a?utm_campaign=c","page_referrer":"https://ref.example/"}},)"
      R"({"name":"purchase"}]})";
  ASSERT_EQ(Outcomes({.endpoint = Endpoint::kGa4Mp,
                      .payload = body,
                      .query = "measurement_id=G-SHOP1&api_secret=s3cret",
                      .country = kCountryDe})
                .size(),
            2u);
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(events_.str(events_.path[0]), "/a");
  EXPECT_EQ(events_.str(events_.referrer[0]), "ref.example");
  EXPECT_EQ(events_.str(events_.utm_campaign[0]), "c");
  EXPECT_EQ(events_.str(events_.event_name[1]), "purchase");
  // The sender is a server: its CDN country is not the visitor's.
  EXPECT_EQ(events_.country[0], kUnknownCountry);
}

TEST_F(EnrichmentTest, PlausibleAndSnowplow) {
  ASSERT_EQ(Outcome({.endpoint = Endpoint::kPlausibleEvent,
                     .payload = R"({"n":"Signup","u":"https://any.example/join","d":"any.example",)"
                                R"("r":"https://www.forum.example/t/1"})"}),
            kAccepted);
  EXPECT_EQ(Last(events_.event_name), "Signup");
  EXPECT_EQ(Last(events_.referrer), "forum.example");
  const std::string sp =
      "e=se&aid=anyapp&tv=js-3&p=web&duid=d1&url=https%3A%2F%2Fany.example%2Fa"
      "&refr=https%3A%2F%2Fnews.example%2F&se_ca=video&se_ac=play";
  ASSERT_EQ(Outcome({.endpoint = Endpoint::kSnowplowGet, .payload = sp, .country = kCountryDe}),
            kAccepted);
  EXPECT_EQ(Last(events_.event_name), "play");
  EXPECT_EQ(Last(events_.referrer), "news.example");
  EXPECT_EQ(events_.country.back(), kCountryDe);
  ASSERT_EQ(Outcome({.endpoint = Endpoint::kSnowplowGet,
                     .payload = "e=pp&aid=anyapp&tv=js-3&p=web&duid=d1&url=https%3A%2F%2Fany."
                                "example%2Fa"}),
            kAccepted);
  EXPECT_EQ(Last(events_.event_name), "pp");
}

TEST_F(EnrichmentTest, WithoutAClassifierOnlyBotsAreKnown) {
  ASSERT_EQ(Outcome({.endpoint = Endpoint::kGaCollect,
                     .payload = "v=1&tid=G-ANY1&cid=1.2&t=event&ec=a&ea=b",
                     .user_agent = std::string(kAndroidChrome)}),
            kAccepted);
  EXPECT_EQ(events_.device.back(), static_cast<uint8_t>(DeviceClass::kOther));
  EXPECT_EQ(events_.browser.back(), 0);
  EXPECT_EQ(events_.os.back(), 0);
  EXPECT_EQ(Outcome({.endpoint = Endpoint::kGaCollect,
                     .payload = "v=1&tid=G-ANY1&cid=1.2&t=event&ec=a&ea=b",
                     .user_agent = std::string(kCubotPhone)}),
            "bot_user_agent");
}

// The same beacons with beacond's classifier over Debian's uap-core (loaded once: ~5 s).
class ClassifiedEnrichmentTest : public EnrichmentTest {
 protected:
  static void SetUpTestSuite() { classifier_ = UserAgentClassifier::Load().release(); }
  static void TearDownTestSuite() {
    delete classifier_;
    classifier_ = nullptr;
  }
  void SetUp() override {
    cache_ = std::make_unique<UserAgentCache>(*classifier_, 8);
    ctx_.user_agents = cache_.get();
  }

  std::string WithUa(std::string_view ua,
                     std::string hit = "v=1&tid=G-ANY1&cid=1.2&t=event&ec=a&ea=b") {
    return Outcome({.endpoint = Endpoint::kGaCollect,
                    .payload = std::move(hit),
                    .user_agent = std::string(ua)});
  }

  static const UserAgentClassifier* classifier_;
  std::unique_ptr<UserAgentCache> cache_;
};

const UserAgentClassifier* ClassifiedEnrichmentTest::classifier_ = nullptr;

TEST_F(ClassifiedEnrichmentTest, DeviceBrowserAndOs) {
  ASSERT_EQ(WithUa(kAndroidChrome), kAccepted);
  EXPECT_EQ(events_.device.back(), static_cast<uint8_t>(DeviceClass::kMobile));
  EXPECT_EQ(events_.browser.back(), BrowserFamilyId("Chrome Mobile"));
  EXPECT_EQ(events_.os.back(), OsFamilyId("Android"));
  ASSERT_EQ(WithUa(kIpad), kAccepted);
  EXPECT_EQ(events_.device.back(), static_cast<uint8_t>(DeviceClass::kTablet));
  EXPECT_EQ(events_.browser.back(), BrowserFamilyId("Mobile Safari"));
  EXPECT_EQ(events_.os.back(), OsFamilyId("iOS"));
  ASSERT_EQ(WithUa(kWindowsEdge), kAccepted);
  EXPECT_EQ(events_.device.back(), static_cast<uint8_t>(DeviceClass::kDesktop));
  EXPECT_EQ(events_.browser.back(), BrowserFamilyId("Edge"));
  EXPECT_EQ(events_.os.back(), OsFamilyId("Windows"));
  EXPECT_NE(BrowserFamilyId("Edge"), 0);
}

TEST_F(ClassifiedEnrichmentTest, BotsByUapAndMarkers) {
  EXPECT_EQ(WithUa(kBotUa), "bot_user_agent");
  EXPECT_EQ(WithUa("python-requests/2.31.0"), "bot_user_agent");
  EXPECT_EQ(WithUa(kCubotPhone), kAccepted);  // uap knows the phone
  EXPECT_EQ(events_.device.back(), static_cast<uint8_t>(DeviceClass::kMobile));
}

TEST_F(ClassifiedEnrichmentTest, HitUserAgentParameterOverridesTheHeader) {
  // A server-side sender forwards the browser's user agent in `ua`.
  ASSERT_EQ(WithUa("python-requests/2.31.0",
                   "v=1&tid=G-ANY1&cid=1.2&t=event&ec=a&ea=b&ua=Mozilla%2F5.0+%28iPad%3B+CPU+OS+"
                   "16_6+like+Mac+OS+X%29+AppleWebKit%2F605.1.15+%28KHTML%2C+like+Gecko%29+"
                   "Version%2F16.6+Mobile%2F15E148+Safari%2F604.1"),
            kAccepted);
  EXPECT_EQ(events_.device.back(), static_cast<uint8_t>(DeviceClass::kTablet));
  EXPECT_EQ(WithUa(kIpad, "v=1&tid=G-ANY1&cid=1.2&t=event&ec=a&ea=b&ua=curl%2F8.4.0"),
            "bot_user_agent");
}

TEST_F(ClassifiedEnrichmentTest, BatchClassificationEqualsOneByOne) {
  // DecodeBatch classifies a batch's user agents in one pass; decoding them one per batch must
  // give the same rows.
  const std::string_view uas[] = {kAndroidChrome, kIpad, kWindowsEdge, kBrowserUa, kCubotPhone};
  RawBatch raw;
  for (int round = 0; round < 3; ++round) {
    for (const std::string_view ua : uas) {
      ASSERT_TRUE(raw.Add(Endpoint::kGaCollect, IngressKind::kHttp,
                          "v=1&tid=G-ANY1&cid=1.2&t=event&ec=a&ea=b", ua,
                          IpAddress::FromV4(0xC0A80001), kNowMs));
    }
  }
  EventBatch together;
  DecodeBatch(raw, ctx_, &together);
  for (int round = 0; round < 3; ++round) {
    for (const std::string_view ua : uas) ASSERT_EQ(WithUa(ua), kAccepted);
  }
  ASSERT_EQ(together.size(), events_.size());
  EXPECT_EQ(together.device, events_.device);
  EXPECT_EQ(together.browser, events_.browser);
  EXPECT_EQ(together.os, events_.os);
  EXPECT_GT(cache_->hits(), 0u);
}

}  // namespace
}  // namespace beacon::kernels::testing
