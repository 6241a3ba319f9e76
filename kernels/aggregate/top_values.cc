// TopValues: Space-Saving with exact counts since admission, a binary min-heap of the counts,
// an open-addressing index of the values and an arena for the long ones.
#include "kernels/aggregate/top_values.h"

#include <algorithm>
#include <cstring>

#include "kernels/bytes/utf8.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

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
  return sizeof(Entry) + sizeof(UniqHll12) + sizeof(Extra);
}

void TopValues::AddExtra(uint32_t id, bool pageview, uint32_t weight) {
  if (extra_.empty()) {
    extra_.resize(entries_.size());
    Account(0, extra_.capacity() * sizeof(Extra));
  }
  Extra& extra = extra_[id];
  (pageview ? extra.pageviews : extra.events) += weight - 1;
}

void TopValues::SiftDown(size_t slot) {
  const size_t n = heap_.size();
  const HeapNode moving = heap_[slot];
  while (true) {
    size_t child = 2 * slot + 1;
    if (child >= n) break;
    if (child + 1 < n && Less(heap_[child + 1], heap_[child])) ++child;
    if (!Less(heap_[child], moving)) break;
    Place(heap_[child], slot);
    slot = child;
  }
  Place(moving, slot);
}

void TopValues::SiftUp(size_t slot) {
  const HeapNode moving = heap_[slot];
  while (slot > 0) {
    const size_t parent = (slot - 1) / 2;
    if (!Less(moving, heap_[parent])) break;
    Place(heap_[parent], slot);
    slot = parent;
  }
  Place(moving, slot);
}

void TopValues::BuildHeap() {
  const size_t before = HeapCapacityBytes();
  heap_.resize(entries_.size());
  heap_slot_.resize(entries_.size());
  for (size_t i = 0; i < heap_.size(); ++i) {
    Place({entries_[i].count, entries_[i].admitted, static_cast<uint32_t>(i)}, i);
  }
  for (size_t i = heap_.size() / 2; i-- > 0;) SiftDown(i);
  Account(before, HeapCapacityBytes());
}

void TopValues::IndexInsert(uint32_t entry) {
  // At most half full, so probes stay short and FindSlot always meets an empty slot.
  if (2 * (entries_.size() + 1) > index_.size()) GrowIndex();
  const Entry& e = entries_[entry];
  const uint64_t word = uint64_t{e.tag} << 32 | (entry + 1);
  index_[FindSlot(ValueOf(e), word)] = word;
}

void TopValues::IndexErase(uint32_t entry) {
  const size_t mask = index_.size() - 1;
  // The word is known (tag and id): no value to compare on the way.
  const uint64_t word = uint64_t{entries_[entry].tag} << 32 | (entry + 1);
  size_t hole = HomeSlot(word);
  while (index_[hole] != word) hole = (hole + 1) & mask;
  index_[hole] = 0;
  // Backward-shift deletion: move later members of the probe run into the hole.
  for (size_t slot = (hole + 1) & mask; index_[slot] != 0; slot = (slot + 1) & mask) {
    const size_t home = HomeSlot(index_[slot]);
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
    size_t slot = HomeSlot(word);
    while (index_[slot] != 0) slot = (slot + 1) & mask;
    index_[slot] = word;
  }
  Account(before * sizeof(uint64_t), index_.capacity() * sizeof(uint64_t));
}

void TopValues::StoreValue(uint32_t id, std::string_view value) {
  Entry* e = &entries_[id];
  const size_t old_size = e->size > kInlineValueBytes ? e->size : 0;
  uint32_t offset;
  std::memcpy(&offset, e->bytes.data(), sizeof(offset));
  arena_live_ -= old_size;
  e->size = static_cast<uint32_t>(value.size());
  if (value.size() <= kInlineValueBytes) {
    std::memcpy(e->bytes.data(), value.data(), value.size());
    return;
  }
  // A long value takes the bytes of the long one it replaces when it fits there, else the end
  // of the arena.
  if (value.size() > old_size) {
    if (arena_used_ + value.size() > arena_capacity_) {
      e->size = 0;  // not a live value while the arena is rebuilt
      CompactArena(value.size());
      e->size = static_cast<uint32_t>(value.size());
    }
    offset = static_cast<uint32_t>(arena_used_);
    arena_used_ += value.size();
  }
  arena_live_ += value.size();
  std::memcpy(arena_.get() + offset, value.data(), value.size());
  std::memcpy(e->bytes.data(), &offset, sizeof(offset));
}

void TopValues::CompactArena(size_t incoming) {
  const size_t capacity = std::max(kMinArenaBytes, 2 * (arena_live_ + incoming));
  auto fresh = std::make_unique_for_overwrite<char[]>(capacity);
  size_t used = 0;
  for (Entry& e : entries_) {
    if (e.size <= kInlineValueBytes) continue;
    const std::string_view value = ValueOf(e);
    std::memcpy(fresh.get() + used, value.data(), value.size());
    const auto offset = static_cast<uint32_t>(used);
    std::memcpy(e.bytes.data(), &offset, sizeof(offset));
    used += value.size();
  }
  arena_ = std::move(fresh);
  Account(arena_capacity_, capacity);
  arena_capacity_ = capacity;
  arena_used_ = used;
}

TopValues::Key TopValues::KeyOf(std::string_view value) {
  if (value.size() > kMaxBreakdownValueBytes) {
    value = value.substr(0, Utf8PrefixLength(value, kMaxBreakdownValueBytes));
  }
  // XXH3, inlined: a short value hashes in a few instructions. The hash only places values in
  // the index; no row depends on it.
  return {value, XXH3_64bits(value.data(), value.size())};
}

uint64_t TopValues::AddNew(const Key& key, bool pageview, UniqHll12::Hashed visitor, uint32_t k,
                           uint32_t weight) {
  if (key.value == kOtherValue || k == 0) {
    Count(other_visitors_, pageview, visitor, &other_pageviews_, &other_events_);
    (pageview ? other_extra_.pageviews : other_extra_.events) += weight - 1;
    return 0;
  }
  if (entries_.size() >= k) return Evict(key, pageview, visitor, weight);
  const size_t before = entries_.capacity() * sizeof(Entry) +
                        visitors_.capacity() * sizeof(UniqHll12) + HeapCapacityBytes();
  const auto id = static_cast<uint32_t>(entries_.size());
  Entry& e = entries_.emplace_back();
  UniqHll12& sketch = visitors_.emplace_back();
  e.tag = static_cast<uint32_t>(key.hash >> 32);
  e.count = 1;
  e.admitted = next_admission_++;
  // Once built (a smaller k earlier), the heap takes every new entry.
  if (!heap_.empty()) {
    heap_.push_back({e.count, e.admitted, id});
    heap_slot_.push_back(static_cast<uint32_t>(heap_.size() - 1));
  }
  Account(before, entries_.capacity() * sizeof(Entry) + visitors_.capacity() * sizeof(UniqHll12) +
                      HeapCapacityBytes());
  StoreValue(id, key.value);
  if (!extra_.empty()) {
    const size_t extra_before = extra_.capacity();
    extra_.emplace_back();
    Account(extra_before * sizeof(Extra), extra_.capacity() * sizeof(Extra));
  }
  Count(sketch, pageview, visitor, &entries_[id].pageviews, &entries_[id].events);
  if (weight > 1) AddExtra(id, pageview, weight);
  if (!heap_.empty()) SiftUp(heap_.size() - 1);
  IndexInsert(id);
  return 0;
}

uint64_t TopValues::Evict(const Key& key, bool pageview, UniqHll12::Hashed visitor,
                          uint32_t weight) {
  if (heap_.empty()) BuildHeap();
  // The value with the lowest (count, admitted), the heap's root, makes room.
  const uint32_t id = heap_[0].id;
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
  StoreValue(id, key.value);
  e.tag = static_cast<uint32_t>(key.hash >> 32);
  ++e.count;
  e.admitted = next_admission_++;
  Count(sketch, pageview, visitor, &e.pageviews, &e.events);
  if (weight > 1) AddExtra(id, pageview, weight);
  heap_[0].count = e.count;
  heap_[0].admitted = e.admitted;
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
    rows.push_back({ValueOf(e), e.pageviews, e.events, &visitors_[i],
                    e.count - e.pageviews - e.events, e.pageviews + extra.pageviews,
                    e.events + extra.events});
  }
  if (other_pageviews_ + other_events_ > 0) {
    rows.push_back({kOtherValue, other_pageviews_, other_events_, &other_visitors_, 0,
                    other_pageviews_ + other_extra_.pageviews,
                    other_events_ + other_extra_.events});
  }
  return rows;
}

}  // namespace beacon::kernels
