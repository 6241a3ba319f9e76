// What a DataPlane owns (private to dpdk/): its ports, its mbuf pool and its lcore workers;
// shared by data_plane.cc, exception_path.cc and data_plane_telemetry.cc.
#pragma once

#include <rte_mempool.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dpdk/data_plane.h"
#include "dpdk/internal/lcore_worker.h"
#include "dpdk/internal/port_setup.h"

namespace beacon::dpdk {

// Released in reverse order of setup, also when the data plane's constructor throws half-way.
struct DataPlane::State {
  ~State() {
    for (const auto& port : ports) internal::TearDownPort(port);
    workers.clear();  // their reassembly tables give back the mbufs they hold
    rte_mempool_free(pool);
  }

  DataPlaneConfig config;
  rte_mempool* pool = nullptr;
  uint32_t mbufs_needed = 0;               // what the pool must hold at once (internal::CountMbufs)
  std::vector<internal::PortSetup> ports;  // the data plane's, then the exception port if any
  std::vector<std::string> port_names;
  std::vector<std::unique_ptr<internal::LcoreWorker>> workers;
  // The exception port's TX queues that several workers share (exception_path.cc).
  std::unique_ptr<internal::SharedQueueLock[]> kernel_tx_locks;
  std::vector<unsigned> lcores;
  std::atomic<bool> stop{false};
  bool running = false;
  bool telemetry = false;
};

namespace internal {

// Configures config.exception_port facing the kernel (after the data plane's ports, before the
// pool), and once every port started, gives every worker its queues on it (exception_path.cc).
// Throw std::runtime_error naming the port when it cannot serve.
void ConfigureExceptionPort(DataPlane::State& s, uint32_t workers);
void ConnectExceptionPath(DataPlane::State& s, uint32_t workers);

// Stops the telemetry commands answering for `plane` (data_plane_telemetry.cc).
void UnregisterTelemetry(const DataPlane* plane);

}  // namespace internal
}  // namespace beacon::dpdk
