// The exception path: a kernel-facing port (TAP) through which the frames the data plane does
// not own reach the kernel, and the kernel's frames leave by the data plane's port, so the node
// stays a normal host (dpdk/README.md).
#include <rte_errno.h>
#include <rte_ethdev.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

#include "dpdk/internal/data_plane_state.h"

namespace beacon::dpdk::internal {

namespace {

// Gives every worker its queue pair on the kernel-facing port: worker w the pair w % queues. A
// pair that several workers share takes sends under a lock, and only worker w < queues reads the
// kernel's frames from it (each leaves by that worker's TX queue of the NIC port).
void AssignKernelQueues(DataPlane::State& s, const PortSetup& nic, const PortSetup& kernel,
                        uint32_t workers) {
  const uint16_t queues = std::min(kernel.rx_queues, kernel.tx_queues);
  if (queues < workers) {
    s.kernel_tx_locks = std::make_unique<SharedQueueLock[]>(queues);
    std::fprintf(stderr,
                 "beacond: dpdk exception port '%s': %u queue pairs for %u workers; worker w "
                 "sends to the kernel on pair w %% %u, workers 0-%u read the kernel's frames\n",
                 s.config.exception_port.c_str(), queues, workers, queues, queues - 1u);
  }
  for (uint32_t w = 0; w < workers; ++w) {
    const auto q = static_cast<uint16_t>(w % queues);
    ExceptionQueues e{kernel.port_id, q, nic.port_id, static_cast<uint16_t>(w)};
    e.reads_kernel = w < queues;
    if (q + queues < workers) e.kernel_tx_lock = &s.kernel_tx_locks[q].lock;  // shared
    s.workers[w]->SetExceptionPath(e);
  }
}

}  // namespace

// The kernel-facing port gets a queue pair per worker (fewer when the PMD takes fewer: the
// workers then share them), of the exception path's own descriptor counts: the kernel's share
// of the traffic is small, and every RX descriptor holds an mbuf of the pool from setup on.
void ConfigureExceptionPort(DataPlane::State& s, uint32_t workers) {
  const std::string& spec = s.config.exception_port;
  if (s.ports.size() != 1) {
    throw std::runtime_error("DPDK exception port '" + spec +
                             "': needs exactly one data plane port, " +
                             std::to_string(s.ports.size()) + " configured");
  }
  if (s.ports.front().tx_queues < workers) {
    throw std::runtime_error("DPDK exception port '" + spec + "': the data plane's port has " +
                             std::to_string(s.ports.front().tx_queues) + " TX queues for " +
                             std::to_string(workers) + " workers");
  }
  PortSetupRequest request;
  request.spec = spec;
  request.rx_queues = static_cast<uint16_t>(workers);
  request.rx_descriptors = s.config.exception_rx_descriptors;
  request.tx_descriptors = s.config.exception_tx_descriptors;
  s.ports.push_back(ConfigurePort(request));
  s.port_names.push_back(spec.substr(0, spec.find(',')));
  // AssignKernelQueues shares min(RX, TX) pairs among the workers: it needs one at least.
  if (s.ports.back().rx_queues == 0 || s.ports.back().tx_queues == 0) {
    throw std::runtime_error("DPDK exception port '" + spec +
                             "': the PMD offers no RX or no TX queue");
  }
}

// The started kernel-facing port gets the NIC port's MAC (net_tap sets it on the kernel's
// interface too), so the kernel answers ARP and TCP as the node; the workers get their queues.
void ConnectExceptionPath(DataPlane::State& s, uint32_t workers) {
  const PortSetup& nic = s.ports.front();
  const PortSetup& kernel = s.ports.back();
  rte_ether_addr mac{};
  const int rc = rte_eth_macaddr_get(nic.port_id, &mac) == 0
                     ? rte_eth_dev_default_mac_addr_set(kernel.port_id, &mac)
                     : -ENOTSUP;
  if (rc != 0) {
    std::fprintf(
        stderr,
        "beacond: dpdk exception port '%s': cannot give it the data plane port's MAC (%s); "
        "the kernel answers with its own\n",
        kernel.spec.c_str(), rte_strerror(-rc));
  }
  AssignKernelQueues(s, nic, kernel, workers);
}

}  // namespace beacon::dpdk::internal
