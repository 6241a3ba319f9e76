// GA4 Measurement Protocol decoder: the query's ids (one split_form pass of the decode's byte
// kernels) and the site's api_secret, then the JSON body with simdjson's DOM parser (the members
// of each object read in one pass), then each event; the visitor and the body user agent's class
// once per request.
#include "kernels/formats/ga4_mp.h"

#include <optional>

#include "kernels/enrich/attribution.h"
#include "kernels/formats/json_members.h"
#include "kernels/formats/page_url.h"
#include "kernels/unix_time.h"

namespace beacon::kernels {
namespace {

// The members read, of the body, of an event and of its params (each object's keys numbered
// from 0 for JsonMembers).
enum BodyKey : uint8_t { kClientId, kUserAgent, kEvents, kTimestamp, kBodyKeys };
enum EventKey : uint8_t { kName, kParams, kEventTimestamp, kEventKeys };
enum ParamKey : uint8_t { kPageLocation, kPageReferrer, kParamKeys };

size_t BodyKeyOf(std::string_view key) {
  if (key == "client_id") return kClientId;
  if (key == "user_agent") return kUserAgent;
  if (key == "events") return kEvents;
  if (key == "timestamp_micros") return kTimestamp;
  return kBodyKeys;
}

size_t EventKeyOf(std::string_view key) {
  if (key == "name") return kName;
  if (key == "params") return kParams;
  if (key == "timestamp_micros") return kEventTimestamp;
  return kEventKeys;
}

size_t ParamKeyOf(std::string_view key) {
  if (key == "page_location") return kPageLocation;
  if (key == "page_referrer") return kPageReferrer;
  return kParamKeys;
}

struct Request {
  const Site* site = nullptr;
  std::string_view client_id;
  std::string_view user_agent;     // the body's user_agent; empty: none
  std::optional<int64_t> time_ms;  // the body's timestamp_micros, in ms
  bool bad_time = false;           // timestamp_micros present but not a usable integer
  simdjson::dom::array events;
  // Of every event alike: the client id's visitor, and the body user agent's class once an
  // event needs it.
  uint64_t visitor = 0;
  std::optional<UaClass> user_agent_class;
};

// timestamp_micros: an integer within [receive - 72 h, receive + 1 min]; returns its ms.
bool ParseTimestamp(const simdjson::dom::element& element, int64_t receive_ms, int64_t* ms) {
  int64_t micros = 0;
  if (element.get_int64().get(micros) != simdjson::SUCCESS) return false;
  const int64_t value = micros / 1000;
  if (value < receive_ms - kMpMaxBackdateMs || value > receive_ms + kMpMaxAheadMs) return false;
  *ms = value;
  return true;
}

std::optional<RejectReason> DecodeRequest(const Beacon& beacon, const DecodeContext& ctx,
                                          Request* request) {
  if (beacon.payload.size() > kMpMaxBodyBytes || beacon.query.size() > kMpMaxQueryBytes) {
    return RejectReason::kBatchTooLarge;
  }
  std::string_view measurement_id;
  std::string_view api_secret;
  char scratch[kMpMaxQueryBytes];
  const FormStatus status = ParseForm(BytesOf(ctx), beacon.query, scratch,
                                      [&](std::string_view key, std::string_view value) {
                                        if (key == "measurement_id" && measurement_id.empty())
                                          measurement_id = value;
                                        if (key == "api_secret" && api_secret.empty())
                                          api_secret = value;
                                      });
  if (status == FormStatus::kBadEscape) return RejectReason::kBadPercentEncoding;
  if (status == FormStatus::kInvalidUtf8) return RejectReason::kInvalidUtf8;
  if (measurement_id.empty()) return RejectReason::kMissingMeasurementId;
  request->site = ctx.sites->FindByTrackingId(measurement_id);
  if (request->site == nullptr) return RejectReason::kUnknownSite;
  if (api_secret.empty()) return RejectReason::kMissingApiSecret;
  if (!SiteRegistry::ApiSecretValid(*request->site, api_secret)) {
    return RejectReason::kBadApiSecret;
  }

  simdjson::dom::element root;
  const JsonStatus json = ParseJson(beacon.payload, &root);
  if (json == JsonStatus::kInvalidUtf8) return RejectReason::kInvalidUtf8;
  simdjson::dom::object body;
  if (json != JsonStatus::kOk || root.get_object().get(body) != simdjson::SUCCESS) {
    return RejectReason::kBadJson;
  }
  const JsonMembers<kBodyKeys> members(body, BodyKeyOf);
  simdjson::dom::element events;
  if (!members.String(kClientId, &request->client_id) ||
      !members.String(kUserAgent, &request->user_agent) || !members.Get(kEvents, &events) ||
      events.get_array().get(request->events) != simdjson::SUCCESS) {
    return RejectReason::kBadJson;
  }
  if (request->client_id.empty()) return RejectReason::kMissingClientId;
  if (request->events.size() == 0) return RejectReason::kEmptyPayload;
  request->visitor =
      VisitorFromClientId(request->client_id, request->site->site_id, ctx.visitor_key);
  simdjson::dom::element timestamp;
  if (members.Get(kTimestamp, &timestamp)) {
    int64_t ms = 0;
    if (ParseTimestamp(timestamp, beacon.receive_time_ms, &ms)) {
      request->time_ms = ms;
    } else {
      request->bad_time = true;
    }
  }
  return std::nullopt;
}

std::optional<RejectReason> DecodeEvent(const simdjson::dom::element& element, Request* request,
                                        const Beacon& beacon, const DecodeContext& ctx,
                                        EventBatch* events) {
  simdjson::dom::object event;
  if (element.get_object().get(event) != simdjson::SUCCESS) return RejectReason::kBadJson;
  const JsonMembers<kEventKeys> members(event, EventKeyOf);
  std::string_view name;
  if (!members.String(kName, &name)) return RejectReason::kBadJson;
  std::string_view page_location;
  std::string_view page_referrer;
  simdjson::dom::element params_element;
  if (members.Get(kParams, &params_element)) {
    simdjson::dom::object params;
    if (params_element.get_object().get(params) != simdjson::SUCCESS) {
      return RejectReason::kBadJson;
    }
    const JsonMembers<kParamKeys> param_members(params, ParamKeyOf);
    if (!param_members.String(kPageLocation, &page_location) ||
        !param_members.String(kPageReferrer, &page_referrer)) {
      return RejectReason::kBadJson;
    }
  }
  if (name.empty()) return RejectReason::kMissingEventName;
  if (!IsGa4Name(name)) return RejectReason::kBadEventName;
  if (page_location.size() > kMpMaxPageLocationBytes ||
      page_referrer.size() > kMpMaxPageLocationBytes) {
    return RejectReason::kFieldTooLong;
  }

  int64_t time_ms = beacon.receive_time_ms;
  bool backdated = false;
  simdjson::dom::element timestamp;
  if (members.Get(kEventTimestamp, &timestamp)) {
    if (!ParseTimestamp(timestamp, beacon.receive_time_ms, &time_ms)) {
      return RejectReason::kBadTimestamp;
    }
    backdated = true;
  } else if (request->bad_time) {
    return RejectReason::kBadTimestamp;
  } else if (request->time_ms) {
    time_ms = *request->time_ms;
    backdated = true;
  }
  const bool pageview = name == "page_view";
  if (pageview && page_location.empty()) return RejectReason::kMissingPage;
  // Server-side sends are authenticated by api_secret: only a page URL with a host is checked.
  const PageUrl page = SplitPageUrl(page_location, BytesOf(ctx));
  const std::string_view host = page.host;
  if (!host.empty() && !SiteRegistry::HostAllowed(*request->site, host)) {
    return RejectReason::kHostNotAllowed;
  }
  // The sender's own User-Agent is a server library's: only the forwarded browser's counts.
  if (!request->user_agent_class) {
    request->user_agent_class = ClassifyUserAgent(ctx, request->user_agent);
  }
  const UaClass ua_class = *request->user_agent_class;
  if (ua_class.is_bot()) return RejectReason::kBotUserAgent;

  const int64_t minute = UnixMinute(time_ms);
  const uint8_t flags =
      backdated && minute != UnixMinute(beacon.receive_time_ms) ? kFlagQueueTimeApplied : 0;
  // The sender is a server: the CDN's country of its request is not the visitor's.
  const HitFields fields{.page_url = page_location,
                         .page_host = host,
                         .path = pageview ? page.path : std::string_view(),
                         .referrer_url = page_referrer,
                         .event_name = pageview ? std::string_view() : name};
  AppendEvent(events, *request->site, minute, pageview ? EventKind::kPageview : EventKind::kEvent,
              flags, request->visitor, fields, ua_class, kUnknownCountry, beacon.source);
  return std::nullopt;
}

}  // namespace

void DecodeGa4Mp(const Beacon& beacon, const DecodeContext& ctx, EventBatch* events) {
  Request request;
  if (const auto reason = DecodeRequest(beacon, ctx, &request)) {
    ctx.rejects->Add(*reason);
    return;
  }
  size_t index = 0;
  for (const simdjson::dom::element event : request.events) {
    if (++index > kMpMaxEvents) {
      ctx.rejects->Add(RejectReason::kTooManyEvents);
      continue;
    }
    if (const auto reason = DecodeEvent(event, &request, beacon, ctx, events)) {
      ctx.rejects->Add(*reason);
    }
  }
}

}  // namespace beacon::kernels
