// The exception path: a kernel-facing port (TAP) through which the frames the data plane does
// not own reach the kernel, and the kernel's frames leave by the data plane's port, so the node
// stays a normal host (dpdk/README.md).
#include <rte_errno.h>
#include <rte_ethdev.h>

#include <cstdio>
#include <stdexcept>
#include <string>

#include "dpdk/internal/data_plane_state.h"

namespace beacon::dpdk::internal {

// The kernel-facing port gets a queue pair per worker and the NIC port's MAC (net_tap sets it
// on the kernel's interface too), so the kernel answers ARP and TCP as the node.
void SetUpExceptionPath(DataPlane::State& s, uint32_t workers) {
  const std::string& spec = s.config.exception_port;
  if (s.ports.size() != 1) {
    throw std::runtime_error("DPDK exception port '" + spec +
                             "': needs exactly one data plane port, " +
                             std::to_string(s.ports.size()) + " configured");
  }
  const PortSetup nic = s.ports.front();
  if (nic.tx_queues < workers) {
    throw std::runtime_error("DPDK exception port '" + spec + "': the data plane's port has " +
                             std::to_string(nic.tx_queues) + " TX queues for " +
                             std::to_string(workers) + " workers");
  }
  PortSetupRequest request;
  request.spec = spec;
  request.rx_queues = static_cast<uint16_t>(workers);
  request.rx_descriptors = s.config.rx_descriptors;
  request.pool = s.pool;
  const PortSetup kernel = SetUpPort(request);
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
    std::fprintf(
        stderr,
        "beacond: dpdk exception port '%s': cannot give it the data plane port's MAC (%s); "
        "the kernel answers with its own\n",
        spec.c_str(), rte_strerror(-rc));
  }
  for (uint32_t w = 0; w < workers; ++w) {
    s.workers[w]->SetExceptionPath(
        {kernel.port_id, static_cast<uint16_t>(w), nic.port_id, static_cast<uint16_t>(w)});
  }
}

}  // namespace beacon::dpdk::internal
