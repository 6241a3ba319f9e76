// The decoder's steady state allocates nothing: this binary counts every operator new.
#include <gtest/gtest.h>

#include <string>

#include "kernels/decode.h"
#include "kernels/event_batch.h"
#include "kernels/raw_batch.h"
#include "kernels/reject_reason.h"
#include "kernels/site_registry.h"
#include "tests/unit/kernels/formats/allocation_count.h"

namespace beacon::kernels {
namespace {

TEST(GaV1AllocationTest, SecondDecodeOfABatchAllocatesNothing) {
  const SiteRegistry sites =
      SiteRegistry::Parse("1 shop UA-1000-1 shop.example,*.shop.example\n2 blog UA-2000-1 *\n");
  RejectCounters rejects;
  const DecodeContext ctx{&sites, &rejects, 42, {}};
  RawBatch raw;
  const std::string ua = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";
  const std::string pageview =
      "v=1&tid=UA-1000-1&cid=1.2&t=pageview&dl=https%3A%2F%2Fwww.shop.example%2Fa%3Fb%3Dc"
      "&dt=Caf%C3%A9+%E2%80%93+Shop&ul=en-us&z=123";
  const std::string event = "v=1&tid=UA-2000-1&uid=u7&t=event&ec=Video&ea=play&el=x%20y&qt=5000";
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(raw.Add(Endpoint::kGaCollect, IngressKind::kHttp, i % 3 ? pageview : event, ua,
                        IpAddress::FromV4(0x7F000001), 1'700'000'000'000));
  }
  ASSERT_TRUE(raw.Add(Endpoint::kGaBatch, IngressKind::kHttp,
                      pageview + "\n" + event + "\nv=2\n" + pageview + "&ua=Googlebot\n", ua,
                      IpAddress::FromV4(0x7F000001), 1'700'000'000'000));
  EventBatch events;
  DecodeBatch(raw, ctx, &events);
  const size_t accepted = events.size();
  ASSERT_EQ(accepted, 202u);
  events.Clear();

  const size_t before = AllocationCount();
  DecodeBatch(raw, ctx, &events);
  EXPECT_EQ(AllocationCount() - before, 0u);
  EXPECT_EQ(events.size(), accepted);
  EXPECT_EQ(rejects.Total(), 4u);
}

}  // namespace
}  // namespace beacon::kernels
