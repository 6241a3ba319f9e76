// LcoreWorker: the run-to-completion loop of one worker lcore (UDP beacons, IP reassembly, the
// passive mirror, the exception path) and the publication of its counters.
#define ALLOW_EXPERIMENTAL_API  // rte_ip_frag_table_del_expired_entries (22.11)
#include "dpdk/internal/lcore_worker.h"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_prefetch.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

#include "kernels/clock.h"

namespace beacon::dpdk::internal {
namespace {

constexpr uint32_t kReassemblyBucketEntries = 4;
// A frame or reassembled datagram is linearised here when it spans several mbufs.
constexpr size_t kScratchBytes = 65536 + 1024;

ChecksumVerdict IpVerdict(uint64_t ol_flags) {
  switch (ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) {
    case RTE_MBUF_F_RX_IP_CKSUM_GOOD:
    case RTE_MBUF_F_RX_IP_CKSUM_NONE:  // integrity checked, the field left unset
      return ChecksumVerdict::kGood;
    case RTE_MBUF_F_RX_IP_CKSUM_BAD:
      return ChecksumVerdict::kBad;
    default:
      return ChecksumVerdict::kUnknown;
  }
}

ChecksumVerdict L4Verdict(uint64_t ol_flags) {
  switch (ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) {
    case RTE_MBUF_F_RX_L4_CKSUM_GOOD:
    case RTE_MBUF_F_RX_L4_CKSUM_NONE:
      return ChecksumVerdict::kGood;
    case RTE_MBUF_F_RX_L4_CKSUM_BAD:
      return ChecksumVerdict::kBad;
    default:
      return ChecksumVerdict::kUnknown;
  }
}

// Frames the fast path does not own; with an exception path they go to the kernel.
bool ForKernel(FrameOutcome outcome) {
  return outcome == FrameOutcome::kNotIp || outcome == FrameOutcome::kNotUdp ||
         outcome == FrameOutcome::kNotBeaconPort;
}

}  // namespace

LcoreWorker::LcoreWorker(unsigned lcore, const DataPlaneConfig& config, kernels::BeaconSink* sink,
                         const std::atomic<bool>* stop)
    : config_(config),
      sources_(config.allowed_sources),
      sink_(sink),
      stop_(stop),
      scratch_(kScratchBytes),
      batch_(sink) {
  held_.reserve(kernels::kMaxBatchBeacons);
  if (!config.mirror.server_ports.empty()) {
    mirror_ = std::make_unique<TcpMirror>(config.mirror, batch_.batch(), [this] { Deliver(); });
  }
  const int socket = std::max(0, static_cast<int>(rte_lcore_to_socket_id(lcore)));
  const uint64_t ttl_cycles = rte_get_tsc_hz() / 1000 * config.reassembly_timeout_ms;
  table_ = rte_ip_frag_table_create(config.reassembly_flows, kReassemblyBucketEntries,
                                    config.reassembly_flows, ttl_cycles, socket);
  if (table_ == nullptr) {
    throw std::runtime_error("DPDK reassembly table for " +
                             std::to_string(config.reassembly_flows) +
                             " flows: out of EAL memory (raise -m or lower reassembly_flows)");
  }
}

LcoreWorker::~LcoreWorker() {
  rte_ip_frag_table_destroy(table_);
  rte_ip_frag_free_death_row(&death_row_, 0);
}

void LcoreWorker::Run() {
  rte_mbuf* burst[kMaxBurst];
  const uint16_t burst_size = std::min<uint16_t>(config_.burst, kMaxBurst);
  in_place_ = !sink_->KeepsBatches();
  const uint64_t tsc_per_ms = std::max<uint64_t>(rte_get_tsc_hz() / 1000, 1);
  // The wall clock is read once per tick; in between, receive times advance with the TSC.
  uint64_t anchor_tsc = rte_rdtsc();
  int64_t anchor_ms = kernels::UnixMillis();
  uint64_t next_tick_tsc = anchor_tsc;
  while (!stop_->load(std::memory_order_relaxed)) {
    const uint64_t tsc = rte_rdtsc();
    if (tsc >= next_tick_tsc) {
      anchor_tsc = tsc;
      anchor_ms = kernels::UnixMillis();
      now_ms_ = anchor_ms;
      Tick(tsc);
      next_tick_tsc = tsc + tsc_per_ms * static_cast<uint64_t>(config_.tick_ms);
    } else {
      now_ms_ = anchor_ms + static_cast<int64_t>((tsc - anchor_tsc) / tsc_per_ms);
    }
    if (!sink_->Admitting()) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
      continue;
    }
    uint32_t received = 0;
    for (const RxQueue& q : queues_) {
      const uint16_t n = rte_eth_rx_burst(q.port_id, q.queue, burst, burst_size);
      if (n == 0) continue;
      ProcessBurst(burst, n, tsc);
      received += n;
    }
    if (exception_ && exception_->reads_kernel) received += ForwardFromKernel(burst, burst_size);
    if (received == 0) {
      Deliver();
      Publish();  // idle: readers see every frame so far at once
      if (queues_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  const int64_t stop_ms = kernels::UnixMillis();
  // No segment more will come: what the mirror holds complete past a hole is taken too.
  if (mirror_) mirror_->Flush(stop_ms);
  Deliver();
  sink_->OnTick(stop_ms);
  Publish();
}

void LcoreWorker::Tick(uint64_t tsc) {
  Deliver();
  rte_ip_frag_table_del_expired_entries(table_, &death_row_, tsc);
  ReapDeathRow();
  if (mirror_) {
    mirror_->OnTick(now_ms_);
    Deliver();
  }
  sink_->OnTick(now_ms_);
  Publish();
}

void LcoreWorker::ProcessBurst(rte_mbuf** mbufs, uint16_t n, uint64_t tsc) {
  rte_mbuf* done[kMaxBurst];
  uint16_t done_count = 0;
  rte_mbuf* to_kernel[kMaxBurst];
  uint16_t to_kernel_count = 0;
  for (uint16_t i = 0; i < n; ++i) {
    if (i + 2 < n) rte_prefetch0(rte_pktmbuf_mtod(mbufs[i + 2], void*));
    rte_mbuf* m = mbufs[i];
    const uint8_t* frame = Contiguous(m);
    if (frame == nullptr) {
      counters_.Add(FrameOutcome::kBadIpLength);
      done[done_count++] = m;
      continue;
    }
    const FrameChecks checks{IpVerdict(m->ol_flags), L4Verdict(m->ol_flags), config_.internet_sum};
    ParsedFrame parsed = ParseFrame(frame, rte_pktmbuf_pkt_len(m), checks, config_.beacon_ports,
                                    config_.mirror.server_ports);
    // Fragments too, so that a sender outside the list cannot fill the reassembly table.
    if ((parsed.outcome == FrameOutcome::kBeaconDatagram ||
         parsed.outcome == FrameOutcome::kFragment) &&
        !sources_.Allows(parsed.source)) {
      parsed.outcome = FrameOutcome::kSourceNotAllowed;
    }
    counters_.Add(parsed.outcome);
    if (parsed.outcome == FrameOutcome::kMirrorSegment) {
      Mirror(frame, parsed);
      done[done_count++] = m;
      continue;
    }
    if (parsed.outcome == FrameOutcome::kFragment && m->nb_segs == 1) {
      Reassemble(m, parsed, tsc);
      continue;
    }
    if (exception_ && ForKernel(parsed.outcome)) {
      to_kernel[to_kernel_count++] = m;
      continue;
    }
    if (parsed.outcome == FrameOutcome::kBeaconDatagram && in_place_ && m->nb_segs == 1 &&
        AcceptInPlace(m, frame, parsed)) {
      continue;
    }
    if (parsed.outcome == FrameOutcome::kBeaconDatagram) Accept(frame, parsed);
    done[done_count++] = m;
  }
  rte_pktmbuf_free_bulk(done, done_count);
  ReapDeathRow();
  if (to_kernel_count > 0) SendToKernel(to_kernel, to_kernel_count);
}

void LcoreWorker::SendToKernel(rte_mbuf** frames, uint16_t n) {
  rte_spinlock_t* lock = exception_->kernel_tx_lock;
  if (lock != nullptr) rte_spinlock_lock(lock);
  const uint16_t sent =
      rte_eth_tx_burst(exception_->kernel_port, exception_->kernel_queue, frames, n);
  if (lock != nullptr) rte_spinlock_unlock(lock);
  to_kernel_ += sent;
  exception_dropped_ += n - sent;
  rte_pktmbuf_free_bulk(frames + sent, n - sent);
}

uint16_t LcoreWorker::ForwardFromKernel(rte_mbuf** burst, uint16_t burst_size) {
  const uint16_t n =
      rte_eth_rx_burst(exception_->kernel_port, exception_->kernel_queue, burst, burst_size);
  if (n == 0) return 0;
  const uint16_t sent = rte_eth_tx_burst(exception_->nic_port, exception_->nic_tx_queue, burst, n);
  from_kernel_ += sent;
  exception_dropped_ += n - sent;
  rte_pktmbuf_free_bulk(burst + sent, n - sent);
  return n;
}

DataPlaneCounters LcoreWorker::Snapshot() const {
  DataPlaneCounters c;
  for (size_t i = 0; i < kFrameOutcomeCount; ++i) {
    c.frames[i] = published_frames_[i].load(std::memory_order_relaxed);
  }
  c.reassembled = published_reassembled_.load(std::memory_order_relaxed);
  c.fragments_dropped = published_dropped_.load(std::memory_order_relaxed);
  c.beacons = published_beacons_.load(std::memory_order_relaxed);
  c.payload_bytes = published_bytes_.load(std::memory_order_relaxed);
  c.to_kernel = published_to_kernel_.load(std::memory_order_relaxed);
  c.from_kernel = published_from_kernel_.load(std::memory_order_relaxed);
  c.exception_dropped = published_exception_dropped_.load(std::memory_order_relaxed);
  for (size_t i = 0; i < kMirrorCounterCount; ++i) {
    c.mirror.count[i] = published_mirror_[i].load(std::memory_order_relaxed);
  }
  for (size_t i = 0; i < kernels::kHttpRejectCount; ++i) {
    c.mirror.http_rejects[i] = published_mirror_rejects_[i].load(std::memory_order_relaxed);
  }
  c.mirror_flows = published_mirror_flows_.load(std::memory_order_relaxed);
  c.mirror_buffered_bytes = published_mirror_bytes_.load(std::memory_order_relaxed);
  return c;
}

const uint8_t* LcoreWorker::Contiguous(const rte_mbuf* m) {
  if (m->nb_segs == 1) return rte_pktmbuf_mtod(m, const uint8_t*);
  if (rte_pktmbuf_pkt_len(m) > scratch_.size()) return nullptr;
  return static_cast<const uint8_t*>(
      rte_pktmbuf_read(m, 0, rte_pktmbuf_pkt_len(m), scratch_.data()));
}

void LcoreWorker::Accept(const uint8_t* frame, const ParsedFrame& parsed) {
  const std::string_view payload(reinterpret_cast<const char*>(frame) + parsed.payload_offset,
                                 parsed.payload_size);
  // Not through SinkBatch::Add: a full batch is handed on by Deliver, which frees held mbufs.
  kernels::RawBatch& batch = *batch_.batch();
  if (!batch.Add(parsed.endpoint, kernels::IngressKind::kUdpRelay, payload, {}, parsed.source,
                 now_ms_)) {
    Deliver();
    batch.Add(parsed.endpoint, kernels::IngressKind::kUdpRelay, payload, {}, parsed.source,
              now_ms_);
  }
  ++beacons_;
  payload_bytes_ += parsed.payload_size;
}

bool LcoreWorker::AcceptInPlace(rte_mbuf* m, const uint8_t* frame, const ParsedFrame& parsed) {
  const char* payload = reinterpret_cast<const char*>(frame) + parsed.payload_offset;
  const char* buffer_end = static_cast<const char*>(m->buf_addr) + m->buf_len;
  if (buffer_end - (payload + parsed.payload_size) <
      static_cast<ptrdiff_t>(kernels::kPayloadPadding)) {
    return false;
  }
  // Past the datagram: Ethernet padding, if any, and the tailroom, which nothing reads.
  std::memset(const_cast<char*>(payload) + parsed.payload_size, 0, kernels::kPayloadPadding);
  const std::string_view view(payload, parsed.payload_size);
  kernels::RawBatch& batch = *batch_.batch();
  if (!batch.AddInPlace(parsed.endpoint, kernels::IngressKind::kUdpRelay, view, parsed.source,
                        now_ms_)) {
    Deliver();
    if (!batch.AddInPlace(parsed.endpoint, kernels::IngressKind::kUdpRelay, view, parsed.source,
                          now_ms_)) {
      return false;
    }
  }
  held_.push_back(m);
  ++beacons_;
  payload_bytes_ += parsed.payload_size;
  return true;
}

void LcoreWorker::Deliver() {
  batch_.Deliver();
  rte_pktmbuf_free_bulk(held_.data(), static_cast<unsigned>(held_.size()));
  held_.clear();
}

void LcoreWorker::Mirror(const uint8_t* frame, const ParsedFrame& parsed) {
  TcpSegment segment;
  segment.source = parsed.source;
  segment.destination = parsed.destination;
  segment.source_port = parsed.source_port;
  segment.destination_port = parsed.destination_port;
  segment.seq = parsed.tcp_seq;
  segment.flags = parsed.tcp_flags;
  segment.payload = std::string_view(reinterpret_cast<const char*>(frame) + parsed.payload_offset,
                                     parsed.payload_size);
  mirror_->OnSegment(segment, now_ms_);
}

void LcoreWorker::Reassemble(rte_mbuf* m, const ParsedFrame& parsed, uint64_t tsc) {
  m->l2_len = parsed.l2_len;
  uint8_t* ip = rte_pktmbuf_mtod_offset(m, uint8_t*, parsed.l2_len);
  rte_mbuf* whole = nullptr;
  if (parsed.ipv6) {
    // rte_ip_frag wants l3_len to span the fixed header and the fragment header.
    m->l3_len = sizeof(rte_ipv6_hdr) + sizeof(rte_ipv6_fragment_ext);
    whole = rte_ipv6_frag_reassemble_packet(
        table_, &death_row_, m, tsc, reinterpret_cast<rte_ipv6_hdr*>(ip),
        reinterpret_cast<rte_ipv6_fragment_ext*>(ip + sizeof(rte_ipv6_hdr)));
  } else {
    m->l3_len = parsed.l3_len;
    whole = rte_ipv4_frag_reassemble_packet(table_, &death_row_, m, tsc,
                                            reinterpret_cast<rte_ipv4_hdr*>(ip));
  }
  if (whole == nullptr) return;
  ++reassembled_;
  const uint8_t* frame = Contiguous(whole);
  if (frame == nullptr) {
    counters_.Add(FrameOutcome::kBadIpLength);
  } else {
    // rte_ip_frag zeroes the rebuilt IPv4 header's checksum; each fragment's was verified.
    const ParsedFrame datagram =
        ParseFrame(frame, rte_pktmbuf_pkt_len(whole),
                   {ChecksumVerdict::kGood, ChecksumVerdict::kUnknown, config_.internet_sum},
                   config_.beacon_ports);
    counters_.Add(datagram.outcome);
    if (datagram.outcome == FrameOutcome::kBeaconDatagram) Accept(frame, datagram);
  }
  rte_pktmbuf_free(whole);
}

void LcoreWorker::ReapDeathRow() {
  if (death_row_.cnt == 0) return;
  fragments_dropped_ += death_row_.cnt;
  rte_ip_frag_free_death_row(&death_row_, 0);
}

void LcoreWorker::Publish() {
  for (size_t i = 0; i < kFrameOutcomeCount; ++i) {
    published_frames_[i].store(counters_.count[i], std::memory_order_relaxed);
  }
  published_reassembled_.store(reassembled_, std::memory_order_relaxed);
  published_dropped_.store(fragments_dropped_, std::memory_order_relaxed);
  published_beacons_.store(beacons_, std::memory_order_relaxed);
  published_bytes_.store(payload_bytes_, std::memory_order_relaxed);
  published_to_kernel_.store(to_kernel_, std::memory_order_relaxed);
  published_from_kernel_.store(from_kernel_, std::memory_order_relaxed);
  published_exception_dropped_.store(exception_dropped_, std::memory_order_relaxed);
  if (!mirror_) return;
  const MirrorCounters& m = mirror_->counters();
  for (size_t i = 0; i < kMirrorCounterCount; ++i) {
    published_mirror_[i].store(m.count[i], std::memory_order_relaxed);
  }
  for (size_t i = 0; i < kernels::kHttpRejectCount; ++i) {
    published_mirror_rejects_[i].store(m.http_rejects[i], std::memory_order_relaxed);
  }
  published_mirror_flows_.store(mirror_->flow_count(), std::memory_order_relaxed);
  published_mirror_bytes_.store(mirror_->buffered_bytes(), std::memory_order_relaxed);
}

}  // namespace beacon::dpdk::internal
