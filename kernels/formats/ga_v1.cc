// GA Universal v1 decoder: one split_form pass of the decode's byte kernels over a hit's
// key=value pairs (decoding and UTF-8), byte caps per key, then the checks in the order
// kernels/formats/README.md fixes, then one EventBatch row. Decoded bytes go to a stack buffer:
// no heap allocation per hit.
#include "kernels/formats/ga_v1.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <optional>

#include "kernels/bytes/hash.h"
#include "kernels/bytes/text.h"
#include "kernels/bytes/url.h"
#include "kernels/formats/common.h"
#include "kernels/reject_reason.h"
#include "kernels/site_registry.h"
#include "kernels/unix_time.h"
#include "kernels/visitor.h"

namespace beacon::kernels {
namespace {

// The parameters whose values the decoder uses; kNone for all others.
enum class Field : uint8_t {
  kV,
  kTid,
  kCid,
  kUid,
  kT,
  kDl,
  kDh,
  kDp,
  kCd,
  kEc,
  kEa,
  kQt,
  kNi,
  kUa,
  kDr,
  kCs,
  kCm,
  kCn,
  kNone
};
constexpr size_t kFieldCount = static_cast<size_t>(Field::kNone);

struct KeyInfo {
  Field field = Field::kNone;
  uint16_t max_bytes = 0;  // byte cap of the decoded value; 0: none
};

// A key of up to kMaxPackedKeyBytes bytes as one integer (length in the top byte), so that
// key lookup is one integer compare.
constexpr size_t kMaxPackedKeyBytes = 7;
constexpr uint64_t PackKey(std::string_view key) {
  uint64_t packed = uint64_t{key.size()} << 56;
  for (size_t i = 0; i < key.size(); ++i) {
    packed |= uint64_t{static_cast<unsigned char>(key[i])} << (8 * i);
  }
  return packed;
}

constexpr uint16_t kCustomDimensionMaxBytes = 150;

bool IsCustomDimension(std::string_view key) {
  if (key.size() < 3 || !key.starts_with("cd")) return false;
  for (const char c : key.substr(2)) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

struct KeyEntry {
  std::string_view key;
  KeyInfo info;
};

// Byte caps: the maximum lengths of Google's Measurement Protocol v1 parameter reference.
constexpr KeyEntry kKeys[] = {
    {"v", {Field::kV, 0}},        {"tid", {Field::kTid, 0}},     {"cid", {Field::kCid, 0}},
    {"uid", {Field::kUid, 0}},    {"t", {Field::kT, 0}},         {"dl", {Field::kDl, 2048}},
    {"dh", {Field::kDh, 100}},    {"dp", {Field::kDp, 2048}},    {"cd", {Field::kCd, 2048}},
    {"ec", {Field::kEc, 150}},    {"ea", {Field::kEa, 500}},     {"qt", {Field::kQt, 0}},
    {"ni", {Field::kNi, 0}},      {"ua", {Field::kUa, 0}},       {"dt", {Field::kNone, 1500}},
    {"dr", {Field::kDr, 2048}},   {"el", {Field::kNone, 500}},   {"cn", {Field::kCn, 100}},
    {"cs", {Field::kCs, 100}},    {"cm", {Field::kCm, 50}},      {"ck", {Field::kNone, 500}},
    {"cc", {Field::kNone, 500}},  {"ci", {Field::kNone, 100}},   {"sr", {Field::kNone, 20}},
    {"vp", {Field::kNone, 20}},   {"de", {Field::kNone, 20}},    {"sd", {Field::kNone, 20}},
    {"ul", {Field::kNone, 20}},   {"an", {Field::kNone, 100}},   {"aid", {Field::kNone, 150}},
    {"av", {Field::kNone, 100}},  {"aiid", {Field::kNone, 150}}, {"ti", {Field::kNone, 500}},
    {"ta", {Field::kNone, 500}},  {"cu", {Field::kNone, 10}},    {"in", {Field::kNone, 500}},
    {"ip", {Field::kNone, 500}},  {"iq", {Field::kNone, 500}},   {"ic", {Field::kNone, 500}},
    {"iv", {Field::kNone, 500}},  {"sn", {Field::kNone, 50}},    {"sa", {Field::kNone, 50}},
    {"st", {Field::kNone, 2048}}, {"utc", {Field::kNone, 150}},  {"utv", {Field::kNone, 500}},
    {"utl", {Field::kNone, 500}}, {"exd", {Field::kNone, 150}},
};

// kKeys by packed key in a table of 2^kKeySlotBits slots, at the slot a multiplicative hash
// picks. The multiplier is the first of a fixed sequence that leaves every key alone in its
// slot, so a lookup is one probe and one compare.
constexpr unsigned kKeySlotBits = 8;
constexpr uint64_t kEmptySlot = ~uint64_t{0};  // no packed key: their length byte is <= 7
struct KeySlot {
  uint64_t packed = kEmptySlot;
  KeyInfo info;
};
struct KeyTable {
  uint64_t multiplier = 0x9e37'79b9'7f4a'7c15;
  std::array<KeySlot, size_t{1} << kKeySlotBits> slots{};

  constexpr size_t SlotOf(uint64_t packed) const {
    return static_cast<size_t>((packed * multiplier) >> (64 - kKeySlotBits));
  }
};

constexpr KeyTable BuildKeyTable() {
  KeyTable table;
  while (true) {
    table.slots = {};
    bool alone = true;
    for (const KeyEntry& entry : kKeys) {
      KeySlot& slot = table.slots[table.SlotOf(PackKey(entry.key))];
      alone = alone && slot.packed == kEmptySlot;
      slot = {PackKey(entry.key), entry.info};
    }
    if (alone) return table;
    // The next odd multiplier of a 64-bit LCG (Knuth's MMIX constants).
    table.multiplier = (table.multiplier * 6364136223846793005u + 1442695040888963407u) | 1;
  }
}
constexpr KeyTable kKeyTable = BuildKeyTable();

// PackKey of a key followed in memory by the rest of its pair up to `pair_end`: when eight
// bytes from the key's start are all the pair's, one load and a mask instead of a byte loop.
uint64_t PackKeyInPair(std::string_view key, const char* pair_end) {
  static_assert(std::endian::native == std::endian::little, "PackKey puts byte 0 lowest");
  if (pair_end - key.data() < 8) return PackKey(key);
  uint64_t word;
  std::memcpy(&word, key.data(), sizeof word);
  return (word & ((uint64_t{1} << (8 * key.size())) - 1)) | uint64_t{key.size()} << 56;
}

KeyInfo ClassifyKey(std::string_view key, const char* pair_end) {
  if (key.size() > kMaxPackedKeyBytes) return {};
  const uint64_t packed = PackKeyInPair(key, pair_end);
  const KeySlot& slot = kKeyTable.slots[kKeyTable.SlotOf(packed)];
  if (slot.packed == packed) return slot.info;
  return {Field::kNone, IsCustomDimension(key) ? kCustomDimensionMaxBytes : uint16_t{0}};
}

enum class HitType : uint8_t { kPageview, kScreenview, kEvent, kOther };

std::optional<HitType> ParseHitType(std::string_view t) {
  if (t == "pageview") return HitType::kPageview;
  if (t == "event") return HitType::kEvent;
  if (t == "screenview") return HitType::kScreenview;
  if (t == "transaction" || t == "item" || t == "social" || t == "exception" || t == "timing") {
    return HitType::kOther;
  }
  return std::nullopt;
}

// qt: decimal digits only, value in [0, kGaMaxQueueTimeMs].
bool ParseQueueTime(std::string_view qt, int64_t* ms) {
  int64_t value = 0;
  for (const char c : qt) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
    if (value > kGaMaxQueueTimeMs) return false;
  }
  *ms = value;
  return true;
}

// The decoded parameters of one hit. Values point into `scratch`. Nothing is zeroed up front:
// a value is read only when its `seen` bit is set, and only written parts of `scratch`.
struct ParsedHit {
  struct Value {
    const char* data;
    size_t size;
  };
  Value values[kFieldCount];  // first occurrence of each field seen
  uint32_t seen = 0;          // bit per Field already taken
  bool too_long = false;
  // Decoded bytes never outnumber the hit's bytes.
  char scratch[kGaMaxHitBytes];

  // The field's value; empty when absent.
  std::string_view operator[](Field f) const {
    const auto i = static_cast<unsigned>(f);
    return (seen >> i & 1) != 0 ? std::string_view(values[i].data, values[i].size)
                                : std::string_view();
  }

  void Record(std::string_view key, std::string_view value) {
    const KeyInfo info =
        ClassifyKey(key, std::max(key.data() + key.size(), value.data() + value.size()));
    if (info.max_bytes != 0 && value.size() > info.max_bytes) too_long = true;
    if (info.field == Field::kNone) return;
    const uint32_t bit = uint32_t{1} << static_cast<unsigned>(info.field);
    if ((seen & bit) == 0) {
      seen |= bit;
      values[static_cast<size_t>(info.field)] = {value.data(), value.size()};
    }
  }
};

// Sets the fields that depend on the hit type and returns the event kind.
EventKind TypeFields(HitType type, const ParsedHit& hit, const UrlParts& page,
                     const ByteKernels& bytes, HitFields* fields) {
  switch (type) {
    case HitType::kPageview: {
      // dp overrides the path of dl, as GA does for virtual pageviews.
      const std::string_view dp = hit[Field::kDp];
      const std::string_view page_path = dp.empty() ? page.path : StripQueryAndFragment(dp, bytes);
      fields->path = page_path.empty() ? std::string_view("/") : page_path;
      return EventKind::kPageview;
    }
    case HitType::kScreenview:
      fields->path = hit[Field::kCd];
      fields->path_is_screen = true;
      return EventKind::kPageview;
    case HitType::kEvent:
      fields->event_name = hit[Field::kEa];
      return EventKind::kEvent;
    case HitType::kOther:
      fields->event_name = hit[Field::kT];
      return EventKind::kOther;
  }
  return EventKind::kOther;
}

// Validates one hit and appends its row. Returns the reject reason of a rejected hit.
// `beacon_class` is the class of the beacon's user agent, shared by the hits of a /batch body.
std::optional<RejectReason> DecodeHit(std::string_view raw_hit, const Beacon& beacon,
                                      const DecodeContext& ctx, UaClass beacon_class,
                                      EventBatch* events) {
  if (raw_hit.size() > kGaMaxHitBytes) return RejectReason::kHitTooLarge;
  const ByteKernels& bytes = BytesOf(ctx);
  ParsedHit hit;
  const FormSplit split = SplitFormPairs(
      bytes, raw_hit, hit.scratch,
      [&hit](std::string_view key, std::string_view value) { hit.Record(key, value); });
  if (!split.escapes_ok) {
    return RejectReason::kBadPercentEncoding;  // a hit with a bad escape has a pair: not empty
  }
  if (split.fields == 0) return RejectReason::kEmptyPayload;
  if (!split.utf8_ok) return RejectReason::kInvalidUtf8;

  if (hit[Field::kV].empty()) return RejectReason::kMissingVersion;
  if (hit[Field::kV] != "1") return RejectReason::kBadVersion;
  if (hit[Field::kTid].empty()) return RejectReason::kMissingTrackingId;
  const Site* site = ctx.sites->FindByTrackingId(hit[Field::kTid]);
  if (site == nullptr) return RejectReason::kUnknownSite;
  const std::string_view cid = hit[Field::kCid];
  const std::string_view uid = hit[Field::kUid];
  if (cid.empty() && uid.empty()) return RejectReason::kMissingClientId;
  if (hit[Field::kT].empty()) return RejectReason::kMissingHitType;
  const std::optional<HitType> type = ParseHitType(hit[Field::kT]);
  if (!type) return RejectReason::kUnknownHitType;

  const std::string_view dl = hit[Field::kDl];
  const std::string_view dh = hit[Field::kDh];
  const std::string_view dp = hit[Field::kDp];
  if (*type == HitType::kPageview && dl.empty() && (dh.empty() || dp.empty())) {
    return RejectReason::kMissingPage;
  }
  if (*type == HitType::kEvent && (hit[Field::kEc].empty() || hit[Field::kEa].empty())) {
    return RejectReason::kMissingEventFields;
  }
  if (hit.too_long) return RejectReason::kFieldTooLong;
  int64_t queue_time_ms = 0;
  if (!hit[Field::kQt].empty() && !ParseQueueTime(hit[Field::kQt], &queue_time_ms)) {
    return RejectReason::kBadQueueTime;
  }

  const UrlParts page = SplitUrl(dl, bytes);
  const std::string_view host = page.host.empty() ? dh : page.host;
  // No host never matches an allowlist entry: it passes only sites that accept any host.
  if (!SiteRegistry::HostAllowed(*site, host)) return RejectReason::kHostNotAllowed;

  // A hit's ua parameter overrides the HTTP User-Agent (server-side senders forward the
  // browser's).
  const std::string_view ua = hit[Field::kUa];
  const UaClass ua_class = ua.empty() ? beacon_class : ClassifyUserAgent(ctx, ua);
  if (ua_class.is_bot()) return RejectReason::kBotUserAgent;

  uint8_t flags = 0;
  if (queue_time_ms > 0) flags |= kFlagQueueTimeApplied;
  if (hit[Field::kNi] == "1") flags |= kFlagNonInteraction;
  const int64_t minute = UnixMinute(beacon.receive_time_ms - queue_time_ms);
  const uint64_t visitor =
      VisitorFromClientId(cid.empty() ? uid : cid, site->site_id, ctx.visitor_key);

  HitFields fields{.page_url = dl,
                   .page_host = host,
                   .referrer_url = hit[Field::kDr],
                   .campaign_source = hit[Field::kCs],
                   .campaign_medium = hit[Field::kCm],
                   .campaign_name = hit[Field::kCn]};
  const EventKind kind = TypeFields(*type, hit, page, bytes, &fields);
  AppendEvent(events, *site, minute, kind, flags, visitor, fields, ua_class, beacon.country,
              beacon.source);
  return std::nullopt;
}

void DecodeAndCount(std::string_view raw_hit, const Beacon& beacon, const DecodeContext& ctx,
                    UaClass beacon_class, EventBatch* events) {
  if (const auto reason = DecodeHit(raw_hit, beacon, ctx, beacon_class, events)) {
    ctx.rejects->Add(*reason);
  }
}

}  // namespace

void DecodeGaCollect(const Beacon& beacon, const DecodeContext& ctx, EventBatch* events) {
  DecodeAndCount(beacon.payload, beacon, ctx, BeaconUaClass(ctx, beacon), events);
}

void DecodeGaBatch(const Beacon& beacon, const DecodeContext& ctx, EventBatch* events) {
  const bool batch_too_large = beacon.payload.size() > kGaMaxBatchBytes;
  const ByteKernels& bytes = BytesOf(ctx);
  const UaClass beacon_class = BeaconUaClass(ctx, beacon);
  size_t hits = 0;
  std::string_view rest = beacon.payload;
  while (!rest.empty()) {
    const std::string_view line = NextLine(&rest, bytes);
    if (line.empty()) continue;
    ++hits;
    if (batch_too_large) {
      ctx.rejects->Add(RejectReason::kBatchTooLarge);
    } else if (hits > kGaMaxBatchHits) {
      ctx.rejects->Add(RejectReason::kTooManyHits);
    } else {
      DecodeAndCount(line, beacon, ctx, beacon_class, events);
    }
  }
  if (hits == 0) ctx.rejects->Add(RejectReason::kEmptyPayload);
}

}  // namespace beacon::kernels
