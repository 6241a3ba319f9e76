// The card decode (beacon_decode's C-simulation and the host half around it) against the
// scalar reference and the SIMD kernels on the same batches: every EventBatch column, the arena
// and every reject counter identical, on realistic beacons of every endpoint (the formats the
// card does not decode go through the host's kernels in beacon order), adversarial inputs at
// every offset and limit, and seeded random mutations.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "host/backend/fpga_decode.h"
#include "host/backend/fpga_device.h"
#include "kernels/decode.h"
#include "kernels/event_batch.h"
#include "kernels/raw_batch.h"
#include "kernels/reject_reason.h"
#include "kernels/simd/byte_kernels.h"
#include "kernels/site_registry.h"
#include "tests/unit/kernels/decode_inputs.h"

namespace beacon::host {
namespace {

using kernels::decode_inputs::Input;
using kernels::decode_inputs::kNowMs;

struct Decoded {
  kernels::EventBatch events;
  std::array<uint64_t, kernels::kRejectReasonCount> rejects{};
  bool operator==(const Decoded&) const = default;
};

enum class Path { kScalar, kSimd, kCard };

// inputs[begin, end) as one batch, or as many of them as fit; *end is set to the first left out.
kernels::RawBatch Batch(const std::vector<Input>& inputs, size_t begin, size_t* end) {
  kernels::RawBatch raw;
  for (size_t i = begin; i < *end; ++i) {
    const Input& in = inputs[i];
    if (!raw.Add(in.endpoint, kernels::IngressKind::kHttp, in.payload, in.user_agent,
                 kernels::IpAddress::FromV4(0xC0A80001 + static_cast<uint32_t>(i)), kNowMs,
                 in.query)) {
      EXPECT_GT(i, begin) << "input " << i << " fits in no batch";
      *end = i;
      break;
    }
  }
  return raw;
}

// `corrupt`, when given, changes the card's records before the host reads them (a failing
// card), and *card_ok is then CardResults::Decode's answer.
Decoded Decode(const kernels::SiteRegistry& sites, const kernels::RawBatch& raw, Path path,
               const std::function<void(kernels::CardWord* records)>& corrupt = {},
               bool* card_ok = nullptr) {
  Decoded out;
  kernels::RejectCounters rejects;
  const kernels::ByteKernels simd = kernels::SimdByteKernels();
  const kernels::DecodeContext ctx{
      &sites,
      &rejects,
      0x5eed'1234'abcd'0042,
      {kNowMs / 86'400'000, 0x1111'2222'3333'4444, 0x5555'6666'7777'8888},
      path == Path::kScalar ? nullptr : &simd};
  if (path == Path::kCard) {
    CardBuffers buffers(raw.payload_bytes() + 2 * kernels::kCardWordBytes * raw.size());
    EXPECT_TRUE(buffers.Append(raw));
    buffers.run_id = 1;
    CsimDevice device;
    EXPECT_TRUE(device.Start(1, &buffers));
    const auto finished = device.Wait(std::chrono::microseconds(0));
    EXPECT_TRUE(finished.has_value() && finished->ok);
    if (corrupt) corrupt(buffers.records.data());
    CardResults results(buffers);
    const bool ok = results.Decode(raw, ctx, &out.events);
    if (card_ok != nullptr) {
      *card_ok = ok;
    } else {
      EXPECT_TRUE(ok);
    }
  } else {
    kernels::DecodeBatch(raw, ctx, &out.events);
  }
  for (size_t r = 0; r < kernels::kRejectReasonCount; ++r) {
    out.rejects[r] = rejects.Get(static_cast<kernels::RejectReason>(r));
  }
  return out;
}

struct Totals {
  size_t rows = 0;
  uint64_t rejects = 0;
  size_t card_beacons = 0;
};

// Chunks of `inputs` (one RawBatch each) through the three paths; names the first differing input.
Totals ExpectCardIdentical(const kernels::SiteRegistry& sites, const std::vector<Input>& inputs) {
  constexpr size_t kChunk = 64;
  Totals totals;
  for (size_t begin = 0, end = 0; begin < inputs.size(); begin = end) {
    end = std::min(inputs.size(), begin + kChunk);
    const kernels::RawBatch raw = Batch(inputs, begin, &end);
    const Decoded ref = Decode(sites, raw, Path::kScalar);
    totals.rows += ref.events.size();
    for (const uint64_t n : ref.rejects) totals.rejects += n;
    for (size_t i = begin; i < end; ++i) totals.card_beacons += CardDecodes(inputs[i].endpoint);
    EXPECT_TRUE(ref == Decode(sites, raw, Path::kSimd));
    if (ref == Decode(sites, raw, Path::kCard)) continue;
    for (size_t i = begin; i < end; ++i) {
      size_t next = i + 1;
      const kernels::RawBatch one = Batch(inputs, i, &next);
      if (Decode(sites, one, Path::kScalar) == Decode(sites, one, Path::kCard)) continue;
      ADD_FAILURE() << "the card differs from the reference on "
                    << kernels::decode_inputs::EndpointName(inputs[i].endpoint) << " input " << i
                    << ": payload \"" << kernels::decode_inputs::Printable(inputs[i].payload)
                    << "\"";
      return totals;
    }
    ADD_FAILURE() << "chunk at " << begin << " differs only as a whole";
  }
  // For the record (ctest --output-junit, or --gtest_output=xml): what was compared.
  testing::Test::RecordProperty("inputs", std::to_string(inputs.size()));
  testing::Test::RecordProperty("card_beacons", std::to_string(totals.card_beacons));
  testing::Test::RecordProperty("rows", std::to_string(totals.rows));
  testing::Test::RecordProperty("rejects", std::to_string(totals.rejects));
  return totals;
}

class FpgaDecodeTest : public testing::Test {
 protected:
  kernels::SiteRegistry sites_ =
      kernels::SiteRegistry::Parse(kernels::decode_inputs::RegistryText());
};

TEST_F(FpgaDecodeTest, RealisticBeaconsOfEveryFormat) {
  const Totals totals =
      ExpectCardIdentical(sites_, kernels::decode_inputs::RealisticInputs(sites_, 11));
  EXPECT_GT(totals.card_beacons, 1000u);
  EXPECT_GT(totals.rows, 5000u);
}

TEST_F(FpgaDecodeTest, AdversarialInputs) {
  const Totals totals = ExpectCardIdentical(sites_, kernels::decode_inputs::AdversarialInputs());
  EXPECT_GT(totals.rows, 100u);
  EXPECT_GT(totals.rejects, 1000u);
}

TEST_F(FpgaDecodeTest, SeededRandomMutations) {
  const std::vector<Input> realistic = kernels::decode_inputs::RealisticInputs(sites_, 23);
  kernels::decode_inputs::Gen g(0xf96a);
  std::vector<Input> mutants;
  for (int i = 0; i < 6000; ++i) {
    Input in = realistic[g.Below(realistic.size())];
    in.payload = kernels::decode_inputs::Mutate(g, in.payload);
    mutants.push_back(std::move(in));
  }
  const Totals totals = ExpectCardIdentical(sites_, mutants);
  EXPECT_GT(totals.rows, 500u);
  EXPECT_GT(totals.rejects, 500u);
}

// A u32 field of a record.
void SetField(kernels::CardWord& w, int byte, uint32_t value) {
  w.range(8 * (byte + 4) - 1, 8 * byte) = value;
}

// Records whose values no card run can give are refused (the batch then decodes on the host,
// FpgaBatcher) before anything is counted or appended: a count field that would add billions of
// rejects, a queue time past the protocol's limit (a row days away from its beacon's minute).
TEST_F(FpgaDecodeTest, RecordsNoRunCanGiveAreRefused) {
  const std::string hit = "v=1&tid=G-ANY1&cid=1.2&t=pageview&dl=https%3A%2F%2Fany.example%2Fa";
  kernels::RawBatch raw;
  ASSERT_TRUE(raw.Add(kernels::Endpoint::kGaCollect, kernels::IngressKind::kHttp, hit + "&qt=5",
                      kernels::decode_inputs::kBrowserUa, kernels::IpAddress::FromV4(1), kNowMs));
  ASSERT_TRUE(raw.Add(kernels::Endpoint::kGaBatch, kernels::IngressKind::kHttp, hit + "\n" + hit,
                      kernels::decode_inputs::kBrowserUa, kernels::IpAddress::FromV4(2), kNowMs));
  // Records from 1 on: the /collect's hit and end, the /batch's two hits and end.
  ASSERT_EQ(Decode(sites_, raw, Path::kCard).events.size(), 3u);
  const std::vector<std::pair<const char*, std::function<void(kernels::CardWord*)>>> faults = {
      {"a count of billions",
       [](kernels::CardWord* r) { SetField(r[5], kernels::kRecordTooManyHits, 0xFFFF'FFFF); }},
      {"a queue time past the limit",
       [](kernels::CardWord* r) { SetField(r[1], kernels::kRecordQueueTime, 0xFFFF'FFFF); }},
  };
  for (const auto& [what, corrupt] : faults) {
    bool ok = true;
    const Decoded out = Decode(sites_, raw, Path::kCard, corrupt, &ok);
    EXPECT_FALSE(ok) << what;
    EXPECT_TRUE(out == Decoded{}) << what << ": counted or appended before the refusal";
  }
}

// A run's output is told from an earlier run's by the run id the kernel echoes: buffers whose run
// record, run end record or decoded run end record carries another id, or whose run record counts
// more records than the packed beacons can give, are refused before anything is counted.
TEST_F(FpgaDecodeTest, OutputOfAnotherRunIsRefused) {
  kernels::RawBatch raw;
  ASSERT_TRUE(raw.Add(kernels::Endpoint::kGaCollect, kernels::IngressKind::kHttp,
                      "v=1&tid=G-ANY1&cid=1.2&t=pageview&dl=https%3A%2F%2Fany.example%2Fa",
                      kernels::decode_inputs::kBrowserUa, kernels::IpAddress::FromV4(1), kNowMs));
  CardBuffers buffers(1 << 20);
  ASSERT_TRUE(buffers.Append(raw));
  buffers.run_id = 7;
  CsimDevice device;
  ASSERT_TRUE(device.Start(7, &buffers));
  kernels::RejectCounters rejects;
  const kernels::ByteKernels simd = kernels::SimdByteKernels();
  const kernels::DecodeContext ctx{&sites_, &rejects, 1, {kNowMs / 86'400'000, 2, 3}, &simd};
  const auto decodes = [&] {
    CardResults results(buffers);
    kernels::EventBatch events;
    const bool ok = results.Decode(raw, ctx, &events);
    EXPECT_EQ(ok, results.fresh());
    EXPECT_EQ(events.size(), ok ? 1u : 0u);
    return ok;
  };
  ASSERT_TRUE(decodes());
  buffers.run_id = 8;  // the output is run 7's, not the next run's
  EXPECT_FALSE(decodes());
  buffers.run_id = 7;
  // The run record, the run end record after the hit and end records, the decoded run end.
  for (kernels::CardWord* w : {&buffers.records.data()[0], &buffers.records.data()[3],
                               &buffers.decoded.data()[buffers.in_words]}) {
    const kernels::CardWord saved = *w;
    w->range(8 * kernels::kRecordRunId + 7, 8 * kernels::kRecordRunId) = 6;
    EXPECT_FALSE(decodes());
    *w = saved;
  }
  SetField(buffers.records.data()[0], kernels::kRecordRunRecords,
           static_cast<uint32_t>(buffers.record_words + 1));
  EXPECT_FALSE(decodes());
}

}  // namespace
}  // namespace beacon::host
