// The DPDK data plane: sets up the configured ports (RSS over the worker lcores), then runs one
// run-to-completion loop per worker lcore: RX burst -> L2/L3/L4 parse -> the UDP beacon relay
// (IP reassembly -> raw batch) and the passive HTTP mirror (TCP reassembly -> raw batch) ->
// that lcore's kernels::BeaconSink; optionally what it does not own to the kernel and back (the
// exception path). No DPDK type appears in this header.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dpdk/eal.h"
#include "dpdk/frame_parser.h"
#include "dpdk/tcp_mirror.h"
#include "kernels/beacon_sink.h"
#include "kernels/ip_prefix.h"

namespace beacon::dpdk {

struct DataPlaneConfig {
  // Ports by PCI address ("0000:01:00.0") or vdev string ("net_pcap0,rx_pcap=in.pcap"). A port
  // the EAL already has (from -a / --vdev) is used as is; any other is probed.
  std::vector<std::string> ports;
  std::vector<kernels::BeaconPort> beacon_ports;
  // Senders whose beacon datagrams (and fragments) are taken; others are dropped and counted
  // as source_not_allowed. Empty: every sender.
  std::vector<kernels::IpPrefix> allowed_sources;
  uint16_t rx_descriptors = 1024;  // per RX queue of each port (TX queues: 512)
  uint16_t burst = 32;
  // Mbufs in the data plane's pool (shared by every port); 0 sizes it from everything that may
  // hold one at once: every port's RX and TX descriptors (the exception port's own), the
  // per-lcore caches, the bursts in flight, full reassembly tables and raw batches. A value
  // below that is refused at start, naming the numbers.
  uint32_t mbufs = 0;
  uint32_t reassembly_flows = 1024;  // per lcore: datagrams being reassembled at once
  uint32_t reassembly_timeout_ms = 2000;
  int tick_ms = 100;  // kernels::BeaconSink::OnTick period
  // Passive HTTP mirror: client-to-server TCP to mirror.server_ports is reassembled per lcore
  // into HTTP requests whose beacons join the lcore's batch (dpdk/tcp_mirror.h). No ports: off.
  TcpMirrorConfig mirror;
  // Exception path: a vdev facing the kernel, e.g. "net_tap0,iface=beacon0". Frames the data
  // plane does not own (ARP and other non-IP, TCP, ICMP, UDP to other ports) go to the kernel
  // through it, and the kernel's frames go out of the data plane's port, so the node stays a
  // normal host. Needs exactly one port. Empty: such frames are dropped (and counted).
  std::string exception_port;
  // Per queue of the exception port. Its RX queues are filled from the pool when they are set
  // up, so each holds this many mbufs however few frames the kernel sends.
  uint16_t exception_rx_descriptors = 256;
  uint16_t exception_tx_descriptors = 256;
  // The decode backend's one's-complement sum (kernels::ByteKernels::internet_sum), which
  // verifies the UDP and TCP checksums the NIC did not.
  uint16_t (*internet_sum)(const uint8_t* p, size_t n) = &kernels::InternetSum;
};

struct QueueStats {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t errors = 0;
};

// rte_eth_stats of one port.
struct PortStats {
  uint16_t port_id = 0;
  std::string name;
  uint64_t rx_packets = 0;
  uint64_t rx_bytes = 0;
  uint64_t rx_missed = 0;   // dropped by the NIC: no free descriptor
  uint64_t rx_errors = 0;   // erroneous frames
  uint64_t rx_no_mbuf = 0;  // mbuf allocation failures
  std::vector<QueueStats> queues;
};

// The data plane's mbuf pool.
struct MbufPoolStats {
  uint32_t size = 0;    // mbufs in the pool
  uint32_t in_use = 0;  // taken: in the ports' queues, in flight, held (and in lcore caches)
  uint32_t needed = 0;  // what may be held at once (DataPlaneConfig::mbufs)
};

struct DataPlaneCounters {
  // Frames by outcome. A reassembled datagram is counted once more, by its own outcome.
  std::array<uint64_t, kFrameOutcomeCount> frames{};
  uint64_t reassembled = 0;        // datagrams rebuilt from fragments
  uint64_t fragments_dropped = 0;  // timed out, overlapping, over 8 per datagram, table full
  uint64_t beacons = 0;            // datagrams handed to the sinks
  uint64_t payload_bytes = 0;
  uint64_t to_kernel = 0;              // frames handed to the exception port
  uint64_t from_kernel = 0;            // the kernel's frames sent out of the port
  uint64_t exception_dropped = 0;      // either way, when a TX queue was full
  MirrorCounters mirror;               // the TCP mirrors of every lcore
  uint64_t mirror_flows = 0;           // flows being reassembled now
  uint64_t mirror_buffered_bytes = 0;  // bytes they hold now

  // The scalar counters above, listed once: a sum over lcores goes through them.
  static constexpr uint64_t DataPlaneCounters::*kScalars[] = {
      &DataPlaneCounters::reassembled,
      &DataPlaneCounters::fragments_dropped,
      &DataPlaneCounters::beacons,
      &DataPlaneCounters::payload_bytes,
      &DataPlaneCounters::to_kernel,
      &DataPlaneCounters::from_kernel,
      &DataPlaneCounters::exception_dropped,
      &DataPlaneCounters::mirror_flows,
      &DataPlaneCounters::mirror_buffered_bytes,
  };

  uint64_t Frames(FrameOutcome outcome) const { return frames[static_cast<size_t>(outcome)]; }
  // Adds another lcore's counters: every one of them, arrays and scalars.
  DataPlaneCounters& operator+=(const DataPlaneCounters& more) {
    for (size_t i = 0; i < frames.size(); ++i) frames[i] += more.frames[i];
    for (uint64_t DataPlaneCounters::*scalar : kScalars) this->*scalar += more.*scalar;
    for (size_t i = 0; i < mirror.count.size(); ++i) mirror.count[i] += more.mirror.count[i];
    for (size_t i = 0; i < mirror.http_rejects.size(); ++i) {
      mirror.http_rejects[i] += more.mirror.http_rejects[i];
    }
    return *this;
  }
};

class DataPlane {
 public:
  // Sets up every port with one RX queue per sink (fewer when the PMD has fewer), RSS over
  // them where the PMD offers it, and one mempool sized from `config`; logs link and offload
  // capabilities to stderr. (port, queue) pairs go round-robin over the workers, so single-
  // queue ports spread too. Worker i runs on the i-th worker lcore of the EAL. Throws
  // std::runtime_error naming the bad value (port spec, too few lcores, ...). `eal` and the
  // sinks outlive the data plane.
  DataPlane(const Eal& eal, const DataPlaneConfig& config, std::vector<kernels::BeaconSink*> sinks);
  ~DataPlane();  // Stops the workers and the ports.
  DataPlane(const DataPlane&) = delete;
  DataPlane& operator=(const DataPlane&) = delete;

  // Launches the worker lcores.
  void Start();
  // Stops the lcore loops: each takes the requests its mirror holds complete past a hole (the
  // hole declared lost), then hands its last batch and a final OnTick to its sink.
  void Stop();

  // Sums over the workers; safe from any thread.
  DataPlaneCounters Counters() const;
  // rte_eth_stats_get of every port; safe from any thread.
  std::vector<PortStats> Ports() const;
  // The mbuf pool's size and use; safe from any thread.
  MbufPoolStats Pool() const;
  size_t worker_count() const;

  // Registers /beacond/relay/frames, /beacond/relay/ports, /beacond/relay/port,<port_id> and
  // /beacond/mirror (every mirror counter, http_rejects by reason, flows, buffered_bytes) with
  // DPDK telemetry (data_plane_telemetry.cc), answering for this data plane while it lives. At
  // most one data plane per process registers. The destructor waits for an answer in flight;
  // once it has begun, requests are answered null (DPDK cannot unregister a command).
  void RegisterTelemetry();

  struct State;  // ports, pool and workers (dpdk/internal/data_plane_state.h)

 private:
  std::unique_ptr<State> state_;
};

}  // namespace beacon::dpdk
