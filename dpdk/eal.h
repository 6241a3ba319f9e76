// The DPDK Environment Abstraction Layer for beacond: started once per process from the
// config's EAL arguments; lists the ports it found. No DPDK type appears in this header.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace beacon::dpdk {

struct PortInfo {
  uint16_t port_id = 0;
  std::string name;    // PCI address or vdev name, e.g. "net_null0"
  std::string driver;  // e.g. "net_null"
  unsigned max_rx_queues = 0;
  unsigned max_tx_queues = 0;
};

class Eal {
 public:
  // Starts the EAL with `args` (without argv[0]), e.g. {"--no-huge", "-m", "256", "--no-pci",
  // "--no-shconf", "--file-prefix", "beacond-x", "--vdev", "net_null0"}. Throws
  // std::runtime_error with DPDK's error text when it fails. At most one per process.
  static std::unique_ptr<Eal> Start(const std::vector<std::string>& args);
  ~Eal();  // rte_eal_cleanup
  Eal(const Eal&) = delete;
  Eal& operator=(const Eal&) = delete;

  std::vector<PortInfo> Ports() const;
  unsigned lcore_count() const;

 private:
  Eal() = default;
};

}  // namespace beacon::dpdk
