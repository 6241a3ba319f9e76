// EventBatch: append and arena helpers.
#include "kernels/event_batch.h"

namespace beacon::kernels {

StrRef EventBatch::AddString(std::string_view s) {
  StrRef ref{static_cast<uint32_t>(arena.size()), static_cast<uint32_t>(s.size())};
  arena.append(s);
  return ref;
}

size_t EventBatch::Append(uint32_t site, uint32_t event_minute, EventKind event_kind,
                          uint8_t event_flags, uint64_t visitor_hash, const EventDims& dims,
                          uint16_t source_index) {
  site_id.push_back(site);
  minute.push_back(event_minute);
  kind.push_back(event_kind);
  flags.push_back(event_flags);
  visitor.push_back(visitor_hash);
  path.push_back(dims.path);
  referrer.push_back(dims.referrer);
  utm_source.push_back(dims.utm_source);
  utm_medium.push_back(dims.utm_medium);
  utm_campaign.push_back(dims.utm_campaign);
  event_name.push_back(dims.event_name);
  country.push_back(dims.country);
  device.push_back(dims.device);
  browser.push_back(dims.browser);
  os.push_back(dims.os);
  source.push_back(source_index);
  weight.push_back(1);
  return site_id.size() - 1;
}

EventDims EventBatch::dims(size_t i) const {
  return EventDims{path[i],       referrer[i], utm_source[i], utm_medium[i], utm_campaign[i],
                   event_name[i], country[i],  device[i],     browser[i],    os[i]};
}

void EventBatch::Clear() {
  ForEachColumn([](auto& column) { column.clear(); });
  arena.clear();
}

void EventBatch::Retain(const std::vector<uint8_t>& keep) {
  ForEachColumn([&keep](auto& column) {
    size_t kept = 0;
    for (size_t i = 0; i < column.size(); ++i) {
      if (keep[i] != 0) column[kept++] = column[i];
    }
    column.resize(kept);
  });
}

void EventBatch::SetWeights(const std::vector<uint32_t>& beacon_weights) {
  for (size_t i = 0; i < weight.size(); ++i) weight[i] = beacon_weights[source[i]];
}

void EventBatch::Reserve(size_t events, size_t arena_bytes) {
  site_id.reserve(events);
  minute.reserve(events);
  kind.reserve(events);
  flags.reserve(events);
  visitor.reserve(events);
  path.reserve(events);
  referrer.reserve(events);
  utm_source.reserve(events);
  utm_medium.reserve(events);
  utm_campaign.reserve(events);
  event_name.reserve(events);
  country.reserve(events);
  device.reserve(events);
  browser.reserve(events);
  os.reserve(events);
  source.reserve(events);
  weight.reserve(events);
  arena.reserve(arena_bytes);
}

}  // namespace beacon::kernels
