// The route table (host/net/README.md, "Routes", lists the answers the server gives).
#include "kernels/http/routes.h"

#include <iterator>

namespace beacon::kernels {
namespace {

constexpr BeaconRoute kBeaconRoutes[] = {
    // path, endpoint, GET, POST, OPTIONS, GET payload is the query
    {"/collect", Endpoint::kGaCollect, true, true, false, true},
    {"/r/collect", Endpoint::kGaCollect, true, true, false, true},
    {"/j/collect", Endpoint::kGaCollect, true, true, false, true},
    {"/batch", Endpoint::kGaBatch, false, true, false, false},
    {"/g/collect", Endpoint::kGa4Gtag, true, true, true, false},
    {"/mp/collect", Endpoint::kGa4Mp, false, true, false, false},
    {"/api/event", Endpoint::kPlausibleEvent, false, true, true, false},
    {"/i", Endpoint::kSnowplowGet, true, false, false, true},
    {"/com.snowplowanalytics.snowplow/tp2", Endpoint::kSnowplowPost, false, true, true, false},
};

}  // namespace

const BeaconRoute* FindBeaconRoute(std::string_view path) {
  for (const BeaconRoute& route : kBeaconRoutes) {
    if (route.path == path) return &route;
  }
  return nullptr;
}

RoutedRequest RouteRequest(const HttpRequest& request, const HttpLimits& limits) {
  RoutedRequest out;
  out.route = FindBeaconRoute(request.path);
  if (out.route == nullptr) return out;  // kNotBeaconPath
  const BeaconRoute& route = *out.route;
  const bool get = request.method == "GET";
  const bool post = request.method == "POST";
  if (route.options && request.method == "OPTIONS") {
    out.outcome = RouteOutcome::kPreflight;
    return out;
  }
  if (!((get && route.get) || (post && route.post))) {
    out.outcome = RouteOutcome::kMethodNotAllowed;
    return out;
  }
  if (get && request.target.size() > limits.max_collect_url) {
    out.outcome = RouteOutcome::kUrlTooLong;
    return out;
  }
  out.outcome = RouteOutcome::kBeacon;
  if (get && route.get_payload_is_query) {
    out.payload = request.query;
  } else {
    out.payload = request.body;
    out.query = request.query;
  }
  return out;
}

std::string_view FirstHeader(const HttpRequest& request, const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    const std::string_view value = request.Header(name);
    if (!value.empty()) return value;
  }
  return {};
}

}  // namespace beacon::kernels
