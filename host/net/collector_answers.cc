// The answers per beacon endpoint: the 43-byte GIF, 204, 202 "ok", CORS and preflights.
#include "host/net/collector_answers.h"

#include <iterator>

namespace beacon::host {
namespace {

// The 43-byte transparent 1x1 GIF89a that GA (and Snowplow) answer beacons with.
constexpr char kPixelGif[] =
    "GIF89a\x01\x00\x01\x00\xf0\x00\x00\xff\xff\xff\x00\x00\x00\x21\xf9\x04\x05\x00\x00"
    "\x00\x00\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00\x3b";
constexpr std::string_view kPixel(kPixelGif, sizeof(kPixelGif) - 1);
static_assert(kPixel.size() == 43);

constexpr std::string_view kRequestKindNames[] = {"collect",      "batch",     "g_collect",
                                                  "mp_collect",   "api_event", "snowplow_i",
                                                  "snowplow_tp2", "handler",   "other"};
static_assert(std::size(kRequestKindNames) == static_cast<size_t>(RequestKind::kCount));

// How a beacon route answers a beacon, as the real collector does.
enum class Answer : uint8_t {
  kGif,        // 200 image/gif, the 43-byte GIF, no-cache (GA /collect, /batch; Snowplow /i)
  kNoContent,  // 204 (GA4 /g/collect, /mp/collect)
  kAccepted,   // 202 text/plain "ok" (Plausible)
  kOk,         // 200 text/plain "ok" (Snowplow tp2)
};

// Which CORS headers a route's answers carry.
enum class Cors : uint8_t {
  kNone,
  kAnyOrigin,   // Access-Control-Allow-Origin: * (Plausible)
  kEchoOrigin,  // the request's Origin (or *) with Allow-Credentials: true (Google, Snowplow)
};

// How the server answers the requests of one beacon endpoint (the routes themselves, paths and
// methods, are kernels/http/routes.h).
struct RouteAnswer {
  RequestKind kind;
  Answer answer;
  Cors cors;
  std::string_view allow;            // the Allow header of a 405
  std::string_view preflight_extra;  // Allow-Methods / Allow-Headers / Max-Age of a preflight
};

RouteAnswer AnswerOf(kernels::Endpoint endpoint) {
  switch (endpoint) {
    case kernels::Endpoint::kGaCollect:
      return {RequestKind::kCollect, Answer::kGif, Cors::kNone, "GET, POST", {}};
    case kernels::Endpoint::kGaBatch:
      return {RequestKind::kBatch, Answer::kGif, Cors::kNone, "POST", {}};
    case kernels::Endpoint::kGa4Gtag:
      return {RequestKind::kGtag, Answer::kNoContent, Cors::kEchoOrigin, "GET, POST, OPTIONS",
              "Access-Control-Allow-Methods: GET, POST\r\nAccess-Control-Allow-Headers: "
              "Content-Type\r\nAccess-Control-Max-Age: 86400\r\n"};
    case kernels::Endpoint::kGa4Mp:
      return {RequestKind::kMeasurementProtocol, Answer::kNoContent, Cors::kNone, "POST", {}};
    case kernels::Endpoint::kPlausibleEvent:
      return {RequestKind::kPlausible, Answer::kAccepted, Cors::kAnyOrigin, "POST, OPTIONS",
              "Access-Control-Allow-Methods: POST\r\nAccess-Control-Allow-Headers: "
              "Content-Type\r\nAccess-Control-Max-Age: 1728000\r\n"};
    case kernels::Endpoint::kSnowplowGet:
      return {RequestKind::kSnowplowPixel, Answer::kGif, Cors::kEchoOrigin, "GET", {}};
    case kernels::Endpoint::kSnowplowPost:
      return {RequestKind::kSnowplowPost, Answer::kOk, Cors::kEchoOrigin, "POST, OPTIONS",
              "Access-Control-Allow-Headers: Content-Type, SP-Anonymous\r\n"
              "Access-Control-Max-Age: 3600\r\n"};
    case kernels::Endpoint::kUdpHitBatch:
    case kernels::Endpoint::kUdpSyslog:
      break;  // no HTTP route
  }
  return {RequestKind::kOther, Answer::kGif, Cors::kNone, {}, {}};
}

// The CORS response headers of `cors` for a request from `origin` (may be empty).
std::string CorsHeaders(Cors cors, std::string_view origin) {
  switch (cors) {
    case Cors::kNone:
      return {};
    case Cors::kAnyOrigin:
      return "Access-Control-Allow-Origin: *\r\n";
    case Cors::kEchoOrigin:
      // Header values reach here validated (no CR, LF or other controls): echoing is safe.
      return "Access-Control-Allow-Origin: " + std::string(origin.empty() ? "*" : origin) +
             "\r\nAccess-Control-Allow-Credentials: true\r\n";
  }
  return {};
}

// The answer to an accepted beacon.
void AnswerBeacon(Answer answer, std::string cors, CollectorAnswer* out) {
  out->take_beacon = true;
  out->headers = std::move(cors);
  switch (answer) {
    case Answer::kGif:
      out->content_type = "image/gif";
      out->body = kPixel;
      out->headers.insert(0, "Cache-Control: no-cache, no-store, must-revalidate\r\n");
      break;
    case Answer::kNoContent:
      out->status = 204;
      break;
    case Answer::kAccepted:
      out->status = 202;
      out->body = "ok";
      break;
    case Answer::kOk:
      out->body = "ok";
      break;
  }
}

}  // namespace

std::string_view RequestKindName(RequestKind kind) {
  return kRequestKindNames[static_cast<size_t>(kind)];
}

CollectorAnswer AnswerBeaconRequest(const kernels::RoutedRequest& routed,
                                    const kernels::HttpRequest& request, bool admitting,
                                    int retry_after_s) {
  const RouteAnswer route = AnswerOf(routed.route->endpoint);
  CollectorAnswer out;
  out.kind = route.kind;
  out.keep_alive = request.keep_alive;
  std::string cors = CorsHeaders(route.cors, request.Header("Origin"));
  switch (routed.outcome) {
    case kernels::RouteOutcome::kPreflight:
      out.status = 204;
      out.headers = cors + std::string(route.preflight_extra);
      return out;
    case kernels::RouteOutcome::kMethodNotAllowed:
      out.status = 405;
      out.body = "method not allowed\n";
      out.headers = "Allow: " + std::string(route.allow) + "\r\n";
      return out;
    case kernels::RouteOutcome::kUrlTooLong:
      out.status = 414;
      out.body = "url_too_long\n";
      out.keep_alive = false;
      return out;
    case kernels::RouteOutcome::kBeacon:
    case kernels::RouteOutcome::kNotBeaconPath:
      break;
  }
  if (!admitting) {
    out.status = 503;
    out.body = "overloaded\n";
    out.headers = "Retry-After: " + std::to_string(retry_after_s) + "\r\n";
    out.shed = true;
    return out;
  }
  AnswerBeacon(route.answer, std::move(cors), &out);
  return out;
}

}  // namespace beacon::host
