// The breakdown dimensions and TopValues, the bounded top-K sketch (Space-Saving) that keeps
// one dimension's values of one (site, minute). Bounds and error: kernels/aggregate/README.md.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/sketch/uniq_hll12.h"

namespace beacon::kernels {

// The dimensions a site-minute is broken down by. The numbers are stored (the ClickHouse
// Enum8 `dimension`): append only.
enum class Dimension : uint8_t {
  kPage = 1,
  kReferrer = 2,
  kUtmSource = 3,
  kUtmMedium = 4,
  kUtmCampaign = 5,
  kCountry = 6,
  kDevice = 7,
  kBrowser = 8,
  kOs = 9,
  kEventName = 10,
};
inline constexpr size_t kDimensionCount = 10;
inline constexpr std::array<Dimension, kDimensionCount> kDimensions = {
    Dimension::kPage,        Dimension::kReferrer, Dimension::kUtmSource, Dimension::kUtmMedium,
    Dimension::kUtmCampaign, Dimension::kCountry,  Dimension::kDevice,    Dimension::kBrowser,
    Dimension::kOs,          Dimension::kEventName};

inline size_t DimensionIndex(Dimension d) { return static_cast<size_t>(d) - 1; }
// The label of `d`, as in ClickHouse's Enum8 and in metrics: "page", "referrer", "utm_source",
// "utm_medium", "utm_campaign", "country", "device", "browser", "os", "event".
std::string_view DimensionName(Dimension d);

// The value that stands for everything a dimension's bound folded away. A real value equal to
// it (a campaign named "(other)") is counted in that row too.
inline constexpr std::string_view kOtherValue = "(other)";
// Longer values are cut (at a UTF-8 character boundary) before they are counted: the decoders'
// own caps are lower (path 1024, referrer 253, campaign 100), this bounds what any format sends.
inline constexpr size_t kMaxBreakdownValueBytes = 1024;
// What a UniqHll12 allocates when it turns large: one byte per register, a UInt32 per rank.
inline constexpr size_t kSketchLargeHeapBytes = UniqHll12::kLargeHeapBytes;
// A medium sketch's log has C slots of 4 bytes for at least C/2 hashes logged, one per add (it
// doubles when full; 32 slots serve 17 at least), and a large one took more than
// kMediumCapacity adds: either way a sketch past 16 values holds less than 11 heap bytes per
// add, and a row has at least as many hits as its sketch has adds.
inline constexpr size_t kSketchHeapBytesPerValue = 11;
static_assert(kSketchLargeHeapBytes < kSketchHeapBytesPerValue * (UniqHll12::kMediumCapacity + 1));

// Heap bytes of a row's visitor sketch: none while small (inline, at most 16 values), its
// hashes' set while medium, the registers and rank counts once large.
inline size_t SketchHeapBytes(const UniqHll12& sketch) { return sketch.heap_bytes(); }

// Space-Saving over the values of one dimension of one site-minute, keeping at most `k`.
// Each kept value holds exact pageviews, events and a visitor sketch *since its admission*;
// when a new value arrives with the table full, the value with the lowest Space-Saving count
// (ties: the earliest admitted) is evicted: its pageviews and events move to the (other) row,
// its sketch is merged into (other)'s and the newcomer takes its slot with that count + 1. So the
// kept rows plus (other) always sum to the exact totals, and a kept value misses at most the count
// its slot had at its admission (≤ N/k for N hits of the dimension). Deterministic: the rows are a
// pure function of the calls, in order. Not thread-safe.
class TopValues {
 public:
  struct Row {
    std::string_view value;  // kOtherValue for the folded row
    uint64_t pageviews = 0;
    uint64_t events = 0;
    UniqHll12* visitors = nullptr;    // the caller may take it
    uint64_t admission_error = 0;     // the bound on what this row misses
    uint64_t weighted_pageviews = 0;  // the hits' weights summed (EventBatch::weight)
    uint64_t weighted_events = 0;
  };

  // A value as it is counted (cut to kMaxBreakdownValueBytes at a character boundary) and its
  // hash, computed once for the prefetch hints and the count.
  struct Key {
    std::string_view value;
    uint64_t hash = 0;
  };
  static Key KeyOf(std::string_view value);

  // Counts one hit of weight `weight` (>= 1) with a non-empty `value`. Returns the hits
  // (pageviews + events) that an eviction folded into (other) because of it: 0 when `value` was
  // kept or admitted freely. The weight changes no count Space-Saving ranks by, only the
  // weighted sums, which move with the counts.
  // A hit on a kept value is counted in line; admissions, evictions and (other) are not.
  uint64_t Add(const Key& key, bool pageview, UniqHll12::Hashed visitor, uint32_t k,
               uint32_t weight = 1) {
    if (!index_.empty() && k != 0) {
      const uint64_t word = index_[FindSlot(key.value, key.hash)];
      if (word != 0) {
        CountHit(static_cast<uint32_t>(word) - 1, pageview, visitor, weight);
        return 0;
      }
    }
    return AddNew(key, pageview, visitor, k, weight);
  }
  uint64_t Add(std::string_view value, bool pageview, uint64_t visitor, uint32_t k,
               uint32_t weight = 1) {
    return Add(KeyOf(value), pageview, UniqHll12::Hash(visitor), k, weight);
  }

  // Hints that change nothing, for a caller that counts a block of hits and overlaps their cache
  // misses, each step reading only what the one before fetched: the index slot of `key`; the
  // entry it names (its home slot's only); the value's bytes and the line its sketch adds to.
  void PrefetchSlot(const Key& key) const {
    if (!index_.empty()) __builtin_prefetch(&index_[HomeSlot(key.hash)]);
  }
  void PrefetchEntry(const Key& key) const {
    const int64_t id = HomeEntry(key);
    if (id < 0) return;
    __builtin_prefetch(&entries_[id]);
    const char* sketch = reinterpret_cast<const char*>(&visitors_[id]);
    for (size_t line = 0; line < sizeof(UniqHll12); line += 64) __builtin_prefetch(sketch + line);
  }
  void PrefetchSketch(const Key& key, UniqHll12::Hashed visitor) const {
    const int64_t id = HomeEntry(key);
    if (id < 0) return;
    __builtin_prefetch(ValueOf(entries_[id]).data());
    visitors_[id].Prefetch(visitor);
  }

  bool empty() const { return entries_.empty() && other_pageviews_ + other_events_ == 0; }
  size_t size() const { return entries_.size(); }
  // The kept rows, then the (other) row when it holds hits; in no particular order.
  std::vector<Row> Rows();
  // Heap bytes held (kept exactly as the containers grow).
  size_t heap_bytes() const { return heap_bytes_; }
  // The bytes of one kept value across its arrays, for MinuteAggregator::MemoryBound; the
  // weights array (WeightBytes per value) included, though made only for weighted hits.
  static size_t EntryBytes();
  static constexpr size_t WeightBytes() { return 2 * sizeof(uint64_t); }
  // The bytes of one kept value's heap node and position, made at the first eviction.
  static constexpr size_t HeapBytes() { return sizeof(HeapNode) + sizeof(uint32_t); }
  // Index slots of a non-empty TopValues at least; 8 bytes each.
  static constexpr size_t kMinIndexSlots = 16;
  // Values up to this length live in their entry; longer ones in the TopValues' value arena,
  // which holds at least kMinArenaBytes and at most twice its live values' bytes.
  static constexpr size_t kInlineValueBytes = 24;
  static constexpr size_t kMinArenaBytes = 64;

 private:
  // What a hit on a kept value reads and writes, apart from its sketch: one cache line, the
  // value inline when short (no second miss to compare it).
  struct alignas(64) Entry {
    // Space-Saving count: the admission error (the slot's count when this value took it) plus
    // the hits since admission, pageviews + events.
    uint64_t count = 0;
    uint64_t admitted = 0;  // admission sequence number, breaks ties in count
    uint64_t pageviews = 0;
    uint64_t events = 0;
    uint32_t tag = 0;   // the hash's upper half, as in the index
    uint32_t size = 0;  // the value's bytes
    // The value when size <= kInlineValueBytes, else its offset in arena_ (a uint32_t).
    std::array<char, kInlineValueBytes> bytes{};
  };
  static_assert(sizeof(Entry) == 64);

  // Weights beyond 1, kept apart from the entries so that unweighted hits never touch them.
  struct Extra {
    uint64_t pageviews = 0;
    uint64_t events = 0;
  };

  void Count(UniqHll12& sketch, bool pageview, UniqHll12::Hashed visitor, uint64_t* pageviews,
             uint64_t* events) {
    ++*(pageview ? pageviews : events);
    heap_bytes_ += sketch.Add(visitor);
  }
  void CountHit(uint32_t id, bool pageview, UniqHll12::Hashed visitor, uint32_t weight) {
    Entry& e = entries_[id];
    Count(visitors_[id], pageview, visitor, &e.pageviews, &e.events);
    if (weight > 1) AddExtra(id, pageview, weight);
    ++e.count;
    if (!heap_.empty()) {
      const uint32_t slot = heap_slot_[id];
      ++heap_[slot].count;
      SiftDown(slot);
    }
  }
  // Add for a value not kept (or any value with k = 0): (other), an admission or an eviction.
  uint64_t AddNew(const Key& key, bool pageview, UniqHll12::Hashed visitor, uint32_t k,
                  uint32_t weight);
  // Adds `weight` - 1 to entry `id`'s extra weight (made for every entry on first use).
  void AddExtra(uint32_t id, bool pageview, uint32_t weight);
  // A heap node carries its entry's Space-Saving key, so that a sift reads and writes the heap
  // and the positions only (a few KiB that stay in cache), never the entries.
  struct HeapNode {
    uint64_t count = 0;
    uint64_t admitted = 0;
    uint32_t id = 0;
  };
  static bool Less(const HeapNode& a, const HeapNode& b) {
    return a.count != b.count ? a.count < b.count : a.admitted < b.admitted;
  }
  void Place(const HeapNode& node, size_t slot) {
    heap_[slot] = node;
    heap_slot_[node.id] = static_cast<uint32_t>(slot);
  }
  size_t HeapCapacityBytes() const {
    return heap_.capacity() * sizeof(HeapNode) + heap_slot_.capacity() * sizeof(uint32_t);
  }
  void SiftDown(size_t slot);
  void SiftUp(size_t slot);
  void BuildHeap();
  // The index slot holding `value`, or the empty slot where it would go.
  size_t FindSlot(std::string_view value, uint64_t hash) const {
    const size_t mask = index_.size() - 1;
    const uint64_t tag = hash >> 32;
    for (size_t slot = HomeSlot(hash);; slot = (slot + 1) & mask) {
      const uint64_t word = index_[slot];
      if (word == 0) return slot;
      if ((word >> 32) == tag && Holds(entries_[static_cast<uint32_t>(word) - 1], value)) {
        return slot;
      }
    }
  }
  // An index word's home slot: the tag (the hash's upper half) picks it, so that moving or
  // erasing a word needs no entry read.
  size_t HomeSlot(uint64_t hash) const { return (hash >> 32) & (index_.size() - 1); }
  void IndexInsert(uint32_t entry);
  void IndexErase(uint32_t entry);
  void GrowIndex();
  std::string_view ValueOf(const Entry& e) const {
    if (e.size <= kInlineValueBytes) return {e.bytes.data(), e.size};
    uint32_t offset;
    std::memcpy(&offset, e.bytes.data(), sizeof(offset));
    return {arena_.get() + offset, e.size};
  }
  // Whether entry `e` holds `value`.
  bool Holds(const Entry& e, std::string_view value) const {
    return e.size == value.size() && SameBytes(ValueOf(e).data(), value.data(), value.size());
  }
  // memcmp(a, b, n) == 0 without a call: a probe compares short values, mostly equal ones.
  static bool SameBytes(const char* a, const char* b, size_t n) {
    auto load = [](const char* p, auto word) {
      std::memcpy(&word, p, sizeof(word));
      return word;
    };
    if (n >= 8) {
      for (size_t i = 0; i + 8 < n; i += 8) {
        if (load(a + i, uint64_t{}) != load(b + i, uint64_t{})) return false;
      }
      return load(a + n - 8, uint64_t{}) == load(b + n - 8, uint64_t{});
    }
    if (n >= 4) {
      return load(a, uint32_t{}) == load(b, uint32_t{}) &&
             load(a + n - 4, uint32_t{}) == load(b + n - 4, uint32_t{});
    }
    for (size_t i = 0; i < n; ++i) {
      if (a[i] != b[i]) return false;
    }
    return true;
  }
  // Gives entry `id` the value `value` (its old one, if long, leaves the arena's live bytes).
  void StoreValue(uint32_t id, std::string_view value);
  // Makes room for `incoming` more bytes: a fresh arena of twice the live bytes, these only.
  void CompactArena(size_t incoming);
  uint64_t Evict(const Key& key, bool pageview, UniqHll12::Hashed visitor, uint32_t weight);
  // The entry in `key`'s home slot, or -1: what the hints read.
  int64_t HomeEntry(const Key& key) const {
    if (index_.empty()) return -1;
    const uint64_t word = index_[HomeSlot(key.hash)];
    if (word == 0 || (word >> 32) != (key.hash >> 32)) return -1;
    return static_cast<uint32_t>(word) - 1;
  }
  void Account(size_t before, size_t after) { heap_bytes_ += after - before; }

  // Parallel arrays by entry id: the probed and counted fields with the short values, and the
  // visitor sketches.
  std::vector<Entry> entries_;
  std::vector<UniqHll12> visitors_;
  std::vector<Extra> extra_;  // by entry id; empty until a hit weighs more than 1
  // A min-heap by (count, admitted) and each entry's position in it; built at the first
  // eviction, since only an eviction needs the minimum: until the table is full a hit costs no
  // heap work.
  std::vector<HeapNode> heap_;
  std::vector<uint32_t> heap_slot_;  // by entry id
  // Open addressing, linear probing, at most half full: the hash's upper 32 bits (a tag that
  // spares reading an entry on a mismatch) << 32 | entry id + 1; 0 = empty.
  std::vector<uint64_t> index_;
  // The values longer than kInlineValueBytes, back to back; the bytes of replaced ones stay
  // until the next compaction.
  std::unique_ptr<char[]> arena_;
  size_t arena_used_ = 0;
  size_t arena_capacity_ = 0;
  size_t arena_live_ = 0;
  uint64_t other_pageviews_ = 0;
  uint64_t other_events_ = 0;
  Extra other_extra_;
  UniqHll12 other_visitors_;
  uint64_t next_admission_ = 0;
  size_t heap_bytes_ = 0;
};

}  // namespace beacon::kernels
