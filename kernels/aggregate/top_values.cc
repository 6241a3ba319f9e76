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

size_t TopValues::EntryBytes() {
  static_assert(sizeof(Extra) == WeightBytes());
  return sizeof(Entry) + sizeof(std::string) + sizeof(UniqHll12) + sizeof(Extra);
}

void TopValues::AddExtra(uint32_t id, bool pageview, uint32_t weight) {
  if (extra_.empty()) {
    extra_.resize(entries_.size());
    Account(0, extra_.capacity() * sizeof(Extra));
  }
  Extra& extra = extra_[id];
  (pageview ? extra.pageviews : extra.events) += weight - 1;
}

void TopValues::Count(UniqHll12& sketch, bool pageview, uint64_t visitor, uint64_t* pageviews,
                      uint64_t* events) {
  ++*(pageview ? pageviews : events);
  const size_t before = SketchHeapBytes(sketch);
  sketch.Add(visitor);
  Account(before, SketchHeapBytes(sketch));
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

void TopValues::BuildHeap() {
  const size_t before = heap_.capacity();
  heap_.resize(entries_.size());
  for (size_t i = 0; i < heap_.size(); ++i) {
    heap_[i] = static_cast<uint32_t>(i);
    entries_[i].heap_slot = static_cast<uint32_t>(i);
  }
  for (size_t i = heap_.size() / 2; i-- > 0;) SiftDown(i);
  Account(before * sizeof(uint32_t), heap_.capacity() * sizeof(uint32_t));
}

size_t TopValues::FindSlot(std::string_view value, uint64_t hash) const {
  const size_t mask = index_.size() - 1;
  const uint64_t tag = hash >> 32;
  for (size_t slot = hash & mask;; slot = (slot + 1) & mask) {
    const uint64_t word = index_[slot];
    if (word == 0) return slot;
    if ((word >> 32) == tag && values_[static_cast<uint32_t>(word) - 1] == value) return slot;
  }
}

void TopValues::IndexInsert(uint32_t entry) {
  // At most half full, so probes stay short and FindSlot always meets an empty slot.
  if (2 * (entries_.size() + 1) > index_.size()) GrowIndex();
  const uint64_t hash = entries_[entry].hash;
  index_[FindSlot(values_[entry], hash)] = (hash >> 32 << 32) | (entry + 1);
}

void TopValues::IndexErase(uint32_t entry) {
  const size_t mask = index_.size() - 1;
  size_t hole = FindSlot(values_[entry], entries_[entry].hash);
  index_[hole] = 0;
  // Backward-shift deletion: move later members of the probe run into the hole.
  for (size_t slot = (hole + 1) & mask; index_[slot] != 0; slot = (slot + 1) & mask) {
    const size_t home = entries_[static_cast<uint32_t>(index_[slot]) - 1].hash & mask;
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
  std::vector<uint64_t> old;
  old.swap(index_);
  index_.assign(old.empty() ? kMinIndexSlots : old.size() * 2, 0);
  const size_t mask = index_.size() - 1;
  for (const uint64_t word : old) {
    if (word == 0) continue;
    size_t slot = entries_[static_cast<uint32_t>(word) - 1].hash & mask;
    while (index_[slot] != 0) slot = (slot + 1) & mask;
    index_[slot] = word;
  }
  Account(before * sizeof(uint64_t), index_.capacity() * sizeof(uint64_t));
}

TopValues::Key TopValues::KeyOf(std::string_view value) {
  value = value.substr(0, Utf8PrefixLength(value, kMaxBreakdownValueBytes));
  return {value, std::hash<std::string_view>{}(value)};
}

int64_t TopValues::HomeEntry(const Key& key) const {
  if (index_.empty()) return -1;
  const uint64_t word = index_[key.hash & (index_.size() - 1)];
  if (word == 0 || (word >> 32) != (key.hash >> 32)) return -1;
  return static_cast<uint32_t>(word) - 1;
}

void TopValues::PrefetchEntry(const Key& key) const {
  const int64_t id = HomeEntry(key);
  if (id < 0) return;
  __builtin_prefetch(&entries_[id]);
  __builtin_prefetch(&values_[id]);
  const char* sketch = reinterpret_cast<const char*>(&visitors_[id]);
  for (size_t line = 0; line < sizeof(UniqHll12); line += 64) __builtin_prefetch(sketch + line);
}

void TopValues::PrefetchSketch(const Key& key, uint64_t visitor) const {
  const int64_t id = HomeEntry(key);
  if (id < 0) return;
  __builtin_prefetch(values_[id].data());
  visitors_[id].Prefetch(visitor);
}

uint64_t TopValues::Add(const Key& key, bool pageview, uint64_t visitor, uint32_t k,
                        uint32_t weight) {
  const std::string_view value = key.value;
  const uint64_t hash = key.hash;
  if (value == kOtherValue || k == 0) {
    Count(other_visitors_, pageview, visitor, &other_pageviews_, &other_events_);
    (pageview ? other_extra_.pageviews : other_extra_.events) += weight - 1;
    return 0;
  }
  if (!index_.empty()) {
    const uint64_t word = index_[FindSlot(value, hash)];
    if (word != 0) {
      const uint32_t id = static_cast<uint32_t>(word) - 1;
      Entry& e = entries_[id];
      Count(visitors_[id], pageview, visitor, &e.pageviews, &e.events);
      if (weight > 1) AddExtra(id, pageview, weight);
      ++e.count;
      if (!heap_.empty()) SiftDown(e.heap_slot);
      return 0;
    }
  }
  if (entries_.size() >= k) return Evict(value, hash, pageview, visitor, weight);
  const size_t before =
      entries_.capacity() * sizeof(Entry) + values_.capacity() * sizeof(std::string) +
      visitors_.capacity() * sizeof(UniqHll12) + heap_.capacity() * sizeof(uint32_t);
  const auto id = static_cast<uint32_t>(entries_.size());
  Entry& e = entries_.emplace_back();
  std::string& stored = values_.emplace_back(value);
  UniqHll12& sketch = visitors_.emplace_back();
  e.hash = hash;
  e.count = 1;
  e.admitted = next_admission_++;
  // Once built (a smaller k earlier), the heap takes every new entry.
  if (!heap_.empty()) heap_.push_back(id);
  Account(before, entries_.capacity() * sizeof(Entry) + values_.capacity() * sizeof(std::string) +
                      visitors_.capacity() * sizeof(UniqHll12) +
                      heap_.capacity() * sizeof(uint32_t));
  Account(0, stored.capacity() > 15 ? stored.capacity() : 0);
  if (!extra_.empty()) {
    const size_t extra_before = extra_.capacity();
    extra_.emplace_back();
    Account(extra_before * sizeof(Extra), extra_.capacity() * sizeof(Extra));
  }
  Count(sketch, pageview, visitor, &e.pageviews, &e.events);
  if (weight > 1) AddExtra(id, pageview, weight);
  if (!heap_.empty()) SiftUp(heap_.size() - 1);
  IndexInsert(id);
  return 0;
}

uint64_t TopValues::Evict(std::string_view value, uint64_t hash, bool pageview, uint64_t visitor,
                          uint32_t weight) {
  if (heap_.empty()) BuildHeap();
  // The value with the lowest (count, admitted), the heap's root, makes room.
  const uint32_t id = heap_[0];
  Entry& e = entries_[id];
  IndexErase(id);
  const uint64_t folded = e.pageviews + e.events;
  other_pageviews_ += e.pageviews;
  other_events_ += e.events;
  // The evicted sketch's values (small) or registers (large) join (other)'s: the union of a
  // dimension's rows stays the site-minute's visitors.
  UniqHll12& sketch = visitors_[id];
  const size_t sketches_before = SketchHeapBytes(other_visitors_) + SketchHeapBytes(sketch);
  other_visitors_.Merge(sketch);
  sketch.Clear();
  Account(sketches_before, SketchHeapBytes(other_visitors_));
  e.pageviews = 0;
  e.events = 0;
  if (!extra_.empty()) {
    other_extra_.pageviews += extra_[id].pageviews;
    other_extra_.events += extra_[id].events;
    extra_[id] = {};
  }
  std::string& stored = values_[id];
  const size_t value_before = stored.capacity() > 15 ? stored.capacity() : 0;
  stored.assign(value);
  Account(value_before, stored.capacity() > 15 ? stored.capacity() : 0);
  e.hash = hash;
  e.admission_error = e.count;
  ++e.count;
  e.admitted = next_admission_++;
  Count(sketch, pageview, visitor, &e.pageviews, &e.events);
  if (weight > 1) AddExtra(id, pageview, weight);
  SiftDown(0);
  IndexInsert(id);
  return folded;
}

std::vector<TopValues::Row> TopValues::Rows() {
  std::vector<Row> rows;
  rows.reserve(entries_.size() + 1);
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    const Extra extra = extra_.empty() ? Extra{} : extra_[i];
    rows.push_back({values_[i], e.pageviews, e.events, &visitors_[i], e.admission_error,
                    e.pageviews + extra.pageviews, e.events + extra.events});
  }
  if (other_pageviews_ + other_events_ > 0) {
    rows.push_back({kOtherValue, other_pageviews_, other_events_, &other_visitors_, 0,
                    other_pageviews_ + other_extra_.pageviews,
                    other_events_ + other_extra_.events});
  }
  return rows;
}

}  // namespace beacon::kernels
