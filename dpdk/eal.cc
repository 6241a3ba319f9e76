// Eal: rte_eal_init / rte_eal_cleanup and the port list.
#include "dpdk/eal.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>

#include <atomic>
#include <stdexcept>

namespace beacon::dpdk {
namespace {
std::atomic<bool> g_started{false};
}  // namespace

std::unique_ptr<Eal> Eal::Start(const std::vector<std::string>& args) {
  if (g_started.exchange(true))
    throw std::runtime_error("DPDK EAL already started in this process");
  std::vector<std::string> storage;
  storage.reserve(args.size() + 1);
  storage.emplace_back("beacond");
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  if (rte_eal_init(static_cast<int>(storage.size()), argv.data()) < 0) {
    g_started = false;
    std::string joined;
    for (const auto& a : args) joined += " " + a;
    throw std::runtime_error("DPDK EAL init failed (" + std::string(rte_strerror(rte_errno)) +
                             ") with arguments:" + joined);
  }
  return std::unique_ptr<Eal>(new Eal());
}

Eal::~Eal() { rte_eal_cleanup(); }

std::vector<PortInfo> Eal::Ports() const {
  std::vector<PortInfo> ports;
  uint16_t port_id = 0;
  RTE_ETH_FOREACH_DEV(port_id) {
    PortInfo info;
    info.port_id = port_id;
    char name[RTE_ETH_NAME_MAX_LEN] = {};
    if (rte_eth_dev_get_name_by_port(port_id, name) == 0) info.name = name;
    rte_eth_dev_info dev{};
    if (rte_eth_dev_info_get(port_id, &dev) == 0) {
      info.driver = dev.driver_name != nullptr ? dev.driver_name : "";
      info.max_rx_queues = dev.max_rx_queues;
      info.max_tx_queues = dev.max_tx_queues;
    }
    ports.push_back(std::move(info));
  }
  return ports;
}

unsigned Eal::lcore_count() const { return rte_lcore_count(); }

}  // namespace beacon::dpdk
