// Fuzz target "TCP mirror stays within its bounds": any sequence of segments over a few flows
// keeps the mirror within max_flows and max_total_bytes after every segment, counts each
// segment under exactly one segment outcome, hands on every beacon it counts, and after every
// flow idled out holds no flow and no byte (no leaked or doubly released accounting).
// Input: records of 7 header bytes — TCP flags (0x80: a tick after the segment), flow (low 3
// bits: source port, bit 3: IPv6), sequence step (int16, little-endian, added to the flow's
// last sequence number), milliseconds passed, payload length (uint16, little-endian, at most
// 4096) — then the payload (cut at the end of the input).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "dpdk/tcp_mirror.h"
#include "kernels/raw_batch.h"

namespace {

using beacon::dpdk::MirrorCounter;

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "tcp_mirror_segments: %s\n", what);
  std::abort();
}

beacon::dpdk::TcpMirrorConfig SmallBounds() {
  beacon::dpdk::TcpMirrorConfig config;
  config.server_ports = {80};
  config.max_flows = 4;
  config.max_flow_bytes = 2048;
  config.max_total_bytes = 4096;
  config.idle_ms = 1000;
  config.syn_idle_ms = 300;
  config.gap_ms = 50;
  config.client_ip_header = "X-Forwarded-For";
  return config;
}

// The segment outcomes: each segment counts under exactly one of them.
uint64_t SegmentOutcomes(const beacon::dpdk::MirrorCounters& c) {
  return c.Get(MirrorCounter::kInOrder) + c.Get(MirrorCounter::kOutOfOrder) +
         c.Get(MirrorCounter::kRetransmitted) + c.Get(MirrorCounter::kNoPayload) +
         c.Get(MirrorCounter::kUnsynced) + c.Get(MirrorCounter::kOverFlowBytes) +
         c.Get(MirrorCounter::kOverTotalBytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kHeader = 7;
  const beacon::dpdk::TcpMirrorConfig config = SmallBounds();
  static beacon::kernels::RawBatch batch;  // its 1 MiB arena allocated once
  batch.Clear();
  uint64_t beacons = 0;
  beacon::dpdk::TcpMirror mirror(config, &batch, [&] {
    beacons += batch.size();
    batch.Clear();
  });
  uint32_t seq[16] = {};
  int64_t now = 1'700'000'000'000;
  uint64_t segments = 0;
  size_t at = 0;
  while (size - at >= kHeader) {
    const uint8_t* h = data + at;
    const unsigned flow = h[1] & 0x0f;
    seq[flow] += static_cast<uint32_t>(static_cast<int16_t>(h[2] | h[3] << 8));
    now += h[4];
    at += kHeader;
    const size_t length = std::min<size_t>({size_t{h[5]} | size_t{h[6]} << 8, 4096, size - at});
    // Exactly sized, so that ASan catches a read past the end.
    const std::string payload(reinterpret_cast<const char*>(data + at), length);
    at += length;
    beacon::dpdk::TcpSegment s;
    if ((flow & 8) != 0) {
      s.source.bytes = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9};
      s.destination.bytes = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    } else {
      s.source = beacon::kernels::IpAddress::FromV4(0xc6120009);
      s.destination = beacon::kernels::IpAddress::FromV4(0xc6130001);
    }
    s.source_port = static_cast<uint16_t>(40000 + (flow & 7));
    s.destination_port = 80;
    s.seq = seq[flow];
    s.flags = h[0];
    s.payload = payload;
    mirror.OnSegment(s, now);
    ++segments;
    if ((h[0] & 0x80) != 0) mirror.OnTick(now);
    Check(mirror.flow_count() <= config.max_flows, "more flows than max_flows");
    Check(mirror.buffered_bytes() <= config.max_total_bytes, "more bytes than max_total_bytes");
    Check(SegmentOutcomes(mirror.counters()) == segments, "a segment without one outcome");
  }
  mirror.OnTick(now + config.idle_ms);
  Check(mirror.flow_count() == 0, "a flow outlived idle_ms");
  Check(mirror.buffered_bytes() == 0, "bytes left after every flow closed");
  beacons += batch.size();
  Check(beacons == mirror.counters().Get(MirrorCounter::kBeacons),
        "beacons counted but not handed on");
  return 0;
}
