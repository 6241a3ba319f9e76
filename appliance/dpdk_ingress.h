// beacond's DPDK ingress: starts the EAL and the DPDK UDP relay from the [dpdk] config, each
// worker lcore feeding one of beacond's worker pipelines; exports the relay's counters as
// Prometheus metrics. Built only with DPDK (BEACON_HAVE_DPDK); no DPDK type in this header.
#pragma once

#include <memory>
#include <vector>

#include "appliance/config.h"
#include "host/metrics/metrics.h"
#include "host/net/http_server.h"

namespace beacon::app {

class DpdkIngress {
 public:
  // Starts the EAL with config.eal_args and sets up the relay's ports, one worker lcore per
  // sink (config.workers of them). Throws std::runtime_error naming what failed.
  DpdkIngress(const DpdkIngressConfig& config, std::vector<host::BeaconSink*> sinks);
  ~DpdkIngress();  // Stops the workers, closes the ports, cleans up the EAL.
  DpdkIngress(const DpdkIngress&) = delete;
  DpdkIngress& operator=(const DpdkIngress&) = delete;

  void Start();
  // Stops RX; each worker hands its last batch and a final tick to its pipeline.
  void Stop();

  // beacond_dpdk_frames_total{outcome}, _reassembled_total, _fragments_dropped_total,
  // _beacons_total, _payload_bytes_total, _to_kernel_total, _from_kernel_total,
  // _exception_dropped_total; the passive mirror's beacond_dpdk_mirror_<counter>_total (every
  // dpdk::MirrorCounter label), _http_rejects_by_reason_total{reason} and the gauges
  // beacond_dpdk_mirror_flows, _buffered_bytes; and per port beacond_dpdk_port_rx_packets_total,
  // _rx_bytes_total, _rx_missed_total, _rx_errors_total, _rx_no_mbuf_total, and per queue
  // beacond_dpdk_queue_rx_packets_total{port,queue}.
  void RegisterMetrics(host::MetricsRegistry* registry) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace beacon::app
