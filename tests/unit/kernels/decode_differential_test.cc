// DecodeBatch with the scalar reference against every supported Highway target (forced), for
// every endpoint: bit-identical event batches (every column and the arena) and identical reject
// counters on realistic beacons (beacon-gen's GA v1 traffic model, small generators for the
// other formats), adversarial inputs and seeded random mutations.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/decode.h"
#include "kernels/event_batch.h"
#include "kernels/raw_batch.h"
#include "kernels/reject_reason.h"
#include "kernels/simd/byte_kernels.h"
#include "kernels/site_registry.h"
#include "tests/unit/kernels/decode_inputs.h"

namespace beacon::kernels {
namespace {

using namespace decode_inputs;  // NOLINT: the shared inputs, as if defined here

// ---- Decoding and comparison ------------------------------------------------------------

struct Decoded {
  EventBatch events;
  std::array<uint64_t, kRejectReasonCount> rejects{};
};

Decoded DecodeAll(const SiteRegistry& sites, const std::vector<Input>& inputs, size_t begin,
                  size_t end, const ByteKernels* bytes) {
  Decoded out;
  RejectCounters rejects;
  const DecodeContext ctx{&sites,
                          &rejects,
                          0x5eed'1234'abcd'0042,
                          {kNowMs / 86'400'000, 0x1111'2222'3333'4444, 0x5555'6666'7777'8888},
                          bytes};
  RawBatch raw;
  for (size_t i = begin; i < end; ++i) {
    const Input& in = inputs[i];
    if (!raw.Add(in.endpoint, IngressKind::kHttp, in.payload, in.user_agent,
                 IpAddress::FromV4(0xC0A80001 + static_cast<uint32_t>(i)), kNowMs, in.query)) {
      DecodeBatch(raw, ctx, &out.events);
      raw.Clear();
      EXPECT_TRUE(raw.Add(in.endpoint, IngressKind::kHttp, in.payload, in.user_agent,
                          IpAddress::FromV4(0xC0A80001 + static_cast<uint32_t>(i)), kNowMs,
                          in.query));
    }
  }
  DecodeBatch(raw, ctx, &out.events);
  for (size_t r = 0; r < kRejectReasonCount; ++r) {
    out.rejects[r] = rejects.Get(static_cast<RejectReason>(r));
  }
  return out;
}

bool Identical(const Decoded& a, const Decoded& b) {
  return a.events == b.events && a.rejects == b.rejects;
}

struct Totals {
  size_t rows = 0;
  uint64_t rejects = 0;
};

// Decodes `inputs` in chunks with the reference and with every supported SIMD target, expects
// identical results, and names the first differing input of a differing chunk.
Totals ExpectIdenticalOnEveryTarget(const SiteRegistry& sites, const std::vector<Input>& inputs) {
  constexpr size_t kChunk = 64;
  const std::vector<SimdTarget> targets = SupportedSimdTargets();
  EXPECT_GE(targets.size(), 2u) << "expected a vector target besides the scalar fallback";
  Totals totals;
  for (size_t begin = 0; begin < inputs.size(); begin += kChunk) {
    const size_t end = std::min(inputs.size(), begin + kChunk);
    const Decoded ref = DecodeAll(sites, inputs, begin, end, nullptr);
    totals.rows += ref.events.size();
    for (const uint64_t n : ref.rejects) totals.rejects += n;
    for (const SimdTarget& target : targets) {
      ForceSimdTargetForTest(target.bits);
      const ByteKernels simd = SimdByteKernels();
      if (Identical(ref, DecodeAll(sites, inputs, begin, end, &simd))) continue;
      for (size_t i = begin; i < end; ++i) {
        if (!Identical(DecodeAll(sites, inputs, i, i + 1, nullptr),
                       DecodeAll(sites, inputs, i, i + 1, &simd))) {
          ADD_FAILURE() << "target " << target.name << " differs from the reference on "
                        << EndpointName(inputs[i].endpoint) << " input " << i << ": payload \""
                        << Printable(inputs[i].payload) << "\" query \""
                        << Printable(inputs[i].query) << "\"";
          break;
        }
      }
    }
    ForceSimdTargetForTest(0);
  }
  return totals;
}

class DecodeDifferentialTest : public ::testing::Test {
 protected:
  SiteRegistry sites_ = SiteRegistry::Parse(RegistryText());
};

TEST_F(DecodeDifferentialTest, RealisticBeaconsOfEveryFormat) {
  const std::vector<Input> inputs = RealisticInputs(sites_, 11);
  for (const Endpoint e : kEndpoints) {
    SCOPED_TRACE(EndpointName(e));
    std::vector<Input> of_endpoint;
    std::copy_if(inputs.begin(), inputs.end(), std::back_inserter(of_endpoint),
                 [e](const Input& in) { return in.endpoint == e; });
    EXPECT_GE(of_endpoint.size(), 50u);
    const Totals totals = ExpectIdenticalOnEveryTarget(sites_, of_endpoint);
    // Realistic traffic is mostly accepted: the comparison covers the row-building paths.
    EXPECT_GT(totals.rows, of_endpoint.size() / 2);
  }
}

TEST_F(DecodeDifferentialTest, AdversarialInputs) {
  const std::vector<Input> inputs = AdversarialInputs();
  const Totals totals = ExpectIdenticalOnEveryTarget(sites_, inputs);
  EXPECT_GT(totals.rows, 100u);
  EXPECT_GT(totals.rejects, 1000u);
}

TEST_F(DecodeDifferentialTest, SeededRandomMutations) {
  const std::vector<Input> realistic = RealisticInputs(sites_, 23);
  Gen g(0xd1ff);
  std::vector<Input> mutants;
  for (int i = 0; i < 6000; ++i) {
    Input in = realistic[g.Below(realistic.size())];
    if (g.Chance(0.8) || in.query.empty()) {
      in.payload = Mutate(g, in.payload);
    } else {
      in.query = Mutate(g, in.query);
    }
    mutants.push_back(std::move(in));
  }
  const Totals totals = ExpectIdenticalOnEveryTarget(sites_, mutants);
  EXPECT_GT(totals.rows, 500u);
  EXPECT_GT(totals.rejects, 500u);
}

// The comparison is sensitive: a table whose split_form passes invalid UTF-8 is caught.
TEST_F(DecodeDifferentialTest, ATableThatDiffersIsCaught) {
  ByteKernels lenient = ScalarByteKernels();
  lenient.split_form = [](std::string_view hit, char* out, FormSeparators separators) {
    FormScan scan = ScalarByteKernels().split_form(hit, out, separators);
    scan.utf8_ok = true;
    return scan;
  };
  const std::vector<Input> inputs = AdversarialInputs();
  EXPECT_FALSE(Identical(DecodeAll(sites_, inputs, 0, inputs.size(), nullptr),
                         DecodeAll(sites_, inputs, 0, inputs.size(), &lenient)));
}

}  // namespace
}  // namespace beacon::kernels
