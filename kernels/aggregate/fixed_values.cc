// FixedValues: dense per-id counting for the fixed-domain dimensions.
#include "kernels/aggregate/fixed_values.h"

namespace beacon::kernels {

size_t FixedValues::EntryBytes() { return sizeof(uint16_t) + sizeof(Entry); }

FixedValues::Entry& FixedValues::NewEntry(uint32_t id, uint32_t domain) {
  if (entry_of_.empty()) {
    entry_of_.assign(domain, 0);
    heap_bytes_ += entry_of_.capacity() * sizeof(uint16_t);
  }
  const size_t before = ids_.capacity() * sizeof(uint16_t) + entries_.capacity() * sizeof(Entry);
  ids_.push_back(static_cast<uint16_t>(id));
  entries_.emplace_back();
  heap_bytes_ += ids_.capacity() * sizeof(uint16_t) + entries_.capacity() * sizeof(Entry) - before;
  entry_of_[id] = static_cast<uint16_t>(ids_.size());
  return entries_.back();
}

std::vector<FixedValues::Row> FixedValues::Rows() {
  std::vector<Row> rows;
  rows.reserve(ids_.size());
  for (size_t i = 0; i < ids_.size(); ++i) {
    Entry& e = entries_[i];
    rows.push_back(
        {ids_[i], e.pageviews, e.events, &e.visitors, e.weighted_pageviews, e.weighted_events});
  }
  return rows;
}

}  // namespace beacon::kernels
