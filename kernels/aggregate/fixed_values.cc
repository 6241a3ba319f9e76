// FixedValues: dense per-id counting for the fixed-domain dimensions.
#include "kernels/aggregate/fixed_values.h"

namespace beacon::kernels {

size_t FixedValues::EntryBytes() { return sizeof(uint16_t) + sizeof(Tally) + sizeof(UniqHll12); }

void FixedValues::Add(uint32_t id, uint32_t domain, bool pageview, uint64_t visitor,
                      uint32_t weight) {
  if (entry_of_.empty()) {
    entry_of_.assign(domain, 0);
    heap_bytes_ += entry_of_.capacity() * sizeof(uint16_t);
  }
  uint32_t entry = entry_of_[id];
  if (entry == 0) {
    const size_t before = ids_.capacity() * sizeof(uint16_t) + tallies_.capacity() * sizeof(Tally) +
                          visitors_.capacity() * sizeof(UniqHll12);
    ids_.push_back(static_cast<uint16_t>(id));
    tallies_.emplace_back();
    visitors_.emplace_back();
    heap_bytes_ += ids_.capacity() * sizeof(uint16_t) + tallies_.capacity() * sizeof(Tally) +
                   visitors_.capacity() * sizeof(UniqHll12) - before;
    entry = static_cast<uint32_t>(ids_.size());
    entry_of_[id] = static_cast<uint16_t>(entry);
  }
  Tally& tally = tallies_[entry - 1];
  ++(pageview ? tally.pageviews : tally.events);
  (pageview ? tally.weighted_pageviews : tally.weighted_events) += weight;
  UniqHll12& sketch = visitors_[entry - 1];
  const size_t before = sketch.heap_bytes();
  sketch.Add(visitor);
  heap_bytes_ += sketch.heap_bytes() - before;
}

std::vector<FixedValues::Row> FixedValues::Rows() {
  std::vector<Row> rows;
  rows.reserve(ids_.size());
  for (size_t i = 0; i < ids_.size(); ++i) {
    const Tally& t = tallies_[i];
    rows.push_back(
        {ids_[i], t.pageviews, t.events, &visitors_[i], t.weighted_pageviews, t.weighted_events});
  }
  return rows;
}

}  // namespace beacon::kernels
