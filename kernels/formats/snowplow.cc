// Snowplow decoder: one field table for both transports, filled from the form-decoded query
// (GET, one split_form pass of the decode's byte kernels) or from each payload_data object
// (POST, simdjson DOM).
#include "kernels/formats/snowplow.h"

#include <array>
#include <optional>

#include "kernels/formats/page_url.h"
#include "kernels/unix_time.h"

namespace beacon::kernels {
namespace {

enum class Field : uint8_t {
  kE,
  kAid,
  kTv,
  kP,
  kUrl,
  kRefr,
  kSeAc,
  kDuid,
  kNuid,
  kTnuid,
  kUid,
  kUa,
  kNone
};
constexpr size_t kFieldCount = static_cast<size_t>(Field::kNone);

Field Classify(std::string_view key) {
  switch (key.size()) {
    case 1:
      if (key[0] == 'e') return Field::kE;
      return key[0] == 'p' ? Field::kP : Field::kNone;
    case 2:
      if (key == "tv") return Field::kTv;
      return key == "ua" ? Field::kUa : Field::kNone;
    case 3:
      if (key == "aid") return Field::kAid;
      if (key == "url") return Field::kUrl;
      return key == "uid" ? Field::kUid : Field::kNone;
    case 4:
      if (key == "refr") return Field::kRefr;
      if (key == "duid") return Field::kDuid;
      return key == "nuid" ? Field::kNuid : Field::kNone;
    case 5:
      if (key == "se_ac") return Field::kSeAc;
      return key == "tnuid" ? Field::kTnuid : Field::kNone;
    default:
      return Field::kNone;
  }
}

struct Event {
  std::array<std::string_view, kFieldCount> values{};  // first occurrence; empty = absent

  std::string_view operator[](Field f) const { return values[static_cast<size_t>(f)]; }
  void Set(std::string_view key, std::string_view value) {
    const Field field = Classify(key);
    if (field == Field::kNone) return;
    std::string_view& slot = values[static_cast<size_t>(field)];
    if (slot.empty()) slot = value;
  }
};

bool KnownEventType(std::string_view e) {
  return e == "pv" || e == "pp" || e == "se" || e == "ue" || e == "tr" || e == "ti";
}

std::optional<RejectReason> DecodeEvent(const Event& event, const Beacon& beacon,
                                        const DecodeContext& ctx, EventBatch* events) {
  if (event[Field::kTv].empty() || event[Field::kP].empty()) {
    return RejectReason::kMissingRequiredField;
  }
  const std::string_view type = event[Field::kE];
  if (type.empty()) return RejectReason::kMissingHitType;
  if (!KnownEventType(type)) return RejectReason::kUnknownHitType;
  if (event[Field::kAid].empty()) return RejectReason::kMissingAppId;
  const Site* site = ctx.sites->FindByTrackingId(event[Field::kAid]);
  if (site == nullptr) return RejectReason::kUnknownSite;
  const bool pageview = type == "pv";
  const std::string_view url = event[Field::kUrl];
  if (pageview && url.empty()) return RejectReason::kMissingPage;
  const std::string_view referrer = event[Field::kRefr];
  if (url.size() > kSnowplowMaxUrlBytes || referrer.size() > kSnowplowMaxUrlBytes ||
      event[Field::kSeAc].size() > kSnowplowMaxActionBytes) {
    return RejectReason::kFieldTooLong;
  }
  const PageUrl page = SplitPageUrl(url, BytesOf(ctx));
  const std::string_view host = page.host;
  if (!SiteRegistry::HostAllowed(*site, host)) return RejectReason::kHostNotAllowed;
  // The tracker's ua parameter overrides the HTTP User-Agent.
  const std::string_view ua = event[Field::kUa].empty() ? beacon.user_agent : event[Field::kUa];
  const UaClass ua_class =
      event[Field::kUa].empty() ? BeaconUaClass(ctx, beacon) : ClassifyUserAgent(ctx, ua);
  if (ua_class.is_bot()) return RejectReason::kBotUserAgent;
  // The tracker's first-party cookie id, else the collector's network id, else the business
  // user id.
  std::string_view client_id = event[Field::kDuid];
  if (client_id.empty()) client_id = event[Field::kNuid];
  if (client_id.empty()) client_id = event[Field::kTnuid];
  if (client_id.empty()) client_id = event[Field::kUid];
  uint64_t visitor = 0;
  if (!ResolveVisitor(ctx, beacon, site->site_id, client_id, ua, &visitor)) {
    return RejectReason::kStaleSalt;
  }
  // Structured events are named by their action; other event types by the type.
  std::string_view event_name;
  if (!pageview)
    event_name = type == "se" && !event[Field::kSeAc].empty() ? event[Field::kSeAc] : type;
  const HitFields fields{.page_url = url,
                         .page_host = host,
                         .path = pageview ? page.path : std::string_view(),
                         .referrer_url = referrer,
                         .event_name = event_name};
  AppendEvent(events, *site, UnixMinute(beacon.receive_time_ms),
              pageview ? EventKind::kPageview : EventKind::kEvent, 0, visitor, fields, ua_class,
              beacon.country, beacon.source);
  return std::nullopt;
}

std::optional<RejectReason> DecodeGet(const Beacon& beacon, const DecodeContext& ctx,
                                      EventBatch* events) {
  if (beacon.payload.empty()) return RejectReason::kEmptyPayload;
  if (beacon.payload.size() > kSnowplowMaxQueryBytes) return RejectReason::kHitTooLarge;
  Event event;
  char scratch[kSnowplowMaxQueryBytes];
  const FormStatus status =
      ParseForm(BytesOf(ctx), beacon.payload, scratch,
                [&](std::string_view key, std::string_view value) { event.Set(key, value); });
  if (status == FormStatus::kBadEscape) return RejectReason::kBadPercentEncoding;
  if (status == FormStatus::kInvalidUtf8) return RejectReason::kInvalidUtf8;
  return DecodeEvent(event, beacon, ctx, events);
}

// The event of one payload_data item: an object whose members are all strings.
std::optional<RejectReason> ReadEvent(const simdjson::dom::element& element, Event* event) {
  simdjson::dom::object object;
  if (element.get_object().get(object) != simdjson::SUCCESS) return RejectReason::kBadJson;
  for (const simdjson::dom::key_value_pair member : object) {
    std::string_view value;
    if (member.value.get_string().get(value) != simdjson::SUCCESS) {
      return RejectReason::kBadJson;
    }
    event->Set(member.key, value);
  }
  return std::nullopt;
}

}  // namespace

void DecodeSnowplowGet(const Beacon& beacon, const DecodeContext& ctx, EventBatch* events) {
  if (const auto reason = DecodeGet(beacon, ctx, events)) ctx.rejects->Add(*reason);
}

void DecodeSnowplowPost(const Beacon& beacon, const DecodeContext& ctx, EventBatch* events) {
  if (beacon.payload.size() > kSnowplowMaxBodyBytes) {
    ctx.rejects->Add(RejectReason::kBatchTooLarge);
    return;
  }
  simdjson::dom::element root;
  const JsonStatus json = ParseJson(beacon.payload, &root);
  if (json == JsonStatus::kInvalidUtf8) {
    ctx.rejects->Add(RejectReason::kInvalidUtf8);
    return;
  }
  simdjson::dom::object body;
  std::string_view schema;
  simdjson::dom::element data_element;
  simdjson::dom::array data;
  if (json != JsonStatus::kOk || root.get_object().get(body) != simdjson::SUCCESS ||
      !JsonString(body, "schema", &schema)) {
    ctx.rejects->Add(RejectReason::kBadJson);
    return;
  }
  if (!schema.starts_with(kSnowplowPayloadSchema)) {
    ctx.rejects->Add(RejectReason::kBadSchema);
    return;
  }
  if (body.at_key("data").get(data_element) != simdjson::SUCCESS ||
      data_element.get_array().get(data) != simdjson::SUCCESS) {
    ctx.rejects->Add(RejectReason::kBadJson);
    return;
  }
  if (data.size() == 0) {
    ctx.rejects->Add(RejectReason::kEmptyPayload);
    return;
  }
  size_t index = 0;
  for (const simdjson::dom::element element : data) {
    if (++index > kSnowplowMaxEvents) {
      ctx.rejects->Add(RejectReason::kTooManyEvents);
      continue;
    }
    Event event;
    auto reason = ReadEvent(element, &event);
    if (!reason) reason = DecodeEvent(event, beacon, ctx, events);
    if (reason) ctx.rejects->Add(*reason);
  }
}

}  // namespace beacon::kernels
