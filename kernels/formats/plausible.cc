// Plausible decoder: simdjson DOM (the same on every backend), long or short keys, a visitor from
// the daily-salted address hash (Plausible has no client id).
#include "kernels/formats/plausible.h"

#include <optional>

#include "kernels/bytes/url.h"
#include "kernels/unix_time.h"

namespace beacon::kernels {
namespace {

// The long key's value when present, else the short key's; false on a non-string.
bool Member(const simdjson::dom::object& body, std::string_view long_key,
            std::string_view short_key, std::string_view* value) {
  if (!JsonString(body, long_key, value)) return false;
  return !value->empty() || JsonString(body, short_key, value);
}

std::optional<RejectReason> Decode(const Beacon& beacon, const DecodeContext& ctx,
                                   EventBatch* events) {
  const ByteKernels& bytes = BytesOf(ctx);
  if (beacon.payload.size() > kPlausibleMaxBodyBytes) return RejectReason::kHitTooLarge;
  simdjson::dom::element root;
  const JsonStatus json = ParseJson(beacon.payload, &root);
  if (json == JsonStatus::kInvalidUtf8) return RejectReason::kInvalidUtf8;
  simdjson::dom::object body;
  if (json != JsonStatus::kOk || root.get_object().get(body) != simdjson::SUCCESS) {
    return RejectReason::kBadJson;
  }
  std::string_view name;
  std::string_view url;
  std::string_view domain;
  std::string_view referrer;
  if (!Member(body, "name", "n", &name) || !Member(body, "url", "u", &url) ||
      !Member(body, "domain", "d", &domain) || !Member(body, "referrer", "r", &referrer)) {
    return RejectReason::kBadJson;
  }
  if (name.empty()) return RejectReason::kMissingEventName;
  if (url.empty()) return RejectReason::kMissingPage;
  // A comma-separated list of domains (one event for several sites): the first one counts.
  bool single = false;
  const std::string_view first_domain = NextField(&domain, ',', &single, bytes);
  if (first_domain.empty()) return RejectReason::kMissingDomain;
  const Site* site = ctx.sites->FindByTrackingId(first_domain);
  if (site == nullptr) return RejectReason::kUnknownSite;
  if (name.size() > kPlausibleMaxNameBytes || url.size() > kPlausibleMaxUrlBytes ||
      referrer.size() > kPlausibleMaxUrlBytes) {
    return RejectReason::kFieldTooLong;
  }
  const std::string_view host = SplitUrl(url, bytes).host;
  if (!SiteRegistry::HostAllowed(*site, host)) return RejectReason::kHostNotAllowed;
  // Plausible's Events API requires the header: its visitor hash is built from it.
  if (beacon.user_agent.empty()) return RejectReason::kMissingUserAgent;
  const UaClass ua_class = BeaconUaClass(ctx, beacon);
  if (ua_class.is_bot()) return RejectReason::kBotUserAgent;
  uint64_t visitor = 0;
  if (!ResolveVisitor(ctx, beacon, site->site_id, {}, beacon.user_agent, &visitor)) {
    return RejectReason::kStaleSalt;
  }
  const bool pageview = name == "pageview";
  const HitFields fields{.page_url = url,
                         .page_host = host,
                         .path = pageview ? PagePath(url, bytes) : std::string_view(),
                         .referrer_url = referrer,
                         .event_name = pageview ? std::string_view() : name};
  AppendEvent(events, *site, UnixMinute(beacon.receive_time_ms),
              pageview ? EventKind::kPageview : EventKind::kEvent, 0, visitor, fields, ua_class,
              beacon.country, beacon.source);
  return std::nullopt;
}

}  // namespace

void DecodePlausibleEvent(const Beacon& beacon, const DecodeContext& ctx, EventBatch* events) {
  if (const auto reason = Decode(beacon, ctx, events)) ctx.rejects->Add(*reason);
}

}  // namespace beacon::kernels
