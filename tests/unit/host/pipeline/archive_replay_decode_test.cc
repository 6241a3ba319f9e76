// Decoding beacons from their raw-archive records (ArchiveRecordOf, a real block written and
// read back, AddArchivedRecord) gives exactly what the live decode gave: every EventBatch
// column and every reject count, for every format's corpus, with no salt at replay time.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "host/pipeline/archive_record.h"
#include "kernels/archive/block_codec.h"
#include "kernels/decode.h"
#include "kernels/event_batch.h"
#include "kernels/raw_batch.h"
#include "kernels/reject_reason.h"
#include "kernels/site_registry.h"
#include "kernels/visitor.h"
#include "tests/unit/kernels/decode_inputs.h"

namespace beacon::host {
namespace {

using kernels::Endpoint;
using kernels::RawBatch;
using kernels::decode_inputs::Input;
using kernels::decode_inputs::kNowMs;

constexpr kernels::VisitorSalts kSalts{kNowMs / 86'400'000, 0x1111'2222'3333'4444,
                                       0x5555'6666'7777'8888};
constexpr size_t kChunk = 64;

struct Decoded {
  kernels::EventBatch events;
  std::array<uint64_t, kernels::kRejectReasonCount> rejects{};
  bool operator==(const Decoded&) const = default;
};

Decoded Decode(const RawBatch& raw, const kernels::SiteRegistry& sites,
               const kernels::VisitorSalts& salts) {
  Decoded out;
  kernels::RejectCounters rejects;
  const kernels::DecodeContext ctx{&sites, &rejects, 0x5eed'1234'abcd'0042, salts};
  kernels::DecodeBatch(raw, ctx, &out.events);
  for (size_t r = 0; r < kernels::kRejectReasonCount; ++r) {
    out.rejects[r] = rejects.Get(static_cast<kernels::RejectReason>(r));
  }
  return out;
}

kernels::IpAddress ClientOf(size_t i) {
  if (i % 3 != 0) return kernels::IpAddress::FromV4(0xC0A80001 + static_cast<uint32_t>(i % 500));
  kernels::IpAddress v6;
  v6.bytes = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, static_cast<uint8_t>(i)};
  return v6;
}

// Inputs [begin, end) as one live batch (fewer when the arena is full); returns the end taken.
size_t LiveBatch(const std::vector<Input>& inputs, size_t begin, size_t end, RawBatch* raw) {
  raw->Clear();
  size_t i = begin;
  const auto kind = [](Endpoint e) {
    return e == Endpoint::kUdpHitBatch || e == Endpoint::kUdpSyslog
               ? kernels::IngressKind::kUdpRelay
               : kernels::IngressKind::kHttp;
  };
  while (i < end && raw->Add(inputs[i].endpoint, kind(inputs[i].endpoint), inputs[i].payload,
                             inputs[i].user_agent, ClientOf(i), kNowMs, inputs[i].query,
                             static_cast<uint16_t>(i % 7))) {
    ++i;
  }
  return i;
}

// `live` through the archive: records, one block encoded and decoded, the records re-batched.
void ArchivedBatch(const RawBatch& live, const kernels::VisitorSalts& salts, RawBatch* out) {
  kernels::BlockEncoder encoder(1);
  std::string scratch;
  for (size_t i = 0; i < live.size(); ++i) {
    ASSERT_EQ(encoder.Add(ArchiveRecordOf(live, i, salts, &scratch)), kernels::ArchiveError::kOk);
  }
  std::string block;
  encoder.Finish(1, &block);
  kernels::BlockDecoder decoder;
  ASSERT_EQ(decoder.Decode(block), kernels::ArchiveError::kOk);
  out->Clear();
  for (const kernels::ArchiveRecord& record : decoder.records()) {
    ASSERT_TRUE(IsBeaconRecord(record));
    ASSERT_TRUE(AddArchivedRecord(record, out));
  }
}

// Live and archived decodes of `inputs` in chunks; names the first input that differs. Returns
// the rows and rejects seen, so that a test shows its corpus exercised both.
std::pair<size_t, uint64_t> ExpectReplayEqualsLive(const std::vector<Input>& inputs,
                                                   const kernels::VisitorSalts& salts) {
  const kernels::SiteRegistry sites =
      kernels::SiteRegistry::Parse(kernels::decode_inputs::RegistryText());
  RawBatch live;
  RawBatch archived;
  size_t rows = 0;
  uint64_t rejects = 0;
  for (size_t begin = 0; begin < inputs.size();) {
    const size_t end = LiveBatch(inputs, begin, std::min(inputs.size(), begin + kChunk), &live);
    if (end == begin) {
      ADD_FAILURE() << "input " << begin << " does not fit a batch";
      break;
    }
    ArchivedBatch(live, salts, &archived);
    const Decoded want = Decode(live, sites, salts);
    rows += want.events.size();
    for (const uint64_t n : want.rejects) rejects += n;
    // Replay runs after the salts are gone: the records carry all a visitor needs.
    if (Decode(archived, sites, {}) != want) {
      for (size_t i = begin; i < end; ++i) {
        LiveBatch(inputs, i, i + 1, &live);
        ArchivedBatch(live, salts, &archived);
        if (Decode(archived, sites, {}) != Decode(live, sites, salts)) {
          ADD_FAILURE() << kernels::decode_inputs::EndpointName(inputs[i].endpoint) << " input "
                        << i << " decodes otherwise from its record: payload \""
                        << kernels::decode_inputs::Printable(inputs[i].payload) << "\"";
          break;
        }
      }
    }
    begin = end;
  }
  return {rows, rejects};
}

// Beacons whose visitor comes from the address: no client id, Snowplow's own `ua` (per event
// of a POST), relay lines of every kind, and relay lines the decoder refuses.
std::vector<Input> AddressDerivedInputs() {
  const std::string sp = "tv=js&p=web&aid=shopapp&url=https%3A%2F%2Fshop.example%2Fa";
  const std::string ua_a = "Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0";
  const std::string ua_b = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1";
  const std::string post =
      R"({"schema":"iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4","data":[)"
      R"({"e":"pv","url":"https://shop.example/","tv":"js","p":"web","aid":"shopapp","ua":")" +
      ua_a +
      R"("},{"e":"pv","url":"https://shop.example/b","tv":"js","p":"web","aid":"shopapp"},)"
      R"({"e":"se","se_ac":"play","url":"https://shop.example/c","tv":"js","p":"web","aid":"shopapp","ua":")" +
      ua_b + R"("}]})";
  const std::string line_tail = "\thttps://ref.example/\tDE\t";
  const auto relay = [&](const std::string& ip, const std::string& request,
                         const std::string& body) {
    return Input{Endpoint::kUdpSyslog,
                 "<190>Nov 14 22:15:23 proxy1 beacon: beacon1\t1700000100.000\t" + ip + "\t" +
                     request + "\t" + ua_a + line_tail + body + "\n",
                 {},
                 ""};
  };
  const kernels::SiteRegistry sites =
      kernels::SiteRegistry::Parse(kernels::decode_inputs::RegistryText());
  const std::string ga_host = sites.FindByTrackingId("UA-100001-1")->name + ".example";
  const std::string plausible =
      R"({"name":"pageview","url":"https://shop.example/p","domain":"shop.example"})";
  std::vector<Input> in = {
      {Endpoint::kSnowplowGet, "e=pv&" + sp + "&ua=" + ua_a, {}},
      {Endpoint::kSnowplowGet, "e=pv&" + sp, {}},
      {Endpoint::kSnowplowPost, post, {}},
      {Endpoint::kPlausibleEvent, plausible, {}},
      {Endpoint::kGa4Gtag, "", "v=2&tid=G-SHOP1&en=page_view&dl=https%3A%2F%2Fshop.example%2F"},
      relay("10.0.0.7", "GET\t/i?e=pv&" + sp + "&ua=" + ua_b, "-"),
      relay("2001:db8::9", "GET\t/i?e=pv&" + sp, "-"),
      relay("10.0.0.8", "POST\t/com.snowplowanalytics.snowplow/tp2", post),
      relay("10.0.0.9", "POST\t/api/event", plausible),
      relay("not-an-ip", "POST\t/api/event", plausible),
      relay("10.0.0.9", "POST\t/api/event", "\\q"),
      relay("10.0.0.9", "PUT\t/api/event", plausible),
      {Endpoint::kUdpSyslog,
       "<190>Nov 14 22:15:23 proxy1 beacon: beacon1\t1700000100.000\t1.2.3.4",
       {},
       ""},
      {Endpoint::kUdpSyslog, "<190>Nov 14 22:15:23 proxy1 beacon: ", {}, ""},
      {Endpoint::kUdpSyslog, "no frame\t1.2.3.4", {}, ""},
      {Endpoint::kUdpSyslog,
       "<190>Nov 14 22:15:23 proxy1 beacon: " + std::string(70'000, 'x'),
       {},
       ""},
      {Endpoint::kUdpHitBatch,
       "v=1&tid=UA-100001-1&cid=1.2&t=pageview&dl=https%3A%2F%2F" + ga_host + "%2F\n",
       {},
       ""},
  };
  std::vector<Input> repeated;
  for (int r = 0; r < 4; ++r) repeated.insert(repeated.end(), in.begin(), in.end());
  return repeated;
}

TEST(ArchiveReplayDecodeTest, RealisticBeaconsOfEveryFormat) {
  const kernels::SiteRegistry sites =
      kernels::SiteRegistry::Parse(kernels::decode_inputs::RegistryText());
  const std::vector<Input> inputs = kernels::decode_inputs::RealisticInputs(sites, 11);
  for (const Endpoint e : kernels::decode_inputs::kEndpoints) {
    SCOPED_TRACE(kernels::decode_inputs::EndpointName(e));
    std::vector<Input> of_endpoint;
    std::copy_if(inputs.begin(), inputs.end(), std::back_inserter(of_endpoint),
                 [e](const Input& in) { return in.endpoint == e; });
    EXPECT_GE(of_endpoint.size(), 50u);
    EXPECT_GT(ExpectReplayEqualsLive(of_endpoint, kSalts).first, of_endpoint.size() / 2);
  }
}

TEST(ArchiveReplayDecodeTest, VisitorsFromTheAddressAndRefusedRelayLines) {
  const auto [rows, rejects] = ExpectReplayEqualsLive(AddressDerivedInputs(), kSalts);
  EXPECT_EQ(rows, 4u * 14);
  EXPECT_EQ(rejects, 4u * 7);
}

TEST(ArchiveReplayDecodeTest, WithoutASaltBothRejectTheSameBeaconsAsStale) {
  const auto [rows, rejects] = ExpectReplayEqualsLive(AddressDerivedInputs(), {});
  EXPECT_EQ(rejects, 4u * (7 + 13));  // every beacon without a client id: stale_salt
  EXPECT_EQ(rows, 4u);                // the hit batch's client id
}

// A relay line stamped up to a minute ahead of its arrival, across UTC midnight, decoded before
// the salts rotate: its address hash takes the salt of the arrival day, live and in the record
// alike (before, both refused it as stale_salt, having no salt for the line's day).
TEST(ArchiveReplayDecodeTest, ARelayLineStampedAheadAcrossMidnightIsKeptAndReplaysAlike) {
  const kernels::SiteRegistry sites =
      kernels::SiteRegistry::Parse(kernels::decode_inputs::RegistryText());
  const int64_t day = kNowMs / 86'400'000;
  const int64_t midnight = (day + 1) * 86'400'000;
  const kernels::VisitorSalts salts{day, 0x1111'2222'3333'4444, 0x5555'6666'7777'8888};
  const std::string line =
      "<190>Nov 14 23:59:50 proxy1 beacon: beacon1\t" + std::to_string((midnight + 20'000) / 1000) +
      ".000\t10.0.0.9\tPOST\t/api/event\tMozilla/5.0 (X11; Linux x86_64) Firefox/121.0\t-\tDE\t"
      R"({"name":"pageview","url":"https://shop.example/p","domain":"shop.example"})";
  RawBatch live;
  ASSERT_TRUE(live.Add(Endpoint::kUdpSyslog, kernels::IngressKind::kUdpRelay, line, "",
                       kernels::IpAddress::FromV4(0x7F000001), midnight - 10'000));
  RawBatch archived;
  ArchivedBatch(live, salts, &archived);
  const Decoded want = Decode(live, sites, salts);
  EXPECT_EQ(want.events.size(), 1u);
  EXPECT_EQ(want.rejects[static_cast<size_t>(kernels::RejectReason::kStaleSalt)], 0u);
  EXPECT_TRUE(Decode(archived, sites, {}) == want);
}

TEST(ArchiveReplayDecodeTest, AdversarialInputsAndMutations) {
  ExpectReplayEqualsLive(kernels::decode_inputs::AdversarialInputs(), kSalts);
  const kernels::SiteRegistry sites =
      kernels::SiteRegistry::Parse(kernels::decode_inputs::RegistryText());
  const std::vector<Input> realistic = kernels::decode_inputs::RealisticInputs(sites, 23);
  kernels::decode_inputs::Gen g(0xa5c1);
  std::vector<Input> mutants;
  for (int i = 0; i < 3000; ++i) {
    Input in = realistic[g.Below(realistic.size())];
    in.payload = kernels::decode_inputs::Mutate(g, in.payload);
    mutants.push_back(std::move(in));
  }
  const auto [rows, rejects] = ExpectReplayEqualsLive(mutants, kSalts);
  EXPECT_GT(rows, 300u);
  EXPECT_GT(rejects, 300u);
}

}  // namespace
}  // namespace beacon::host
