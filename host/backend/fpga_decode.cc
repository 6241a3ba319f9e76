// Packing for and finishing after the card decode; the checks after the card's are those of
// kernels/formats/ga_v1.cc, in its order.
#include "host/backend/fpga_decode.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <string_view>

#include "kernels/bytes/url.h"
#include "kernels/formats/common.h"
#include "kernels/formats/dispatch.h"
#include "kernels/formats/ga_v1.h"
#include "kernels/formats/relay.h"
#include "kernels/reject_reason.h"
#include "kernels/site_registry.h"
#include "kernels/unix_time.h"
#include "kernels/visitor.h"

namespace beacon::host {
namespace {

using kernels::CardWord;
using kernels::kCardWordBytes;
using kernels::RejectReason;

static_assert(kernels::kCardMaxHitBytes == kernels::kGaMaxHitBytes);
static_assert(kernels::kCardMaxBatchBytes == kernels::kGaMaxBatchBytes);
static_assert(kernels::kCardMaxBatchHits == kernels::kGaMaxBatchHits);
static_assert(kernels::kCardMaxQueueTimeMs == kernels::kGaMaxQueueTimeMs);
static_assert(kernels::kCardMaxDatagramBytes == kernels::kRelayMaxDatagramBytes);
static_assert(kernels::kCardRelayFields == kernels::kRelayLineFields);

constexpr size_t kPageBytes = 4096;
constexpr size_t kWordsPerPage = kPageBytes / kCardWordBytes;
constexpr size_t kMaxRecordsPerBeacon = kernels::kCardMaxBatchHits + 1;

size_t WordsFor(size_t bytes) { return (bytes + kCardWordBytes - 1) / kCardWordBytes; }

uint64_t Field(const CardWord& w, int byte, int bytes) {
  return w.range(8 * (byte + bytes) - 1, 8 * byte).to_uint64();
}

// The reject reason of a card status (kCardOk has none).
RejectReason ReasonOf(uint8_t status) {
  static constexpr std::array<RejectReason, 15> kReasons = {
      RejectReason::kEmptyPayload,  // unused: kCardOk
      RejectReason::kHitTooLarge,       RejectReason::kBadPercentEncoding,
      RejectReason::kEmptyPayload,      RejectReason::kInvalidUtf8,
      RejectReason::kMissingVersion,    RejectReason::kBadVersion,
      RejectReason::kMissingTrackingId, RejectReason::kMissingClientId,
      RejectReason::kMissingHitType,    RejectReason::kUnknownHitType,
      RejectReason::kMissingPage,       RejectReason::kMissingEventFields,
      RejectReason::kFieldTooLong,      RejectReason::kBadQueueTime};
  return kReasons[status];
}

std::string_view TypeName(uint8_t type) {
  static constexpr std::array<std::string_view, 9> kNames = {"",       "pageview",    "screenview",
                                                             "event",  "transaction", "item",
                                                             "social", "exception",   "timing"};
  return kNames[type];
}

// One hit record read: its values as views of the decoded bytes.
struct CardHit {
  uint8_t pre;
  uint8_t post;
  uint8_t type;
  bool non_interaction;
  int64_t queue_time_ms;
  std::array<std::string_view, kernels::kSpanCount> spans;

  std::string_view operator[](kernels::CardSpan s) const { return spans[s]; }
};

// False when the record is not a well-formed hit record of a buffer of `decoded_bytes`.
bool ReadHit(const CardWord& w, const char* decoded, size_t decoded_bytes, CardHit* hit) {
  if (Field(w, kernels::kRecordKind, 1) != kernels::kCardRecordHit) return false;
  hit->pre = static_cast<uint8_t>(Field(w, kernels::kRecordPre, 1));
  hit->post = static_cast<uint8_t>(Field(w, kernels::kRecordPost, 1));
  hit->type = static_cast<uint8_t>(Field(w, kernels::kRecordType, 1));
  if (hit->pre > kernels::kCardBadQueueTime || hit->post > kernels::kCardBadQueueTime ||
      hit->type > kernels::kCardTiming) {
    return false;
  }
  hit->non_interaction = (Field(w, kernels::kRecordFlags, 1) & 1) != 0;
  hit->queue_time_ms = static_cast<int64_t>(Field(w, kernels::kRecordQueueTime, 4));
  // A hit the card passed has a queue time within the limit (the host applies it).
  if (hit->post == kernels::kCardOk && hit->queue_time_ms > kernels::kGaMaxQueueTimeMs) {
    return false;
  }
  const uint64_t start = Field(w, kernels::kRecordDecodedStart, 4);
  for (int s = 0; s < kernels::kSpanCount; ++s) {
    const uint64_t offset = start + Field(w, kernels::kRecordSpans + 4 * s, 2);
    const uint64_t size = Field(w, kernels::kRecordSpans + 4 * s + 2, 2);
    if (offset + size > decoded_bytes) return false;
    hit->spans[s] = std::string_view(decoded + offset, size);
  }
  return true;
}

// The checks after the card's and the row: kernels/formats/ga_v1.cc's DecodeHit from the site
// lookup on.
std::optional<RejectReason> FinishHit(const CardHit& hit, const kernels::Beacon& beacon,
                                      const kernels::DecodeContext& ctx,
                                      kernels::UaClass beacon_class, kernels::EventBatch* events) {
  using kernels::CardSpan;
  if (hit.pre != kernels::kCardOk) return ReasonOf(hit.pre);
  const kernels::Site* site = ctx.sites->FindByTrackingId(hit[kernels::kSpanTid]);
  if (site == nullptr) return RejectReason::kUnknownSite;
  if (hit.post != kernels::kCardOk) return ReasonOf(hit.post);

  const kernels::ByteKernels& bytes = kernels::BytesOf(ctx);
  const std::string_view dl = hit[kernels::kSpanDl];
  const std::string_view dh = hit[kernels::kSpanDh];
  const std::string_view dp = hit[kernels::kSpanDp];
  const kernels::UrlParts page = kernels::SplitUrl(dl, bytes);
  const std::string_view host = page.host.empty() ? dh : page.host;
  if (!kernels::SiteRegistry::HostAllowed(*site, host)) return RejectReason::kHostNotAllowed;
  const std::string_view ua = hit[kernels::kSpanUa];
  const kernels::UaClass ua_class = ua.empty() ? beacon_class : kernels::ClassifyUserAgent(ctx, ua);
  if (ua_class.is_bot()) return RejectReason::kBotUserAgent;

  uint8_t flags = 0;
  if (hit.queue_time_ms > 0) flags |= kernels::kFlagQueueTimeApplied;
  if (hit.non_interaction) flags |= kernels::kFlagNonInteraction;
  const int64_t minute = kernels::UnixMinute(beacon.receive_time_ms - hit.queue_time_ms);
  const uint64_t visitor =
      kernels::VisitorFromClientId(hit[kernels::kSpanClientId], site->site_id, ctx.visitor_key);
  kernels::HitFields fields{.page_url = dl,
                            .page_host = host,
                            .referrer_url = hit[kernels::kSpanDr],
                            .campaign_source = hit[kernels::kSpanCs],
                            .campaign_medium = hit[kernels::kSpanCm],
                            .campaign_name = hit[kernels::kSpanCn]};
  kernels::EventKind kind = kernels::EventKind::kOther;
  if (hit.type == kernels::kCardPageview) {
    kind = kernels::EventKind::kPageview;
    const std::string_view path =
        dp.empty() ? page.path : kernels::StripQueryAndFragment(dp, bytes);
    fields.path = path.empty() ? std::string_view("/") : path;
  } else if (hit.type == kernels::kCardScreenview) {
    kind = kernels::EventKind::kPageview;
    fields.path = hit[kernels::kSpanCd];
    fields.path_is_screen = true;
  } else if (hit.type == kernels::kCardEvent) {
    kind = kernels::EventKind::kEvent;
    fields.event_name = hit[kernels::kSpanEa];
  } else {
    fields.event_name = TypeName(hit.type);
  }
  kernels::AppendEvent(events, *site, minute, kind, flags, visitor, fields, ua_class,
                       beacon.country, beacon.source);
  return std::nullopt;
}

uint64_t KindOf(kernels::Endpoint endpoint) {
  switch (endpoint) {
    case kernels::Endpoint::kGaCollect:
      return kernels::kCardCollect;
    case kernels::Endpoint::kUdpSyslog:
      return kernels::kCardSyslog;
    default:
      return kernels::kCardBatch;
  }
}

// The most records a beacon of `endpoint` yields.
size_t RecordsFor(kernels::Endpoint endpoint) {
  if (endpoint == kernels::Endpoint::kUdpSyslog) return 1;
  return endpoint == kernels::Endpoint::kGaCollect ? 2 : kMaxRecordsPerBeacon;
}

// One relay record read: the verdict and the unescaped fields 1..8 of the log line.
struct CardRelay {
  uint8_t status;
  std::array<std::string_view, kernels::kRelayLineFields - 1> fields;
};

bool ReadRelay(const CardWord& w, const char* decoded, size_t decoded_bytes, CardRelay* relay) {
  if (Field(w, kernels::kRecordKind, 1) != kernels::kCardRecordRelay) return false;
  relay->status = static_cast<uint8_t>(Field(w, kernels::kRecordPre, 1));
  if (relay->status > kernels::kCardRelayBadLogFormat) return false;
  const uint64_t start = Field(w, kernels::kRecordDecodedStart, 4);
  for (size_t f = 0; f < relay->fields.size(); ++f) {
    const uint64_t offset = start + Field(w, kernels::kRecordSpans + 4 * static_cast<int>(f), 2);
    const uint64_t size = Field(w, kernels::kRecordSpans + 4 * static_cast<int>(f) + 2, 2);
    if (offset + size > decoded_bytes) return false;
    relay->fields[f] = std::string_view(decoded + offset, size);
  }
  return true;
}

// A relay line after the card's framing and unescaping: kernels/formats/relay.cc's checks of
// the fields and the relayed request, on the fields laid out as ParseRelayLine lays them out.
std::optional<RejectReason> FinishRelay(const CardRelay& relay, const kernels::Beacon& datagram,
                                        const kernels::DecodeContext& ctx,
                                        kernels::EventBatch* events) {
  if (relay.status == kernels::kCardRelayBadFrame) return RejectReason::kBadSyslogFrame;
  if (relay.status == kernels::kCardRelayBadLogFormat) return RejectReason::kBadLogFormat;
  thread_local std::array<char, kernels::kRelayMaxDatagramBytes + kernels::kPayloadPadding> scratch;
  std::array<std::string_view, kernels::kRelayLineFields> values;
  size_t used = 0;
  for (size_t f = 0; f < relay.fields.size(); ++f) {
    std::memcpy(scratch.data() + used, relay.fields[f].data(), relay.fields[f].size());
    values[f + 1] = std::string_view(scratch.data() + used, relay.fields[f].size());
    used += relay.fields[f].size();
  }
  std::memset(scratch.data() + used, 0, kernels::kPayloadPadding);
  kernels::RelayLine line;
  if (const auto reason = kernels::RelayLineFromFields(values, &line, datagram.archived)) {
    return reason;
  }
  return kernels::DecodeRelayedRequest(line, datagram, ctx, events);
}

// False when `end` is not the end record a run gives a GA beacon of `endpoint` whose
// `payload_bytes` yielded `hits` hit records: /collect has one hit; a /batch's lines (each at
// least a byte) are hits (at most 20), all too large, or hits then too many; no line is empty.
bool EndValid(const CardWord& end, uint64_t hits, kernels::Endpoint endpoint,
              size_t payload_bytes) {
  if (Field(end, kernels::kRecordKind, 1) != kernels::kCardRecordBeaconEnd ||
      Field(end, kernels::kRecordHits, 4) != hits) {
    return false;
  }
  const uint64_t too_large = Field(end, kernels::kRecordBatchTooLarge, 4);
  const uint64_t too_many = Field(end, kernels::kRecordTooManyHits, 4);
  const uint64_t empty = Field(end, kernels::kRecordEmptyPayload, 1);
  if (endpoint == kernels::Endpoint::kGaCollect) {
    return hits == 1 && too_large == 0 && too_many == 0 && empty == 0;
  }
  const uint64_t lines = hits + too_large + too_many;
  if (too_large != 0 &&
      (hits != 0 || too_many != 0 || payload_bytes <= kernels::kGaMaxBatchBytes)) {
    return false;
  }
  if (too_many != 0 && hits != kernels::kGaMaxBatchHits) return false;
  return hits <= kernels::kGaMaxBatchHits && lines <= payload_bytes &&
         empty == (lines == 0 ? 1 : 0);
}

void AddCount(const kernels::DecodeContext& ctx, RejectReason reason, uint64_t n) {
  if (n != 0) ctx.rejects->Add(reason, n);
}

// The index of the run end record when `b` holds the whole output of run b.run_id — its run
// record (written last) with counts the packed beacons allow, and its run end records (the
// highest words written) in `records` and `decoded` — else 0.
size_t RunEndIndex(const CardBuffers& b) {
  const CardWord& run = b.records.data()[0];
  const uint64_t records = Field(run, kernels::kRecordRunRecords, 4);
  if (b.run_id == 0 || Field(run, kernels::kRecordKind, 1) != kernels::kCardRecordRun ||
      Field(run, kernels::kRecordRunId, 8) != b.run_id || records > b.record_words ||
      Field(run, kernels::kRecordRunDecoded, 4) > b.in_words) {
    return 0;
  }
  const size_t end = kernels::kCardFirstRecord + records;
  const CardWord expected = kernels::CardRunWord(kernels::kCardRecordRunEnd, 0, 0, b.run_id);
  if (b.records.data()[end] != expected || b.decoded.data()[b.in_words] != expected) return 0;
  return end;
}

}  // namespace

bool CardDecodes(kernels::Endpoint endpoint) {
  return endpoint == kernels::Endpoint::kGaCollect || endpoint == kernels::Endpoint::kGaBatch ||
         endpoint == kernels::Endpoint::kUdpHitBatch || endpoint == kernels::Endpoint::kUdpSyslog;
}

void CardWords::Free::operator()(CardWord* p) const {
  char* raw = reinterpret_cast<char*>(p) - kPageBytes;
  const size_t n = *reinterpret_cast<const size_t*>(raw);
  for (size_t i = 0; i < n; ++i) p[i].~CardWord();
  std::free(raw);
}

CardWords::CardWords(size_t words)
    : size_((words + kWordsPerPage - 1) / kWordsPerPage * kWordsPerPage) {
  // One page in front keeps the count for Free; the words start page-aligned.
  char* raw = static_cast<char*>(std::aligned_alloc(kPageBytes, kPageBytes + bytes()));
  if (raw == nullptr) throw std::bad_alloc();
  reinterpret_cast<size_t*>(raw)[0] = size_;
  auto* first = reinterpret_cast<CardWord*>(raw + kPageBytes);
  for (size_t i = 0; i < size_; ++i) new (first + i) CardWord(0);
  words_.reset(first);
}

CardBuffers::CardBuffers(size_t input_bytes)
    : in(WordsFor(input_bytes)),
      decoded(in.size() + 1),  // `in` is built first; the run end record above its words
      records(kernels::kCardRunRecords + std::max(kernels::kMaxBatchBeacons * kMaxRecordsPerBeacon,
                                                  WordsFor(input_bytes) / 2)) {}

bool CardBuffers::Append(const kernels::RawBatch& raw) {
  size_t words = 0;
  size_t record_need = 0;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (!CardDecodes(raw.endpoint(i))) continue;
    words += 1 + WordsFor(raw.payload(i).size());
    record_need += RecordsFor(raw.endpoint(i));
  }
  if (in_words + words > in.size() ||
      kernels::kCardRunRecords + record_words + record_need > records.size()) {
    return false;
  }
  record_words += record_need;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (!CardDecodes(raw.endpoint(i))) continue;
    const std::string_view payload = raw.payload(i);
    CardWord header(0);
    header.range(31, 0) = payload.size();
    header.range(39, 32) = KindOf(raw.endpoint(i));
    in.data()[in_words++] = header;
    for (size_t offset = 0; offset < payload.size(); offset += kCardWordBytes) {
      CardWord w(0);
      const size_t n = std::min<size_t>(kCardWordBytes, payload.size() - offset);
      for (size_t b = 0; b < n; b += 8) {
        uint64_t lane = 0;
        std::memcpy(&lane, payload.data() + offset + b, std::min<size_t>(8, n - b));
        w.range(static_cast<int>(8 * b + 63), static_cast<int>(8 * b)) = lane;
      }
      in.data()[in_words++] = w;
    }
  }
  return true;
}

CardResults::CardResults(const CardBuffers& buffers)
    : buffers_(buffers),
      decoded_(size_t{buffers.in_words} * kCardWordBytes),
      records_end_(RunEndIndex(buffers)) {
  // The decoded bytes as host bytes: a CardWord's layout is the HLS type's, not a byte array.
  for (size_t w = 0; w < buffers.in_words; ++w) {
    for (int b = 0; b < static_cast<int>(kCardWordBytes); b += 8) {
      const uint64_t lane = buffers.decoded.data()[w].range(8 * b + 63, 8 * b).to_uint64();
      std::memcpy(decoded_.data() + w * kCardWordBytes + b, &lane, 8);
    }
  }
}

bool CardResults::Valid(const kernels::RawBatch& raw) const {
  const CardWord* records = buffers_.records.data();
  const size_t count = records_end_;  // what follows the run end record is no run's
  size_t r = next_record_;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (!CardDecodes(raw.endpoint(i))) continue;
    if (raw.endpoint(i) == kernels::Endpoint::kUdpSyslog) {
      CardRelay relay;
      if (r >= count || !ReadRelay(records[r++], decoded_.data(), decoded_.size(), &relay)) {
        return false;
      }
      continue;
    }
    CardHit hit;
    uint64_t hits = 0;
    for (; r < count && ReadHit(records[r], decoded_.data(), decoded_.size(), &hit); ++r) ++hits;
    if (r >= count || !EndValid(records[r], hits, raw.endpoint(i), raw.payload(i).size())) {
      return false;
    }
    ++r;
  }
  return true;
}

void CardResults::DecodeCardBeacon(kernels::Endpoint endpoint, const kernels::Beacon& beacon,
                                   const kernels::DecodeContext& ctx, kernels::EventBatch* events) {
  const CardWord* records = buffers_.records.data();
  if (endpoint == kernels::Endpoint::kUdpSyslog) {
    CardRelay relay;
    ReadRelay(records[next_record_++], decoded_.data(), decoded_.size(), &relay);
    if (const auto reason = FinishRelay(relay, beacon, ctx, events)) ctx.rejects->Add(*reason);
    return;
  }
  const kernels::UaClass beacon_class = kernels::BeaconUaClass(ctx, beacon);
  CardHit hit;
  while (ReadHit(records[next_record_], decoded_.data(), decoded_.size(), &hit)) {
    ++next_record_;
    if (const auto reason = FinishHit(hit, beacon, ctx, beacon_class, events)) {
      ctx.rejects->Add(*reason);
    }
  }
  const CardWord& end = records[next_record_++];
  AddCount(ctx, RejectReason::kBatchTooLarge, Field(end, kernels::kRecordBatchTooLarge, 4));
  AddCount(ctx, RejectReason::kTooManyHits, Field(end, kernels::kRecordTooManyHits, 4));
  AddCount(ctx, RejectReason::kEmptyPayload, Field(end, kernels::kRecordEmptyPayload, 1));
}

bool CardResults::Decode(const kernels::RawBatch& raw, const kernels::DecodeContext& ctx,
                         kernels::EventBatch* events) {
  if (!fresh() || !Valid(raw)) return false;  // nothing counted yet
  kernels::DecodeContext batch_ctx = ctx;
  batch_ctx.bytes = &kernels::BytesOf(ctx);
  // As kernels::DecodeBatch: the batch's user agents classified in one pass.
  std::array<kernels::UaClass, kernels::kMaxBatchBeacons> classes;
  const bool classified = kernels::ClassifyBatchUserAgents(raw, batch_ctx, classes.data());
  for (size_t i = 0; i < raw.size(); ++i) {
    const kernels::Beacon beacon = kernels::BeaconAt(raw, i, classified ? &classes[i] : nullptr);
    if (CardDecodes(raw.endpoint(i))) {
      DecodeCardBeacon(raw.endpoint(i), beacon, batch_ctx, events);
    } else {
      kernels::DecodeBeacon(raw.endpoint(i), beacon, batch_ctx, events);
    }
  }
  return true;
}

}  // namespace beacon::host
