// FixedValues: the values of one small fixed-domain dimension (country, device, browser, OS) of
// one site-minute, counted by id in dense arrays. Kernels/aggregate/README.md: "Fixed domains".
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/sketch/uniq_hll12.h"

namespace beacon::kernels {

// Every value of a domain of at most `domain` ids is kept (K is the domain's size, so nothing
// is ever evicted): a map from id to entry sized at the first hit, and the entries in first-seen
// order, each its counts beside its visitor sketch so that a hit reads one line of the entry
// (the counts and the sketch's header). No hashing and no string compare per hit; the caller
// names the ids when it makes the rows. Not thread-safe.
class FixedValues {
 public:
  struct Row {
    uint32_t id = 0;
    uint64_t pageviews = 0;
    uint64_t events = 0;
    UniqHll12* visitors = nullptr;    // the caller may take it
    uint64_t weighted_pageviews = 0;  // the hits' weights summed (EventBatch::weight)
    uint64_t weighted_events = 0;
  };

  // Counts one hit of weight `weight` (>= 1) of the value `id` < `domain` (the same `domain` at
  // every call, ≤ 65535). Inline: a hit on a value seen before is a lookup, two sums and the
  // sketch add.
  void Add(uint32_t id, uint32_t domain, bool pageview, UniqHll12::Hashed visitor,
           uint32_t weight = 1) {
    const uint32_t entry = entry_of_.empty() ? 0 : entry_of_[id];
    Entry& e = entry != 0 ? entries_[entry - 1] : NewEntry(id, domain);
    ++(pageview ? e.pageviews : e.events);
    (pageview ? e.weighted_pageviews : e.weighted_events) += weight;
    heap_bytes_ += e.visitors.Add(visitor);
  }
  void Add(uint32_t id, uint32_t domain, bool pageview, uint64_t visitor, uint32_t weight = 1) {
    Add(id, domain, pageview, UniqHll12::Hash(visitor), weight);
  }

  // A hint that changes nothing: fetches the line Add(id, .., visitor) adds the visitor to.
  void Prefetch(uint32_t id, UniqHll12::Hashed visitor) const {
    if (!entry_of_.empty() && entry_of_[id] != 0)
      entries_[entry_of_[id] - 1].visitors.Prefetch(visitor);
  }

  bool empty() const { return ids_.empty(); }
  size_t size() const { return ids_.size(); }
  // One row per value seen, in first-seen order.
  std::vector<Row> Rows();
  // Heap bytes held (kept exactly as the containers grow).
  size_t heap_bytes() const { return heap_bytes_; }
  // The bytes of one value's entry across its arrays, and of the id map of a domain.
  static size_t EntryBytes();
  static size_t MapBytes(uint32_t domain) { return domain * sizeof(uint16_t); }

 private:
  // Line-aligned: the counts and the sketch's header (its first 24 bytes) share a cache line.
  struct alignas(64) Entry {
    uint64_t pageviews = 0;
    uint64_t events = 0;
    uint64_t weighted_pageviews = 0;
    uint64_t weighted_events = 0;
    UniqHll12 visitors;
  };

  // Makes the entry of `id`, not seen yet (and the id map on the first hit).
  Entry& NewEntry(uint32_t id, uint32_t domain);

  std::vector<uint16_t> entry_of_;  // by id: entry + 1, 0 = not seen yet
  std::vector<uint16_t> ids_;
  std::vector<Entry> entries_;
  size_t heap_bytes_ = 0;
};

}  // namespace beacon::kernels
