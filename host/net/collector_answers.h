// The collector's answer policy: which status, body and headers the HTTP server answers each
// request on a beacon route with, as the collector it imitates answers it (GA, GA4, Plausible,
// Snowplow; host/net/README.md, "Routes"), and how it sheds load (503 with Retry-After).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "kernels/http/http_parser.h"
#include "kernels/http/routes.h"

namespace beacon::host {

inline constexpr std::string_view kTextPlain = "text/plain; charset=utf-8";

// What a request was, the `endpoint` label of <prefix>_requests_total.
enum class RequestKind : uint8_t {
  kCollect,
  kBatch,
  kGtag,
  kMeasurementProtocol,
  kPlausible,
  kSnowplowPixel,
  kSnowplowPost,
  kHandler,
  kOther,
  kCount
};
std::string_view RequestKindName(RequestKind kind);

struct CollectorAnswer {
  RequestKind kind = RequestKind::kOther;
  int status = 200;
  std::string_view content_type = kTextPlain;
  std::string_view body;
  std::string headers;       // extra header lines, each ending in CRLF
  bool keep_alive = true;    // false: the connection closes after the answer
  bool take_beacon = false;  // the payload goes to the raw batch
  bool shed = false;         // a beacon refused: the sink is not admitting
};

// The answer to `request`, routed to a beacon route (`routed.route` is not null). `admitting`:
// whether the sink takes beacons; while it does not, beacons are answered 503 with
// Retry-After: `retry_after_s`.
CollectorAnswer AnswerBeaconRequest(const kernels::RoutedRequest& routed,
                                    const kernels::HttpRequest& request, bool admitting,
                                    int retry_after_s);

}  // namespace beacon::host
