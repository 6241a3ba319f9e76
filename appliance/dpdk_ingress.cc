// DpdkIngress: the EAL, the relay, and the adapter from the pipelines' host::BeaconSink to
// dpdk::RelaySink (dpdk/ may not depend on host/, so the appliance joins the two).
#include "appliance/dpdk_ingress.h"

#include <string>

#include "dpdk/eal.h"
#include "dpdk/udp_relay.h"

namespace beacon::app {
namespace {

class PipelineSink final : public dpdk::RelaySink {
 public:
  explicit PipelineSink(host::BeaconSink* pipeline) : pipeline_(pipeline) {}
  bool Admitting() override { return pipeline_->Admitting(); }
  void OnBatch(kernels::RawBatch& batch) override { pipeline_->OnBatch(batch); }
  void OnTick(int64_t now_ms) override { pipeline_->OnTick(now_ms); }

 private:
  host::BeaconSink* pipeline_;
};

dpdk::UdpRelayConfig RelayConfig(const DpdkIngressConfig& config) {
  dpdk::UdpRelayConfig relay;
  relay.ports = config.ports;
  if (config.hit_batch_port != 0) {
    relay.beacon_ports.push_back({config.hit_batch_port, kernels::Endpoint::kUdpHitBatch});
  }
  if (config.syslog_port != 0) {
    relay.beacon_ports.push_back({config.syslog_port, kernels::Endpoint::kUdpSyslog});
  }
  relay.rx_descriptors = config.rx_descriptors;
  relay.burst = config.burst;
  relay.mbufs = config.mbufs;
  relay.reassembly_flows = config.reassembly_flows;
  relay.reassembly_timeout_ms = config.reassembly_timeout_ms;
  relay.exception_port = config.exception_port;
  relay.mirror.server_ports = config.mirror_ports;
  relay.mirror.max_flows = config.mirror_flows;
  relay.mirror.max_flow_bytes = config.mirror_flow_bytes;
  relay.mirror.max_total_bytes = config.mirror_total_bytes;
  relay.mirror.idle_ms = config.mirror_idle_ms;
  relay.mirror.gap_ms = config.mirror_gap_ms;
  relay.mirror.client_ip_header = config.mirror_client_ip_header;
  relay.mirror.country_headers = config.country_headers;
  return relay;
}

}  // namespace

struct DpdkIngress::State {
  std::unique_ptr<dpdk::Eal> eal;
  std::vector<std::unique_ptr<PipelineSink>> sinks;
  std::unique_ptr<dpdk::UdpRelay> relay;
};

DpdkIngress::DpdkIngress(const DpdkIngressConfig& config, std::vector<host::BeaconSink*> sinks)
    : state_(std::make_unique<State>()) {
  state_->eal = dpdk::Eal::Start(config.eal_args);
  std::vector<dpdk::RelaySink*> relay_sinks;
  for (host::BeaconSink* sink : sinks) {
    state_->sinks.push_back(std::make_unique<PipelineSink>(sink));
    relay_sinks.push_back(state_->sinks.back().get());
  }
  state_->relay =
      std::make_unique<dpdk::UdpRelay>(*state_->eal, RelayConfig(config), std::move(relay_sinks));
  state_->relay->RegisterTelemetry();
}

DpdkIngress::~DpdkIngress() {
  state_->relay.reset();
  state_->eal.reset();
}

void DpdkIngress::Start() { state_->relay->Start(); }

void DpdkIngress::Stop() { state_->relay->Stop(); }

void DpdkIngress::RegisterMetrics(host::MetricsRegistry* registry) const {
  const dpdk::UdpRelay* relay = state_->relay.get();
  registry->Add([relay](host::MetricsWriter& out) {
    const dpdk::RelayCounters c = relay->Counters();
    for (size_t i = 0; i < dpdk::kFrameOutcomeCount; ++i) {
      const std::string outcome(dpdk::FrameOutcomeName(static_cast<dpdk::FrameOutcome>(i)));
      out.Counter("beacond_dpdk_frames_total",
                  "Frames (and reassembled datagrams) by L2-L4 parse outcome",
                  {{"outcome", outcome}}, c.frames[i]);
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
                "The kernel's frames sent out of the relay port (exception path)", {},
                c.from_kernel);
    out.Counter("beacond_dpdk_exception_dropped_total",
                "Exception-path frames dropped on a full TX queue", {}, c.exception_dropped);
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
    const std::vector<dpdk::PortStats> ports = relay->Ports();
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
  });
}

}  // namespace beacon::app
