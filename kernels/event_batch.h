// The event batch: decoded, validated beacons as a struct of arrays, one row per accepted
// hit. Variable-length dimension values (page path, ...) live in one string arena.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
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
};

struct EventBatch {
  std::vector<uint32_t> site_id;
  std::vector<uint32_t> minute;  // event time in unix minutes (UTC)
  std::vector<EventKind> kind;
  std::vector<uint8_t> flags;
  std::vector<uint64_t> visitor;  // keyed hash of the visitor id; never the raw id or IP
  std::vector<StrRef> path;       // normalised page path (empty for non-page hits)
  std::vector<uint16_t> source;   // index of the RawBatch beacon this hit came from
  std::string arena;

  size_t size() const { return site_id.size(); }
  bool empty() const { return site_id.empty(); }
  std::string_view str(StrRef r) const { return {arena.data() + r.offset, r.size}; }
  StrRef AddString(std::string_view s);

  // Appends one event row; returns its index.
  size_t Append(uint32_t site, uint32_t event_minute, EventKind event_kind, uint8_t event_flags,
                uint64_t visitor_hash, StrRef page_path, uint16_t source_index);
  void Clear();
  void Reserve(size_t events, size_t arena_bytes);
};

}  // namespace beacon::kernels
