// The decoders' steady state allocates nothing, with the scalar reference and with every
// supported Highway target: this binary counts every operator new.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernels/decode.h"
#include "kernels/event_batch.h"
#include "kernels/raw_batch.h"
#include "kernels/reject_reason.h"
#include "kernels/simd/byte_kernels.h"
#include "kernels/site_registry.h"
#include "tests/unit/kernels/formats/allocation_count.h"

namespace beacon::kernels {
namespace {

constexpr int64_t kNowMs = 1'700'000'000'000;
const std::string kUa = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";

// Decodes `raw` twice with `bytes` (nullptr: the reference); the second decode must allocate
// nothing and give the first one's rows and rejects again.
void ExpectSecondDecodeAllocatesNothing(const SiteRegistry& sites, const RawBatch& raw,
                                        const ByteKernels* bytes, size_t expected_rows,
                                        uint64_t expected_rejects) {
  RejectCounters rejects;
  const DecodeContext ctx{&sites, &rejects, 42, {kNowMs / 86'400'000, 7, 8}, bytes};
  EventBatch events;
  DecodeBatch(raw, ctx, &events);
  ASSERT_EQ(events.size(), expected_rows);
  ASSERT_EQ(rejects.Total(), expected_rejects);
  events.Clear();

  const size_t before = AllocationCount();
  DecodeBatch(raw, ctx, &events);
  EXPECT_EQ(AllocationCount() - before, 0u);
  EXPECT_EQ(events.size(), expected_rows);
  EXPECT_EQ(rejects.Total(), 2 * expected_rejects);
}

// Runs `check` with the reference, the scalar table and every supported SIMD target forced.
template <typename Check>
void ForEveryBackend(Check check) {
  {
    SCOPED_TRACE("reference (nullptr)");
    check(nullptr);
  }
  const ByteKernels scalar = ScalarByteKernels();
  {
    SCOPED_TRACE("scalar table");
    check(&scalar);
  }
  for (const SimdTarget& target : SupportedSimdTargets()) {
    SCOPED_TRACE(target.name);
    ForceSimdTargetForTest(target.bits);
    const ByteKernels simd = SimdByteKernels();
    check(&simd);
  }
  ForceSimdTargetForTest(0);
}

TEST(GaV1AllocationTest, SecondDecodeOfABatchAllocatesNothing) {
  const SiteRegistry sites =
      SiteRegistry::Parse("1 shop UA-1000-1 shop.example,*.shop.example\n2 blog UA-2000-1 *\n");
  RawBatch raw;
  const std::string pageview =
      "v=1&tid=UA-1000-1&cid=1.2&t=pageview&dl=https%3A%2F%2Fwww.shop.example%2Fa%3Fb%3Dc"
      "&dt=Caf%C3%A9+%E2%80%93+Shop&ul=en-us&z=123";
  const std::string event = "v=1&tid=UA-2000-1&uid=u7&t=event&ec=Video&ea=play&el=x%20y&qt=5000";
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(raw.Add(Endpoint::kGaCollect, IngressKind::kHttp, i % 3 ? pageview : event, kUa,
                        IpAddress::FromV4(0x7F000001), kNowMs));
  }
  ASSERT_TRUE(raw.Add(Endpoint::kGaBatch, IngressKind::kHttp,
                      pageview + "\n" + event + "\nv=2\n" + pageview + "&ua=Googlebot\n", kUa,
                      IpAddress::FromV4(0x7F000001), kNowMs));
  ForEveryBackend([&](const ByteKernels* bytes) {
    ExpectSecondDecodeAllocatesNothing(sites, raw, bytes, 202, 2);
  });
}

TEST(FormatsAllocationTest, SecondDecodeOfEveryFormatAllocatesNothing) {
  const SiteRegistry sites = SiteRegistry::Parse(
      "1 shop UA-1000-1,G-SHOP1,shop.example,shopapp shop.example api_secrets=s3cret\n");
  const std::string relayed = "beacon1\t1700000000.000\t192.168.0.1\tPOST\t/api/event\t" + kUa +
                              "\t-\tDE\t{\"n\":\"pageview\",\"u\":\"https://shop.example/r\","
                              "\"d\":\"shop.example\"}";
  RawBatch raw;
  const IpAddress ip = IpAddress::FromV4(0x7F000001);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(raw.Add(Endpoint::kGa4Gtag, IngressKind::kHttp, "en=scroll\r\nen=click&ep.x=%C3%A9",
                        kUa, ip, kNowMs,
                        "v=2&tid=G-SHOP1&cid=1.2&dl=https%3A%2F%2Fshop.example%2Fp&en=page_view"));
    ASSERT_TRUE(raw.Add(Endpoint::kGa4Mp, IngressKind::kHttp,
                        R"({"client_id":"1.2","events":[{"name":"login"}]})", "python", ip, kNowMs,
                        "measurement_id=G-SHOP1&api_secret=s3cret"));
    ASSERT_TRUE(
        raw.Add(Endpoint::kPlausibleEvent, IngressKind::kHttp,
                R"({"name":"pageview","url":"https://shop.example/a","domain":"shop.example"})",
                kUa, ip, kNowMs));
    ASSERT_TRUE(raw.Add(Endpoint::kSnowplowGet, IngressKind::kHttp,
                        "e=pv&url=https%3A%2F%2Fshop.example%2Fh&tv=js-3&p=web&aid=shopapp&duid=d",
                        kUa, ip, kNowMs));
    ASSERT_TRUE(
        raw.Add(Endpoint::kSnowplowPost, IngressKind::kHttp,
                R"({"schema":"iglu:com.snowplowanalytics.snowplow/payload_data/)"
                R"(jsonschema/1-0-4","data":[{"e":"se","tv":"js","p":"web",)"
                R"("aid":"shopapp","se_ca":"c","se_ac":"a","url":"https://shop.example/s"}]})",
                kUa, ip, kNowMs));
    ASSERT_TRUE(raw.Add(Endpoint::kUdpSyslog, IngressKind::kUdpRelay,
                        "<190>Nov 14 22:13:20 proxy beacon: " + relayed, "", ip, kNowMs));
  }
  ForEveryBackend([&](const ByteKernels* bytes) {
    // gtag: two body lines, two rows; one row for every other beacon.
    ExpectSecondDecodeAllocatesNothing(sites, raw, bytes, 20 * 7, 0);
  });
}

}  // namespace
}  // namespace beacon::kernels
