// EventBatch: append and arena helpers.
#include "kernels/event_batch.h"

namespace beacon::kernels {

StrRef EventBatch::AddString(std::string_view s) {
  StrRef ref{static_cast<uint32_t>(arena.size()), static_cast<uint32_t>(s.size())};
  arena.append(s);
  return ref;
}

size_t EventBatch::Append(uint32_t site, uint32_t event_minute, EventKind event_kind,
                          uint8_t event_flags, uint64_t visitor_hash, StrRef page_path,
                          uint16_t source_index) {
  site_id.push_back(site);
  minute.push_back(event_minute);
  kind.push_back(event_kind);
  flags.push_back(event_flags);
  visitor.push_back(visitor_hash);
  path.push_back(page_path);
  source.push_back(source_index);
  return site_id.size() - 1;
}

void EventBatch::Clear() {
  site_id.clear();
  minute.clear();
  kind.clear();
  flags.clear();
  visitor.clear();
  path.clear();
  source.clear();
  arena.clear();
}

void EventBatch::Reserve(size_t events, size_t arena_bytes) {
  site_id.reserve(events);
  minute.reserve(events);
  kind.reserve(events);
  flags.reserve(events);
  visitor.reserve(events);
  path.reserve(events);
  source.reserve(events);
  arena.reserve(arena_bytes);
}

}  // namespace beacon::kernels
