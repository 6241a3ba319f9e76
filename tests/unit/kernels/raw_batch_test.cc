// RawBatch: copies, padding, capacity.
#include "kernels/raw_batch.h"

#include <gtest/gtest.h>

#include <string>

namespace beacon::kernels {
namespace {

TEST(RawBatchTest, CopiesPayloadsAndPadsThemWithZeros) {
  RawBatch batch;
  std::string payload = "v=1&t=pageview";
  ASSERT_TRUE(batch.Add(Endpoint::kGaCollect, IngressKind::kHttp, payload, "UA/1",
                        IpAddress::FromV4(0x7f000001), 1234));
  payload[0] = 'X';  // the batch holds its own copy
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch.payload(0), "v=1&t=pageview");
  EXPECT_EQ(batch.user_agent(0), "UA/1");
  EXPECT_EQ(batch.receive_time_ms(0), 1234);
  EXPECT_EQ(batch.payload_bytes(), 14u);
  const char* end = batch.payload(0).data() + batch.payload(0).size();
  for (size_t i = 0; i < kPayloadPadding; ++i) EXPECT_EQ(end[i], '\0') << i;
}

TEST(RawBatchTest, RefusesBeyondBeaconCountAndArena) {
  RawBatch batch;
  for (size_t i = 0; i < kMaxBatchBeacons; ++i) {
    ASSERT_TRUE(batch.Add(Endpoint::kGaCollect, IngressKind::kHttp, "x", "", {}, 0));
  }
  EXPECT_FALSE(batch.Add(Endpoint::kGaCollect, IngressKind::kHttp, "x", "", {}, 0));
  batch.Clear();
  EXPECT_TRUE(batch.empty());
  EXPECT_EQ(batch.payload_bytes(), 0u);
  const std::string big(kBatchArenaBytes / 2, 'a');
  EXPECT_TRUE(batch.Add(Endpoint::kGaBatch, IngressKind::kHttp, big, "", {}, 0));
  EXPECT_FALSE(batch.Add(Endpoint::kGaBatch, IngressKind::kHttp, big, "", {}, 0));
  EXPECT_EQ(batch.size(), 1u);
}

TEST(RawBatchTest, InPlacePayloadsAreReferencedBesideCopiedOnes) {
  std::string buffer = "v=1&t=event" + std::string(kPayloadPadding, '\0');
  const std::string_view in_place(buffer.data(), 11);
  RawBatch batch;
  ASSERT_TRUE(batch.Add(Endpoint::kUdpSyslog, IngressKind::kUdpRelay, "copied", "", {}, 1));
  ASSERT_TRUE(batch.AddInPlace(Endpoint::kUdpHitBatch, IngressKind::kUdpRelay, in_place,
                               IpAddress::FromV4(0x0a000001), 2));
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch.payload(0), "copied");
  EXPECT_EQ(batch.payload(1).data(), buffer.data());  // not copied
  EXPECT_EQ(batch.payload(1), "v=1&t=event");
  EXPECT_EQ(batch.endpoint(1), Endpoint::kUdpHitBatch);
  EXPECT_EQ(batch.source(1).bytes, IpAddress::FromV4(0x0a000001).bytes);
  EXPECT_EQ(batch.receive_time_ms(1), 2);
  EXPECT_TRUE(batch.user_agent(1).empty());
  EXPECT_TRUE(batch.query(1).empty());
  EXPECT_FALSE(batch.archived(1));
  EXPECT_EQ(batch.payload_bytes(), 6u + 11u);
  // A copy of the batch references the same bytes; copied payloads move with the arena.
  const RawBatch copy = batch;
  EXPECT_EQ(copy.payload(1).data(), buffer.data());
  EXPECT_EQ(copy.payload(0), "copied");
  batch.Clear();
  for (size_t i = 0; i < kMaxBatchBeacons; ++i) {
    ASSERT_TRUE(batch.AddInPlace(Endpoint::kUdpHitBatch, IngressKind::kUdpRelay, in_place, {}, 0));
  }
  EXPECT_FALSE(batch.AddInPlace(Endpoint::kUdpHitBatch, IngressKind::kUdpRelay, in_place, {}, 0));
  EXPECT_EQ(batch.payload(kMaxBatchBeacons - 1), "v=1&t=event");
}

TEST(IpAddressTest, V4IsMapped) {
  const IpAddress ip = IpAddress::FromV4(0xc6120001);  // 198.18.0.1
  EXPECT_TRUE(ip.is_v4());
  EXPECT_EQ(ip.bytes[12], 198);
  EXPECT_EQ(ip.bytes[15], 1);
  IpAddress v6;
  v6.bytes[0] = 0x20;
  EXPECT_FALSE(v6.is_v4());
}

}  // namespace
}  // namespace beacon::kernels
