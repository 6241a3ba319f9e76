// MakeIngresses and the kernel-socket UDP ingress.
#include "appliance/ingress.h"

#include <cstdio>
#include <utility>

#include "host/net/udp_relay.h"

namespace beacon::app {
namespace {

class UdpIngress final : public Ingress {
 public:
  UdpIngress(const UdpIngressConfig& config, std::vector<kernels::BeaconSink*> sinks)
      : config_(config), relay_(config.relay, std::move(sinks)) {}

  void Start() override {
    relay_.Start();
    std::fprintf(stderr, "beacond: UDP relay on %s with %d workers\n",
                 config_.relay.address.c_str(), config_.workers);
    if (relay_.receive_buffer_bytes() < config_.relay.receive_buffer_bytes) {
      std::fprintf(stderr,
                   "beacond: warning: [udp] receive_buffer_kb = %d, but the kernel set %d KiB "
                   "per socket (net.core.rmem_max; raise it, or give beacond CAP_NET_ADMIN)\n",
                   config_.relay.receive_buffer_bytes >> 10, relay_.receive_buffer_bytes() >> 10);
    }
  }
  void Stop() override { relay_.Stop(); }
  void RegisterMetrics(host::MetricsRegistry* registry) const override {
    relay_.RegisterMetrics(registry, "beacond_udp");
  }

 private:
  UdpIngressConfig config_;
  host::UdpRelay relay_;
};

}  // namespace

std::vector<std::unique_ptr<Ingress>> MakeIngresses(const Config& config,
                                                    const kernels::ByteKernels& bytes,
                                                    const SinkFactory& make_sinks) {
  std::vector<std::unique_ptr<Ingress>> ingresses;
  if (config.udp.enabled) {
    ingresses.push_back(std::make_unique<UdpIngress>(config.udp, make_sinks(config.udp.workers)));
  }
  if (config.dpdk.enabled) {
    DpdkIngressConfig dpdk = config.dpdk;
    dpdk.data_plane.internet_sum = bytes.internet_sum;
    ingresses.push_back(MakeDpdkIngress(dpdk, make_sinks(config.dpdk.workers)));
  }
  return ingresses;
}

}  // namespace beacon::app
