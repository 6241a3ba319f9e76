// Pieces shared by the decoders: the beacon as they see it, form-encoded parameter lists (one
// split_form pass through the decode's byte kernels), JSON parsing with simdjson, page paths,
// visitors and the row append. Rules: kernels/formats/README.md.
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kernels/bytes/text.h"
#include "kernels/decode.h"
#include "kernels/enrich/user_agent.h"
#include "kernels/event_batch.h"
#include "kernels/raw_batch.h"
#include "kernels/reject_reason.h"
#include "kernels/site_registry.h"

namespace beacon::kernels {

static_assert(kPayloadPadding >= simdjson::SIMDJSON_PADDING,
              "RawBatch payloads are parsed in place by simdjson");

// One beacon as the decoders of this folder see it (from a RawBatch, or from a relay line).
struct Beacon {
  std::string_view payload{};     // body, or the query string of GET beacons
  std::string_view query{};       // URL query of a beacon whose body is the payload
  std::string_view user_agent{};  // HTTP User-Agent of the browser
  IpAddress address{};            // the browser's IP; hashed into visitors, never stored
  // Read back from the raw archive: no address, `address_hash` (AddressHash; 0: no salt covered
  // the day) stands for it, and a relay line's client IP field is empty.
  bool archived = false;
  uint64_t address_hash = 0;
  int64_t receive_time_ms = 0;  // unix milliseconds
  // The time whose UTC day picks the visitor salt (ResolveVisitor): the receive time, except for
  // a relayed request (RelaySaltTimeMs).
  int64_t salt_time_ms = 0;
  uint16_t source = 0;   // index of the beacon in its RawBatch
  uint16_t country = 0;  // CountryFromHeader of the ingress's CDN header; 0 unknown
  // The class of `user_agent` when DecodeBatch classified the batch's user agents in one pass;
  // nullptr: ClassifyUserAgent on use.
  const UaClass* user_agent_class = nullptr;
};

// Beacon `i` of `raw` as the decoders see it; `user_agent_class` is its user agent's class when
// classified in advance (ClassifyBatchUserAgents), else nullptr.
Beacon BeaconAt(const RawBatch& raw, size_t i, const UaClass* user_agent_class);

// The user agents of all of `raw`'s beacons classified in one pass over ctx.user_agents (its
// lookups prefetched in groups) into classes[0, raw.size()). False, classifying nothing, when
// ctx.user_agents is null.
bool ClassifyBatchUserAgents(const RawBatch& raw, const DecodeContext& ctx, UaClass* classes);

// The class of a user agent: through ctx.user_agents, else IsBotByMarkers alone.
UaClass ClassifyUserAgent(const DecodeContext& ctx, std::string_view user_agent);

// The class of the beacon's own user agent (classified in advance, or now).
inline UaClass BeaconUaClass(const DecodeContext& ctx, const Beacon& beacon) {
  return beacon.user_agent_class != nullptr ? *beacon.user_agent_class
                                            : ClassifyUserAgent(ctx, beacon.user_agent);
}

// What a decoder found for the breakdown dimensions of one accepted hit (decoded values; an
// empty view is "not sent"). AppendEvent derives the EventDims by the rules of
// kernels/enrich/README.md.
struct HitFields {
  std::string_view page_url{};   // the page URL (GA dl, GA4 dl/page_location, Plausible u, ...)
  std::string_view page_host{};  // the page's host (of page_url, or GA dh): self-referrals
  std::string_view path{};      // the page path as sent, query and fragment dropped; empty: no page
  bool path_is_screen = false;  // `path` is an app screen name (GA cd), kept as sent
  std::string_view referrer_url{};     // GA dr, GA4 dr/page_referrer, Plausible r, Snowplow refr
  std::string_view campaign_source{};  // GA cs/cm/cn: when any is sent, they replace utm_*
  std::string_view campaign_medium{};
  std::string_view campaign_name{};
  std::string_view event_name{};  // events only (never set for pageviews)
};

enum class FormStatus : uint8_t { kOk, kBadEscape, kInvalidUtf8 };

// Separators ('&' and '=') whose positions one split_form call stores: a GA hit has ~40-80;
// more take further calls.
inline constexpr size_t kFormSeparatorBlock = 256;

// The raw offset in `form` of its separator ('&' or '=') number `index` (0-based; one exists).
size_t FormSeparatorOffset(const ByteKernels& bytes, std::string_view form, size_t index);

// What SplitFormPairs found in a form-encoded list.
struct FormSplit {
  bool escapes_ok;  // false: a '%' without two hex digits somewhere (no pair was passed on)
  bool utf8_ok;     // every decoded key and value is well-formed UTF-8
  size_t fields;    // non-empty pairs
  size_t decoded_size;
};

// Walks an application/x-www-form-urlencoded list with one bytes.split_form pass (kernels/simd/
// byte_kernels.h): pairs split on '&' (empty pairs skipped), key and value at the first '='
// (none: empty value), both form-decoded into `scratch` (which must hold form.size() bytes and
// not overlap `form`) and checked for UTF-8. On good escapes, calls on_pair(key, value) for
// every pair in order (the views point into `scratch`); on a bad escape, for none. Returns the
// split of the whole list.
template <typename OnPair>
FormSplit SplitFormPairs(const ByteKernels& bytes, std::string_view form, char* scratch,
                         OnPair&& on_pair) {
  uint32_t positions[kFormSeparatorBlock];
  const FormSeparators separators{positions, kFormSeparatorBlock};
  const FormScan whole = bytes.split_form(form, scratch, separators);
  if (!whole.escapes_ok) return {false, false, 0, 0};
  constexpr size_t kNoKeyEnd = SIZE_MAX;
  size_t fields = 0;
  size_t start = 0;            // the current pair's offset in scratch
  size_t key_end = kNoKeyEnd;  // its first '=', once seen
  const auto end_pair = [&](size_t end) {
    if (end == start) return;  // an empty pair ("&&")
    const size_t key = key_end < end ? key_end : end;
    const size_t value = key_end < end ? key_end + 1 : end;
    on_pair(std::string_view(scratch + start, key - start),
            std::string_view(scratch + value, end - value));
    ++fields;
  };
  FormScan block = whole;
  size_t base = 0;  // the offset in scratch of this call's output
  for (;;) {
    const size_t stored =
        block.separators < kFormSeparatorBlock ? block.separators : kFormSeparatorBlock;
    for (size_t k = 0; k < stored; ++k) {
      const size_t pos = base + positions[k];
      if (scratch[pos] == '=') {
        key_end = key_end < pos ? key_end : pos;
        continue;
      }
      end_pair(pos);
      start = pos + 1;
      key_end = kNoKeyEnd;
    }
    if (block.separators <= kFormSeparatorBlock) {
      end_pair(base + block.decoded_size);
      return {true, whole.utf8_ok, fields, whole.decoded_size};
    }
    // The rest of the list after the last stored separator, decoded again to the same bytes
    // (no escape spans a separator).
    form.remove_prefix(FormSeparatorOffset(bytes, form, kFormSeparatorBlock - 1) + 1);
    base += positions[kFormSeparatorBlock - 1] + 1;
    block = bytes.split_form(form, scratch + base, separators);
  }
}

// SplitFormPairs as a status: a bad escape anywhere wins over invalid UTF-8.
template <typename OnPair>
FormStatus ParseForm(const ByteKernels& bytes, std::string_view form, char* scratch,
                     OnPair&& on_pair) {
  const FormSplit split = SplitFormPairs(bytes, form, scratch, on_pair);
  if (!split.escapes_ok) return FormStatus::kBadEscape;
  return split.utf8_ok ? FormStatus::kOk : FormStatus::kInvalidUtf8;
}

// The byte kernels of a decode: ctx.bytes, or the scalar reference when it is null.
inline const ByteKernels& BytesOf(const DecodeContext& ctx) {
  return ctx.bytes != nullptr ? *ctx.bytes : ReferenceByteKernels();
}

// Parses a JSON document whose buffer is followed by at least simdjson::SIMDJSON_PADDING
// readable bytes, with the calling thread's parser. The element stays valid until the next
// ParseJson on this thread. Returns kOk, kInvalidUtf8 or kBadJson.
enum class JsonStatus : uint8_t { kOk, kInvalidUtf8, kBadJson };
JsonStatus ParseJson(std::string_view padded_document, simdjson::dom::element* root);

// A string member of a JSON object: true with *value set when present and a string, true
// with *value empty when absent (or null), false when present with another type.
bool JsonString(const simdjson::dom::object& object, std::string_view key, std::string_view* value);

// The page path of a page URL: SplitUrl's path (scheme and authority dropped, query and
// fragment dropped), "/" when empty. The same rule as GA v1 `dl`.
std::string_view PagePath(std::string_view url, const ByteKernels& bytes);

// The visitor hash: of `client_id` when not empty (VisitorFromClientId), else of the beacon's
// address (or an archived beacon's address hash) and `user_agent` with the salt of the receive
// day. False when no salt covers it.
bool ResolveVisitor(const DecodeContext& ctx, const Beacon& beacon, uint32_t site_id,
                    std::string_view client_id, std::string_view user_agent, uint64_t* visitor);

// A GA4 event or parameter name: 1..40 bytes of [A-Za-z0-9_], starting with a letter.
bool IsGa4Name(std::string_view name);

// Appends one accepted row with its dimensions: the normalised page path, referrer host
// (self-referrals dropped), campaign, event name (copied into the batch arena), `country` and
// the device class, browser and OS of `user_agent` (the hit's classified user agent).
void AppendEvent(EventBatch* events, const Site& site, int64_t minute, EventKind kind,
                 uint8_t flags, uint64_t visitor, const HitFields& fields, UaClass user_agent,
                 uint16_t country, uint16_t source);

}  // namespace beacon::kernels
