// The /beacond/relay/* and /beacond/mirror DPDK telemetry commands of the data plane.
#include <rte_telemetry.h>

#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>

#include "dpdk/internal/data_plane_state.h"

namespace beacon::dpdk {
namespace {

// DPDK telemetry callbacks take no user argument, so the data plane that answers them is found
// here; set by RegisterTelemetry, cleared by the data plane's destructor. The commands cannot be
// unregistered (DPDK 22.11) and run on the telemetry server's threads: each answers under the
// lock, so the destructor, which clears the registry under it before anything is torn down,
// waits for an answer in flight, and a later one finds no data plane (-ENODEV: null).
std::mutex g_telemetry_mutex;
const DataPlane* g_telemetry_plane = nullptr;  // guarded by g_telemetry_mutex

template <typename Answer>
int WithPlane(Answer answer) {
  const std::lock_guard<std::mutex> lock(g_telemetry_mutex);
  if (g_telemetry_plane == nullptr) return -ENODEV;
  return answer(*g_telemetry_plane);
}

int FramesOf(const DataPlane& plane, rte_tel_data* d) {
  const DataPlaneCounters c = plane.Counters();
  rte_tel_data_start_dict(d);
  for (size_t i = 0; i < kFrameOutcomeCount; ++i) {
    const std::string name(FrameOutcomeName(static_cast<FrameOutcome>(i)));
    rte_tel_data_add_dict_u64(d, name.c_str(), c.frames[i]);
  }
  rte_tel_data_add_dict_u64(d, "reassembled", c.reassembled);
  rte_tel_data_add_dict_u64(d, "fragments_dropped", c.fragments_dropped);
  rte_tel_data_add_dict_u64(d, "beacons", c.beacons);
  rte_tel_data_add_dict_u64(d, "payload_bytes", c.payload_bytes);
  rte_tel_data_add_dict_u64(d, "to_kernel", c.to_kernel);
  rte_tel_data_add_dict_u64(d, "from_kernel", c.from_kernel);
  rte_tel_data_add_dict_u64(d, "exception_dropped", c.exception_dropped);
  return 0;
}

int FramesTelemetry(const char*, const char*, rte_tel_data* d) {
  return WithPlane([d](const DataPlane& plane) { return FramesOf(plane, d); });
}

int MirrorOf(const DataPlane& plane, rte_tel_data* d) {
  const DataPlaneCounters c = plane.Counters();
  rte_tel_data_start_dict(d);
  for (size_t i = 0; i < kMirrorCounterCount; ++i) {
    const std::string name(MirrorCounterName(static_cast<MirrorCounter>(i)));
    rte_tel_data_add_dict_u64(d, name.c_str(), c.mirror.count[i]);
  }
  rte_tel_data_add_dict_u64(d, "flows", c.mirror_flows);
  rte_tel_data_add_dict_u64(d, "buffered_bytes", c.mirror_buffered_bytes);
  rte_tel_data* rejects = rte_tel_data_alloc();
  rte_tel_data_start_dict(rejects);
  for (size_t i = 0; i < kernels::kHttpRejectCount; ++i) {
    const std::string name(kernels::HttpRejectName(static_cast<kernels::HttpReject>(i)));
    rte_tel_data_add_dict_u64(rejects, name.c_str(), c.mirror.http_rejects[i]);
  }
  rte_tel_data_add_dict_container(d, "http_rejects", rejects, 0);
  return 0;
}

int MirrorTelemetry(const char*, const char*, rte_tel_data* d) {
  return WithPlane([d](const DataPlane& plane) { return MirrorOf(plane, d); });
}

int PortOf(const DataPlane& plane, const char* params, rte_tel_data* d) {
  if (params == nullptr || *params == '\0') return -EINVAL;
  char* end = nullptr;
  const unsigned long port_id = std::strtoul(params, &end, 10);
  if (*end != '\0') return -EINVAL;
  for (const PortStats& p : plane.Ports()) {
    if (p.port_id != port_id) continue;
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_string(d, "name", p.name.c_str());
    rte_tel_data_add_dict_u64(d, "rx_packets", p.rx_packets);
    rte_tel_data_add_dict_u64(d, "rx_bytes", p.rx_bytes);
    rte_tel_data_add_dict_u64(d, "rx_missed", p.rx_missed);
    rte_tel_data_add_dict_u64(d, "rx_errors", p.rx_errors);
    rte_tel_data_add_dict_u64(d, "rx_no_mbuf", p.rx_no_mbuf);
    rte_tel_data* queues = rte_tel_data_alloc();
    rte_tel_data_start_array(queues, RTE_TEL_U64_VAL);
    for (const QueueStats& q : p.queues) rte_tel_data_add_array_u64(queues, q.packets);
    rte_tel_data_add_dict_container(d, "rx_queue_packets", queues, 0);
    return 0;
  }
  return -EINVAL;
}

int PortTelemetry(const char*, const char* params, rte_tel_data* d) {
  return WithPlane([params, d](const DataPlane& plane) { return PortOf(plane, params, d); });
}

int PortsOf(const DataPlane& plane, rte_tel_data* d) {
  rte_tel_data_start_array(d, RTE_TEL_INT_VAL);
  for (const PortStats& p : plane.Ports()) rte_tel_data_add_array_int(d, p.port_id);
  return 0;
}

int PortsTelemetry(const char*, const char*, rte_tel_data* d) {
  return WithPlane([d](const DataPlane& plane) { return PortsOf(plane, d); });
}

int PoolOf(const DataPlane& plane, rte_tel_data* d) {
  const MbufPoolStats pool = plane.Pool();
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_u64(d, "size", pool.size);
  rte_tel_data_add_dict_u64(d, "in_use", pool.in_use);
  rte_tel_data_add_dict_u64(d, "needed", pool.needed);
  return 0;
}

int PoolTelemetry(const char*, const char*, rte_tel_data* d) {
  return WithPlane([d](const DataPlane& plane) { return PoolOf(plane, d); });
}

}  // namespace

namespace internal {

void UnregisterTelemetry(const DataPlane* plane) {
  const std::lock_guard<std::mutex> lock(g_telemetry_mutex);
  if (g_telemetry_plane == plane) g_telemetry_plane = nullptr;
}

}  // namespace internal

void DataPlane::RegisterTelemetry() {
  {
    const std::lock_guard<std::mutex> lock(g_telemetry_mutex);
    if (g_telemetry_plane != nullptr) {
      throw std::runtime_error("DPDK telemetry: another data plane already answers /beacond/relay");
    }
    g_telemetry_plane = this;
  }
  state_->telemetry = true;
  // Registration cannot be undone in DPDK 22.11; a second registration (a later data plane in
  // the same process) fails with -EINVAL and the callbacks already find the data plane above.
  rte_telemetry_register_cmd(
      "/beacond/relay/frames", FramesTelemetry,
      "Frames by parse outcome, reassembly and beacon counts. No parameters");
  rte_telemetry_register_cmd("/beacond/relay/ports", PortsTelemetry,
                             "Port ids of the UDP relay. No parameters");
  rte_telemetry_register_cmd("/beacond/relay/port", PortTelemetry,
                             "RX, missed, errors, no-mbuf of one relay port. Parameter: port id");
  rte_telemetry_register_cmd("/beacond/relay/pool", PoolTelemetry,
                             "Mbuf pool: size, in_use, needed (what may be held at once). No "
                             "parameters");
  rte_telemetry_register_cmd("/beacond/mirror", MirrorTelemetry,
                             "Passive HTTP mirror: segments, flows, gaps, requests, beacons, "
                             "HTTP rejects by reason. No parameters");
}

}  // namespace beacon::dpdk
