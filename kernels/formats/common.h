// Pieces shared by the GA4, Plausible, Snowplow and relay decoders: the beacon as they see it,
// form-encoded parameter lists, JSON parsing with simdjson, page paths, visitors and the row
// append. Rules: kernels/formats/README.md.
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kernels/decode.h"
#include "kernels/event_batch.h"
#include "kernels/formats/text.h"
#include "kernels/formats/url_encoding.h"
#include "kernels/formats/utf8.h"
#include "kernels/raw_batch.h"
#include "kernels/reject_reason.h"
#include "kernels/site_registry.h"

namespace beacon::kernels {

static_assert(kPayloadPadding >= simdjson::SIMDJSON_PADDING,
              "RawBatch payloads are parsed in place by simdjson");

// One beacon as the decoders of this folder see it (from a RawBatch, or from a relay line).
struct Beacon {
  std::string_view payload;     // body, or the query string of GET beacons
  std::string_view query;       // URL query of a beacon whose body is the payload
  std::string_view user_agent;  // HTTP User-Agent of the browser
  IpAddress address;            // the browser's IP; hashed into visitors, never stored
  int64_t receive_time_ms = 0;  // unix milliseconds
  uint16_t source = 0;          // index of the beacon in its RawBatch
};

enum class FormStatus : uint8_t { kOk, kBadEscape, kInvalidUtf8 };

// Walks an application/x-www-form-urlencoded list: pairs split on '&' (empty pairs skipped),
// key and value at the first '=' (none: empty value), both form-decoded into `scratch` (which
// must hold form.size() bytes) and checked for UTF-8. Calls on_pair(key, value) for every pair
// until the first bad escape. A bad escape anywhere wins over invalid UTF-8.
template <typename OnPair>
FormStatus ParseForm(std::string_view form, char* scratch, OnPair&& on_pair) {
  FormStatus status = FormStatus::kOk;
  size_t used = 0;
  bool last = form.empty();
  while (!last) {
    const std::string_view pair = NextField(&form, '&', &last);
    if (pair.empty()) continue;
    bool no_value = false;
    std::string_view rest = pair;
    const std::string_view raw_key = NextField(&rest, '=', &no_value);
    size_t key_size = 0;
    size_t value_size = 0;
    if (!FormDecode(raw_key, scratch + used, &key_size)) return FormStatus::kBadEscape;
    const std::string_view key(scratch + used, key_size);
    used += key_size;
    if (!FormDecode(rest, scratch + used, &value_size)) return FormStatus::kBadEscape;
    const std::string_view value(scratch + used, value_size);
    used += value_size;
    if (!IsValidUtf8(key) || !IsValidUtf8(value)) status = FormStatus::kInvalidUtf8;
    on_pair(key, value);
  }
  return status;
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
std::string_view PagePath(std::string_view url);

// floor(ms / 60000).
int64_t UnixMinute(int64_t unix_ms);

// The visitor hash: of `client_id` when not empty (VisitorFromClientId), else of the beacon's
// address and `user_agent` with the salt of the receive day. False when no salt covers it.
bool ResolveVisitor(const DecodeContext& ctx, const Beacon& beacon, uint32_t site_id,
                    std::string_view client_id, std::string_view user_agent, uint64_t* visitor);

// A GA4 event or parameter name: 1..40 bytes of [A-Za-z0-9_], starting with a letter.
bool IsGa4Name(std::string_view name);

// Appends one accepted row; `path` is copied into the batch arena (empty: none).
void AppendEvent(EventBatch* events, const Site& site, int64_t minute, EventKind kind,
                 uint8_t flags, uint64_t visitor, std::string_view path, uint16_t source);

}  // namespace beacon::kernels
