// ParseFrame on frames built by beacon-gen's pcap writer: every accepted shape (IPv4, IPv6,
// VLAN, QinQ, NIC checksum verdicts) and every rejected class under its own outcome. No EAL.
#include "dpdk/frame_parser.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <set>
#include <string>

#include "bench/gen/pcap_writer.h"
#include "kernels/simd/byte_kernels.h"

namespace beacon::dpdk {
namespace {

const std::vector<kernels::BeaconPort> kPorts = {{5140, kernels::Endpoint::kUdpHitBatch},
                                                 {5514, kernels::Endpoint::kUdpSyslog}};

bench::UdpDatagram Datagram(bool ipv6, std::vector<uint16_t> vlans = {}) {
  bench::UdpDatagram d;
  d.ipv6 = ipv6;
  if (ipv6) {
    d.source = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34};
    d.destination = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  } else {
    d.source = {198, 18, 3, 4};
    d.destination = {198, 19, 0, 1};
  }
  d.vlans = std::move(vlans);
  d.payload = "v=1&t=pageview&tid=UA-100001-1&cid=1.2&dp=%2Fhome";
  return d;
}

ParsedFrame Parse(const std::string& frame, FrameChecks checks = {}) {
  return ParseFrame(reinterpret_cast<const uint8_t*>(frame.data()), frame.size(), checks, kPorts);
}

std::string_view Payload(const std::string& frame, const ParsedFrame& parsed) {
  return std::string_view(frame).substr(parsed.payload_offset, parsed.payload_size);
}

TEST(FrameParserTest, AcceptsIpv4AndIpv6UdpToBeaconPorts) {
  for (const bool ipv6 : {false, true}) {
    bench::UdpDatagram d = Datagram(ipv6);
    d.destination_port = 5514;
    const std::string frame = bench::UdpFrame(d);
    const ParsedFrame parsed = Parse(frame);
    ASSERT_EQ(parsed.outcome, FrameOutcome::kBeaconDatagram) << "ipv6=" << ipv6;
    EXPECT_EQ(Payload(frame, parsed), d.payload);
    EXPECT_EQ(parsed.endpoint, kernels::Endpoint::kUdpSyslog);
    EXPECT_EQ(parsed.ipv6, ipv6);
    EXPECT_EQ(parsed.source.is_v4(), !ipv6);
  }
  const ParsedFrame v4 = Parse(bench::UdpFrame(Datagram(false)));
  EXPECT_EQ(v4.source.bytes[12], 198);
  EXPECT_EQ(v4.source.bytes[15], 4);
  EXPECT_EQ(v4.endpoint, kernels::Endpoint::kUdpHitBatch);
  EXPECT_EQ(Parse(bench::UdpFrame(Datagram(true))).source.bytes[15], 0x34);
}

TEST(FrameParserTest, AcceptsVlanAndQinQTags) {
  for (const auto& vlans : {std::vector<uint16_t>{7}, std::vector<uint16_t>{100, 7}}) {
    const std::string frame = bench::UdpFrame(Datagram(false, vlans));
    const ParsedFrame parsed = Parse(frame);
    ASSERT_EQ(parsed.outcome, FrameOutcome::kBeaconDatagram);
    EXPECT_EQ(parsed.l2_len, 14 + 4 * vlans.size());
    EXPECT_EQ(Payload(frame, parsed), Datagram(false).payload);
  }
}

TEST(FrameParserTest, AcceptsIpv4WithoutUdpChecksumButNotIpv6) {
  for (const bool ipv6 : {false, true}) {
    std::string frame = bench::UdpFrame(Datagram(ipv6));
    const size_t udp_checksum = 14 + (ipv6 ? 40 : 20) + 6;
    frame[udp_checksum] = 0;
    frame[udp_checksum + 1] = 0;
    EXPECT_EQ(Parse(frame).outcome,
              ipv6 ? FrameOutcome::kBadUdpChecksum : FrameOutcome::kBeaconDatagram);
  }
}

// The software UDP checksum over every payload length and byte value class: each correct
// sum holds, and any one changed payload byte breaks it.
// With the reference sum and with this CPU's best Highway one (ByteKernels::internet_sum), against
// the checksums beacon-gen's frame writer computes on its own.
TEST(FrameParserTest, UdpChecksumHoldsForEveryLengthAndFailsOnAnyChangedByte) {
  for (const auto sum : {&kernels::InternetSum, kernels::SimdByteKernels().internet_sum}) {
    const FrameChecks software{ChecksumVerdict::kUnknown, ChecksumVerdict::kUnknown, sum};
    for (const bool ipv6 : {false, true}) {
      for (size_t length = 1; length <= 300; ++length) {
        bench::UdpDatagram d = Datagram(ipv6);
        d.payload.resize(length);
        for (size_t i = 0; i < length; ++i) {
          d.payload[i] = static_cast<char>((i * 131 + length * 7) % 256);
        }
        std::string frame = bench::UdpFrame(d);
        const ParsedFrame parsed = Parse(frame, software);
        ASSERT_EQ(parsed.outcome, FrameOutcome::kBeaconDatagram)
            << "ipv6=" << ipv6 << " length " << length;
        for (const size_t at : {size_t{0}, length / 2, length - 1}) {
          std::string changed = frame;
          changed[parsed.payload_offset + at] ^= 0x01;
          EXPECT_EQ(Parse(changed, software).outcome, FrameOutcome::kBadUdpChecksum)
              << "ipv6=" << ipv6 << " length " << length << " byte " << at;
        }
      }
    }
  }
}

TEST(FrameParserTest, NicVerdictsOverrideSoftwareChecks) {
  const std::string good = bench::UdpFrame(Datagram(false));
  EXPECT_EQ(Parse(good, {ChecksumVerdict::kBad, ChecksumVerdict::kUnknown}).outcome,
            FrameOutcome::kBadIpChecksum);
  EXPECT_EQ(Parse(good, {ChecksumVerdict::kGood, ChecksumVerdict::kBad}).outcome,
            FrameOutcome::kBadUdpChecksum);
  // A frame the NIC vouched for is not checked again (a reassembled datagram's zero sum).
  const std::string bad_ip = bench::MalformedFrame("bad_ip_checksum", Datagram(false));
  EXPECT_EQ(Parse(bad_ip, {ChecksumVerdict::kGood, ChecksumVerdict::kUnknown}).outcome,
            FrameOutcome::kBeaconDatagram);
}

TEST(FrameParserTest, FragmentsGoToReassemblyWithTheirHeaderLengths) {
  for (const bool ipv6 : {false, true}) {
    bench::UdpDatagram d = Datagram(ipv6, {5});
    d.payload = std::string(900, 'a');
    const auto fragments = bench::FragmentFrames(d, 304, 77);
    ASSERT_EQ(fragments.size(), 3u);
    for (const std::string& f : fragments) {
      const ParsedFrame parsed = Parse(f);
      EXPECT_EQ(parsed.outcome, FrameOutcome::kFragment);
      EXPECT_EQ(parsed.l2_len, 18);
      EXPECT_EQ(parsed.l3_len, ipv6 ? 40 : 20);
      EXPECT_EQ(parsed.source.bytes[15], d.source[ipv6 ? 15 : 3]);  // for the source filter
    }
  }
}

// RFC 6946: an IPv6 fragment header with offset 0 and M clear (an atomic fragment, e.g. from a
// SIIT translator or after a Packet Too Big below 1280) is the whole datagram: parsed as if
// the header were not there, never handed to reassembly (which would hold it until timeout).
TEST(FrameParserTest, Ipv6AtomicFragmentsAreWholeDatagrams) {
  bench::UdpDatagram d = Datagram(true, {5});
  const std::vector<std::string> atomic = bench::FragmentFrames(d, 512, 78);
  ASSERT_EQ(atomic.size(), 1u);
  const ParsedFrame parsed = Parse(atomic[0]);
  ASSERT_EQ(parsed.outcome, FrameOutcome::kBeaconDatagram);
  EXPECT_EQ(Payload(atomic[0], parsed), d.payload);
  EXPECT_EQ(parsed.source.bytes[15], 0x34);
  // Its UDP checksum is still checked, and the reserved bits do not make it a fragment.
  std::string corrupt = atomic[0];
  corrupt.back() = static_cast<char>(corrupt.back() ^ 1);
  EXPECT_EQ(Parse(corrupt).outcome, FrameOutcome::kBadUdpChecksum);
  std::string reserved = atomic[0];
  reserved[18 + 40 + 3] = 0x06;  // the fragment header's two reserved bits
  EXPECT_EQ(Parse(reserved).outcome, FrameOutcome::kBeaconDatagram);
  // A first fragment (M set) still goes to reassembly.
  std::string more = atomic[0];
  more[18 + 40 + 3] = 0x01;
  EXPECT_EQ(Parse(more).outcome, FrameOutcome::kFragment);
}

TEST(FrameParserTest, EveryMalformedClassHasItsOwnOutcome) {
  for (const bool ipv6 : {false, true}) {
    for (const std::string_view label : bench::kMalformedFrameClasses) {
      const std::string frame = bench::MalformedFrame(label, Datagram(ipv6));
      EXPECT_EQ(FrameOutcomeName(Parse(frame).outcome), label) << "ipv6=" << ipv6;
    }
  }
}

TEST(FrameParserTest, NeverReadsPastTheFrame) {
  // Every prefix of valid frames, each in a heap block of exactly its size, parses to some
  // outcome other than a datagram (AddressSanitizer builds catch any read past the end).
  for (const bool ipv6 : {false, true}) {
    const std::string frame = bench::UdpFrame(Datagram(ipv6, {3, 4}));
    for (size_t n = 0; n < frame.size(); ++n) {
      const auto prefix = std::make_unique<uint8_t[]>(n);
      std::memcpy(prefix.get(), frame.data(), n);
      EXPECT_NE(ParseFrame(prefix.get(), n, {}, kPorts).outcome, FrameOutcome::kBeaconDatagram)
          << n;
    }
  }
}

TEST(FrameParserTest, OutcomeNamesAreDistinct) {
  std::set<std::string_view> names;
  for (size_t i = 0; i < kFrameOutcomeCount; ++i) {
    names.insert(FrameOutcomeName(static_cast<FrameOutcome>(i)));
  }
  EXPECT_EQ(names.size(), kFrameOutcomeCount);
  EXPECT_EQ(names.count("unknown"), 0u);
}

}  // namespace
}  // namespace beacon::dpdk
