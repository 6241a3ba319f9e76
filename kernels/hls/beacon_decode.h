// The card's decode kernel: GA v1 hits (/collect, /batch, relay hit batches) and syslog relay
// lines, the card half of the decode. Raw payloads in; per GA hit the decoded bytes, the spans of
// the values the host needs and every reject reason the card can decide; per relay datagram the
// framing verdict and the unescaped fields of its log line. The host does what needs its tables
// (site lookup, host allowlist, user agents, visitor hash, dimensions, routes). The buffer layout
// below is the host<->card contract (hw/README.md). Everything here compiles for Vitis HLS and as
// plain C++.
#pragma once

#include <cstdint>

#include "kernels/hls/hls_compat.h"

namespace beacon::kernels {

using CardWord = ap_uint<512>;
inline constexpr uint32_t kCardWordBytes = 64;

// The protocol limits the card enforces (kernels/formats/ga_v1.h; the host asserts equality).
inline constexpr uint32_t kCardMaxHitBytes = 8192;
inline constexpr uint32_t kCardMaxBatchBytes = 16384;
inline constexpr uint32_t kCardMaxBatchHits = 20;
inline constexpr uint32_t kCardMaxQueueTimeMs = 14'400'000;
// kernels/formats/relay.h: the largest datagram and the log line's fields.
inline constexpr uint32_t kCardMaxDatagramBytes = 65535;
inline constexpr uint32_t kCardRelayFields = 9;
// Bound of the kernel's word loops (a 4 MiB input buffer), for the trip counts; records are at
// most 21 per beacon, a beacon at least one word.
inline constexpr uint32_t kCardMaxWords = (4u << 20) / kCardWordBytes;
inline constexpr uint32_t kCardMaxRecords = (kCardMaxBatchHits + 1) * kCardMaxWords;

// Input: per beacon one header word, then its payload in ceil(bytes / 64) words (zero padded).
inline constexpr int kHeaderBytes = 0;  // u32 payload bytes
inline constexpr int kHeaderKind = 4;   // u8 CardPayloadKind
enum CardPayloadKind : uint8_t {
  kCardCollect = 0,  // one hit: the whole payload
  kCardBatch = 1,    // one hit per line (/batch, relay hit batches)
  kCardSyslog = 2,   // one syslog datagram carrying a relay log line
};

// Output records, one word each: at kCardFirstRecord and on, in input order, per GA beacon its
// hit records, then one end record; per syslog datagram one relay record. After them a run end
// record; at 0 the run record. Both carry the run id the host passed (never 0), so that the host
// tells this run's output from what a previous run left in the same buffers. The run record is
// written last, after every other word of `records` and `decoded`: a run cut short leaves the
// previous one there. The run end record, and the same word at word `in_words` of `decoded`,
// are the highest words the run writes: a copy back to the host cut short misses them.
enum CardRecordKind : uint8_t {
  kCardRecordHit = 1,
  kCardRecordBeaconEnd = 2,
  kCardRecordRelay = 3,
  kCardRecordRun = 4,
  kCardRecordRunEnd = 5
};
inline constexpr int kRecordKind = 0;            // u8 CardRecordKind
inline constexpr uint32_t kCardFirstRecord = 1;  // records[0] is the run record
inline constexpr uint32_t kCardRunRecords = 2;   // the run record and the run end record
// Run record and run end record (the counts in the run record only).
inline constexpr int kRecordRunRecords = 4;   // u32: the records between the two
inline constexpr int kRecordRunId = 8;        // u64: the run id
inline constexpr int kRecordRunDecoded = 16;  // u32: words written to `decoded` before its run end

// The run record (kCardRecordRun, with its counts) or the run end record (kCardRecordRunEnd,
// counts 0) of run `run_id`.
inline CardWord CardRunWord(uint8_t kind, uint32_t records, uint32_t decoded, uint64_t run_id) {
  CardWord w(0);
  w.range(8 * kRecordKind + 7, 8 * kRecordKind) = kind;
  w.range(8 * kRecordRunRecords + 31, 8 * kRecordRunRecords) = records;
  w.range(8 * kRecordRunId + 63, 8 * kRecordRunId) = run_id;
  w.range(8 * kRecordRunDecoded + 31, 8 * kRecordRunDecoded) = decoded;
  return w;
}
// Hit record.
inline constexpr int kRecordPre = 1;           // u8 CardHitStatus: checks before the site lookup
inline constexpr int kRecordPost = 2;          // u8 CardHitStatus: checks after it
inline constexpr int kRecordType = 3;          // u8 CardHitType
inline constexpr int kRecordFlags = 4;         // u8: bit 0 ni=1
inline constexpr int kRecordDecodedStart = 8;  // u32: byte offset of the decoded hit in `decoded`
inline constexpr int kRecordQueueTime = 12;    // u32: qt in ms, 0 when absent
inline constexpr int kRecordSpans = 16;        // CardSpan x (u16 offset from start, u16 size)
// Beacon end record.
inline constexpr int kRecordHits = 4;           // u32: hit records of this beacon
inline constexpr int kRecordBatchTooLarge = 8;  // u32: hits rejected as batch_too_large
inline constexpr int kRecordTooManyHits = 12;   // u32: hits rejected as too_many_hits
inline constexpr int kRecordEmptyPayload = 16;  // u8: 1 when a batch had no hit at all

// Relay record: byte 1 CardRelayStatus, kRecordDecodedStart, and at kRecordSpans the spans of
// the line's unescaped fields 1..8 (time, client, method, uri, user agent, referer, country,
// body) as (u16 offset from start, u16 size).
enum CardRelayStatus : uint8_t {
  kCardRelayOk = 0,
  kCardRelayBadFrame,      // not RFC 3164/5424 framing, or over kCardMaxDatagramBytes
  kCardRelayBadLogFormat,  // not 9 tab-separated fields, not "beacon1", or a bad escape
};

// A hit's verdict, in the order the scalar decoder checks (kernels/formats/README.md).
enum CardHitStatus : uint8_t {
  kCardOk = 0,
  kCardHitTooLarge,
  kCardBadEscape,
  kCardEmpty,
  kCardInvalidUtf8,
  kCardMissingVersion,
  kCardBadVersion,
  kCardMissingTrackingId,
  // After the site lookup:
  kCardMissingClientId,
  kCardMissingHitType,
  kCardUnknownHitType,
  kCardMissingPage,
  kCardMissingEventFields,
  kCardFieldTooLong,
  kCardBadQueueTime,
};

enum CardHitType : uint8_t {
  kCardTypeUnknown = 0,
  kCardPageview,
  kCardScreenview,
  kCardEvent,
  kCardTransaction,
  kCardItem,
  kCardSocial,
  kCardException,
  kCardTiming,
};

// The decoded values a hit record points at (first occurrence; client id is cid, else uid).
enum CardSpan : uint8_t {
  kSpanTid,
  kSpanClientId,
  kSpanDl,
  kSpanDh,
  kSpanDp,
  kSpanCd,
  kSpanEa,
  kSpanUa,
  kSpanDr,
  kSpanCs,
  kSpanCm,
  kSpanCn,
  kSpanCount
};
static_assert(kRecordSpans + 4 * kSpanCount <= static_cast<int>(kCardWordBytes));

}  // namespace beacon::kernels

// The kernel top. `in` holds `in_words` words as above; `decoded` (one word larger than `in`)
// receives each beacon's decoded hits from the byte offset of its first payload word, and at
// word `in_words` the run end record; `records` receives the run record, the records (at most
// 21 per /batch beacon, 2 per /collect beacon) and the run end record. `run_id` is echoed in
// the run records.
extern "C" void beacon_decode(const beacon::kernels::CardWord* in,
                              beacon::kernels::CardWord* decoded,
                              beacon::kernels::CardWord* records, uint32_t in_words,
                              uint64_t run_id);
