// Port bring-up for the data plane (private to dpdk/): find or probe the port, configure RSS and
// RX queues, start it and log what the NIC offers; and the data plane's mbuf pool, sized from
// every consumer of it.
#pragma once

#include <rte_mempool.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dpdk/data_plane.h"

namespace beacon::dpdk::internal {

struct PortSetupRequest {
  std::string spec;                // PCI address or vdev string
  uint16_t rx_queues = 1;          // wanted; capped at what the PMD offers
  uint16_t rx_descriptors = 1024;  // per queue; adjusted to the PMD's limits
  uint16_t tx_descriptors = 512;
};

struct PortSetup {
  std::string spec;
  uint16_t port_id = 0;
  uint16_t rx_queues = 0;
  uint16_t tx_queues = 0;
  uint16_t rx_descriptors = 0;  // per queue, as the PMD adjusted them
  uint16_t tx_descriptors = 0;
  uint64_t rx_offloads = 0;
  uint64_t rss_hash = 0;  // 0: RSS off
  bool ip_checksum_offload = false;
  bool udp_checksum_offload = false;
};

// Finds the port `request.spec` names (probing it when the EAL does not have it yet) and
// configures its queues, RSS and offloads; the queues are set up by StartPort, once the pool
// they fill from exists. Throws std::runtime_error naming the spec and the failed step.
PortSetup ConfigurePort(const PortSetupRequest& request);

// Sets up the port's RX queues (filled from `pool`) and TX queues, starts and logs it. Throws
// std::runtime_error naming the spec and the failed step.
void StartPort(const PortSetup& port, rte_mempool* pool);

// What may hold an mbuf of the data plane's pool at once.
struct MbufNeed {
  uint64_t rx_descriptors = 0;  // every RX queue of every port filled
  uint64_t tx_descriptors = 0;  // every TX queue of every port not yet reclaimed
  uint64_t caches = 0;          // the per-lcore caches of the pool, main lcore included
  uint64_t in_flight = 0;       // per worker: an RX burst and a burst from the kernel
  uint64_t reassembly = 0;      // per worker: a full reassembly table and its death row
  uint64_t batches = 0;         // per worker: a raw batch of in-place payloads
  uint64_t Total() const {
    return rx_descriptors + tx_descriptors + caches + in_flight + reassembly + batches;
  }
  std::string Text() const;  // "4096 in RX descriptors + ... = total"
};

// Counts every consumer of the pool for `ports` (set up by ConfigurePort) and `workers`.
MbufNeed CountMbufs(const DataPlaneConfig& config, const std::vector<PortSetup>& ports,
                    uint32_t workers);

// The RX mbuf pool: `need.Total()`, or config.mbufs when set, rounded up to 2^k - 1 (the size
// rte_mempool is most efficient at). Throws std::runtime_error naming the numbers when
// config.mbufs is below what `need` counts, or when the EAL has not that much memory.
rte_mempool* CreateRxPool(const DataPlaneConfig& config, const MbufNeed& need, int socket);

// Stops and closes the port.
void TearDownPort(const PortSetup& port);

}  // namespace beacon::dpdk::internal
