// beacon_decode on its own, through its buffer layout (kernels/hls/beacon_decode.h): records,
// decoded bytes, limits and reject verdicts of hand-written hits and relay datagrams. Built against
// the shim and, when present, against Xilinx's ap_int.h (the same expectations hold for both).
#include "kernels/hls/beacon_decode.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace beacon::kernels {
namespace {

uint64_t Field(const CardWord& w, int byte, int bytes) {
  return w.range(8 * (byte + bytes) - 1, 8 * byte).to_uint64();
}

struct Payload {
  CardPayloadKind kind;
  std::string bytes;
};

struct Hit {
  uint8_t pre, post, type, flags;
  uint32_t queue_time;
  std::vector<std::string> spans;
};

struct BeaconResult {
  std::vector<Hit> hits;
  uint32_t batch_too_large = 0, too_many = 0, empty = 0;
  uint8_t relay_status = 0xFF;  // relay datagrams: the CardRelayStatus, and fields 1..8
  std::vector<std::string> relay_fields;
};

constexpr uint64_t kRunId = 0x0123'4567'89AB'CDEF;

// The records of the beacons in the output of run kRunId, after checking its echo: in the run
// record (with the count of records), and in the run end records after the records and above
// the decoded words.
std::vector<CardWord> BeaconRecords(const std::vector<CardWord>& records,
                                    const std::vector<CardWord>& decoded, size_t beacons) {
  EXPECT_EQ(Field(records[0], kRecordKind, 1), kCardRecordRun);
  EXPECT_EQ(Field(records[0], kRecordRunId, 8), kRunId);
  EXPECT_LT(Field(records[0], kRecordRunDecoded, 4), decoded.size());
  const uint64_t count = Field(records[0], kRecordRunRecords, 4);
  EXPECT_GE(count, beacons);
  const size_t end = kCardFirstRecord + std::min<size_t>(count, records.size() - kCardRunRecords);
  for (const CardWord& w : {records[end], decoded.back()}) {
    EXPECT_EQ(Field(w, kRecordKind, 1), kCardRecordRunEnd);
    EXPECT_EQ(Field(w, kRecordRunId, 8), kRunId);
  }
  return std::vector<CardWord>(records.begin() + kCardFirstRecord, records.begin() + end);
}

// Packs `payloads`, runs the kernel, and reads its records back.
std::vector<BeaconResult> RunKernel(const std::vector<Payload>& payloads) {
  std::vector<CardWord> in;
  for (const Payload& p : payloads) {
    CardWord header(0);
    header.range(31, 0) = p.bytes.size();
    header.range(39, 32) = p.kind;
    in.push_back(header);
    for (size_t offset = 0; offset < p.bytes.size(); offset += kCardWordBytes) {
      CardWord w(0);
      for (size_t b = 0; b < kCardWordBytes && offset + b < p.bytes.size(); ++b) {
        w.range(static_cast<int>(8 * b + 7), static_cast<int>(8 * b)) =
            static_cast<uint8_t>(p.bytes[offset + b]);
      }
      in.push_back(w);
    }
  }
  std::vector<CardWord> decoded(in.size() + 1, CardWord(0));
  std::vector<CardWord> records(21 * payloads.size() + kCardRunRecords, CardWord(0));
  beacon_decode(in.data(), decoded.data(), records.data(), static_cast<uint32_t>(in.size()),
                kRunId);
  records = BeaconRecords(records, decoded, payloads.size());

  const auto byte_at = [&decoded](uint64_t pos) {
    return static_cast<char>(Field(decoded[pos / kCardWordBytes], pos % kCardWordBytes, 1));
  };
  std::vector<BeaconResult> results(1);
  for (const CardWord& r : records) {
    const uint64_t kind = Field(r, kRecordKind, 1);
    if (kind == kCardRecordBeaconEnd) {
      BeaconResult& b = results.back();
      EXPECT_EQ(Field(r, kRecordHits, 4), b.hits.size());
      b.batch_too_large = static_cast<uint32_t>(Field(r, kRecordBatchTooLarge, 4));
      b.too_many = static_cast<uint32_t>(Field(r, kRecordTooManyHits, 4));
      b.empty = static_cast<uint32_t>(Field(r, kRecordEmptyPayload, 1));
      if (results.size() == payloads.size()) break;
      results.emplace_back();
      continue;
    }
    const uint64_t start = Field(r, kRecordDecodedStart, 4);
    const auto span = [&](int s) {
      std::string value;
      const uint64_t offset = start + Field(r, kRecordSpans + 4 * s, 2);
      for (uint64_t i = 0; i < Field(r, kRecordSpans + 4 * s + 2, 2); ++i) {
        value += byte_at(offset + i);
      }
      return value;
    };
    if (kind == kCardRecordRelay) {
      BeaconResult& b = results.back();
      b.relay_status = static_cast<uint8_t>(Field(r, kRecordPre, 1));
      for (int f = 0; f < 8; ++f) b.relay_fields.push_back(span(f));
      if (results.size() == payloads.size()) break;
      results.emplace_back();
      continue;
    }
    EXPECT_EQ(kind, kCardRecordHit);
    Hit hit{static_cast<uint8_t>(Field(r, kRecordPre, 1)),
            static_cast<uint8_t>(Field(r, kRecordPost, 1)),
            static_cast<uint8_t>(Field(r, kRecordType, 1)),
            static_cast<uint8_t>(Field(r, kRecordFlags, 1)),
            static_cast<uint32_t>(Field(r, kRecordQueueTime, 4)),
            {}};
    for (int f = 0; f < kSpanCount; ++f) hit.spans.push_back(span(f));
    results.back().hits.push_back(hit);
  }
  return results;
}

TEST(GaDecodeKernelTest, DecodesAHitsValuesAndVerdicts) {
  const auto r =
      RunKernel({{kCardCollect,
                  "v=1&tid=UA-1-1&%63id=a%20b&t=event&ec=c&ea=x+y%C3%A9&qt=100&ni=1"
                  "&dl=https%3A%2F%2Fa.example%2Fp&tid=UA-2-2&ua=Mo+z&dr=r&cs=s&cm=m&cn=n"}});
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].hits.size(), 1u);
  const Hit& h = r[0].hits[0];
  EXPECT_EQ(h.pre, kCardOk);
  EXPECT_EQ(h.post, kCardOk);
  EXPECT_EQ(h.type, kCardEvent);
  EXPECT_EQ(h.flags, 1);
  EXPECT_EQ(h.queue_time, 100u);
  EXPECT_EQ(h.spans[kSpanTid], "UA-1-1");  // the first occurrence wins
  EXPECT_EQ(h.spans[kSpanClientId], "a b");
  EXPECT_EQ(h.spans[kSpanEa], "x y\xC3\xA9");
  EXPECT_EQ(h.spans[kSpanDl], "https://a.example/p");
  EXPECT_EQ(h.spans[kSpanUa], "Mo z");
  EXPECT_EQ(h.spans[kSpanDr] + h.spans[kSpanCs] + h.spans[kSpanCm] + h.spans[kSpanCn], "rsmn");
  EXPECT_EQ(h.spans[kSpanDp], "");
}

TEST(GaDecodeKernelTest, RejectsInTheReferenceOrder) {
  const std::string ok = "v=1&tid=UA-1-1&cid=1&t=pageview&dl=/x";
  const auto r = RunKernel({{kCardCollect, "a=%4"},
                            {kCardCollect, "a=%C3&b=%zz"},
                            {kCardCollect, "a=%C3"},
                            {kCardCollect, "&&&"},
                            {kCardCollect, ""},
                            {kCardCollect, "tid=x&v="},
                            {kCardCollect, "v=2&tid=x"},
                            {kCardCollect, "v=1&tid=&tid=UA-1-1"},
                            {kCardCollect, "v=1&tid=x&t=event"},
                            {kCardCollect, "v=1&tid=x&uid=u&t=pagevie"},
                            {kCardCollect, "v=1&tid=x&cid=c&t=pageview&dh=h"},
                            {kCardCollect, "v=1&tid=x&cid=c&t=event&ec=c"},
                            {kCardCollect, ok + "&dh=" + std::string(101, 'h')},
                            {kCardCollect, ok + "&qt=14400001"},
                            {kCardCollect, ok + "&qt=1x"},
                            {kCardCollect, ok + "&cd12=" + std::string(151, 'c')},
                            {kCardCollect, ok + "&cd123456=" + std::string(2000, 'c')},
                            {kCardCollect, ok + "&z=" + std::string(8192 - ok.size() - 3, 'z')},
                            {kCardCollect, ok + "&z=" + std::string(8192 - ok.size() - 2, 'z')}});
  const std::vector<std::pair<uint8_t, uint8_t>> expected = {
      {kCardBadEscape, kCardMissingClientId},
      {kCardBadEscape, kCardMissingClientId},
      {kCardInvalidUtf8, kCardMissingClientId},
      {kCardEmpty, kCardMissingClientId},
      {kCardEmpty, kCardMissingClientId},
      {kCardMissingVersion, kCardMissingClientId},
      {kCardBadVersion, kCardMissingClientId},
      {kCardMissingTrackingId, kCardMissingClientId},
      {kCardOk, kCardMissingClientId},
      {kCardOk, kCardUnknownHitType},
      {kCardOk, kCardMissingPage},
      {kCardOk, kCardMissingEventFields},
      {kCardOk, kCardFieldTooLong},
      {kCardOk, kCardBadQueueTime},
      {kCardOk, kCardBadQueueTime},
      {kCardOk, kCardFieldTooLong},
      {kCardOk, kCardOk},  // keys over 7 bytes have no cap
      {kCardOk, kCardOk},  // 8192 bytes: inclusive
      {kCardHitTooLarge, kCardOk}};
  ASSERT_EQ(r.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_EQ(r[i].hits.size(), 1u) << i;
    EXPECT_EQ(r[i].hits[0].pre, expected[i].first) << i;
    if (expected[i].first == kCardOk) {
      EXPECT_EQ(r[i].hits[0].post, expected[i].second) << i;
    }
  }
}

TEST(GaDecodeKernelTest, SplitsBatchesIntoLinesWithTheirLimits) {
  std::string lines;
  for (int i = 0; i < 22; ++i) lines += "v=1&tid=UA-1-1&cid=" + std::to_string(i) + "\r\n";
  std::string huge;
  while (huge.size() <= kCardMaxBatchBytes) huge += "v=1&tid=x\n\n";
  const auto r = RunKernel({{kCardBatch, "v=1&tid=a\r\n\r\n\nv=2\r\r"},
                            {kCardBatch, lines},
                            {kCardBatch, huge},
                            {kCardBatch, "\n\r\n\r"},
                            {kCardBatch, "&\n"}});
  ASSERT_EQ(r.size(), 5u);
  ASSERT_EQ(r[0].hits.size(), 2u);
  EXPECT_EQ(r[0].hits[0].spans[kSpanTid], "a");  // the '\r' before the line end is dropped
  EXPECT_EQ(r[0].hits[1].pre, kCardBadVersion);  // "v=2\r": one '\r' dropped, one kept
  ASSERT_EQ(r[1].hits.size(), kCardMaxBatchHits);
  EXPECT_EQ(r[1].hits[19].spans[kSpanClientId], "19");
  EXPECT_EQ(r[1].too_many, 2u);
  EXPECT_EQ(r[2].hits.size(), 0u);
  EXPECT_GT(r[2].batch_too_large, 1000u);
  EXPECT_EQ(r[3].hits.size(), 0u);
  EXPECT_EQ(r[3].empty, 1u);
  ASSERT_EQ(r[4].hits.size(), 1u);
  EXPECT_EQ(r[4].hits[0].pre, kCardEmpty);
  EXPECT_EQ(r[4].empty, 0u);
}

TEST(RelayDecodeKernelTest, FramesSplitsAndUnescapesRelayLines) {
  const std::string line =
      "beacon1\t1700000000.123\t10.0.0.1\tPOST\t\\/api\\/event\tMo\\u00e9z\t-\tDE\t"
      "{\\\"n\\\":\\\"x\\\"}\\n";
  const auto r = RunKernel({{kCardSyslog, "<190>Nov 14 22:15:23 proxy1 beacon: " + line + "\n"},
                            {kCardSyslog,
                             "<134>1 2023-11-14T22:15:23Z h app 77 - [a b=\"x\\]\"][c] "
                             "\xEF\xBB\xBF" +
                                 line},
                            {kCardSyslog, "<1>1 t h a p m - \xEF\xBB" + line},
                            {kCardSyslog, "<192>x: " + line},
                            {kCardSyslog, "<1234>x: " + line},
                            {kCardSyslog, "<13>1 t h a p - " + line},
                            {kCardSyslog, "<13>1 t  h a p m - " + line},
                            {kCardSyslog, "<13>no colon space"},
                            {kCardSyslog, "<13>x: beacon2\t1\t2\t3\t4\t5\t6\t7\t8"},
                            {kCardSyslog, "<13>x: beacon1\t1\t2\t3\t4\t5\t6\t7"},
                            {kCardSyslog, "<13>x: beacon1\t1\t2\t3\t4\t5\t6\t7\t8\t9"},
                            {kCardSyslog, "<13>x: beacon1\t1\t2\t3\t4\t5\t6\t7\t8\\u00"},
                            {kCardSyslog, "<13>x: beacon1\t1\t2\t3\t4\t5\t6\t7\t8\\x"},
                            {kCardSyslog, "<13>1 t h a p m [x]"}});
  ASSERT_EQ(r.size(), 14u);
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(r[i].relay_status, kCardRelayOk) << i;
    EXPECT_EQ(r[i].relay_fields[0], "1700000000.123");
    EXPECT_EQ(r[i].relay_fields[3], "/api/event");
    EXPECT_EQ(r[i].relay_fields[4], "Mo\xE9z");
    EXPECT_EQ(r[i].relay_fields[7], "{\"n\":\"x\"}\n");  // the datagram's own '\n' dropped
  }
  const std::vector<uint8_t> expected = {
      kCardRelayOk,           kCardRelayOk,           kCardRelayBadLogFormat,  // a partial BOM
      kCardRelayBadFrame,     kCardRelayBadFrame,     kCardRelayBadFrame,
      kCardRelayBadFrame,     kCardRelayBadFrame,     kCardRelayBadLogFormat,
      kCardRelayBadLogFormat, kCardRelayBadLogFormat, kCardRelayBadLogFormat,
      kCardRelayBadLogFormat, kCardRelayBadLogFormat};
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(r[i].relay_status, expected[i]) << i;
}

}  // namespace
}  // namespace beacon::kernels
