// The event batch: decoded, validated beacons as a struct of arrays, one row per accepted
// hit. Variable-length dimension values (page path, ...) live in one string arena.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace beacon::kernels {

enum class EventKind : uint8_t {
  kPageview,  // GA t=pageview / screenview
  kEvent,     // GA t=event
  kOther,     // GA transaction, item, social, exception, timing: counted as events
};

// Bit flags per event.
enum EventFlags : uint8_t {
  kFlagNonInteraction = 1 << 0,    // GA ni=1
  kFlagQueueTimeApplied = 1 << 1,  // minute corrected by GA qt
};

// A byte range of EventBatch::arena.
struct StrRef {
  uint32_t offset = 0;
  uint32_t size = 0;

  bool empty() const { return size == 0; }
  bool operator==(const StrRef&) const = default;
};

// The breakdown dimensions of one event (kernels/enrich/README.md says how each is derived).
// String values are ranges of the batch arena; an empty range is "none".
struct EventDims {
  StrRef path;        // normalised page path (empty for non-page hits)
  StrRef referrer;    // referrer host, self-referrals dropped
  StrRef utm_source;  // campaign source / medium / name (GA cs/cm/cn or utm_*)
  StrRef utm_medium;
  StrRef utm_campaign;
  StrRef event_name;     // the tracker's event name (GA v1 ea, GA4 en/name, Plausible n, ...)
  uint16_t country = 0;  // CountryFromHeader: two upper-case letters packed, 0 unknown
  uint8_t device = 0;    // kernels/enrich DeviceClass
  uint8_t browser = 0;   // index into kBrowserFamilies
  uint8_t os = 0;        // index into kOsFamilies
};

struct EventBatch {
  std::vector<uint32_t> site_id;
  std::vector<uint32_t> minute;  // event time in unix minutes (UTC)
  std::vector<EventKind> kind;
  std::vector<uint8_t> flags;
  std::vector<uint64_t> visitor;  // keyed hash of the visitor id; never the raw id or IP
  std::vector<StrRef> path;       // normalised page path (empty for non-page hits)
  std::vector<StrRef> referrer;   // the EventDims columns
  std::vector<StrRef> utm_source;
  std::vector<StrRef> utm_medium;
  std::vector<StrRef> utm_campaign;
  std::vector<StrRef> event_name;
  std::vector<uint16_t> country;
  std::vector<uint8_t> device;
  std::vector<uint8_t> browser;
  std::vector<uint8_t> os;
  std::vector<uint16_t> source;  // index of the RawBatch beacon this hit came from
  // How many hits this one stands for: 1, or N for a beacon kept 1 in N by an over-budget
  // site's sample (host/pipeline); the aggregates' weighted counts sum it.
  std::vector<uint32_t> weight;
  std::string arena;

  size_t size() const { return site_id.size(); }
  bool empty() const { return site_id.empty(); }
  std::string_view str(StrRef r) const { return {arena.data() + r.offset, r.size}; }
  StrRef AddString(std::string_view s);

  // Appends one event row of weight 1; returns its index.
  size_t Append(uint32_t site, uint32_t event_minute, EventKind event_kind, uint8_t event_flags,
                uint64_t visitor_hash, const EventDims& dims, uint16_t source_index);
  // The dimensions of row `i`.
  EventDims dims(size_t i) const;
  // Every column and the arena equal (the backends' bit-identity).
  bool operator==(const EventBatch&) const = default;
  void Clear();
  void Reserve(size_t events, size_t arena_bytes);
  // Keeps the rows whose `keep` entry is non-zero, in order (`keep` has size() entries); the
  // arena is left as is.
  void Retain(const std::vector<uint8_t>& keep);
  // Sets each row's weight to that of its beacon: beacon_weights[source[i]].
  void SetWeights(const std::vector<uint32_t>& beacon_weights);

 private:
  // Calls `f` with every column (not the arena).
  template <typename F>
  void ForEachColumn(F&& f) {
    std::apply(
        [&f](auto&... column) { (f(column), ...); },
        std::tie(site_id, minute, kind, flags, visitor, path, referrer, utm_source, utm_medium,
                 utm_campaign, event_name, country, device, browser, os, source, weight));
  }
};

}  // namespace beacon::kernels
