// beacon_decode: read -> scan (64 bytes a cycle: the structural bitmaps) -> decode (one byte
// a cycle: for GA hits the line split, percent-decoding, UTF-8, pair split, key classification,
// limits and checks; for relay datagrams the syslog framing, the log line's fields and their
// unescaping) -> write, as a DATAFLOW pipeline. No heap, no recursion, fixed-width integers only.
#include "kernels/hls/beacon_decode.h"

namespace beacon::kernels {
namespace {

// The structural bitmaps of one input word: bit j describes byte j.
struct ScannedWord {
  CardWord data;
  uint64_t amp;
  uint64_t eq;
  uint64_t pct;
  uint64_t plus;
  uint64_t nl;
  uint64_t cr;
  uint64_t hex;
};

struct DecodedWord {
  uint32_t index;
  CardWord data;
  bool last;
};

struct RecordWord {
  CardWord data;
  bool last;
};

// One byte with its classes.
struct ByteClass {
  uint8_t c;
  bool amp, eq, pct, plus, nl, cr, hex;
};

// The keys whose values the checks or the host use (the scalar decoder's fields).
enum Field : uint8_t {
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
  kFieldCount,
  kNoField = kFieldCount
};

uint64_t Get(const CardWord& w, int byte, int bytes) {
  return w.range(8 * (byte + bytes) - 1, 8 * byte).to_uint64();
}
void Put(CardWord& w, int byte, int bytes, uint64_t value) {
  w.range(8 * (byte + bytes) - 1, 8 * byte) = value;
}

// Up to 8 bytes as one little-endian integer (keys, hit types).
constexpr uint64_t Pack(const char* s, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= uint64_t{static_cast<uint8_t>(s[i])} << (8 * i);
  return v;
}
constexpr uint64_t Key(const char* s, int n) { return Pack(s, n) | (uint64_t{uint8_t(n)} << 56); }

struct KeyClass {
  uint8_t field;
  uint16_t cap;  // byte cap of the decoded value; 0: none
};

// The keys the kernel only checks for length (GA v1 fields it does not decode): their caps;
// cd<digits> is a custom dimension; any other key is no field and uncapped.
KeyClass ClassifyCheckedKey(uint64_t packed, uint32_t size, bool custom_digits) {
  switch (packed | (uint64_t{size} << 56)) {
    case Key("dt", 2):
      return {kNoField, 1500};
    case Key("el", 2):
      return {kNoField, 500};
    case Key("ck", 2):
      return {kNoField, 500};
    case Key("cc", 2):
      return {kNoField, 500};
    case Key("ci", 2):
      return {kNoField, 100};
    case Key("sr", 2):
      return {kNoField, 20};
    case Key("vp", 2):
      return {kNoField, 20};
    case Key("de", 2):
      return {kNoField, 20};
    case Key("sd", 2):
      return {kNoField, 20};
    case Key("ul", 2):
      return {kNoField, 20};
    case Key("an", 2):
      return {kNoField, 100};
    case Key("aid", 3):
      return {kNoField, 150};
    case Key("av", 2):
      return {kNoField, 100};
    case Key("aiid", 4):
      return {kNoField, 150};
    case Key("ti", 2):
      return {kNoField, 500};
    case Key("ta", 2):
      return {kNoField, 500};
    case Key("cu", 2):
      return {kNoField, 10};
    case Key("in", 2):
      return {kNoField, 500};
    case Key("ip", 2):
      return {kNoField, 500};
    case Key("iq", 2):
      return {kNoField, 500};
    case Key("ic", 2):
      return {kNoField, 500};
    case Key("iv", 2):
      return {kNoField, 500};
    case Key("sn", 2):
      return {kNoField, 50};
    case Key("sa", 2):
      return {kNoField, 50};
    case Key("st", 2):
      return {kNoField, 2048};
    case Key("utc", 3):
      return {kNoField, 150};
    case Key("utv", 3):
      return {kNoField, 500};
    case Key("utl", 3):
      return {kNoField, 500};
    case Key("exd", 3):
      return {kNoField, 150};
    default:  // cd<digits>: a custom dimension
      return {kNoField, static_cast<uint16_t>(size >= 3 && custom_digits ? 150 : 0)};
  }
}

// The Measurement Protocol v1 byte caps (as kernels/formats/ga_v1.cc), keys of <= 7 bytes: the
// fields the kernel decodes here, the others in ClassifyCheckedKey.
KeyClass ClassifyKey(uint64_t packed, uint32_t size, bool custom_digits) {
  if (size > 7) return {kNoField, 0};
  switch (packed | (uint64_t{size} << 56)) {
    case Key("v", 1):
      return {kV, 0};
    case Key("tid", 3):
      return {kTid, 0};
    case Key("cid", 3):
      return {kCid, 0};
    case Key("uid", 3):
      return {kUid, 0};
    case Key("t", 1):
      return {kT, 0};
    case Key("dl", 2):
      return {kDl, 2048};
    case Key("dh", 2):
      return {kDh, 100};
    case Key("dp", 2):
      return {kDp, 2048};
    case Key("cd", 2):
      return {kCd, 2048};
    case Key("ec", 2):
      return {kEc, 150};
    case Key("ea", 2):
      return {kEa, 500};
    case Key("qt", 2):
      return {kQt, 0};
    case Key("ni", 2):
      return {kNi, 0};
    case Key("ua", 2):
      return {kUa, 0};
    case Key("dr", 2):
      return {kDr, 2048};
    case Key("cn", 2):
      return {kCn, 100};
    case Key("cs", 2):
      return {kCs, 100};
    case Key("cm", 2):
      return {kCm, 50};
    default:
      return ClassifyCheckedKey(packed, size, custom_digits);
  }
}

// The hit type of a t value (the first 16 bytes packed, and its size).
uint8_t HitTypeOf(uint64_t lo, uint64_t hi, uint32_t size) {
  if (size == 8 && lo == Pack("pageview", 8)) return kCardPageview;
  if (size == 5 && lo == Pack("event", 5)) return kCardEvent;
  if (size == 10 && lo == Pack("screenvi", 8) && hi == Pack("ew", 2)) return kCardScreenview;
  if (size == 11 && lo == Pack("transact", 8) && hi == Pack("ion", 3)) return kCardTransaction;
  if (size == 4 && lo == Pack("item", 4)) return kCardItem;
  if (size == 6 && lo == Pack("social", 6)) return kCardSocial;
  if (size == 9 && lo == Pack("exceptio", 8) && hi == Pack("n", 1)) return kCardException;
  if (size == 6 && lo == Pack("timing", 6)) return kCardTiming;
  return kCardTypeUnknown;
}

uint8_t HexValue(uint8_t c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }

// The decoded output of one beacon, assembled a word at a time.
struct OutWord {
  uint32_t index;
  CardWord data;
  bool dirty;
};

void Flush(OutWord& o, hls::stream<DecodedWord>& out) {
  if (o.dirty) out.write({o.index, o.data, false});
  o.dirty = false;
}

void PutByte(OutWord& o, uint32_t pos, uint8_t d, hls::stream<DecodedWord>& out) {
  const uint32_t index = pos / kCardWordBytes;
  if (o.dirty && o.index != index) Flush(o, out);
  if (!o.dirty) {
    o.index = index;
    o.data = CardWord(0);
    o.dirty = true;
  }
  Put(o.data, static_cast<int>(pos % kCardWordBytes), 1, d);
}

// One hit being decoded. Offsets and sizes are in decoded bytes from the hit's start.
struct HitState {
  uint32_t start;  // byte offset of the decoded hit in `decoded`
  uint32_t raw_size;
  uint32_t size;  // decoded bytes so far
  bool bad_escape;
  uint8_t escape;  // 0: none, 1: after '%', 2: after '%' and one hex digit
  uint8_t escape_hi;
  uint8_t utf8_need;  // continuation bytes still expected, and the range of the next one
  uint8_t utf8_lo;
  uint8_t utf8_hi;
  bool utf8_bad;
  uint32_t pairs;
  bool too_long;
  // The pair being read.
  uint32_t pair_raw;
  bool in_value;
  uint32_t key_size;
  uint64_t key_packed;
  bool custom_digits;  // the key is "cd" then digits so far
  KeyClass key;
  uint32_t value_start;
  uint32_t value_size;
  uint8_t value_first;
  uint64_t value_lo;
  uint64_t value_hi;
  bool qt_ok;
  uint32_t qt;
  // First occurrences.
  uint32_t seen;
  uint16_t offset[kFieldCount];
  uint16_t length[kFieldCount];
  bool v_is_one;
  bool ni_is_one;
  uint8_t type;
  bool first_qt_ok;
  uint32_t first_qt;
};

void ResetPair(HitState& h) {
  h.pair_raw = 0;
  h.in_value = false;
  h.key_size = 0;
  h.key_packed = 0;
  h.custom_digits = true;
  h.value_start = h.size;
  h.value_size = 0;
  h.value_first = 0;
  h.value_lo = 0;
  h.value_hi = 0;
  h.qt_ok = true;
  h.qt = 0;
}

void BeginHit(HitState& h, uint32_t start) {
  h.start = start;
  h.raw_size = 0;
  h.size = 0;
  h.bad_escape = false;
  h.escape = 0;
  h.utf8_need = 0;
  h.utf8_bad = false;
  h.pairs = 0;
  h.too_long = false;
  h.seen = 0;
  h.v_is_one = false;
  h.ni_is_one = false;
  h.type = kCardTypeUnknown;
  h.first_qt_ok = true;
  h.first_qt = 0;
  ResetPair(h);
}

// RFC 3629 well-formedness, one decoded byte at a time (kernels/formats/utf8.cc's table).
void Utf8(HitState& h, uint8_t b) {
  if (h.utf8_need != 0) {
    if (b < h.utf8_lo || b > h.utf8_hi) h.utf8_bad = true;
    --h.utf8_need;
    h.utf8_lo = 0x80;
    h.utf8_hi = 0xBF;
    return;
  }
  h.utf8_lo = 0x80;
  h.utf8_hi = 0xBF;
  if (b < 0x80) return;
  if (b < 0xC2 || b >= 0xF5) {
    h.utf8_bad = true;
  } else if (b < 0xE0) {
    h.utf8_need = 1;
  } else if (b < 0xF0) {
    h.utf8_need = 2;
    if (b == 0xE0) h.utf8_lo = 0xA0;
    if (b == 0xED) h.utf8_hi = 0x9F;
  } else {
    h.utf8_need = 3;
    if (b == 0xF0) h.utf8_lo = 0x90;
    if (b == 0xF4) h.utf8_hi = 0x8F;
  }
}

// One decoded byte: to the output, through UTF-8, and into the key or value being read.
void Emit(HitState& h, OutWord& o, uint8_t d, bool content, hls::stream<DecodedWord>& out) {
  PutByte(o, h.start + h.size, d, out);
  ++h.size;
  Utf8(h, d);
  if (!content) return;
  if (!h.in_value) {
    const uint32_t i = h.key_size++;
    if (i < 7) h.key_packed |= uint64_t{d} << (8 * i);
    const bool digit = d >= '0' && d <= '9';
    h.custom_digits = h.custom_digits && (i == 0 ? d == 'c' : i == 1 ? d == 'd' : digit);
    return;
  }
  const uint32_t i = h.value_size++;
  if (i == 0) h.value_first = d;
  if (i < 8) h.value_lo |= uint64_t{d} << (8 * i);
  if (i >= 8 && i < 16) h.value_hi |= uint64_t{d} << (8 * (i - 8));
  if (d < '0' || d > '9') {
    h.qt_ok = false;
  } else if (h.qt_ok) {
    h.qt = h.qt * 10 + (d - '0');
    if (h.qt > kCardMaxQueueTimeMs) h.qt_ok = false;
  }
}

void EndPair(HitState& h) {
  if (h.pair_raw == 0) return;  // "&&": not a pair
  if (!h.in_value) {
    h.key = ClassifyKey(h.key_packed, h.key_size, h.custom_digits);
    h.value_start = h.size;
  }
  ++h.pairs;
  if (h.key.cap != 0 && h.value_size > h.key.cap) h.too_long = true;
  if (h.key.field == kNoField) return;
  const uint32_t bit = uint32_t{1} << h.key.field;
  if ((h.seen & bit) != 0) return;  // the first occurrence wins
  h.seen |= bit;
  h.offset[h.key.field] = static_cast<uint16_t>(h.value_start);
  h.length[h.key.field] = static_cast<uint16_t>(h.value_size > 0xFFFF ? 0xFFFF : h.value_size);
  if (h.key.field == kV) h.v_is_one = h.value_size == 1 && h.value_first == '1';
  if (h.key.field == kNi) h.ni_is_one = h.value_size == 1 && h.value_first == '1';
  if (h.key.field == kT) {
    h.type = h.value_size > 16 ? uint8_t{kCardTypeUnknown}
                               : HitTypeOf(h.value_lo, h.value_hi, h.value_size);
  }
  if (h.key.field == kQt) {
    h.first_qt_ok = h.qt_ok;
    h.first_qt = h.qt;
  }
}

// One raw byte of a hit: the escape and pair machines.
void FeedHit(HitState& h, OutWord& o, const ByteClass& b, hls::stream<DecodedWord>& out) {
  ++h.raw_size;
  if (h.bad_escape) return;  // the verdict is taken; only the size still matters
  if (h.escape != 0) {
    if (!b.hex) {
      h.bad_escape = true;
    } else if (h.escape == 1) {
      h.escape_hi = HexValue(b.c);
      h.escape = 2;
    } else {
      h.escape = 0;
      Emit(h, o, static_cast<uint8_t>((h.escape_hi << 4) | HexValue(b.c)), true, out);
    }
    return;
  }
  if (b.amp) {
    EndPair(h);
    Emit(h, o, '&', false, out);
    ResetPair(h);
    return;
  }
  ++h.pair_raw;
  if (b.pct) {
    h.escape = 1;
  } else if (b.eq && !h.in_value) {
    h.key = ClassifyKey(h.key_packed, h.key_size, h.custom_digits);
    Emit(h, o, '=', false, out);
    h.in_value = true;
    h.value_start = h.size;
  } else {
    Emit(h, o, b.plus ? ' ' : b.c, true, out);
  }
}

uint32_t Size(const HitState& h, uint8_t field) {
  return (h.seen >> field) & 1 ? h.length[field] : 0;
}

uint8_t PreStatus(const HitState& h) {
  if (h.raw_size > kCardMaxHitBytes) return kCardHitTooLarge;
  if (h.bad_escape) return kCardBadEscape;
  if (h.pairs == 0) return kCardEmpty;
  if (h.utf8_bad) return kCardInvalidUtf8;
  if (Size(h, kV) == 0) return kCardMissingVersion;
  if (!h.v_is_one) return kCardBadVersion;
  if (Size(h, kTid) == 0) return kCardMissingTrackingId;
  return kCardOk;
}

uint8_t PostStatus(const HitState& h) {
  if (Size(h, kCid) == 0 && Size(h, kUid) == 0) return kCardMissingClientId;
  if (Size(h, kT) == 0) return kCardMissingHitType;
  if (h.type == kCardTypeUnknown) return kCardUnknownHitType;
  if (h.type == kCardPageview && Size(h, kDl) == 0 && (Size(h, kDh) == 0 || Size(h, kDp) == 0)) {
    return kCardMissingPage;
  }
  if (h.type == kCardEvent && (Size(h, kEc) == 0 || Size(h, kEa) == 0)) {
    return kCardMissingEventFields;
  }
  if (h.too_long) return kCardFieldTooLong;
  if (Size(h, kQt) != 0 && !h.first_qt_ok) return kCardBadQueueTime;
  return kCardOk;
}

void PutSpan(CardWord& w, uint8_t span, const HitState& h, uint8_t field) {
  const bool seen = (h.seen >> field) & 1;
  Put(w, kRecordSpans + 4 * span, 2, seen ? h.offset[field] : 0);
  Put(w, kRecordSpans + 4 * span + 2, 2, seen ? h.length[field] : 0);
}

void EndHit(HitState& h, hls::stream<RecordWord>& records) {
  if (h.escape != 0) h.bad_escape = true;   // '%' with fewer than two bytes after it
  if (h.utf8_need != 0) h.utf8_bad = true;  // a truncated sequence at the end
  if (!h.bad_escape) EndPair(h);
  CardWord w(0);
  Put(w, kRecordKind, 1, kCardRecordHit);
  Put(w, kRecordPre, 1, PreStatus(h));
  Put(w, kRecordPost, 1, PostStatus(h));
  Put(w, kRecordType, 1, h.type);
  Put(w, kRecordFlags, 1, h.ni_is_one ? 1 : 0);
  Put(w, kRecordDecodedStart, 4, h.start);
  Put(w, kRecordQueueTime, 4, Size(h, kQt) != 0 ? h.first_qt : 0);
  PutSpan(w, kSpanTid, h, kTid);
  PutSpan(w, kSpanClientId, h, Size(h, kCid) != 0 ? uint8_t{kCid} : uint8_t{kUid});
  PutSpan(w, kSpanDl, h, kDl);
  PutSpan(w, kSpanDh, h, kDh);
  PutSpan(w, kSpanDp, h, kDp);
  PutSpan(w, kSpanCd, h, kCd);
  PutSpan(w, kSpanEa, h, kEa);
  PutSpan(w, kSpanUa, h, kUa);
  PutSpan(w, kSpanDr, h, kDr);
  PutSpan(w, kSpanCs, h, kCs);
  PutSpan(w, kSpanCm, h, kCm);
  PutSpan(w, kSpanCn, h, kCn);
  records.write({w, false});
}

// One beacon: its line split (batches) and limits, around the hit machine.
struct BeaconState {
  uint32_t remaining;  // payload bytes still to come
  uint8_t kind;
  uint32_t out_pos;  // where the next decoded hit starts
  bool too_large;    // a batch over kCardMaxBatchBytes: its hits are only counted
  bool pending_cr;   // a '\r' that is dropped if the line ends after it
  uint32_t line_raw;
  bool decoding;  // the current line is decoded (not only counted)
  uint32_t lines;
  uint32_t hits;
  uint32_t batch_too_large;
  uint32_t too_many;
};

void BeginBeacon(BeaconState& b, const CardWord& header, uint32_t first_payload_word) {
  b.remaining = static_cast<uint32_t>(Get(header, kHeaderBytes, 4));
  b.kind = static_cast<uint8_t>(Get(header, kHeaderKind, 1));
  b.out_pos = first_payload_word * kCardWordBytes;
  b.too_large = b.kind == kCardBatch && b.remaining > kCardMaxBatchBytes;
  b.pending_cr = false;
  b.line_raw = 0;
  b.decoding = false;
  b.lines = 0;
  b.hits = 0;
  b.batch_too_large = 0;
  b.too_many = 0;
}

void FeedLine(BeaconState& b, HitState& h, OutWord& o, const ByteClass& c,
              hls::stream<DecodedWord>& out) {
  if (b.line_raw++ == 0) {
    ++b.lines;
    b.decoding = false;
    if (b.too_large) {
      ++b.batch_too_large;
    } else if (b.lines > kCardMaxBatchHits) {
      ++b.too_many;
    } else {
      b.decoding = true;
      BeginHit(h, b.out_pos);
    }
  }
  if (b.decoding) FeedHit(h, o, c, out);
}

void EndLine(BeaconState& b, HitState& h, hls::stream<RecordWord>& records) {
  if (b.line_raw != 0 && b.decoding) {
    EndHit(h, records);
    ++b.hits;
    b.out_pos = h.start + h.size;
  }
  b.line_raw = 0;
}

constexpr ByteClass kCarriageReturn = {'\r', false, false, false, false, false, true, false};

void FeedBeacon(BeaconState& b, HitState& h, OutWord& o, const ByteClass& c,
                hls::stream<DecodedWord>& out, hls::stream<RecordWord>& records) {
  --b.remaining;
  if (b.kind != kCardBatch) {
    FeedHit(h, o, c, out);
    return;
  }
  if (c.nl) {
    b.pending_cr = false;  // one '\r' before the line end is dropped
    EndLine(b, h, records);
    return;
  }
  if (b.pending_cr) FeedLine(b, h, o, kCarriageReturn, out);
  b.pending_cr = c.cr;
  if (!c.cr) FeedLine(b, h, o, c, out);
}

void EndBeacon(BeaconState& b, HitState& h, OutWord& o, hls::stream<DecodedWord>& out,
               hls::stream<RecordWord>& records) {
  if (b.kind == kCardBatch) {
    EndLine(b, h, records);  // a '\r' still pending ends the last line: dropped
  } else {
    EndHit(h, records);
    b.hits = 1;
  }
  Flush(o, out);
  CardWord w(0);
  Put(w, kRecordKind, 1, kCardRecordBeaconEnd);
  Put(w, kRecordHits, 4, b.hits);
  Put(w, kRecordBatchTooLarge, 4, b.batch_too_large);
  Put(w, kRecordTooManyHits, 4, b.too_many);
  Put(w, kRecordEmptyPayload, 1, b.kind == kCardBatch && b.lines == 0 ? 1 : 0);
  records.write({w, false});
}

// ---------------------------------------------------------------- relay lines

// Where a datagram's bytes stand (kernels/formats/relay.cc's SyslogMessage and ParseRelayLine).
enum RelayPhase : uint8_t {
  kPriOpen,     // expects '<'
  kPriDigits,   // PRI digits, then '>'
  kRestFirst,   // first byte after "<PRI>": "1 " starts RFC 5424
  kRestOne,     // after a '1': a ' ' makes it RFC 5424
  kRfc3164,     // up to the first ": "
  kHeader,      // RFC 5424 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID
  kSdStart,     // '-' or '['
  kSdElement,   // inside "[...]"
  kSdEscape,    // after '\' inside an element
  kSdAfter,     // after ']': another '[' or the end of structured data
  kSdDone,      // ' ' before the message, or the end
  kBom,         // an optional UTF-8 BOM before the message
  kMessage,     // the relay log line
  kFrameFailed  // not a syslog frame: the rest is ignored
};

struct RelayState {
  uint8_t phase;
  uint8_t pri_digits;
  uint32_t pri;
  bool colon;  // the previous RFC 3164 byte was ':'
  uint8_t header_fields;
  uint32_t header_size;
  uint8_t bom;  // BOM bytes matched
  bool bad_format;
  uint8_t field;  // the log line's field being read, 0..8 (9: one too many)
  uint32_t version_size;
  bool version_ok;
  uint8_t escape;  // 0 none, 1 after '\', 2..5 "\u00XX" digits read + 2
  uint8_t escape_hi;
  uint32_t size;  // decoded bytes so far
  uint32_t start;
  uint16_t offset[kCardRelayFields];
  uint16_t length[kCardRelayFields];
};

constexpr char kRelayVersion[] = "beacon1";
constexpr uint32_t kRelayVersionSize = 7;
constexpr uint8_t kBomBytes[3] = {0xEF, 0xBB, 0xBF};

bool IsHexDigit(uint8_t c) {
  return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

void BeginRelay(RelayState& r, uint32_t start, uint32_t bytes) {
  r.phase = bytes > kCardMaxDatagramBytes ? uint8_t{kFrameFailed} : uint8_t{kPriOpen};
  r.pri_digits = 0;
  r.pri = 0;
  r.colon = false;
  r.header_fields = 0;
  r.header_size = 0;
  r.bom = 0;
  r.bad_format = false;
  r.field = 0;
  r.version_size = 0;
  r.version_ok = true;
  r.escape = 0;
  r.size = 0;
  r.start = start;
  r.offset[0] = 0;
}

void PutRelayByte(RelayState& r, OutWord& o, uint8_t d, hls::stream<DecodedWord>& out) {
  PutByte(o, r.start + r.size, d, out);
  ++r.size;
}

void EndRelayField(RelayState& r) {
  if (r.field == 0) {
    r.version_ok = r.version_ok && r.version_size == kRelayVersionSize;
  } else if (r.field < kCardRelayFields) {
    if (r.escape != 0) r.bad_format = true;  // an escape cut by the field's end
    r.length[r.field] = static_cast<uint16_t>(r.size - r.offset[r.field]);
  }
  r.escape = 0;
}

// The unescaping of kernels/formats/text.cc's UnescapeLogField, one byte at a time.
void Unescape(RelayState& r, OutWord& o, uint8_t d, hls::stream<DecodedWord>& out) {
  if (r.escape == 0) {
    if (d == '\\') {
      r.escape = 1;
    } else {
      PutRelayByte(r, o, d, out);
    }
    return;
  }
  if (r.escape == 1) {
    r.escape = 0;
    uint8_t value = d;
    if (d == 'b') value = '\b';
    if (d == 'f') value = '\f';
    if (d == 'n') value = '\n';
    if (d == 'r') value = '\r';
    if (d == 't') value = '\t';
    if (d == 'u') {
      r.escape = 2;
    } else if (d == '"' || d == '\\' || d == '/' || value != d) {
      PutRelayByte(r, o, value, out);
    } else {
      r.bad_format = true;
    }
    return;
  }
  if (r.escape <= 3) {  // "\u" is followed by "00"
    if (d != '0') r.bad_format = true;
    ++r.escape;
    return;
  }
  if (!IsHexDigit(d)) {
    r.bad_format = true;
    r.escape = 0;
  } else if (r.escape == 4) {
    r.escape_hi = HexValue(d);
    r.escape = 5;
  } else {
    r.escape = 0;
    PutRelayByte(r, o, static_cast<uint8_t>((r.escape_hi << 4) | HexValue(d)), out);
  }
}

// One byte of the log line: fields split on '\t', the version compared, the rest unescaped.
void MessageByte(RelayState& r, OutWord& o, uint8_t d, hls::stream<DecodedWord>& out) {
  if (r.bad_format) return;
  if (d == '\t') {
    EndRelayField(r);
    if (++r.field == kCardRelayFields) {
      r.bad_format = true;  // a tenth field
      return;
    }
    r.offset[r.field] = static_cast<uint16_t>(r.size);
    return;
  }
  if (r.field == 0) {
    r.version_ok = r.version_ok && r.version_size < kRelayVersionSize &&
                   d == static_cast<uint8_t>(kRelayVersion[r.version_size]);
    ++r.version_size;
    return;
  }
  Unescape(r, o, d, out);
}

// The framing, one byte at a time (one trailing '\n' is dropped by the caller).
void FrameByte(RelayState& r, OutWord& o, uint8_t c, hls::stream<DecodedWord>& out) {
  switch (r.phase) {
    case kPriOpen:
      r.phase = c == '<' ? kPriDigits : kFrameFailed;
      break;
    case kPriDigits:
      if (c >= '0' && c <= '9' && r.pri_digits < 3) {
        ++r.pri_digits;
        r.pri = r.pri * 10 + (c - '0');
      } else {
        r.phase = c == '>' && r.pri_digits > 0 && r.pri <= 191 ? kRestFirst : kFrameFailed;
      }
      break;
    case kRestFirst:
      r.phase = c == '1' ? kRestOne : kRfc3164;
      r.colon = c == ':';
      break;
    case kRestOne:
      if (c == ' ') {
        r.phase = kHeader;
      } else {
        r.phase = kRfc3164;
        r.colon = c == ':';
      }
      break;
    case kRfc3164:
      if (r.colon && c == ' ') r.phase = kMessage;
      r.colon = c == ':';
      break;
    case kHeader:
      if (c != ' ') {
        ++r.header_size;
      } else if (r.header_size == 0) {
        r.phase = kFrameFailed;
      } else {
        r.header_size = 0;
        if (++r.header_fields == 5) r.phase = kSdStart;
      }
      break;
    case kSdStart:
      r.phase = c == '-' ? kSdDone : c == '[' ? kSdElement : kFrameFailed;
      break;
    case kSdElement:
      if (c == '\\') r.phase = kSdEscape;
      if (c == ']') r.phase = kSdAfter;
      break;
    case kSdEscape:
      r.phase = kSdElement;
      break;
    case kSdAfter:
      r.phase = c == '[' ? kSdElement : c == ' ' ? kBom : kFrameFailed;
      break;
    case kSdDone:
      r.phase = c == ' ' ? kBom : kFrameFailed;
      break;
    case kBom:
      if (r.bom < 3 && c == kBomBytes[r.bom]) {
        if (++r.bom == 3) r.phase = kMessage;
        break;
      }
      for (uint8_t i = 0; i < 3; ++i) {
#pragma HLS UNROLL
        if (i < r.bom) MessageByte(r, o, kBomBytes[i], out);  // a partial BOM is message text
      }
      r.phase = kMessage;
      MessageByte(r, o, c, out);
      break;
    case kMessage:
      MessageByte(r, o, c, out);
      break;
    default:
      break;
  }
}

void EndRelay(RelayState& r, OutWord& o, hls::stream<DecodedWord>& out,
              hls::stream<RecordWord>& records) {
  // Framings that end early: empty structured data and message are a frame (its empty line
  // then has one field); anything else unfinished is not.
  if (r.phase == kSdAfter || r.phase == kSdDone) r.phase = kMessage;
  if (r.phase == kBom) {
    for (uint8_t i = 0; i < 3; ++i) {
#pragma HLS UNROLL
      if (i < r.bom) MessageByte(r, o, kBomBytes[i], out);
    }
    r.phase = kMessage;
  }
  uint8_t status = kCardRelayBadFrame;
  if (r.phase == kMessage) {
    if (!r.bad_format) EndRelayField(r);
    const bool ok = !r.bad_format && r.version_ok && r.field == kCardRelayFields - 1;
    status = ok ? kCardRelayOk : kCardRelayBadLogFormat;
  }
  Flush(o, out);
  CardWord w(0);
  Put(w, kRecordKind, 1, kCardRecordRelay);
  Put(w, kRecordPre, 1, status);
  Put(w, kRecordDecodedStart, 4, r.start);
  for (uint32_t f = 1; f < kCardRelayFields; ++f) {
#pragma HLS UNROLL
    const bool ok = status == kCardRelayOk;
    Put(w, kRecordSpans + 4 * static_cast<int>(f - 1), 2, ok ? r.offset[f] : 0);
    Put(w, kRecordSpans + 4 * static_cast<int>(f - 1) + 2, 2, ok ? r.length[f] : 0);
  }
  records.write({w, false});
}

// ---------------------------------------------------------------- DATAFLOW stages

void ReadWords(const CardWord* in, uint32_t in_words, hls::stream<CardWord>& words) {
  for (uint32_t i = 0; i < in_words; ++i) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = kCardMaxWords
#pragma HLS PIPELINE II = 1
    words.write(in[i]);
  }
}

// 64 bytes a cycle: each byte compared against the structural characters in parallel.
void ScanWords(hls::stream<CardWord>& words, uint32_t in_words, hls::stream<ScannedWord>& scanned) {
  for (uint32_t i = 0; i < in_words; ++i) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = kCardMaxWords
#pragma HLS PIPELINE II = 1
    ScannedWord s = {words.read(), 0, 0, 0, 0, 0, 0, 0};
    for (int j = 0; j < static_cast<int>(kCardWordBytes); ++j) {
#pragma HLS UNROLL
      const uint8_t c = static_cast<uint8_t>(Get(s.data, j, 1));
      const uint64_t bit = uint64_t{1} << j;
      const bool hex = (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
      if (c == '&') s.amp |= bit;
      if (c == '=') s.eq |= bit;
      if (c == '%') s.pct |= bit;
      if (c == '+') s.plus |= bit;
      if (c == '\n') s.nl |= bit;
      if (c == '\r') s.cr |= bit;
      if (hex) s.hex |= bit;
    }
    scanned.write(s);
  }
}

bool Bit(uint64_t mask, int j) { return ((mask >> j) & 1) != 0; }

ByteClass ClassOf(const ScannedWord& s, int j) {
  return {static_cast<uint8_t>(Get(s.data, j, 1)),
          Bit(s.amp, j),
          Bit(s.eq, j),
          Bit(s.pct, j),
          Bit(s.plus, j),
          Bit(s.nl, j),
          Bit(s.cr, j),
          Bit(s.hex, j)};
}

void EndAny(BeaconState& b, HitState& h, RelayState& r, OutWord& o, hls::stream<DecodedWord>& out,
            hls::stream<RecordWord>& records) {
  if (b.kind == kCardSyslog) {
    EndRelay(r, o, out, records);
  } else {
    EndBeacon(b, h, o, out, records);
  }
}

void DecodeWords(hls::stream<ScannedWord>& scanned, uint32_t in_words,
                 hls::stream<DecodedWord>& out, hls::stream<RecordWord>& records) {
  BeaconState b = {};
  HitState h = {};
  RelayState r = {};
  OutWord o = {0, CardWord(0), false};
  bool in_payload = false;
  for (uint32_t i = 0; i < in_words; ++i) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = kCardMaxWords
    const ScannedWord s = scanned.read();
    if (!in_payload) {
      BeginBeacon(b, s.data, i + 1);
      if (b.kind == kCardCollect) BeginHit(h, b.out_pos);
      if (b.kind == kCardSyslog) BeginRelay(r, b.out_pos, b.remaining);
      in_payload = b.remaining != 0;
      if (!in_payload) EndAny(b, h, r, o, out, records);
      continue;
    }
    for (int j = 0; j < static_cast<int>(kCardWordBytes); ++j) {
#pragma HLS PIPELINE II = 1
      if (b.remaining == 0) continue;
      const ByteClass c = ClassOf(s, j);
      if (b.kind != kCardSyslog) {
        FeedBeacon(b, h, o, c, out, records);
      } else if (--b.remaining != 0 || !c.nl || r.phase <= kPriDigits) {
        FrameByte(r, o, c.c, out);  // one '\n' ending the datagram is dropped (not in PRI)
      }
    }
    if (b.remaining == 0) {
      EndAny(b, h, r, o, out, records);
      in_payload = false;
    }
  }
  out.write({0, CardWord(0), true});
  records.write({CardWord(0), true});
}

// The decoded words, then the run end record above them; `done` then carries their count to
// WriteRecords.
void WriteDecoded(hls::stream<DecodedWord>& words, uint32_t in_words, uint64_t run_id,
                  CardWord* decoded, hls::stream<uint32_t>& done) {
  uint32_t n = 0;
  for (uint32_t i = 0; i <= kCardMaxWords; ++i) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = kCardMaxWords
#pragma HLS PIPELINE II = 1
    const DecodedWord w = words.read();
    if (w.last) break;
    decoded[w.index] = w.data;
    n = i + 1;
  }
  decoded[in_words] = CardRunWord(kCardRecordRunEnd, 0, 0, run_id);
  done.write(n);
}

// The records from kCardFirstRecord on, the run end record after them, and once `decoded` is
// written (the run record holds WriteDecoded's count), the run record: the run's last write.
void WriteRecords(hls::stream<RecordWord>& in, uint64_t run_id, CardWord* records,
                  hls::stream<uint32_t>& decoded_done) {
  uint32_t n = 0;
  for (uint32_t i = 0; i <= kCardMaxRecords; ++i) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = kCardMaxRecords
#pragma HLS PIPELINE II = 1
    const RecordWord r = in.read();
    if (r.last) break;
    records[kCardFirstRecord + i] = r.data;
    n = i + 1;
  }
  records[kCardFirstRecord + n] = CardRunWord(kCardRecordRunEnd, 0, 0, run_id);
  records[0] = CardRunWord(kCardRecordRun, n, decoded_done.read(), run_id);
}

}  // namespace
}  // namespace beacon::kernels

extern "C" void beacon_decode(const beacon::kernels::CardWord* in,
                              beacon::kernels::CardWord* decoded,
                              beacon::kernels::CardWord* records, uint32_t in_words,
                              uint64_t run_id) {
#pragma HLS INTERFACE m_axi port = in offset = slave bundle = gmem0 max_read_burst_length = 64
#pragma HLS INTERFACE m_axi port = decoded offset = slave bundle = gmem1
#pragma HLS INTERFACE m_axi port = records offset = slave bundle = gmem2
#pragma HLS INTERFACE s_axilite port = in
#pragma HLS INTERFACE s_axilite port = decoded
#pragma HLS INTERFACE s_axilite port = records
#pragma HLS INTERFACE s_axilite port = in_words
#pragma HLS INTERFACE s_axilite port = run_id
#pragma HLS INTERFACE s_axilite port = return
#pragma HLS DATAFLOW
  using namespace beacon::kernels;
  hls::stream<CardWord> words("words");
  hls::stream<ScannedWord> scanned("scanned");
  hls::stream<DecodedWord> decoded_words("decoded_words");
  hls::stream<RecordWord> record_words("record_words");
  hls::stream<uint32_t> decoded_done("decoded_done");
#pragma HLS STREAM variable = words depth = 64
#pragma HLS STREAM variable = scanned depth = 64
#pragma HLS STREAM variable = decoded_words depth = 64
#pragma HLS STREAM variable = record_words depth = 64
#pragma HLS STREAM variable = decoded_done depth = 1
  ReadWords(in, in_words, words);
  ScanWords(words, in_words, scanned);
  DecodeWords(scanned, in_words, decoded_words, record_words);
  WriteDecoded(decoded_words, in_words, run_id, decoded, decoded_done);
  WriteRecords(record_words, run_id, records, decoded_done);
}
