// The beacon routes of the collectors beacond imitates: which request path and method carry a
// beacon, the Endpoint whose decoder takes it, and where its payload is. Shared by the
// kernel-socket HTTP server (host/net) and the passive HTTP mirror (dpdk/), so both take the
// same requests as beacons.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/http/http_parser.h"
#include "kernels/raw_batch.h"

namespace beacon::kernels {

struct BeaconRoute {
  std::string_view path;  // matched exactly (the request-target before '?')
  Endpoint endpoint;
  bool get;                   // GET carries a beacon
  bool post;                  // POST carries a beacon
  bool options;               // OPTIONS is a CORS preflight: answered, no beacon
  bool get_payload_is_query;  // GET: the payload is the query string; otherwise it is the body
                              // and the query travels alongside (RawBatch::query)
};

// The route of `path`, or null when no beacon is sent there.
const BeaconRoute* FindBeaconRoute(std::string_view path);

enum class RouteOutcome : uint8_t {
  kBeacon,            // payload (and query) below go to the raw batch
  kPreflight,         // OPTIONS on a route that answers CORS preflights
  kMethodNotAllowed,  // another method on a beacon path (405)
  kUrlTooLong,        // GET beacon whose request-target exceeds HttpLimits::max_collect_url (414)
  kNotBeaconPath,     // no beacon route at this path
};

struct RoutedRequest {
  RouteOutcome outcome = RouteOutcome::kNotBeaconPath;
  const BeaconRoute* route = nullptr;  // null for kNotBeaconPath
  std::string_view payload;            // kBeacon: views into the request
  std::string_view query;              // kBeacon: the URL query of a body payload, else empty
};

// Routes one parsed request. Pure; the views point into `request`.
RoutedRequest RouteRequest(const HttpRequest& request, const HttpLimits& limits);

// The value of the first of the headers `names` that the request carries with a value, or an
// empty view: the CDN headers with the visitor's country, tried in order (their value is read
// with kernels::CountryFromHeader).
std::string_view FirstHeader(const HttpRequest& request, const std::vector<std::string>& names);

}  // namespace beacon::kernels
