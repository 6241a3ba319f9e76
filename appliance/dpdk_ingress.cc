// The [dpdk] ingress: the EAL and the DPDK data plane, each worker lcore feeding one of beacond's
// worker pipelines; the data plane's counters as Prometheus metrics. Built only with DPDK.
#include <cstdio>
#include <memory>
#include <string>
#include <utility>

#include "appliance/ingress.h"
#include "dpdk/data_plane.h"
#include "dpdk/eal.h"

namespace beacon::app {
namespace {

// beacond_dpdk_frames_total{outcome}, _reassembled_total, _fragments_dropped_total,
// _beacons_total, _payload_bytes_total, _to_kernel_total, _from_kernel_total,
// _exception_dropped_total.
void WriteFrameCounters(const dpdk::DataPlaneCounters& c, host::MetricsWriter& out) {
  for (size_t i = 0; i < dpdk::kFrameOutcomeCount; ++i) {
    const std::string outcome(dpdk::FrameOutcomeName(static_cast<dpdk::FrameOutcome>(i)));
    out.Counter("beacond_dpdk_frames_total",
                "Frames (and reassembled datagrams) by L2-L4 parse outcome", {{"outcome", outcome}},
                c.frames[i]);
  }
  out.Counter("beacond_dpdk_reassembled_total", "Datagrams rebuilt from IP fragments", {},
              c.reassembled);
  out.Counter("beacond_dpdk_fragments_dropped_total",
              "IP fragments dropped by reassembly (timeout, overlap, too many, table full)", {},
              c.fragments_dropped);
  out.Counter("beacond_dpdk_beacons_total", "Beacon datagrams handed to the pipelines", {},
              c.beacons);
  out.Counter("beacond_dpdk_payload_bytes_total", "UDP payload bytes handed to the pipelines", {},
              c.payload_bytes);
  out.Counter("beacond_dpdk_to_kernel_total",
              "Frames the relay does not own, handed to the kernel (exception path)", {},
              c.to_kernel);
  out.Counter("beacond_dpdk_from_kernel_total",
              "The kernel's frames sent out of the relay port (exception path)", {}, c.from_kernel);
  out.Counter("beacond_dpdk_exception_dropped_total",
              "Exception-path frames dropped on a full TX queue", {}, c.exception_dropped);
}

// The passive mirror's beacond_dpdk_mirror_<counter>_total (every dpdk::MirrorCounter label),
// _http_rejects_by_reason_total{reason} and the gauges beacond_dpdk_mirror_flows,
// _buffered_bytes.
void WriteMirrorCounters(const dpdk::DataPlaneCounters& c, host::MetricsWriter& out) {
  for (size_t i = 0; i < dpdk::kMirrorCounterCount; ++i) {
    const auto counter = static_cast<dpdk::MirrorCounter>(i);
    out.Counter("beacond_dpdk_mirror_" + std::string(dpdk::MirrorCounterName(counter)) + "_total",
                std::string(dpdk::MirrorCounterHelp(counter)), {}, c.mirror.count[i]);
  }
  for (size_t i = 0; i < kernels::kHttpRejectCount; ++i) {
    const auto reason = static_cast<kernels::HttpReject>(i);
    out.Counter("beacond_dpdk_mirror_http_rejects_by_reason_total",
                "Mirrored requests the strict parser rejected, by reason",
                {{"reason", std::string(kernels::HttpRejectName(reason))}},
                c.mirror.http_rejects[i]);
  }
  out.Gauge("beacond_dpdk_mirror_flows", "TCP flows the mirror is reassembling", {},
            static_cast<double>(c.mirror_flows));
  out.Gauge("beacond_dpdk_mirror_buffered_bytes",
            "Bytes the mirror holds (partial requests and out-of-order segments)", {},
            static_cast<double>(c.mirror_buffered_bytes));
}

// Per port beacond_dpdk_port_rx_packets_total, _rx_bytes_total, _rx_missed_total,
// _rx_errors_total, _rx_no_mbuf_total, and per queue beacond_dpdk_queue_rx_packets_total.
void WritePortStats(const std::vector<dpdk::PortStats>& ports, host::MetricsWriter& out) {
  const auto per_port = [&out, &ports](const char* name, const char* help, auto value) {
    for (const dpdk::PortStats& p : ports) {
      out.Counter(name, help, {{"port", p.name}}, value(p));
    }
  };
  per_port("beacond_dpdk_port_rx_packets_total", "Packets received by the port",
           [](const dpdk::PortStats& p) { return p.rx_packets; });
  per_port("beacond_dpdk_port_rx_bytes_total", "Bytes received by the port",
           [](const dpdk::PortStats& p) { return p.rx_bytes; });
  per_port("beacond_dpdk_port_rx_missed_total", "Packets the NIC dropped: RX queue full",
           [](const dpdk::PortStats& p) { return p.rx_missed; });
  per_port("beacond_dpdk_port_rx_errors_total", "Erroneous packets received",
           [](const dpdk::PortStats& p) { return p.rx_errors; });
  per_port("beacond_dpdk_port_rx_no_mbuf_total", "RX mbuf allocation failures",
           [](const dpdk::PortStats& p) { return p.rx_no_mbuf; });
  for (const dpdk::PortStats& p : ports) {
    for (size_t q = 0; q < p.queues.size(); ++q) {
      out.Counter("beacond_dpdk_queue_rx_packets_total", "Packets received per RX queue",
                  {{"port", p.name}, {"queue", std::to_string(q)}}, p.queues[q].packets);
    }
  }
}

// The mbuf pool's gauges beacond_dpdk_mbufs, _mbufs_in_use and _mbufs_needed (its exhaustion
// shows as beacond_dpdk_port_rx_no_mbuf_total).
void WritePool(const dpdk::MbufPoolStats& pool, host::MetricsWriter& out) {
  out.Gauge("beacond_dpdk_mbufs", "Mbufs in the DPDK data plane's pool", {},
            static_cast<double>(pool.size));
  out.Gauge("beacond_dpdk_mbufs_in_use",
            "Mbufs taken from the pool: in the ports' queues, in flight, held, in lcore caches", {},
            static_cast<double>(pool.in_use));
  out.Gauge("beacond_dpdk_mbufs_needed",
            "Mbufs the data plane may hold at once (descriptors, caches, bursts, reassembly, "
            "batches); the pool is at least this large",
            {}, static_cast<double>(pool.needed));
}

class DpdkIngress final : public Ingress {
 public:
  // Starts the EAL with config.eal_args and sets up the data plane's ports, one worker lcore per
  // sink. Throws std::runtime_error naming what failed.
  DpdkIngress(const DpdkIngressConfig& config, std::vector<kernels::BeaconSink*> sinks)
      : config_(config),
        eal_(dpdk::Eal::Start(config.eal_args)),
        plane_(*eal_, config.data_plane, std::move(sinks)) {
    plane_.RegisterTelemetry();
  }

  void Start() override {
    plane_.Start();
    std::fprintf(stderr, "beacond: DPDK data plane on %zu ports with %d worker lcores\n",
                 config_.data_plane.ports.size(), config_.workers);
  }
  void Stop() override { plane_.Stop(); }
  void RegisterMetrics(host::MetricsRegistry* registry) const override {
    const dpdk::DataPlane* plane = &plane_;
    registry->Add([plane](host::MetricsWriter& out) {
      const dpdk::DataPlaneCounters c = plane->Counters();
      WriteFrameCounters(c, out);
      WriteMirrorCounters(c, out);
      WritePortStats(plane->Ports(), out);
      WritePool(plane->Pool(), out);
    });
  }

 private:
  DpdkIngressConfig config_;
  std::unique_ptr<dpdk::Eal> eal_;  // outlives the data plane: declared before it
  dpdk::DataPlane plane_;
};

}  // namespace

std::unique_ptr<Ingress> MakeDpdkIngress(const DpdkIngressConfig& config,
                                         std::vector<kernels::BeaconSink*> sinks) {
  return std::make_unique<DpdkIngress>(config, std::move(sinks));
}

}  // namespace beacon::app
