// Fuzz target "relay frame parse is bounded and agrees with the NIC": ParseFrame on any bytes
// stays inside the frame, places payloads inside it, and gives the same answer when the NIC
// vouches for checksums that software found good. Aborts on a violation.
// Input: byte 0 selects the beacon and mirror ports (bit 0: 514 as syslog besides 8125 as hit
// batches, bit 1: mirror port 80), the rest is the frame.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "dpdk/frame_parser.h"

namespace {

using beacon::dpdk::ChecksumVerdict;
using beacon::dpdk::FrameChecks;
using beacon::dpdk::FrameOutcome;
using beacon::dpdk::ParsedFrame;

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "relay_frame_parse: %s\n", what);
  std::abort();
}

bool Same(const ParsedFrame& a, const ParsedFrame& b) {
  return a.outcome == b.outcome && a.ipv6 == b.ipv6 && a.l2_len == b.l2_len &&
         a.l3_len == b.l3_len && a.payload_offset == b.payload_offset &&
         a.payload_size == b.payload_size && a.endpoint == b.endpoint &&
         a.source.bytes == b.source.bytes && a.destination.bytes == b.destination.bytes &&
         a.source_port == b.source_port && a.destination_port == b.destination_port &&
         a.tcp_seq == b.tcp_seq && a.tcp_flags == b.tcp_flags;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::vector<beacon::kernels::BeaconPort> beacon_ports = {
      {8125, beacon::kernels::Endpoint::kUdpHitBatch}};
  if ((data[0] & 1) != 0) beacon_ports.push_back({514, beacon::kernels::Endpoint::kUdpSyslog});
  std::vector<uint16_t> mirror_ports;
  if ((data[0] & 2) != 0) mirror_ports.push_back(80);
  // Exactly sized, so that ASan catches a read past the end.
  const std::vector<uint8_t> frame(data + 1, data + size);
  const ParsedFrame software =
      beacon::dpdk::ParseFrame(frame.data(), frame.size(), {}, beacon_ports, mirror_ports);
  const bool hands_on = software.outcome == FrameOutcome::kBeaconDatagram ||
                        software.outcome == FrameOutcome::kMirrorSegment;
  if (hands_on) {
    Check(software.payload_offset <= frame.size() &&
              software.payload_size <= frame.size() - software.payload_offset,
          "payload outside the frame");
    Check(software.payload_offset >= software.l2_len + software.l3_len,
          "payload inside the headers");
  }
  if (software.outcome == FrameOutcome::kEmptyDatagram) {
    Check(software.payload_size == 0, "empty datagram with payload");
  }
  const bool checksum_failed = software.outcome == FrameOutcome::kBadIpChecksum ||
                               software.outcome == FrameOutcome::kBadUdpChecksum ||
                               software.outcome == FrameOutcome::kBadTcpChecksum;
  const FrameChecks good{ChecksumVerdict::kGood, ChecksumVerdict::kGood};
  const ParsedFrame nic =
      beacon::dpdk::ParseFrame(frame.data(), frame.size(), good, beacon_ports, mirror_ports);
  if (!checksum_failed) Check(Same(software, nic), "a NIC-verified frame parses differently");
  const FrameChecks bad{ChecksumVerdict::kBad, ChecksumVerdict::kBad};
  const ParsedFrame refused =
      beacon::dpdk::ParseFrame(frame.data(), frame.size(), bad, beacon_ports, mirror_ports);
  Check(refused.outcome != FrameOutcome::kBeaconDatagram &&
            refused.outcome != FrameOutcome::kMirrorSegment,
        "a frame the NIC flagged bad is handed on");
  return 0;
}
