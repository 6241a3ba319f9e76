// ParseFrame: bounds-checked big-endian field reads over the frame; one's-complement sums with
// the byte kernels' internet_sum (DPDK's rte_raw_cksum for the IPv4 header).
#include "dpdk/frame_parser.h"

#include <rte_ip.h>

#include <algorithm>
#include <cstring>

namespace beacon::dpdk {

using kernels::BeaconPort;

namespace {

constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
constexpr uint16_t kEtherTypeVlan = 0x8100;
constexpr uint16_t kEtherTypeQinQ = 0x88a8;
constexpr uint16_t kEtherTypeQinQOld = 0x9100;
constexpr size_t kEthernetHeader = 14;
constexpr size_t kVlanTag = 4;
constexpr size_t kMaxVlanTags = 2;
constexpr size_t kIpv4Header = 20;
constexpr size_t kIpv6Header = 40;
constexpr size_t kUdpHeader = 8;
constexpr size_t kTcpHeader = 20;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kIpv6HopByHop = 0;
constexpr uint8_t kIpv6Routing = 43;
constexpr uint8_t kIpv6Fragment = 44;
constexpr uint8_t kIpv6Esp = 50;
constexpr uint8_t kIpv6Auth = 51;
constexpr uint8_t kIpv6DestOptions = 60;

uint16_t Load16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// True when the one's-complement sum over pseudo header and segment is all ones. The pseudo
// header has an even size, so the two sums add up to the sum over both back to back. Its 12 or
// 40 bytes take the plain loop: a vector sum's reduction across lanes would cost more.
bool ChecksumHolds(const FrameChecks& checks, const uint8_t* pseudo, size_t pseudo_size,
                   const uint8_t* segment, size_t segment_size) {
  return kernels::FoldInternetSum(uint32_t{kernels::InternetSum(pseudo, pseudo_size)} +
                                  checks.internet_sum(segment, segment_size)) == 0xFFFF;
}

kernels::IpAddress V4Address(const uint8_t* p) {
  return kernels::IpAddress::FromV4(static_cast<uint32_t>(p[0]) << 24 |
                                    static_cast<uint32_t>(p[1]) << 16 |
                                    static_cast<uint32_t>(p[2]) << 8 | p[3]);
}

const BeaconPort* FindPort(const std::vector<BeaconPort>& ports, uint16_t port) {
  for (const BeaconPort& p : ports) {
    if (p.port == port) return &p;
  }
  return nullptr;
}

// The UDP segment [udp, udp + size) of an unfragmented (or reassembled) datagram; `pseudo`
// holds the pseudo header with its length field still to fill at `length_at`.
void ParseUdp(const uint8_t* frame, const uint8_t* udp, size_t size, uint8_t* pseudo,
              size_t pseudo_size, bool ipv6, const FrameChecks& checks,
              const std::vector<BeaconPort>& ports, ParsedFrame* out) {
  if (size < kUdpHeader) {
    out->outcome = FrameOutcome::kTruncatedUdp;
    return;
  }
  const uint16_t length = Load16(udp + 4);
  if (length < kUdpHeader || length != size) {
    out->outcome = FrameOutcome::kBadUdpLength;
    return;
  }
  const BeaconPort* port = FindPort(ports, Load16(udp + 2));
  if (port == nullptr) {
    out->outcome = FrameOutcome::kNotBeaconPort;
    return;
  }
  const uint16_t checksum = Load16(udp + 6);
  if (checks.l4 == ChecksumVerdict::kBad ||
      (checks.l4 == ChecksumVerdict::kUnknown && (checksum != 0 || ipv6) &&
       !ChecksumHolds(checks, pseudo, pseudo_size, udp, length))) {
    out->outcome = FrameOutcome::kBadUdpChecksum;
    return;
  }
  if (length == kUdpHeader) {
    out->outcome = FrameOutcome::kEmptyDatagram;
    return;
  }
  out->outcome = FrameOutcome::kBeaconDatagram;
  out->endpoint = port->endpoint;
  out->payload_offset = static_cast<uint32_t>(udp + kUdpHeader - frame);
  out->payload_size = length - kUdpHeader;
}

// The TCP segment [tcp, tcp + size) of an unfragmented datagram; `pseudo` as for ParseUdp.
void ParseTcp(const uint8_t* frame, const uint8_t* tcp, size_t size, uint8_t* pseudo,
              size_t pseudo_size, size_t length_at, const FrameChecks& checks,
              const std::vector<uint16_t>& mirror_ports, ParsedFrame* out) {
  if (size < 4) {
    out->outcome = FrameOutcome::kBadTcpHeader;
    return;
  }
  const uint16_t destination_port = Load16(tcp + 2);
  if (std::find(mirror_ports.begin(), mirror_ports.end(), destination_port) == mirror_ports.end()) {
    out->outcome = FrameOutcome::kNotUdp;
    return;
  }
  const size_t header = size < kTcpHeader ? 0 : static_cast<size_t>(tcp[12] >> 4) * 4;
  if (header < kTcpHeader || header > size) {
    out->outcome = FrameOutcome::kBadTcpHeader;
    return;
  }
  pseudo[length_at] = static_cast<uint8_t>(size >> 8);
  pseudo[length_at + 1] = static_cast<uint8_t>(size);
  if (checks.l4 == ChecksumVerdict::kBad ||
      (checks.l4 == ChecksumVerdict::kUnknown &&
       !ChecksumHolds(checks, pseudo, pseudo_size, tcp, size))) {
    out->outcome = FrameOutcome::kBadTcpChecksum;
    return;
  }
  out->outcome = FrameOutcome::kMirrorSegment;
  out->source_port = Load16(tcp);
  out->destination_port = destination_port;
  out->tcp_seq = static_cast<uint32_t>(Load16(tcp + 4)) << 16 | Load16(tcp + 6);
  out->tcp_flags = tcp[13];
  out->payload_offset = static_cast<uint32_t>(tcp + header - frame);
  out->payload_size = static_cast<uint32_t>(size - header);
}

void ParseIpv4(const uint8_t* frame, const uint8_t* ip, size_t available, const FrameChecks& checks,
               const std::vector<BeaconPort>& ports, const std::vector<uint16_t>& mirror_ports,
               ParsedFrame* out) {
  if (available < kIpv4Header) {
    out->outcome = FrameOutcome::kTruncatedIp;
    return;
  }
  if (ip[0] >> 4 != 4) {
    out->outcome = FrameOutcome::kBadIpVersion;
    return;
  }
  const size_t header = static_cast<size_t>(ip[0] & 0x0f) * 4;
  const size_t total = Load16(ip + 2);
  if (header < kIpv4Header || header > available) {
    out->outcome = FrameOutcome::kBadIhl;
    return;
  }
  if (total > available || total < header) {
    out->outcome = total < header ? FrameOutcome::kBadIhl : FrameOutcome::kBadIpLength;
    return;
  }
  if (checks.ip == ChecksumVerdict::kBad ||
      (checks.ip == ChecksumVerdict::kUnknown && rte_raw_cksum(ip, header) != 0xffff)) {
    out->outcome = FrameOutcome::kBadIpChecksum;
    return;
  }
  out->l3_len = static_cast<uint16_t>(header);
  const uint8_t protocol = ip[9];
  const uint16_t fragment = Load16(ip + 6);
  const bool fragmented = (fragment & 0x3fff) != 0;  // MF flag or a non-zero offset
  if (protocol == kProtoTcp && !fragmented && !mirror_ports.empty()) {
    uint8_t pseudo[12];
    std::memcpy(pseudo, ip + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = kProtoTcp;
    ParseTcp(frame, ip + header, total - header, pseudo, sizeof(pseudo), 10, checks, mirror_ports,
             out);
    if (out->outcome == FrameOutcome::kMirrorSegment) {
      out->source = V4Address(ip + 12);
      out->destination = V4Address(ip + 16);
    }
    return;
  }
  if (protocol != kProtoUdp) {
    out->outcome = FrameOutcome::kNotUdp;
    return;
  }
  if (fragmented) {
    out->outcome = total == header ? FrameOutcome::kBadFragment : FrameOutcome::kFragment;
    out->source = V4Address(ip + 12);
    return;
  }
  uint8_t pseudo[12];
  std::memcpy(pseudo, ip + 12, 8);
  pseudo[8] = 0;
  pseudo[9] = kProtoUdp;
  pseudo[10] = static_cast<uint8_t>((total - header) >> 8);
  pseudo[11] = static_cast<uint8_t>(total - header);
  ParseUdp(frame, ip + header, total - header, pseudo, sizeof(pseudo), false, checks, ports, out);
  if (out->outcome == FrameOutcome::kBeaconDatagram) out->source = V4Address(ip + 12);
}

// Whether the IPv6 fragment header at `header` is an atomic fragment (offset 0, M clear): the
// whole datagram, which RFC 6946 has processed as if the header were not there.
bool AtomicFragment(const uint8_t* header) { return (Load16(header + 2) & 0xfff9) == 0; }

// Skips hop-by-hop, routing and destination options headers and atomic fragment headers from
// `*at` on, leaving `*next` at the upper-layer protocol; false with `*outcome` set when a header
// runs past `end` or is not supported (a fragment past the first header, AH, ESP).
bool SkipIpv6Extensions(const uint8_t* ip, size_t end, uint8_t* next, size_t* at,
                        FrameOutcome* outcome) {
  while (*next == kIpv6HopByHop || *next == kIpv6Routing || *next == kIpv6DestOptions ||
         *next == kIpv6Fragment) {
    if (end - *at < 8) {
      *outcome = FrameOutcome::kBadIpLength;
      return false;
    }
    if (*next == kIpv6Fragment && !AtomicFragment(ip + *at)) break;
    const size_t length = *next == kIpv6Fragment ? 8 : (static_cast<size_t>(ip[*at + 1]) + 1) * 8;
    if (length > end - *at) {
      *outcome = FrameOutcome::kBadIpLength;
      return false;
    }
    *next = ip[*at];
    *at += length;
  }
  if (*next == kIpv6Fragment || *next == kIpv6Esp || *next == kIpv6Auth) {
    *outcome = FrameOutcome::kUnsupportedIpv6Extension;
    return false;
  }
  return true;
}

void ParseIpv6(const uint8_t* frame, const uint8_t* ip, size_t available, const FrameChecks& checks,
               const std::vector<BeaconPort>& ports, const std::vector<uint16_t>& mirror_ports,
               ParsedFrame* out) {
  out->ipv6 = true;
  if (available < kIpv6Header) {
    out->outcome = FrameOutcome::kTruncatedIp;
    return;
  }
  if (ip[0] >> 4 != 6) {
    out->outcome = FrameOutcome::kBadIpVersion;
    return;
  }
  const size_t payload = Load16(ip + 4);
  if (payload == 0 || kIpv6Header + payload > available) {
    out->outcome = FrameOutcome::kBadIpLength;
    return;
  }
  out->l3_len = kIpv6Header;
  uint8_t next = ip[6];
  size_t at = kIpv6Header;
  const size_t end = kIpv6Header + payload;
  if (next == kIpv6Fragment && (end - at < 8 || !AtomicFragment(ip + at))) {
    // rte_ip_frag takes the fragment header only right after the fixed header.
    if (end - at < 8) {
      out->outcome = FrameOutcome::kBadFragment;
      return;
    }
    out->outcome = ip[at] != kProtoUdp ? FrameOutcome::kNotUdp
                   : end - at == 8     ? FrameOutcome::kBadFragment
                                       : FrameOutcome::kFragment;
    std::memcpy(out->source.bytes.data(), ip + 8, 16);
    return;
  }
  if (!SkipIpv6Extensions(ip, end, &next, &at, &out->outcome)) return;
  const size_t segment = end - at;
  if (next == kProtoTcp && !mirror_ports.empty()) {
    uint8_t pseudo[40] = {};
    std::memcpy(pseudo, ip + 8, 32);
    pseudo[39] = kProtoTcp;
    ParseTcp(frame, ip + at, segment, pseudo, sizeof(pseudo), 34, checks, mirror_ports, out);
    if (out->outcome == FrameOutcome::kMirrorSegment) {
      std::memcpy(out->source.bytes.data(), ip + 8, 16);
      std::memcpy(out->destination.bytes.data(), ip + 24, 16);
    }
    return;
  }
  if (next != kProtoUdp) {
    out->outcome = FrameOutcome::kNotUdp;
    return;
  }
  uint8_t pseudo[40] = {};
  std::memcpy(pseudo, ip + 8, 32);
  pseudo[34] = static_cast<uint8_t>(segment >> 8);
  pseudo[35] = static_cast<uint8_t>(segment);
  pseudo[39] = kProtoUdp;
  ParseUdp(frame, ip + at, segment, pseudo, sizeof(pseudo), true, checks, ports, out);
  if (out->outcome == FrameOutcome::kBeaconDatagram) {
    std::memcpy(out->source.bytes.data(), ip + 8, 16);
  }
}

}  // namespace

std::string_view FrameOutcomeName(FrameOutcome outcome) {
  switch (outcome) {
#define BEACON_FRAME_OUTCOME_NAME(name, label) \
  case FrameOutcome::name:                     \
    return label;
    BEACON_FRAME_OUTCOMES(BEACON_FRAME_OUTCOME_NAME)
#undef BEACON_FRAME_OUTCOME_NAME
  }
  return "unknown";
}

ParsedFrame ParseFrame(const uint8_t* frame, size_t size, const FrameChecks& checks,
                       const std::vector<BeaconPort>& beacon_ports,
                       const std::vector<uint16_t>& mirror_ports) {
  ParsedFrame out;
  if (size < kEthernetHeader) return out;  // kTruncatedEthernet
  size_t at = 12;
  uint16_t ether_type = Load16(frame + at);
  size_t tags = 0;
  while (ether_type == kEtherTypeVlan || ether_type == kEtherTypeQinQ ||
         ether_type == kEtherTypeQinQOld) {
    if (++tags > kMaxVlanTags) {
      out.outcome = FrameOutcome::kTooManyVlanTags;
      return out;
    }
    at += kVlanTag;
    if (size < at + 2) return out;  // kTruncatedEthernet
    ether_type = Load16(frame + at);
  }
  at += 2;
  out.l2_len = static_cast<uint16_t>(at);
  if (ether_type == kEtherTypeIpv4) {
    ParseIpv4(frame, frame + at, size - at, checks, beacon_ports, mirror_ports, &out);
  } else if (ether_type == kEtherTypeIpv6) {
    ParseIpv6(frame, frame + at, size - at, checks, beacon_ports, mirror_ports, &out);
  } else {
    out.outcome = FrameOutcome::kNotIp;
  }
  return out;
}

}  // namespace beacon::dpdk
