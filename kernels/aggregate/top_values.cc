// TopValues: Space-Saving with exact counts since admission, a binary min-heap of the counts
// and an open-addressing index of the values.
#include "kernels/aggregate/top_values.h"

#include <algorithm>
#include <functional>

#include "kernels/bytes/utf8.h"

namespace beacon::kernels {

std::string_view DimensionName(Dimension d) {
  switch (d) {
    case Dimension::kPage:
      return "page";
    case Dimension::kReferrer:
      return "referrer";
    case Dimension::kUtmSource:
      return "utm_source";
    case Dimension::kUtmMedium:
      return "utm_medium";
    case Dimension::kUtmCampaign:
      return "utm_campaign";
    case Dimension::kCountry:
      return "country";
    case Dimension::kDevice:
      return "device";
    case Dimension::kBrowser:
      return "browser";
    case Dimension::kOs:
      return "os";
    case Dimension::kEventName:
      return "event";
  }
  return "unknown";
}

size_t TopValues::EntryBytes() { return sizeof(Entry); }

void TopValues::Count(Tally& tally, bool pageview, uint64_t visitor) {
  ++(pageview ? tally.pageviews : tally.events);
  const size_t before = SketchHeapBytes(tally.visitors);
  tally.visitors.Add(visitor);
  Account(before, SketchHeapBytes(tally.visitors));
}

bool TopValues::Less(uint32_t a, uint32_t b) const {
  const Entry& x = entries_[a];
  const Entry& y = entries_[b];
  return x.count != y.count ? x.count < y.count : x.admitted < y.admitted;
}

void TopValues::SiftDown(size_t slot) {
  const size_t n = heap_.size();
  const uint32_t moving = heap_[slot];
  while (true) {
    size_t child = 2 * slot + 1;
    if (child >= n) break;
    if (child + 1 < n && Less(heap_[child + 1], heap_[child])) ++child;
    if (!Less(heap_[child], moving)) break;
    heap_[slot] = heap_[child];
    entries_[heap_[slot]].heap_slot = static_cast<uint32_t>(slot);
    slot = child;
  }
  heap_[slot] = moving;
  entries_[moving].heap_slot = static_cast<uint32_t>(slot);
}

void TopValues::SiftUp(size_t slot) {
  const uint32_t moving = heap_[slot];
  while (slot > 0) {
    const size_t parent = (slot - 1) / 2;
    if (!Less(moving, heap_[parent])) break;
    heap_[slot] = heap_[parent];
    entries_[heap_[slot]].heap_slot = static_cast<uint32_t>(slot);
    slot = parent;
  }
  heap_[slot] = moving;
  entries_[moving].heap_slot = static_cast<uint32_t>(slot);
}

size_t TopValues::FindSlot(std::string_view value, uint64_t hash) const {
  const size_t mask = index_.size() - 1;
  for (size_t slot = hash & mask;; slot = (slot + 1) & mask) {
    const uint32_t id = index_[slot];
    if (id == 0) return slot;
    const Entry& e = entries_[id - 1];
    if (e.hash == hash && e.value == value) return slot;
  }
}

void TopValues::IndexInsert(uint32_t entry) {
  // At most half full, so probes stay short and FindSlot always meets an empty slot.
  if (2 * (entries_.size() + 1) > index_.size()) GrowIndex();
  index_[FindSlot(entries_[entry].value, entries_[entry].hash)] = entry + 1;
}

void TopValues::IndexErase(uint32_t entry) {
  const size_t mask = index_.size() - 1;
  size_t hole = FindSlot(entries_[entry].value, entries_[entry].hash);
  index_[hole] = 0;
  // Backward-shift deletion: move later members of the probe run into the hole.
  for (size_t slot = (hole + 1) & mask; index_[slot] != 0; slot = (slot + 1) & mask) {
    const size_t home = entries_[index_[slot] - 1].hash & mask;
    const bool movable =
        hole <= slot ? (home <= hole || home > slot) : (home <= hole && home > slot);
    if (movable) {
      index_[hole] = index_[slot];
      index_[slot] = 0;
      hole = slot;
    }
  }
}

void TopValues::GrowIndex() {
  const size_t before = index_.capacity();
  std::vector<uint32_t> old;
  old.swap(index_);
  index_.assign(old.empty() ? 16 : old.size() * 2, 0);
  for (const uint32_t id : old) {
    if (id != 0) index_[FindSlot(entries_[id - 1].value, entries_[id - 1].hash)] = id;
  }
  Account(before * sizeof(uint32_t), index_.capacity() * sizeof(uint32_t));
}

uint64_t TopValues::Add(std::string_view value, bool pageview, uint64_t visitor, uint32_t k) {
  value = value.substr(0, Utf8PrefixLength(value, kMaxBreakdownValueBytes));
  if (value == kOtherValue || k == 0) {
    Count(other_, pageview, visitor);
    return 0;
  }
  const uint64_t hash = std::hash<std::string_view>{}(value);
  if (!index_.empty()) {
    const uint32_t id = index_[FindSlot(value, hash)];
    if (id != 0) {
      Entry& e = entries_[id - 1];
      Count(e.tally, pageview, visitor);
      ++e.count;
      SiftDown(e.heap_slot);
      return 0;
    }
  }
  if (entries_.size() < k) {
    const size_t entries_before = entries_.capacity();
    const size_t heap_before = heap_.capacity();
    const auto id = static_cast<uint32_t>(entries_.size());
    Entry& e = entries_.emplace_back();
    e.value.assign(value);
    e.hash = hash;
    e.count = 1;
    e.admitted = next_admission_++;
    Count(e.tally, pageview, visitor);
    heap_.push_back(id);
    Account(entries_before * sizeof(Entry) + heap_before * sizeof(uint32_t),
            entries_.capacity() * sizeof(Entry) + heap_.capacity() * sizeof(uint32_t));
    Account(0, e.value.capacity() > 15 ? e.value.capacity() : 0);
    SiftUp(heap_.size() - 1);
    IndexInsert(id);
    return 0;
  }
  // Full: the value with the lowest count (the heap's root) makes room.
  const uint32_t id = heap_[0];
  Entry& e = entries_[id];
  IndexErase(id);
  const uint64_t folded = e.tally.hits();
  other_.pageviews += e.tally.pageviews;
  other_.events += e.tally.events;
  // The evicted sketch's values (small) or registers (large) join (other)'s: the union of a
  // dimension's rows stays the site-minute's visitors.
  const size_t sketches_before =
      SketchHeapBytes(other_.visitors) + SketchHeapBytes(e.tally.visitors);
  other_.visitors.Merge(e.tally.visitors);
  e.tally.visitors.Clear();
  Account(sketches_before, SketchHeapBytes(other_.visitors));
  e.tally.pageviews = 0;
  e.tally.events = 0;
  const size_t value_before = e.value.capacity() > 15 ? e.value.capacity() : 0;
  e.value.assign(value);
  Account(value_before, e.value.capacity() > 15 ? e.value.capacity() : 0);
  e.hash = hash;
  e.admission_error = e.count;
  ++e.count;
  e.admitted = next_admission_++;
  Count(e.tally, pageview, visitor);
  SiftDown(0);
  IndexInsert(id);
  return folded;
}

std::vector<TopValues::Row> TopValues::Rows() {
  std::vector<Row> rows;
  rows.reserve(entries_.size() + 1);
  for (Entry& e : entries_) {
    rows.push_back(
        {e.value, e.tally.pageviews, e.tally.events, &e.tally.visitors, e.admission_error});
  }
  if (other_.hits() > 0) {
    rows.push_back({kOtherValue, other_.pageviews, other_.events, &other_.visitors, 0});
  }
  return rows;
}

}  // namespace beacon::kernels
