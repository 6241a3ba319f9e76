// SetUpPort: the skeleton's bring-up order (info, configure, adjust descriptors, queues, start)
// with RSS and checksum offloads masked to what the PMD advertises.
#include "dpdk/internal/port_setup.h"

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ip_frag.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "kernels/raw_batch.h"

namespace beacon::dpdk::internal {
namespace {

[[noreturn]] void Fail(const std::string& spec, const std::string& step, int rc) {
  throw std::runtime_error("DPDK port '" + spec + "': " + step +
                           " failed: " + rte_strerror(rc < 0 ? -rc : rc));
}

// The port the spec names: a vdev's name is the text before its first ','; a PCI port is
// named by its full domain:bus:device.function address.
bool FindPort(const std::string& spec, uint16_t* port_id) {
  const std::string name = spec.substr(0, spec.find(','));
  if (rte_eth_dev_get_port_by_name(name.c_str(), port_id) == 0) return true;
  return rte_eth_dev_get_port_by_name(("0000:" + name).c_str(), port_id) == 0;
}

// DPDK 22.11's net_tap, when it starts, hands every queue's fd to the secondary processes in one
// message (tap_mp_req_on_rxtx), copying them into that message's array of RTE_MP_MAX_FD_NUM (8)
// fds on its stack without a bound: with more than 4 queue pairs it overflows the array and the
// process aborts ("stack smashing detected"), --no-shconf or not. Its max_rx_queues says 16.
constexpr uint16_t kTapMaxQueuePairs = RTE_MP_MAX_FD_NUM / 2;

uint16_t MaxRxQueues(const rte_eth_dev_info& info) {
  if (std::strcmp(info.driver_name, "net_tap") == 0) {
    return std::min(info.max_rx_queues, kTapMaxQueuePairs);
  }
  return info.max_rx_queues;
}

void LogPort(const PortSetup& port, const rte_eth_dev_info& info) {
  rte_eth_link link{};
  const int link_rc = rte_eth_link_get_nowait(port.port_id, &link);
  std::string offloads;
  for (uint64_t bit = 1; bit != 0; bit <<= 1) {
    if ((info.rx_offload_capa & bit) != 0) {
      offloads += offloads.empty() ? "" : ",";
      offloads += rte_eth_dev_rx_offload_name(bit);
    }
  }
  std::fprintf(
      stderr,
      "beacond: dpdk port %u '%s' driver %s: link %s %u Mb/s %s; %u RX queues (max %u) of %u "
      "descriptors, %u TX queues of %u, RSS %s (hash functions 0x%llx of 0x%llx offered); RX "
      "offloads offered: %s\n",
      port.port_id, port.spec.c_str(), info.driver_name,
      link_rc == 0 && link.link_status == RTE_ETH_LINK_UP ? "up" : "down",
      link_rc == 0 ? link.link_speed : 0,
      link_rc == 0 && link.link_duplex == RTE_ETH_LINK_FULL_DUPLEX ? "full-duplex" : "half-duplex",
      port.rx_queues, MaxRxQueues(info), port.rx_descriptors, port.tx_queues, port.tx_descriptors,
      port.rss_hash != 0 ? "on" : "off", static_cast<unsigned long long>(port.rss_hash),
      static_cast<unsigned long long>(info.flow_type_rss_offloads),
      offloads.empty() ? "none" : offloads.c_str());
}

rte_eth_dev_info DeviceInfo(const PortSetup& port) {
  rte_eth_dev_info info{};
  if (const int rc = rte_eth_dev_info_get(port.port_id, &info); rc != 0) {
    Fail(port.spec, "rte_eth_dev_info_get", rc);
  }
  return info;
}

// The pool's per-lcore cache, and how many mbufs one may keep before it flushes (rte_mempool
// flushes a cache above 1.5 times its size).
constexpr uint32_t kPoolCache = 256;
constexpr uint32_t kPoolCacheMost = kPoolCache * 3 / 2;

}  // namespace

PortSetup ConfigurePort(const PortSetupRequest& request) {
  PortSetup port;
  port.spec = request.spec;
  const std::string& spec = request.spec;
  if (!FindPort(spec, &port.port_id)) {
    const int rc = rte_dev_probe(spec.c_str());
    if (rc != 0) Fail(spec, "probe (expected a PCI address or a vdev string)", rc);
    if (!FindPort(spec, &port.port_id)) {
      throw std::runtime_error("DPDK port '" + spec + "': probed, but no ethdev by that name");
    }
  }
  const rte_eth_dev_info info = DeviceInfo(port);
  port.rx_queues = std::max<uint16_t>(1, std::min(request.rx_queues, MaxRxQueues(info)));
  port.tx_queues = std::min(port.rx_queues, info.max_tx_queues);

  rte_eth_conf conf{};
  if (port.rx_queues > 1 && info.flow_type_rss_offloads != 0) {
    // IP fragments hash on addresses only (RTE_ETH_RSS_FRAG_*), so every fragment of a
    // datagram reaches the same lcore's reassembly table; TCP hashes on addresses and ports, so
    // every segment of a mirrored flow reaches the same lcore's TCP mirror.
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf =
        (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP | RTE_ETH_RSS_TCP) & info.flow_type_rss_offloads;
    port.rss_hash = conf.rx_adv_conf.rss_conf.rss_hf;
  }
  port.ip_checksum_offload = (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) != 0;
  port.udp_checksum_offload = (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_UDP_CKSUM) != 0;
  if (port.ip_checksum_offload) conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
  if (port.udp_checksum_offload) conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
  conf.rxmode.offloads |= info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
  port.rx_offloads = conf.rxmode.offloads;
  if (const int rc = rte_eth_dev_configure(port.port_id, port.rx_queues, port.tx_queues, &conf);
      rc != 0) {
    Fail(spec, "rte_eth_dev_configure with " + std::to_string(port.rx_queues) + " RX queues", rc);
  }
  port.rx_descriptors = request.rx_descriptors;
  port.tx_descriptors = request.tx_descriptors;
  if (const int rc = rte_eth_dev_adjust_nb_rx_tx_desc(port.port_id, &port.rx_descriptors,
                                                      &port.tx_descriptors);
      rc != 0) {
    Fail(spec, "rte_eth_dev_adjust_nb_rx_tx_desc", rc);
  }
  return port;
}

void StartPort(const PortSetup& port, rte_mempool* pool) {
  const rte_eth_dev_info info = DeviceInfo(port);
  const int socket = std::max(0, rte_eth_dev_socket_id(port.port_id));
  for (uint16_t q = 0; q < port.rx_queues; ++q) {
    rte_eth_rxconf rxconf = info.default_rxconf;
    rxconf.offloads = port.rx_offloads;
    if (const int rc =
            rte_eth_rx_queue_setup(port.port_id, q, port.rx_descriptors, socket, &rxconf, pool);
        rc != 0) {
      Fail(port.spec, "rte_eth_rx_queue_setup of queue " + std::to_string(q), rc);
    }
  }
  for (uint16_t q = 0; q < port.tx_queues; ++q) {
    rte_eth_txconf txconf = info.default_txconf;
    if (const int rc =
            rte_eth_tx_queue_setup(port.port_id, q, port.tx_descriptors, socket, &txconf);
        rc != 0) {
      Fail(port.spec, "rte_eth_tx_queue_setup of queue " + std::to_string(q), rc);
    }
  }
  if (const int rc = rte_eth_dev_start(port.port_id); rc != 0) {
    Fail(port.spec, "rte_eth_dev_start", rc);
  }
  // Promiscuous mode is not offered by every vdev (net_pcap of a file); beacons addressed to
  // the node's MAC still arrive without it.
  rte_eth_promiscuous_enable(port.port_id);
  LogPort(port, info);
}

std::string MbufNeed::Text() const {
  return std::to_string(rx_descriptors) + " in RX descriptors + " + std::to_string(tx_descriptors) +
         " in TX descriptors + " + std::to_string(caches) + " in the lcores' caches + " +
         std::to_string(in_flight) + " in flight + " + std::to_string(reassembly) +
         " in the reassembly tables + " + std::to_string(batches) +
         " in the raw batches = " + std::to_string(Total());
}

MbufNeed CountMbufs(const DataPlaneConfig& config, const std::vector<PortSetup>& ports,
                    uint32_t workers) {
  MbufNeed need;
  for (const PortSetup& port : ports) {
    need.rx_descriptors += uint64_t{port.rx_queues} * port.rx_descriptors;
    need.tx_descriptors += uint64_t{port.tx_queues} * port.tx_descriptors;
  }
  need.caches = uint64_t{workers + 1} * kPoolCacheMost;
  need.in_flight = uint64_t{workers} * 2 * config.burst;
  need.reassembly =
      uint64_t{workers} * (uint64_t{config.reassembly_flows} * RTE_LIBRTE_IP_FRAG_MAX_FRAG +
                           RTE_IP_FRAG_DEATH_ROW_MBUF_LEN);
  need.batches = uint64_t{workers} * kernels::kMaxBatchBeacons;
  return need;
}

rte_mempool* CreateRxPool(const DataPlaneConfig& config, const MbufNeed& need, int socket) {
  if (config.mbufs != 0 && config.mbufs < need.Total()) {
    throw std::runtime_error("DPDK mbuf pool: mbufs = " + std::to_string(config.mbufs) +
                             " cannot hold what the data plane may hold at once (" + need.Text() +
                             "); raise [dpdk] mbufs to at least " + std::to_string(need.Total()) +
                             ", or set 0 to size it from these");
  }
  const uint64_t mbufs = config.mbufs != 0 ? config.mbufs : need.Total();
  uint64_t size = 1;
  while (size - 1 < mbufs) size <<= 1;
  if (size - 1 > UINT32_MAX) {
    throw std::runtime_error("DPDK mbuf pool: the data plane may hold " + need.Text() +
                             " mbufs at once, past what one pool holds (lower rx_descriptors, "
                             "reassembly_flows or workers)");
  }
  rte_mempool* pool = rte_pktmbuf_pool_create("beacon_relay_rx", static_cast<unsigned>(size - 1),
                                              kPoolCache, 0, RTE_MBUF_DEFAULT_BUF_SIZE, socket);
  if (pool == nullptr) {
    throw std::runtime_error("DPDK mbuf pool of " + std::to_string(size - 1) +
                             " mbufs: " + rte_strerror(rte_errno) +
                             " (raise the EAL memory, -m, or lower mbufs)");
  }
  std::fprintf(stderr, "beacond: dpdk mbuf pool of %llu mbufs for at most %s held at once\n",
               static_cast<unsigned long long>(size - 1), need.Text().c_str());
  return pool;
}

void TearDownPort(const PortSetup& port) {
  rte_eth_dev_stop(port.port_id);
  rte_eth_dev_close(port.port_id);
}

}  // namespace beacon::dpdk::internal
