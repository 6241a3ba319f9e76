// DataPlane: port and pool setup, one LcoreWorker per worker lcore (dpdk/internal), their
// launch and stop, and the sums of their counters.
#include "dpdk/data_plane.h"

#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include <algorithm>
#include <stdexcept>

#include "dpdk/internal/data_plane_state.h"

namespace beacon::dpdk {
namespace {

int RunWorker(void* worker) {
  static_cast<internal::LcoreWorker*>(worker)->Run();
  return 0;
}

// Configures every port, then creates the pool that holds what they and the workers may take at
// once, then starts the ports and hands their queues to the workers.
void SetUpPortsAndPool(DataPlane::State& s, uint32_t workers) {
  for (const std::string& spec : s.config.ports) {
    internal::PortSetupRequest request;
    request.spec = spec;
    request.rx_queues = static_cast<uint16_t>(workers);
    request.rx_descriptors = s.config.rx_descriptors;
    s.ports.push_back(internal::ConfigurePort(request));
    s.port_names.push_back(spec.substr(0, spec.find(',')));
  }
  if (!s.config.exception_port.empty()) internal::ConfigureExceptionPort(s, workers);
  // Only now are the queues and descriptors of every port known: the pool holds them all.
  const internal::MbufNeed need = internal::CountMbufs(s.config, s.ports, workers);
  s.mbufs_needed = need.Total();
  s.pool = internal::CreateRxPool(s.config, need, static_cast<int>(rte_socket_id()));
  for (const internal::PortSetup& port : s.ports) internal::StartPort(port, s.pool);
  // (port, queue) pairs of the data plane's ports go round-robin over the workers: a port with
  // a queue per worker gives each one; single-queue ports (net_pcap, a NIC without RSS) spread
  // over them.
  uint32_t next_worker = 0;
  for (size_t i = 0; i < s.config.ports.size(); ++i) {
    for (uint16_t q = 0; q < s.ports[i].rx_queues; ++q) {
      s.workers[next_worker++ % workers]->AddQueue({s.ports[i].port_id, q});
    }
  }
  if (!s.config.exception_port.empty()) internal::ConnectExceptionPath(s, workers);
}

}  // namespace

DataPlane::DataPlane(const Eal& eal, const DataPlaneConfig& config,
                     std::vector<kernels::BeaconSink*> sinks)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.config = config;
  if (sinks.empty()) throw std::runtime_error("DPDK data plane: no workers (sinks) given");
  if (config.ports.empty()) throw std::runtime_error("DPDK data plane: no ports configured");
  if (config.beacon_ports.empty() && config.mirror.server_ports.empty()) {
    throw std::runtime_error(
        "DPDK data plane: neither beacon UDP ports nor mirror TCP ports configured");
  }
  if (config.burst == 0 || config.burst > internal::kMaxBurst) {
    throw std::runtime_error("DPDK data plane: burst " + std::to_string(config.burst) +
                             " is outside 1.." + std::to_string(internal::kMaxBurst));
  }
  unsigned lcore = 0;
  RTE_LCORE_FOREACH_WORKER(lcore) {
    if (s.lcores.size() < sinks.size()) s.lcores.push_back(lcore);
  }
  if (s.lcores.size() < sinks.size()) {
    throw std::runtime_error("DPDK data plane: " + std::to_string(sinks.size()) +
                             " workers need as many worker lcores, the EAL has " +
                             std::to_string(eal.lcore_count() - 1) +
                             " (give -l / --lcores with one more lcore than workers)");
  }
  const auto workers = static_cast<uint32_t>(sinks.size());
  for (uint32_t w = 0; w < workers; ++w) {
    s.workers.push_back(
        std::make_unique<internal::LcoreWorker>(s.lcores[w], s.config, sinks[w], &s.stop));
  }
  SetUpPortsAndPool(s, workers);
}

DataPlane::~DataPlane() {
  Stop();
  // Before State is torn down: waits for a telemetry answer in flight, later ones find none.
  if (state_->telemetry) internal::UnregisterTelemetry(this);
}

void DataPlane::Start() {
  State& s = *state_;
  if (s.running) return;
  s.stop.store(false);
  for (size_t w = 0; w < s.workers.size(); ++w) {
    if (rte_eal_remote_launch(RunWorker, s.workers[w].get(), s.lcores[w]) != 0) {
      s.stop.store(true);
      rte_eal_mp_wait_lcore();
      throw std::runtime_error("DPDK data plane: cannot launch worker on lcore " +
                               std::to_string(s.lcores[w]) + " (busy)");
    }
  }
  s.running = true;
}

void DataPlane::Stop() {
  State& s = *state_;
  if (!s.running) return;
  s.stop.store(true);
  for (unsigned lcore : s.lcores) rte_eal_wait_lcore(lcore);
  s.running = false;
}

DataPlaneCounters DataPlane::Counters() const {
  DataPlaneCounters total;
  for (const auto& w : state_->workers) total += w->Snapshot();
  return total;
}

std::vector<PortStats> DataPlane::Ports() const {
  std::vector<PortStats> out;
  for (size_t i = 0; i < state_->ports.size(); ++i) {
    const internal::PortSetup& port = state_->ports[i];
    rte_eth_stats stats{};
    PortStats p;
    p.port_id = port.port_id;
    p.name = state_->port_names[i];
    if (rte_eth_stats_get(port.port_id, &stats) == 0) {
      p.rx_packets = stats.ipackets;
      p.rx_bytes = stats.ibytes;
      p.rx_missed = stats.imissed;
      p.rx_errors = stats.ierrors;
      p.rx_no_mbuf = stats.rx_nombuf;
      const uint16_t queues = std::min<uint16_t>(port.rx_queues, RTE_ETHDEV_QUEUE_STAT_CNTRS);
      for (uint16_t q = 0; q < queues; ++q) {
        p.queues.push_back({stats.q_ipackets[q], stats.q_ibytes[q], stats.q_errors[q]});
      }
    }
    out.push_back(std::move(p));
  }
  return out;
}

MbufPoolStats DataPlane::Pool() const {
  MbufPoolStats stats;
  stats.size = state_->pool->size;
  stats.in_use = rte_mempool_in_use_count(state_->pool);
  stats.needed = state_->mbufs_needed;
  return stats;
}

size_t DataPlane::worker_count() const { return state_->workers.size(); }

}  // namespace beacon::dpdk
