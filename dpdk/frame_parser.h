// L2-L4 parsing of one received frame for the UDP beacon relay: Ethernet with up to two VLAN
// tags (802.1Q, QinQ), IPv4 / IPv6 header checks and checksums, UDP on the beacon ports.
// No DPDK types: the lcore loop hands it contiguous frame bytes and the NIC's checksum verdicts.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "kernels/beacon_sink.h"
#include "kernels/bytes/internet_sum.h"

namespace beacon::dpdk {

// Every outcome of a frame, each with its own counter. The first three hand the frame on; all
// others drop it. Labels are the `outcome` label of beacond_dpdk_frames_total and the keys of
// the /beacond/relay/frames telemetry reply.
#define BEACON_FRAME_OUTCOMES(X)                                                                   \
  X(kBeaconDatagram, "beacon_datagram")       /* UDP to a beacon port: to the raw batch */         \
  X(kFragment, "fragment")                    /* IPv4/IPv6 fragment: to reassembly */              \
  X(kMirrorSegment, "mirror_segment")         /* TCP to a mirror port: to the TCP mirror */        \
  X(kTruncatedEthernet, "truncated_ethernet") /* shorter than its Ethernet/VLAN headers */         \
  X(kTooManyVlanTags, "too_many_vlan_tags")   /* more than two tags (QinQ is two) */               \
  X(kNotIp, "not_ip")                         /* ARP, LLDP and other ethertypes */                 \
  X(kTruncatedIp, "truncated_ip")             /* shorter than the fixed IP header */               \
  X(kBadIpVersion, "bad_ip_version")          /* version disagrees with the ethertype */           \
  X(kBadIhl, "bad_ihl")                       /* IPv4 IHL below 5 or past the total */             \
  X(kBadIpLength, "bad_ip_length")            /* total/payload length vs. the frame */             \
  X(kBadIpChecksum, "bad_ip_checksum")        /* IPv4 header checksum (software or NIC) */         \
  X(kBadFragment, "bad_fragment")             /* fragment without payload, short frag. header */   \
  X(kUnsupportedIpv6Extension, "unsupported_ipv6_extension") /* AH, ESP, unknown */                \
  X(kNotUdp, "not_udp")                                      /* TCP, ICMP, other L4 */             \
  X(kTruncatedUdp, "truncated_udp")                          /* shorter than the UDP header */     \
  X(kBadUdpLength, "bad_udp_length")         /* UDP length disagrees with the IP payload */        \
  X(kBadUdpChecksum, "bad_udp_checksum")     /* wrong checksum, or zero over IPv6 */               \
  X(kNotBeaconPort, "not_beacon_port")       /* UDP to a port that carries no beacons */           \
  X(kEmptyDatagram, "empty_datagram")        /* UDP to a beacon port without payload */            \
  X(kSourceNotAllowed, "source_not_allowed") /* a beacon datagram or fragment from outside */      \
                                             /* allowed_sources (the data plane's verdict) */      \
  X(kBadTcpHeader, "bad_tcp_header")         /* TCP to a mirror port: short, or bad data offset */ \
  X(kBadTcpChecksum, "bad_tcp_checksum")     /* TCP to a mirror port: wrong checksum */

enum class FrameOutcome : uint8_t {
#define BEACON_FRAME_OUTCOME_ENUM(name, label) name,
  BEACON_FRAME_OUTCOMES(BEACON_FRAME_OUTCOME_ENUM)
#undef BEACON_FRAME_OUTCOME_ENUM
};

inline constexpr size_t kFrameOutcomeCount = 0
#define BEACON_FRAME_OUTCOME_COUNT(name, label) +1
    BEACON_FRAME_OUTCOMES(BEACON_FRAME_OUTCOME_COUNT)
#undef BEACON_FRAME_OUTCOME_COUNT
    ;

std::string_view FrameOutcomeName(FrameOutcome outcome);

// What the NIC said about a checksum (RTE_MBUF_F_RX_*_CKSUM_*): only kUnknown is verified in
// software.
enum class ChecksumVerdict : uint8_t { kUnknown, kGood, kBad };

struct FrameChecks {
  ChecksumVerdict ip = ChecksumVerdict::kUnknown;
  ChecksumVerdict l4 = ChecksumVerdict::kUnknown;
  // Verifies the UDP and TCP checksums the NIC did not: the decode backend's byte kernel
  // (kernels/bytes/byte_table.h), so that the scalar backend runs scalar code here too.
  uint16_t (*internet_sum)(const uint8_t* p, size_t n) = &kernels::InternetSum;
};

struct ParsedFrame {
  FrameOutcome outcome = FrameOutcome::kTruncatedEthernet;
  bool ipv6 = false;
  uint16_t l2_len = 0;  // Ethernet + VLAN tags
  uint16_t l3_len = 0;  // IPv4 header with options; IPv6 fixed header
  // kBeaconDatagram: the payload is frame[payload_offset, payload_offset + payload_size).
  uint32_t payload_offset = 0;
  uint32_t payload_size = 0;
  kernels::Endpoint endpoint = kernels::Endpoint::kUdpHitBatch;
  kernels::IpAddress source;  // kBeaconDatagram, kFragment and kMirrorSegment
  // kMirrorSegment: the TCP header's fields; the payload is placed as for a datagram.
  kernels::IpAddress destination;
  uint16_t source_port = 0;
  uint16_t destination_port = 0;
  uint32_t tcp_seq = 0;
  uint8_t tcp_flags = 0;  // FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10
};

// Parses `frame` (one contiguous packet). Never reads outside [frame, frame + size); never
// throws. A reassembled IPv4 datagram has a zeroed header checksum: pass checks.ip = kGood.
// Unfragmented TCP to one of `mirror_ports` is a mirror segment (checksum verified unless the
// NIC did); other TCP is kNotUdp.
ParsedFrame ParseFrame(const uint8_t* frame, size_t size, const FrameChecks& checks,
                       const std::vector<kernels::BeaconPort>& beacon_ports,
                       const std::vector<uint16_t>& mirror_ports = {});

// One counter per outcome; owned by one lcore.
struct FrameCounters {
  std::array<uint64_t, kFrameOutcomeCount> count{};
  void Add(FrameOutcome outcome) { ++count[static_cast<size_t>(outcome)]; }
  uint64_t Get(FrameOutcome outcome) const { return count[static_cast<size_t>(outcome)]; }
};

}  // namespace beacon::dpdk
