// UdpRelay: port and pool setup, one RelayWorker per worker lcore (its queues, its reassembly
// table, its raw batch, its counters), and the /beacond/relay/* telemetry commands.
#define ALLOW_EXPERIMENTAL_API  // rte_ip_frag_table_del_expired_entries (22.11)
#include "dpdk/udp_relay.h"

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ip_frag.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_telemetry.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <thread>

#include "dpdk/internal/port_setup.h"

namespace beacon::dpdk {
namespace {

constexpr uint16_t kMaxBurst = 64;
constexpr uint32_t kReassemblyBucketEntries = 4;
// A frame or reassembled datagram is linearised here when it spans several mbufs.
constexpr size_t kScratchBytes = 65536 + 1024;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

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

struct RxQueue {
  uint16_t port_id = 0;
  uint16_t queue = 0;
};

// A worker's share of the exception path: its queue on the kernel-facing port (TAP) and the
// TX queue of the NIC port that the kernel's frames leave by.
struct ExceptionQueues {
  uint16_t kernel_port = 0;
  uint16_t kernel_queue = 0;
  uint16_t nic_port = 0;
  uint16_t nic_tx_queue = 0;
};

// Frames the fast path does not own; with an exception path they go to the kernel.
bool ForKernel(FrameOutcome outcome) {
  return outcome == FrameOutcome::kNotIp || outcome == FrameOutcome::kNotUdp ||
         outcome == FrameOutcome::kNotBeaconPort;
}

// One worker lcore's share-nothing state. Counters are plain fields written by the lcore and
// published to relaxed atomics once per loop round for the telemetry and metrics threads.
class RelayWorker {
 public:
  // Runs until `stop` is set (it outlives the worker).
  RelayWorker(unsigned lcore, const UdpRelayConfig& config, RelaySink* sink,
              const std::atomic<bool>* stop)
      : config_(config), sink_(sink), stop_(stop), scratch_(kScratchBytes) {
    if (!config.mirror.server_ports.empty()) {
      mirror_ = std::make_unique<TcpMirror>(config.mirror, &batch_, [this] { Deliver(); });
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
  ~RelayWorker() {
    rte_ip_frag_table_destroy(table_);
    rte_ip_frag_free_death_row(&death_row_, 0);
  }
  RelayWorker(const RelayWorker&) = delete;
  RelayWorker& operator=(const RelayWorker&) = delete;

  void AddQueue(RxQueue queue) { queues_.push_back(queue); }
  void SetExceptionPath(ExceptionQueues queues) { exception_ = queues; }

  // The lcore loop: runs until `stop`, then hands the last batch and a final tick to the sink.
  void Run() {
    rte_mbuf* burst[kMaxBurst];
    const uint16_t burst_size = std::min<uint16_t>(config_.burst, kMaxBurst);
    int64_t next_tick_ms = 0;
    while (!stop_->load(std::memory_order_relaxed)) {
      now_ms_ = WallMs();
      const uint64_t tsc = rte_rdtsc();
      if (now_ms_ >= next_tick_ms) {
        Deliver();
        rte_ip_frag_table_del_expired_entries(table_, &death_row_, tsc);
        ReapDeathRow();
        if (mirror_) {
          mirror_->OnTick(now_ms_);
          Deliver();
        }
        sink_->OnTick(now_ms_);
        next_tick_ms = now_ms_ + config_.tick_ms;
        Publish();
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
      if (exception_) received += ForwardFromKernel(burst, burst_size);
      if (received == 0) {
        Deliver();
        if (queues_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      Publish();
    }
    Deliver();
    sink_->OnTick(WallMs());
    Publish();
  }

  // Parses, reassembles and batches `n` received mbufs; frees or keeps (reassembly) each one.
  void ProcessBurst(rte_mbuf** mbufs, uint16_t n, uint64_t tsc) {
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
      const FrameChecks checks{IpVerdict(m->ol_flags), L4Verdict(m->ol_flags)};
      const ParsedFrame parsed = ParseFrame(frame, rte_pktmbuf_pkt_len(m), checks,
                                            config_.beacon_ports, config_.mirror.server_ports);
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
      if (parsed.outcome == FrameOutcome::kBeaconDatagram) Accept(frame, parsed);
      done[done_count++] = m;
    }
    rte_pktmbuf_free_bulk(done, done_count);
    ReapDeathRow();
    if (to_kernel_count > 0) {
      const uint16_t sent = rte_eth_tx_burst(exception_->kernel_port, exception_->kernel_queue,
                                             to_kernel, to_kernel_count);
      to_kernel_ += sent;
      exception_dropped_ += to_kernel_count - sent;
      rte_pktmbuf_free_bulk(to_kernel + sent, to_kernel_count - sent);
    }
  }

  // The kernel's frames (ARP replies, TCP, ICMP) out of the NIC port; returns how many.
  uint16_t ForwardFromKernel(rte_mbuf** burst, uint16_t burst_size) {
    const uint16_t n =
        rte_eth_rx_burst(exception_->kernel_port, exception_->kernel_queue, burst, burst_size);
    if (n == 0) return 0;
    const uint16_t sent =
        rte_eth_tx_burst(exception_->nic_port, exception_->nic_tx_queue, burst, n);
    from_kernel_ += sent;
    exception_dropped_ += n - sent;
    rte_pktmbuf_free_bulk(burst + sent, n - sent);
    return n;
  }

  RelayCounters Snapshot() const {
    RelayCounters c;
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

 private:
  // The frame's bytes: in place when one segment holds them, else copied to scratch_.
  const uint8_t* Contiguous(const rte_mbuf* m) {
    if (m->nb_segs == 1) return rte_pktmbuf_mtod(m, const uint8_t*);
    if (rte_pktmbuf_pkt_len(m) > scratch_.size()) return nullptr;
    return static_cast<const uint8_t*>(
        rte_pktmbuf_read(m, 0, rte_pktmbuf_pkt_len(m), scratch_.data()));
  }

  void Accept(const uint8_t* frame, const ParsedFrame& parsed) {
    const std::string_view payload(reinterpret_cast<const char*>(frame) + parsed.payload_offset,
                                   parsed.payload_size);
    if (!batch_.Add(parsed.endpoint, kernels::IngressKind::kUdpRelay, payload, {}, parsed.source,
                    now_ms_)) {
      Deliver();
      batch_.Add(parsed.endpoint, kernels::IngressKind::kUdpRelay, payload, {}, parsed.source,
                 now_ms_);
    }
    ++beacons_;
    payload_bytes_ += parsed.payload_size;
  }

  void Mirror(const uint8_t* frame, const ParsedFrame& parsed) {
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

  // Hands the fragment to the lcore's table; a completed datagram is parsed once more.
  void Reassemble(rte_mbuf* m, const ParsedFrame& parsed, uint64_t tsc) {
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
                     {ChecksumVerdict::kGood, ChecksumVerdict::kUnknown}, config_.beacon_ports);
      counters_.Add(datagram.outcome);
      if (datagram.outcome == FrameOutcome::kBeaconDatagram) Accept(frame, datagram);
    }
    rte_pktmbuf_free(whole);
  }

  void ReapDeathRow() {
    if (death_row_.cnt == 0) return;
    fragments_dropped_ += death_row_.cnt;
    rte_ip_frag_free_death_row(&death_row_, 0);
  }

  void Deliver() {
    if (batch_.empty()) return;
    sink_->OnBatch(batch_);
    batch_.Clear();
  }

  void Publish() {
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

  const UdpRelayConfig& config_;
  RelaySink* sink_;
  const std::atomic<bool>* stop_;
  std::vector<RxQueue> queues_;
  std::optional<ExceptionQueues> exception_;
  rte_ip_frag_tbl* table_ = nullptr;
  rte_ip_frag_death_row death_row_{};
  std::vector<uint8_t> scratch_;
  kernels::RawBatch batch_;
  std::unique_ptr<TcpMirror> mirror_;  // null without mirror ports
  int64_t now_ms_ = 0;

  FrameCounters counters_;
  uint64_t reassembled_ = 0;
  uint64_t fragments_dropped_ = 0;
  uint64_t beacons_ = 0;
  uint64_t payload_bytes_ = 0;
  uint64_t to_kernel_ = 0;
  uint64_t from_kernel_ = 0;
  uint64_t exception_dropped_ = 0;
  std::array<std::atomic<uint64_t>, kFrameOutcomeCount> published_frames_{};
  std::atomic<uint64_t> published_reassembled_{0};
  std::atomic<uint64_t> published_dropped_{0};
  std::atomic<uint64_t> published_beacons_{0};
  std::atomic<uint64_t> published_bytes_{0};
  std::atomic<uint64_t> published_to_kernel_{0};
  std::atomic<uint64_t> published_from_kernel_{0};
  std::atomic<uint64_t> published_exception_dropped_{0};
  std::array<std::atomic<uint64_t>, kMirrorCounterCount> published_mirror_{};
  std::array<std::atomic<uint64_t>, kernels::kHttpRejectCount> published_mirror_rejects_{};
  std::atomic<uint64_t> published_mirror_flows_{0};
  std::atomic<uint64_t> published_mirror_bytes_{0};
};

}  // namespace

// Released in reverse order of setup, also when the relay's constructor throws half-way.
struct UdpRelay::State {
  ~State() {
    for (const auto& port : ports) internal::TearDownPort(port);
    workers.clear();  // their reassembly tables give back the mbufs they hold
    rte_mempool_free(pool);
  }

  UdpRelayConfig config;
  rte_mempool* pool = nullptr;
  std::vector<internal::PortSetup> ports;  // the relay's, then the exception port if any
  std::vector<std::string> port_names;
  std::vector<std::unique_ptr<RelayWorker>> workers;
  std::vector<unsigned> lcores;
  std::atomic<bool> stop{false};
  bool running = false;
  bool telemetry = false;
};

namespace {

// DPDK telemetry callbacks take no user argument, so the relay that answers them is found
// here; set by RegisterTelemetry, cleared by the relay's destructor.
std::atomic<const UdpRelay*> g_telemetry_relay{nullptr};

int FramesTelemetry(const char*, const char*, rte_tel_data* d) {
  const UdpRelay* relay = g_telemetry_relay.load();
  if (relay == nullptr) return -ENODEV;
  const RelayCounters c = relay->Counters();
  rte_tel_data_start_dict(d);
  for (size_t i = 0; i < kFrameOutcomeCount; ++i) {
    const std::string name(FrameOutcomeName(static_cast<FrameOutcome>(i)));
    rte_tel_data_add_dict_u64(d, name.c_str(), c.frames[i]);
  }
  rte_tel_data_add_dict_u64(d, "reassembled", c.reassembled);
  rte_tel_data_add_dict_u64(d, "fragments_dropped", c.fragments_dropped);
  rte_tel_data_add_dict_u64(d, "beacons", c.beacons);
  rte_tel_data_add_dict_u64(d, "payload_bytes", c.payload_bytes);
  rte_tel_data_add_dict_u64(d, "to_kernel", c.to_kernel);
  rte_tel_data_add_dict_u64(d, "from_kernel", c.from_kernel);
  rte_tel_data_add_dict_u64(d, "exception_dropped", c.exception_dropped);
  return 0;
}

int MirrorTelemetry(const char*, const char*, rte_tel_data* d) {
  const UdpRelay* relay = g_telemetry_relay.load();
  if (relay == nullptr) return -ENODEV;
  const RelayCounters c = relay->Counters();
  rte_tel_data_start_dict(d);
  for (size_t i = 0; i < kMirrorCounterCount; ++i) {
    const std::string name(MirrorCounterName(static_cast<MirrorCounter>(i)));
    rte_tel_data_add_dict_u64(d, name.c_str(), c.mirror.count[i]);
  }
  rte_tel_data_add_dict_u64(d, "flows", c.mirror_flows);
  rte_tel_data_add_dict_u64(d, "buffered_bytes", c.mirror_buffered_bytes);
  rte_tel_data* rejects = rte_tel_data_alloc();
  rte_tel_data_start_dict(rejects);
  for (size_t i = 0; i < kernels::kHttpRejectCount; ++i) {
    const std::string name(kernels::HttpRejectName(static_cast<kernels::HttpReject>(i)));
    rte_tel_data_add_dict_u64(rejects, name.c_str(), c.mirror.http_rejects[i]);
  }
  rte_tel_data_add_dict_container(d, "http_rejects", rejects, 0);
  return 0;
}

int PortTelemetry(const char*, const char* params, rte_tel_data* d) {
  const UdpRelay* relay = g_telemetry_relay.load();
  if (relay == nullptr) return -ENODEV;
  if (params == nullptr || *params == '\0') return -EINVAL;
  char* end = nullptr;
  const unsigned long port_id = std::strtoul(params, &end, 10);
  if (*end != '\0') return -EINVAL;
  for (const PortStats& p : relay->Ports()) {
    if (p.port_id != port_id) continue;
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_string(d, "name", p.name.c_str());
    rte_tel_data_add_dict_u64(d, "rx_packets", p.rx_packets);
    rte_tel_data_add_dict_u64(d, "rx_bytes", p.rx_bytes);
    rte_tel_data_add_dict_u64(d, "rx_missed", p.rx_missed);
    rte_tel_data_add_dict_u64(d, "rx_errors", p.rx_errors);
    rte_tel_data_add_dict_u64(d, "rx_no_mbuf", p.rx_no_mbuf);
    rte_tel_data* queues = rte_tel_data_alloc();
    rte_tel_data_start_array(queues, RTE_TEL_U64_VAL);
    for (const QueueStats& q : p.queues) rte_tel_data_add_array_u64(queues, q.packets);
    rte_tel_data_add_dict_container(d, "rx_queue_packets", queues, 0);
    return 0;
  }
  return -EINVAL;
}

int PortsTelemetry(const char*, const char*, rte_tel_data* d) {
  const UdpRelay* relay = g_telemetry_relay.load();
  if (relay == nullptr) return -ENODEV;
  rte_tel_data_start_array(d, RTE_TEL_INT_VAL);
  for (const PortStats& p : relay->Ports()) rte_tel_data_add_array_int(d, p.port_id);
  return 0;
}

int RunWorker(void* worker) {
  static_cast<RelayWorker*>(worker)->Run();
  return 0;
}

}  // namespace

UdpRelay::UdpRelay(const Eal& eal, const UdpRelayConfig& config, std::vector<RelaySink*> sinks)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.config = config;
  if (sinks.empty()) throw std::runtime_error("DPDK UDP relay: no workers (sinks) given");
  if (config.ports.empty()) throw std::runtime_error("DPDK UDP relay: no ports configured");
  if (config.beacon_ports.empty() && config.mirror.server_ports.empty()) {
    throw std::runtime_error(
        "DPDK UDP relay: neither beacon UDP ports nor mirror TCP ports configured");
  }
  if (config.burst == 0 || config.burst > kMaxBurst) {
    throw std::runtime_error("DPDK UDP relay: burst " + std::to_string(config.burst) +
                             " is outside 1.." + std::to_string(kMaxBurst));
  }
  unsigned lcore = 0;
  RTE_LCORE_FOREACH_WORKER(lcore) {
    if (s.lcores.size() < sinks.size()) s.lcores.push_back(lcore);
  }
  if (s.lcores.size() < sinks.size()) {
    throw std::runtime_error("DPDK UDP relay: " + std::to_string(sinks.size()) +
                             " workers need as many worker lcores, the EAL has " +
                             std::to_string(eal.lcore_count() - 1) +
                             " (give -l / --lcores with one more lcore than workers)");
  }
  const auto workers = static_cast<uint32_t>(sinks.size());
  uint32_t mbufs = config.mbufs;
  if (mbufs == 0) {
    // Every descriptor filled, two bursts in flight per queue, every reassembly table full.
    mbufs = static_cast<uint32_t>(config.ports.size()) * workers *
                (config.rx_descriptors + 2u * config.burst) +
            workers * config.reassembly_flows * RTE_LIBRTE_IP_FRAG_MAX_FRAG + 4096;
  }
  s.pool = internal::CreateRxPool(mbufs, static_cast<int>(rte_socket_id()));
  for (uint32_t w = 0; w < workers; ++w) {
    s.workers.push_back(std::make_unique<RelayWorker>(s.lcores[w], s.config, sinks[w], &s.stop));
  }
  uint32_t next_worker = 0;
  for (const std::string& spec : config.ports) {
    internal::PortSetupRequest request;
    request.spec = spec;
    request.rx_queues = static_cast<uint16_t>(workers);
    request.rx_descriptors = config.rx_descriptors;
    request.pool = s.pool;
    const internal::PortSetup port = internal::SetUpPort(request);
    s.ports.push_back(port);
    s.port_names.push_back(spec.substr(0, spec.find(',')));
    // (port, queue) pairs go round-robin over the workers: a port with a queue per worker
    // gives each one; single-queue ports (net_pcap, a NIC without RSS) spread over them.
    for (uint16_t q = 0; q < port.rx_queues; ++q) {
      s.workers[next_worker++ % workers]->AddQueue({port.port_id, q});
    }
  }
  if (!config.exception_port.empty()) SetUpExceptionPath(s, workers);
}

// The kernel-facing port gets a queue pair per worker and the NIC port's MAC (net_tap sets it
// on the kernel's interface too), so the kernel answers ARP and TCP as the node.
void UdpRelay::SetUpExceptionPath(State& s, uint32_t workers) {
  const std::string& spec = s.config.exception_port;
  if (s.ports.size() != 1) {
    throw std::runtime_error("DPDK exception port '" + spec + "': needs exactly one relay port, " +
                             std::to_string(s.ports.size()) + " configured");
  }
  const internal::PortSetup nic = s.ports.front();
  if (nic.tx_queues < workers) {
    throw std::runtime_error("DPDK exception port '" + spec + "': the relay port has " +
                             std::to_string(nic.tx_queues) + " TX queues for " +
                             std::to_string(workers) + " workers");
  }
  internal::PortSetupRequest request;
  request.spec = spec;
  request.rx_queues = static_cast<uint16_t>(workers);
  request.rx_descriptors = s.config.rx_descriptors;
  request.pool = s.pool;
  const internal::PortSetup kernel = internal::SetUpPort(request);
  s.ports.push_back(kernel);
  s.port_names.push_back(spec.substr(0, spec.find(',')));
  if (kernel.rx_queues < workers || kernel.tx_queues < workers) {
    throw std::runtime_error("DPDK exception port '" + spec +
                             "': " + std::to_string(kernel.rx_queues) + " queue pairs for " +
                             std::to_string(workers) + " workers");
  }
  rte_ether_addr mac{};
  const int rc = rte_eth_macaddr_get(nic.port_id, &mac) == 0
                     ? rte_eth_dev_default_mac_addr_set(kernel.port_id, &mac)
                     : -ENOTSUP;
  if (rc != 0) {
    std::fprintf(stderr,
                 "beacond: dpdk exception port '%s': cannot give it the relay port's MAC (%s); "
                 "the kernel answers with its own\n",
                 spec.c_str(), rte_strerror(-rc));
  }
  for (uint32_t w = 0; w < workers; ++w) {
    s.workers[w]->SetExceptionPath(
        {kernel.port_id, static_cast<uint16_t>(w), nic.port_id, static_cast<uint16_t>(w)});
  }
}

UdpRelay::~UdpRelay() {
  Stop();
  if (state_->telemetry) g_telemetry_relay.store(nullptr);
}

void UdpRelay::Start() {
  State& s = *state_;
  if (s.running) return;
  s.stop.store(false);
  for (size_t w = 0; w < s.workers.size(); ++w) {
    if (rte_eal_remote_launch(RunWorker, s.workers[w].get(), s.lcores[w]) != 0) {
      s.stop.store(true);
      rte_eal_mp_wait_lcore();
      throw std::runtime_error("DPDK UDP relay: cannot launch worker on lcore " +
                               std::to_string(s.lcores[w]) + " (busy)");
    }
  }
  s.running = true;
}

void UdpRelay::Stop() {
  State& s = *state_;
  if (!s.running) return;
  s.stop.store(true);
  for (unsigned lcore : s.lcores) rte_eal_wait_lcore(lcore);
  s.running = false;
}

RelayCounters UdpRelay::Counters() const {
  RelayCounters total;
  for (const auto& w : state_->workers) total += w->Snapshot();
  return total;
}

std::vector<PortStats> UdpRelay::Ports() const {
  std::vector<PortStats> out;
  for (size_t i = 0; i < state_->ports.size(); ++i) {
    const internal::PortSetup& port = state_->ports[i];
    rte_eth_stats stats{};
    PortStats p;
    p.port_id = port.port_id;
    p.name = state_->port_names[i];
    if (rte_eth_stats_get(port.port_id, &stats) == 0) {
      p.rx_packets = stats.ipackets;
      p.rx_bytes = stats.ibytes;
      p.rx_missed = stats.imissed;
      p.rx_errors = stats.ierrors;
      p.rx_no_mbuf = stats.rx_nombuf;
      const uint16_t queues = std::min<uint16_t>(port.rx_queues, RTE_ETHDEV_QUEUE_STAT_CNTRS);
      for (uint16_t q = 0; q < queues; ++q) {
        p.queues.push_back({stats.q_ipackets[q], stats.q_ibytes[q], stats.q_errors[q]});
      }
    }
    out.push_back(std::move(p));
  }
  return out;
}

size_t UdpRelay::worker_count() const { return state_->workers.size(); }

void UdpRelay::RegisterTelemetry() {
  const UdpRelay* expected = nullptr;
  if (!g_telemetry_relay.compare_exchange_strong(expected, this)) {
    throw std::runtime_error("DPDK telemetry: another UDP relay already answers /beacond/relay");
  }
  state_->telemetry = true;
  // Registration cannot be undone in DPDK 22.11; a second registration (a later relay in the
  // same process) fails with -EINVAL and the callbacks already find the relay above.
  rte_telemetry_register_cmd(
      "/beacond/relay/frames", FramesTelemetry,
      "Frames by parse outcome, reassembly and beacon counts. No parameters");
  rte_telemetry_register_cmd("/beacond/relay/ports", PortsTelemetry,
                             "Port ids of the UDP relay. No parameters");
  rte_telemetry_register_cmd("/beacond/relay/port", PortTelemetry,
                             "RX, missed, errors, no-mbuf of one relay port. Parameter: port id");
  rte_telemetry_register_cmd("/beacond/mirror", MirrorTelemetry,
                             "Passive HTTP mirror: segments, flows, gaps, requests, beacons, "
                             "HTTP rejects by reason. No parameters");
}

}  // namespace beacon::dpdk
