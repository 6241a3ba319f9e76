// GA4 gtag decoder: the query's parameters once, then each body line's over them, each list in
// one split_form pass of the decode's byte kernels; decoded bytes go to stack buffers (no
// allocation per event).
#include "kernels/formats/ga4_gtag.h"

#include <array>
#include <optional>

#include "kernels/formats/page_url.h"
#include "kernels/unix_time.h"

namespace beacon::kernels {
namespace {

enum class Param : uint8_t { kV, kTid, kCid, kUid, kEn, kDl, kDr, kNone };
constexpr size_t kParamCount = static_cast<size_t>(Param::kNone);

constexpr size_t kMaxUrlBytes = 2048;    // dl, dr
constexpr size_t kMaxTitleBytes = 1500;  // dt

struct Params {
  std::array<std::string_view, kParamCount> values{};  // first occurrence; empty = absent
  FormStatus status = FormStatus::kOk;
  bool too_long = false;

  std::string_view operator[](Param p) const { return values[static_cast<size_t>(p)]; }

  void Parse(const ByteKernels& bytes, std::string_view form, char* scratch) {
    status = ParseForm(bytes, form, scratch, [this](std::string_view key, std::string_view value) {
      const Param param = ParamOf(key);
      if (param == Param::kDl || param == Param::kDr) too_long |= value.size() > kMaxUrlBytes;
      if (param == Param::kNone) {
        too_long |= key == "dt" && value.size() > kMaxTitleBytes;
        return;
      }
      std::string_view& slot = values[static_cast<size_t>(param)];
      if (slot.empty()) slot = value;
    });
  }

  // The parameter a key names; kNone for the others (dt included: only its cap is checked).
  static Param ParamOf(std::string_view key) {
    switch (key.size()) {
      case 1:
        return key[0] == 'v' ? Param::kV : Param::kNone;
      case 2:
        if (key == "en") return Param::kEn;
        if (key == "dl") return Param::kDl;
        return key == "dr" ? Param::kDr : Param::kNone;
      case 3:
        if (key == "tid") return Param::kTid;
        if (key == "cid") return Param::kCid;
        return key == "uid" ? Param::kUid : Param::kNone;
      default:
        return Param::kNone;
    }
  }
};

std::optional<RejectReason> FormReject(FormStatus status) {
  if (status == FormStatus::kBadEscape) return RejectReason::kBadPercentEncoding;
  if (status == FormStatus::kInvalidUtf8) return RejectReason::kInvalidUtf8;
  return std::nullopt;
}

// One event: `line` (may be null: the query alone) over `query`.
std::optional<RejectReason> DecodeEvent(const Params& query, const Params* line,
                                        const Beacon& beacon, const DecodeContext& ctx,
                                        EventBatch* events) {
  if (const auto reason = FormReject(query.status)) return reason;
  if (line != nullptr) {
    if (const auto reason = FormReject(line->status)) return reason;
  }
  const auto get = [&](Param p) {
    return line != nullptr && !(*line)[p].empty() ? (*line)[p] : query[p];
  };
  if (get(Param::kV).empty()) return RejectReason::kMissingVersion;
  if (get(Param::kV) != "2") return RejectReason::kBadVersion;
  if (get(Param::kTid).empty()) return RejectReason::kMissingMeasurementId;
  const Site* site = ctx.sites->FindByTrackingId(get(Param::kTid));
  if (site == nullptr) return RejectReason::kUnknownSite;
  const std::string_view name = get(Param::kEn);
  if (name.empty()) return RejectReason::kMissingEventName;
  if (!IsGa4Name(name)) return RejectReason::kBadEventName;
  if (query.too_long || (line != nullptr && line->too_long)) return RejectReason::kFieldTooLong;
  const bool pageview = name == "page_view";
  const std::string_view dl = get(Param::kDl);
  if (pageview && dl.empty()) return RejectReason::kMissingPage;
  const ByteKernels& bytes = BytesOf(ctx);
  const PageUrl page = SplitPageUrl(dl, bytes);
  const std::string_view host = page.host;
  if (!SiteRegistry::HostAllowed(*site, host)) return RejectReason::kHostNotAllowed;
  const UaClass ua_class = BeaconUaClass(ctx, beacon);
  if (ua_class.is_bot()) return RejectReason::kBotUserAgent;
  const std::string_view cid = get(Param::kCid);
  uint64_t visitor = 0;
  if (!ResolveVisitor(ctx, beacon, site->site_id, cid.empty() ? get(Param::kUid) : cid,
                      beacon.user_agent, &visitor)) {
    return RejectReason::kStaleSalt;
  }
  const HitFields fields{.page_url = dl,
                         .page_host = host,
                         .path = pageview ? page.path : std::string_view(),
                         .referrer_url = get(Param::kDr),
                         .event_name = pageview ? std::string_view() : name};
  AppendEvent(events, *site, UnixMinute(beacon.receive_time_ms),
              pageview ? EventKind::kPageview : EventKind::kEvent, 0, visitor, fields, ua_class,
              beacon.country, beacon.source);
  return std::nullopt;
}

void Count(const DecodeContext& ctx, std::optional<RejectReason> reason) {
  if (reason) ctx.rejects->Add(*reason);
}

}  // namespace

void DecodeGa4Gtag(const Beacon& beacon, const DecodeContext& ctx, EventBatch* events) {
  const ByteKernels& bytes = BytesOf(ctx);
  const bool query_too_large = beacon.query.size() > kGtagMaxQueryBytes;
  Params query;
  char query_scratch[kGtagMaxQueryBytes];
  if (!query_too_large) query.Parse(bytes, beacon.query, query_scratch);

  size_t lines = 0;
  std::string_view rest = beacon.payload;
  while (!rest.empty()) {
    const std::string_view line = NextLine(&rest, bytes);
    if (line.empty()) continue;
    ++lines;
    if (lines > kGtagMaxEvents) {
      ctx.rejects->Add(RejectReason::kTooManyEvents);
    } else if (query_too_large || line.size() > kGtagMaxLineBytes) {
      ctx.rejects->Add(RejectReason::kHitTooLarge);
    } else {
      Params params;
      char line_scratch[kGtagMaxLineBytes];
      params.Parse(bytes, line, line_scratch);
      Count(ctx, DecodeEvent(query, &params, beacon, ctx, events));
    }
  }
  if (lines > 0) return;
  // No event line: the query is the one event.
  if (beacon.query.empty()) {
    ctx.rejects->Add(RejectReason::kEmptyPayload);
  } else if (query_too_large) {
    ctx.rejects->Add(RejectReason::kHitTooLarge);
  } else {
    Count(ctx, DecodeEvent(query, nullptr, beacon, ctx, events));
  }
}

}  // namespace beacon::kernels
