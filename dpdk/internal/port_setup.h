// Port bring-up for the data plane (private to dpdk/): find or probe the port, configure RSS and
// RX queues, start it and log what the NIC offers; and the data plane's mbuf pool.
#pragma once

#include <rte_mempool.h>

#include <cstdint>
#include <string>

namespace beacon::dpdk::internal {

struct PortSetupRequest {
  std::string spec;        // PCI address or vdev string
  uint16_t rx_queues = 1;  // wanted; capped at what the PMD offers
  uint16_t rx_descriptors = 1024;
  rte_mempool* pool = nullptr;  // shared by every port's RX queues
};

struct PortSetup {
  uint16_t port_id = 0;
  uint16_t rx_queues = 0;
  uint16_t tx_queues = 0;
  bool ip_checksum_offload = false;
  bool udp_checksum_offload = false;
};

// Finds the port `request.spec` names (probing it when the EAL does not have it yet), then
// configures, starts and logs it. Throws std::runtime_error naming the spec and the failed step.
PortSetup SetUpPort(const PortSetupRequest& request);

// The RX mbuf pool: `mbufs` rounded up to 2^k - 1 (the size rte_mempool is most efficient at).
// Throws std::runtime_error when the EAL has not that much memory.
rte_mempool* CreateRxPool(uint32_t mbufs, int socket);

// Stops and closes the port.
void TearDownPort(const PortSetup& port);

}  // namespace beacon::dpdk::internal
