// Plausible decoder: simdjson DOM (the same on every backend), long or short keys read in one pass
// over the object, a visitor from the daily-salted address hash (Plausible has no client id).
#include "kernels/formats/plausible.h"

#include <optional>

#include "kernels/formats/json_members.h"
#include "kernels/formats/page_url.h"
#include "kernels/unix_time.h"

namespace beacon::kernels {
namespace {

// The members the decoder reads: each field's long key, then its short one.
enum Key : uint8_t { kName, kN, kUrl, kU, kDomain, kD, kReferrer, kR, kKeyCount };
using Members = JsonMembers<kKeyCount>;

size_t KeyOf(std::string_view key) {
  switch (key.size()) {
    case 1:
      switch (key[0]) {
        case 'n':
          return kN;
        case 'u':
          return kU;
        case 'd':
          return kD;
        case 'r':
          return kR;
        default:
          return kKeyCount;
      }
    case 3:
      return key == "url" ? kUrl : kKeyCount;
    case 4:
      return key == "name" ? kName : kKeyCount;
    case 6:
      return key == "domain" ? kDomain : kKeyCount;
    case 8:
      return key == "referrer" ? kReferrer : kKeyCount;
    default:
      return kKeyCount;
  }
}

// The long key's value when present, else the short key's; false on a non-string.
bool Field(const Members& members, Key long_key, Key short_key, std::string_view* value) {
  if (!members.String(long_key, value)) return false;
  return !value->empty() || members.String(short_key, value);
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
  const Members members(body, KeyOf);
  if (!Field(members, kName, kN, &name) || !Field(members, kUrl, kU, &url) ||
      !Field(members, kDomain, kD, &domain) || !Field(members, kReferrer, kR, &referrer)) {
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
  const PageUrl page = SplitPageUrl(url, bytes);
  const std::string_view host = page.host;
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
                         .path = pageview ? page.path : std::string_view(),
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
