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

void LogPort(const std::string& spec, uint16_t port_id, const rte_eth_dev_info& info,
             const rte_eth_conf& conf, uint16_t rx_queues) {
  rte_eth_link link{};
  const int link_rc = rte_eth_link_get_nowait(port_id, &link);
  std::string offloads;
  for (uint64_t bit = 1; bit != 0; bit <<= 1) {
    if ((info.rx_offload_capa & bit) != 0) {
      offloads += offloads.empty() ? "" : ",";
      offloads += rte_eth_dev_rx_offload_name(bit);
    }
  }
  std::fprintf(
      stderr,
      "beacond: dpdk port %u '%s' driver %s: link %s %u Mb/s %s; %u RX queues (max %u), "
      "RSS %s (hash functions 0x%llx of 0x%llx offered); RX offloads offered: %s\n",
      port_id, spec.c_str(), info.driver_name,
      link_rc == 0 && link.link_status == RTE_ETH_LINK_UP ? "up" : "down",
      link_rc == 0 ? link.link_speed : 0,
      link_rc == 0 && link.link_duplex == RTE_ETH_LINK_FULL_DUPLEX ? "full-duplex" : "half-duplex",
      rx_queues, MaxRxQueues(info), conf.rxmode.mq_mode == RTE_ETH_MQ_RX_RSS ? "on" : "off",
      static_cast<unsigned long long>(conf.rx_adv_conf.rss_conf.rss_hf),
      static_cast<unsigned long long>(info.flow_type_rss_offloads),
      offloads.empty() ? "none" : offloads.c_str());
}

}  // namespace

PortSetup SetUpPort(const PortSetupRequest& request) {
  const std::string& spec = request.spec;
  PortSetup port;
  if (!FindPort(spec, &port.port_id)) {
    const int rc = rte_dev_probe(spec.c_str());
    if (rc != 0) Fail(spec, "probe (expected a PCI address or a vdev string)", rc);
    if (!FindPort(spec, &port.port_id)) {
      throw std::runtime_error("DPDK port '" + spec + "': probed, but no ethdev by that name");
    }
  }
  rte_eth_dev_info info{};
  if (const int rc = rte_eth_dev_info_get(port.port_id, &info); rc != 0) {
    Fail(spec, "rte_eth_dev_info_get", rc);
  }
  port.rx_queues = std::max<uint16_t>(1, std::min(request.rx_queues, MaxRxQueues(info)));
  port.tx_queues = std::min(port.rx_queues, info.max_tx_queues);
  const uint16_t tx_queues = port.tx_queues;

  rte_eth_conf conf{};
  if (port.rx_queues > 1 && info.flow_type_rss_offloads != 0) {
    // IP fragments hash on addresses only (RTE_ETH_RSS_FRAG_*), so every fragment of a
    // datagram reaches the same lcore's reassembly table; TCP hashes on addresses and ports, so
    // every segment of a mirrored flow reaches the same lcore's TCP mirror.
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf =
        (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP | RTE_ETH_RSS_TCP) & info.flow_type_rss_offloads;
  }
  port.ip_checksum_offload = (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) != 0;
  port.udp_checksum_offload = (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_UDP_CKSUM) != 0;
  if (port.ip_checksum_offload) conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
  if (port.udp_checksum_offload) conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
  conf.rxmode.offloads |= info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
  if (const int rc = rte_eth_dev_configure(port.port_id, port.rx_queues, tx_queues, &conf);
      rc != 0) {
    Fail(spec, "rte_eth_dev_configure with " + std::to_string(port.rx_queues) + " RX queues", rc);
  }
  uint16_t rx_descriptors = request.rx_descriptors;
  uint16_t tx_descriptors = 512;
  if (const int rc =
          rte_eth_dev_adjust_nb_rx_tx_desc(port.port_id, &rx_descriptors, &tx_descriptors);
      rc != 0) {
    Fail(spec, "rte_eth_dev_adjust_nb_rx_tx_desc", rc);
  }

  const int socket = std::max(0, rte_eth_dev_socket_id(port.port_id));
  for (uint16_t q = 0; q < port.rx_queues; ++q) {
    rte_eth_rxconf rxconf = info.default_rxconf;
    rxconf.offloads = conf.rxmode.offloads;
    if (const int rc =
            rte_eth_rx_queue_setup(port.port_id, q, rx_descriptors, socket, &rxconf, request.pool);
        rc != 0) {
      Fail(spec, "rte_eth_rx_queue_setup of queue " + std::to_string(q), rc);
    }
  }
  for (uint16_t q = 0; q < tx_queues; ++q) {
    rte_eth_txconf txconf = info.default_txconf;
    if (const int rc = rte_eth_tx_queue_setup(port.port_id, q, tx_descriptors, socket, &txconf);
        rc != 0) {
      Fail(spec, "rte_eth_tx_queue_setup of queue " + std::to_string(q), rc);
    }
  }
  if (const int rc = rte_eth_dev_start(port.port_id); rc != 0) Fail(spec, "rte_eth_dev_start", rc);
  // Promiscuous mode is not offered by every vdev (net_pcap of a file); beacons addressed to
  // the node's MAC still arrive without it.
  rte_eth_promiscuous_enable(port.port_id);
  LogPort(spec, port.port_id, info, conf, port.rx_queues);
  return port;
}

rte_mempool* CreateRxPool(uint32_t mbufs, int socket) {
  uint32_t size = 1;
  while (size - 1 < mbufs) size <<= 1;
  rte_mempool* pool = rte_pktmbuf_pool_create("beacon_relay_rx", size - 1, 256, 0,
                                              RTE_MBUF_DEFAULT_BUF_SIZE, socket);
  if (pool == nullptr) {
    throw std::runtime_error("DPDK mbuf pool of " + std::to_string(size - 1) +
                             " mbufs: " + rte_strerror(rte_errno) +
                             " (raise the EAL memory, -m, or lower mbufs)");
  }
  return pool;
}

void TearDownPort(const PortSetup& port) {
  rte_eth_dev_stop(port.port_id);
  rte_eth_dev_close(port.port_id);
}

}  // namespace beacon::dpdk::internal
