// Shared pieces of the non-GA-v1 decoders; see common.h.
#include "kernels/formats/common.h"

#include <array>

#include "kernels/bytes/url.h"
#include "kernels/enrich/attribution.h"
#include "kernels/visitor.h"

namespace beacon::kernels {

JsonStatus ParseJson(std::string_view padded_document, simdjson::dom::element* root) {
  // One parser per thread: it keeps its buffers, so parsing allocates only when a document is
  // larger than every earlier one.
  thread_local simdjson::dom::parser parser;
  const simdjson::error_code error =
      parser.parse(padded_document.data(), padded_document.size(), false).get(*root);
  if (error == simdjson::SUCCESS) return JsonStatus::kOk;
  return error == simdjson::UTF8_ERROR ? JsonStatus::kInvalidUtf8 : JsonStatus::kBadJson;
}

bool JsonString(const simdjson::dom::object& object, std::string_view key,
                std::string_view* value) {
  *value = {};
  simdjson::dom::element element;
  if (object.at_key(key).get(element) != simdjson::SUCCESS) return true;
  if (element.is_null()) return true;
  return element.get_string().get(*value) == simdjson::SUCCESS;
}

size_t FormSeparatorOffset(const ByteKernels& bytes, std::string_view form, size_t index) {
  static constexpr AsciiSet kSeparators("&=");
  size_t pos = bytes.find_any_of(form.data(), form.size(), kSeparators);
  for (size_t k = 0; k < index; ++k) {
    pos += 1 + bytes.find_any_of(form.data() + pos + 1, form.size() - pos - 1, kSeparators);
  }
  return pos;
}

std::string_view PagePath(std::string_view url, const ByteKernels& bytes) {
  const std::string_view path = SplitUrl(url, bytes).path;
  return path.empty() ? std::string_view("/") : path;
}

bool ResolveVisitor(const DecodeContext& ctx, const Beacon& beacon, uint32_t site_id,
                    std::string_view client_id, std::string_view user_agent, uint64_t* visitor) {
  if (!client_id.empty()) {
    *visitor = VisitorFromClientId(client_id, site_id, ctx.visitor_key);
    return true;
  }
  if (beacon.archived) {
    if (beacon.address_hash == 0) return false;
    *visitor = VisitorFromAddressHash(beacon.address_hash, user_agent, site_id);
    return true;
  }
  return VisitorFromAddress(ctx.salts, beacon.salt_time_ms, site_id, beacon.address, user_agent,
                            visitor);
}

bool IsGa4Name(std::string_view name) {
  constexpr size_t kMaxNameBytes = 40;
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  const auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (!letter(name[0])) return false;
  for (const char c : name) {
    if (!letter(c) && !(c >= '0' && c <= '9') && c != '_') return false;
  }
  return true;
}

Beacon BeaconAt(const RawBatch& raw, size_t i, const UaClass* user_agent_class) {
  return {.payload = raw.payload(i),
          .query = raw.query(i),
          .user_agent = raw.user_agent(i),
          .address = raw.source(i),
          .archived = raw.archived(i),
          .address_hash = raw.address_hash(i),
          .receive_time_ms = raw.receive_time_ms(i),
          .salt_time_ms = raw.receive_time_ms(i),
          .source = static_cast<uint16_t>(i),
          .country = raw.country(i),
          .user_agent_class = user_agent_class};
}

bool ClassifyBatchUserAgents(const RawBatch& raw, const DecodeContext& ctx, UaClass* classes) {
  if (ctx.user_agents == nullptr) return false;
  std::array<std::string_view, kMaxBatchBeacons> user_agents;
  for (size_t i = 0; i < raw.size(); ++i) user_agents[i] = raw.user_agent(i);
  ctx.user_agents->ClassifyBatch(user_agents.data(), raw.size(), classes);
  return true;
}

UaClass ClassifyUserAgent(const DecodeContext& ctx, std::string_view user_agent) {
  if (ctx.user_agents != nullptr) return ctx.user_agents->Classify(user_agent);
  UaClass c;
  if (IsBotByMarkers(user_agent)) {
    c.flags = kUaFlagBot;
    c.device = static_cast<uint8_t>(DeviceClass::kBot);
  }
  return c;
}

void AppendEvent(EventBatch* events, const Site& site, int64_t minute, EventKind kind,
                 uint8_t flags, uint64_t visitor, const HitFields& fields, UaClass user_agent,
                 uint16_t country, uint16_t source) {
  EventDims dims;
  if (!fields.path.empty()) {
    if (fields.path_is_screen) {
      dims.path = events->AddString(fields.path);
    } else {
      char path[kMaxPagePathBytes];
      dims.path = events->AddString({path, NormaliseBarePagePath(fields.path, path)});
    }
  }
  if (!fields.referrer_url.empty()) {
    char host[kMaxReferrerHostBytes];
    const size_t size = ReferrerHost(fields.referrer_url, fields.page_host, &site, host);
    if (size != 0) dims.referrer = events->AddString({host, size});
  }
  const Campaign campaign = ParseCampaign(fields.page_url, fields.campaign_source,
                                          fields.campaign_medium, fields.campaign_name);
  if (!campaign.empty()) {
    if (campaign.source_size != 0) dims.utm_source = events->AddString(campaign.source());
    if (campaign.medium_size != 0) dims.utm_medium = events->AddString(campaign.medium());
    if (campaign.name_size != 0) dims.utm_campaign = events->AddString(campaign.name());
  }
  if (!fields.event_name.empty() && kind != EventKind::kPageview) {
    dims.event_name = events->AddString(fields.event_name);
  }
  dims.country = country;
  dims.device = user_agent.device;
  dims.browser = user_agent.browser;
  dims.os = user_agent.os;
  events->Append(site.site_id, static_cast<uint32_t>(minute), kind, flags, visitor, dims, source);
}

}  // namespace beacon::kernels
