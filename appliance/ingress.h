// beacond's ingresses besides the HTTP server, behind one interface: the kernel-socket UDP
// relay ([udp]) and the DPDK data plane ([dpdk]), each feeding worker pipelines of its own.
// The config chooses them; MakeIngresses makes them.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "appliance/config.h"
#include "host/metrics/metrics.h"
#include "kernels/beacon_sink.h"
#include "kernels/bytes/byte_table.h"

namespace beacon::app {

class Ingress {
 public:
  virtual ~Ingress() = default;
  // Starts RX and says on stderr where.
  virtual void Start() = 0;
  // Stops RX; each worker hands its last batch and a final tick to its pipeline.
  virtual void Stop() = 0;
  // Registers the ingress's counters (beacond_udp_*, beacond_dpdk_*).
  virtual void RegisterMetrics(host::MetricsRegistry* registry) const = 0;
};

// Makes `count` new worker pipelines and returns them as sinks; they outlive the ingress.
using SinkFactory = std::function<std::vector<kernels::BeaconSink*>(int count)>;

// The ingresses `config` enables, in the order [udp], [dpdk], each with config.<section>.workers
// pipelines from `make_sinks`; the DPDK data plane verifies checksums with `bytes`, the decode
// backend's byte kernels. Throws std::runtime_error naming what could not be set up.
std::vector<std::unique_ptr<Ingress>> MakeIngresses(const Config& config,
                                                    const kernels::ByteKernels& bytes,
                                                    const SinkFactory& make_sinks);

// The [dpdk] ingress: the EAL, the DPDK data plane and its metrics (dpdk_ingress.cc, built with
// DPDK). A beacond built without DPDK throws std::runtime_error saying so
// (dpdk_ingress_unavailable.cc).
std::unique_ptr<Ingress> MakeDpdkIngress(const DpdkIngressConfig& config,
                                         std::vector<kernels::BeaconSink*> sinks);

}  // namespace beacon::app
