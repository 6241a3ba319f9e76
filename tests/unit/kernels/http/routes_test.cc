// The beacon routes: every path's endpoint, methods and payload placement, as the server and
// the passive mirror both take them.
#include "kernels/http/routes.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace beacon::kernels {
namespace {

// Parses one complete request (it must be complete and valid).
class Parsed {
 public:
  explicit Parsed(std::string wire) : wire_(std::move(wire)) {
    const ParseResult r = parser_.Parse(wire_);
    EXPECT_EQ(r.status, ParseStatus::kComplete) << wire_;
  }
  const HttpRequest& request() const { return parser_.request(); }

 private:
  std::string wire_;
  HttpParser parser_;
};

Parsed Get(const std::string& target) {
  return Parsed("GET " + target + " HTTP/1.1\r\nHost: a\r\n\r\n");
}

Parsed Post(const std::string& target, const std::string& body) {
  return Parsed("POST " + target + " HTTP/1.1\r\nHost: a\r\nContent-Length: " +
                std::to_string(body.size()) + "\r\n\r\n" + body);
}

TEST(RoutesTest, EveryPathHasItsEndpoint) {
  const std::pair<std::string, Endpoint> paths[] = {
      {"/collect", Endpoint::kGaCollect},
      {"/r/collect", Endpoint::kGaCollect},
      {"/j/collect", Endpoint::kGaCollect},
      {"/batch", Endpoint::kGaBatch},
      {"/g/collect", Endpoint::kGa4Gtag},
      {"/mp/collect", Endpoint::kGa4Mp},
      {"/api/event", Endpoint::kPlausibleEvent},
      {"/i", Endpoint::kSnowplowGet},
      {"/com.snowplowanalytics.snowplow/tp2", Endpoint::kSnowplowPost},
  };
  for (const auto& [path, endpoint] : paths) {
    const BeaconRoute* route = FindBeaconRoute(path);
    ASSERT_NE(route, nullptr) << path;
    EXPECT_EQ(route->endpoint, endpoint) << path;
  }
  EXPECT_EQ(FindBeaconRoute("/collect/"), nullptr);
  EXPECT_EQ(FindBeaconRoute("/"), nullptr);
}

TEST(RoutesTest, PayloadIsTheQueryForGetAndTheBodyForPost) {
  const HttpLimits limits;
  const Parsed get = Get("/collect?v=1&t=pageview");
  RoutedRequest r = RouteRequest(get.request(), limits);
  EXPECT_EQ(r.outcome, RouteOutcome::kBeacon);
  EXPECT_EQ(r.route->endpoint, Endpoint::kGaCollect);
  EXPECT_EQ(r.payload, "v=1&t=pageview");
  EXPECT_EQ(r.query, "");

  const Parsed post = Post("/collect", "v=1&t=event");
  r = RouteRequest(post.request(), limits);
  EXPECT_EQ(r.outcome, RouteOutcome::kBeacon);
  EXPECT_EQ(r.payload, "v=1&t=event");

  // GA4 gtag: the body is the payload and the query travels alongside, also for GET.
  const Parsed gtag = Post("/g/collect?v=2&tid=G-1", "en=page_view");
  r = RouteRequest(gtag.request(), limits);
  EXPECT_EQ(r.outcome, RouteOutcome::kBeacon);
  EXPECT_EQ(r.payload, "en=page_view");
  EXPECT_EQ(r.query, "v=2&tid=G-1");
  const Parsed gtag_get = Get("/g/collect?v=2&tid=G-1&en=page_view");
  r = RouteRequest(gtag_get.request(), limits);
  EXPECT_EQ(r.outcome, RouteOutcome::kBeacon);
  EXPECT_EQ(r.payload, "");
  EXPECT_EQ(r.query, "v=2&tid=G-1&en=page_view");
}

TEST(RoutesTest, PreflightsWrongMethodsLongUrlsAndOtherPaths) {
  HttpLimits limits;
  limits.max_collect_url = 40;
  EXPECT_EQ(RouteRequest(Parsed("OPTIONS /api/event HTTP/1.1\r\nHost: a\r\n\r\n").request(), limits)
                .outcome,
            RouteOutcome::kPreflight);
  // /collect answers no preflight: OPTIONS is just another method there.
  EXPECT_EQ(RouteRequest(Parsed("OPTIONS /collect HTTP/1.1\r\nHost: a\r\n\r\n").request(), limits)
                .outcome,
            RouteOutcome::kMethodNotAllowed);
  EXPECT_EQ(RouteRequest(Get("/batch").request(), limits).outcome, RouteOutcome::kMethodNotAllowed);
  EXPECT_EQ(RouteRequest(Post("/i", "x").request(), limits).outcome,
            RouteOutcome::kMethodNotAllowed);
  EXPECT_EQ(RouteRequest(Get("/collect?" + std::string(40, 'a')).request(), limits).outcome,
            RouteOutcome::kUrlTooLong);
  EXPECT_EQ(RouteRequest(Post("/collect?" + std::string(40, 'a'), "v=1").request(), limits).outcome,
            RouteOutcome::kBeacon);
  const RoutedRequest other = RouteRequest(Get("/favicon.ico").request(), limits);
  EXPECT_EQ(other.outcome, RouteOutcome::kNotBeaconPath);
  EXPECT_EQ(other.route, nullptr);
}

TEST(RoutesTest, FirstHeaderTakesTheFirstNamedHeaderWithAValue) {
  const Parsed p(
      "GET /collect HTTP/1.1\r\nHost: a\r\nX-Country-Code: FR\r\nCF-IPCountry:\r\n"
      "cloudfront-viewer-country: DE\r\n\r\n");
  const std::vector<std::string> names = {"CF-IPCountry", "CloudFront-Viewer-Country",
                                          "X-Country-Code"};
  // The empty CF-IPCountry is passed over; the names' order wins over the request's.
  EXPECT_EQ(FirstHeader(p.request(), names), "DE");
  EXPECT_EQ(FirstHeader(p.request(), {"X-Country-Code"}), "FR");
  EXPECT_EQ(FirstHeader(p.request(), {"X-Geo"}), "");
  EXPECT_EQ(FirstHeader(p.request(), {}), "");
}

}  // namespace
}  // namespace beacon::kernels
