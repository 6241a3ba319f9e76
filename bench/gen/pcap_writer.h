// beacon-gen's captures for the DPDK UDP relay and passive HTTP mirror: Ethernet / IPv4 / IPv6 /
// UDP / TCP frames built with correct checksums, IP fragments, one malformed frame per class the
// relay's parser rejects, mirrored TCP flows, written as pcap files with the ground truth of what
// the relay must count.
#pragma once

#include <array>
#include <cstdint>
#include <fstream>
#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "bench/gen/ground_truth.h"
#include "kernels/site_registry.h"

namespace beacon::bench {

struct UdpDatagram {
  bool ipv6 = false;
  std::array<uint8_t, 16> source{};       // IPv4 in the first 4 bytes
  std::array<uint8_t, 16> destination{};  // IPv4 in the first 4 bytes
  uint16_t source_port = 40000;
  uint16_t destination_port = 5140;
  std::vector<uint16_t> vlans;  // 802.1Q tag ids, outermost first (two: QinQ)
  std::string payload;
};

// One Ethernet frame carrying `datagram`, checksums correct.
std::string UdpFrame(const UdpDatagram& datagram);

// `datagram` as IP fragments of at most `fragment_bytes` (a multiple of 8) of IP payload each,
// in order; IPv6 fragments carry a fragment header right after the fixed header.
std::vector<std::string> FragmentFrames(const UdpDatagram& datagram, size_t fragment_bytes,
                                        uint32_t id);

// The frame classes the relay rejects, labelled as dpdk/frame_parser.h's FrameOutcome.
inline constexpr std::string_view kMalformedFrameClasses[] = {
    "truncated_ethernet",
    "too_many_vlan_tags",
    "not_ip",
    "truncated_ip",
    "bad_ip_version",
    "bad_ihl",
    "bad_ip_length",
    "bad_ip_checksum",
    "bad_fragment",
    "unsupported_ipv6_extension",
    "not_udp",
    "truncated_udp",
    "bad_udp_length",
    "bad_udp_checksum",
    "not_beacon_port",
    "empty_datagram",
};

// A frame of class `label` (one of kMalformedFrameClasses) derived from `base` (a datagram to
// a beacon port). Throws std::invalid_argument for an unknown label.
std::string MalformedFrame(std::string_view label, const UdpDatagram& base);

// Classic libpcap format, link type Ethernet, microsecond timestamps.
class PcapWriter {
 public:
  // Throws std::runtime_error naming `path` when it cannot be created.
  explicit PcapWriter(const std::string& path);
  void Write(std::string_view frame);
  // Flushes; throws std::runtime_error naming the file when a write failed.
  void Close();
  uint64_t frames() const { return frames_; }

 private:
  std::string path_;
  std::ofstream out_;
  uint64_t frames_ = 0;
};

struct RelayCaptureOptions {
  uint64_t hits = 10'000;
  uint64_t seed = 1;
  double malformed_share = 0.03;  // hits with one decode fault (TrafficModel)
  double bot_share = 0.05;
  double syslog_share = 0.3;  // datagrams sent as syslog relay lines, not hit batches
  double ipv6_share = 0.3;
  double vlan_share = 0.2;       // frames with one tag; a quarter of them QinQ
  double fragment_share = 0.05;  // small datagrams fragmented on purpose, besides > MTU
  uint64_t malformed_frames_per_class = 3;
  uint64_t incomplete_datagrams = 2;  // fragmented datagrams with their last fragment lost
  uint16_t hit_batch_port = 5140;
  uint16_t syslog_port = 5514;
  int64_t time_ms = 0;  // relay line time and the truth's minute; 0: now
  // Pads datagrams (a z= cache buster on their last hit) so the mean payload approaches this
  // many bytes; 0: the model's own sizes (about 450 B).
  uint64_t mean_payload = 0;
};

struct RelayCaptureTruth {
  TruthSummary hits;  // decode-level truth (hit batches counted in the minute of time_ms)
  std::map<std::string, uint64_t> frames;  // FrameOutcome label -> frames (reassembled too)
  uint64_t datagrams = 0;                  // beacon datagrams the relay hands on
  uint64_t reassembled = 0;
  uint64_t fragments_dropped = 0;  // fragments of incomplete datagrams, once they time out
  uint64_t payload_bytes = 0;      // UDP payload bytes of the beacon datagrams

  // "key value" lines: datagrams, reassembled, fragments_dropped, payload_bytes, and
  // "frame <label> <n>" per outcome.
  void Write(std::ostream& out) const;
};

// Called with each beacon datagram's UDP destination port and payload, in generation order
// (to send the same traffic to the kernel-socket relay).
using DatagramCallback = std::function<void(uint16_t port, std::string_view payload)>;

// Generates the traffic model's hits as relay datagrams (hit batches <= 20 hits and syslog
// lines), fragments, malformed frames of every class, shuffled, and writes them to `pcap`.
RelayCaptureTruth WriteRelayCapture(const kernels::SiteRegistry& sites,
                                    const RelayCaptureOptions& options, PcapWriter* pcap,
                                    const DatagramCallback& on_datagram = {});

// One TCP segment of a mirrored flow (client to server).
struct TcpSegmentSpec {
  bool ipv6 = false;
  std::array<uint8_t, 16> source{};       // IPv4 in the first 4 bytes
  std::array<uint8_t, 16> destination{};  // IPv4 in the first 4 bytes
  uint16_t source_port = 40000;
  uint16_t destination_port = 80;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = 0x18;  // PSH ACK; SYN 0x02, FIN 0x01, RST 0x04
  std::vector<uint16_t> vlans;
  std::string payload;
};

// One Ethernet frame carrying `segment`, checksums correct.
std::string TcpFrame(const TcpSegmentSpec& segment);

struct MirrorCaptureOptions {
  uint64_t hits = 10'000;
  uint64_t seed = 1;
  double malformed_share = 0.03;  // hits with one decode fault (TrafficModel)
  double bot_share = 0.05;
  double ipv6_share = 0.3;
  uint16_t server_port = 80;
  uint32_t max_requests_per_flow = 8;  // keep-alive: 1..this many requests per flow
  double pipelined_share = 0.3;        // flows whose byte stream is cut at random (several requests
                                       // per segment, requests across segments)
  double reorder_share = 0.05;         // data segments swapped with the next one
  double retransmit_share = 0.05;      // data segments sent again (whole, or overlapping the next)
  double no_syn_share = 0.1;        // flows whose handshake the capture missed (mid-stream pickup)
  double wrap_share = 0.1;          // flows whose sequence numbers wrap around 2^32
  double rst_share = 0.1;           // flows ending with RST instead of FIN
  double loss_share = 0;            // request-aligned flows of 2+ requests losing one data segment
  uint64_t other_requests = 5;      // GET /favicon.ico requests (counted, not beacons)
  uint64_t malformed_requests = 3;  // requests the strict parser rejects (bare LF)
  uint32_t concurrent_flows = 32;   // flows interleaved in the capture
  int64_t time_ms = 0;              // the truth's minute; 0: now
};

struct MirrorCaptureTruth {
  TruthSummary hits;  // the hits of the beacons that must land (minute of time_ms)
  uint64_t flows = 0;
  uint64_t segments = 0;       // frames (every one is a mirror segment)
  uint64_t beacons = 0;        // requests on beacon routes the mirror hands on
  uint64_t lost_requests = 0;  // beacon requests the capture lost (not in `hits`)
  uint64_t not_beacon_path = 0;
  uint64_t gaps = 0;
  std::map<std::string, uint64_t> http_rejects;  // kernels::HttpReject label -> requests

  // "key value" lines: flows, segments, beacons, lost_requests, not_beacon_path, gaps, and
  // "http_reject <label> <n>".
  void Write(std::ostream& out) const;
};

// The traffic model's requests as mirrored HTTP/1.1 flows to `server_port` (keep-alive,
// pipelining, reordering, retransmission, optional loss), interleaved, written to `pcap`. Hits
// carry no qt: the truth counts them in the minute of time_ms.
MirrorCaptureTruth WriteMirrorCapture(const kernels::SiteRegistry& sites,
                                      const MirrorCaptureOptions& options, PcapWriter* pcap);

}  // namespace beacon::bench
