// The UDP beacon relay over kernel sockets, for nodes without a DPDK port: one thread per
// sink, each with its own SO_REUSEPORT socket per beacon port (the kernel spreads datagrams by
// flow hash), recvmmsg bursts copied into the worker's RawBatch as IngressKind::kUdpRelay.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "host/metrics/metrics.h"
#include "kernels/beacon_sink.h"
#include "kernels/ip_prefix.h"

namespace beacon::host {

struct UdpRelayConfig {
  std::string address = "127.0.0.1";       // IPv4 or IPv6 literal
  std::vector<kernels::BeaconPort> ports;  // port 0: ephemeral; bound_ports() tells which
  unsigned burst = 32;                     // datagrams per recvmmsg
  int tick_ms = 100;                       // kernels::BeaconSink::OnTick period
  int receive_buffer_bytes = 4 << 20;      // receive buffer per socket (SO_RCVBUF[FORCE])
  // Senders whose datagrams are taken; others are dropped and counted. Empty: every sender.
  std::vector<kernels::IpPrefix> allowed_sources;
};

class UdpRelay {
 public:
  // Binds every worker's sockets (one worker per sink). Throws std::runtime_error naming the
  // address and port that could not be bound. The sinks outlive the relay.
  UdpRelay(const UdpRelayConfig& config, std::vector<kernels::BeaconSink*> sinks);
  ~UdpRelay();  // Stop()
  UdpRelay(const UdpRelay&) = delete;
  UdpRelay& operator=(const UdpRelay&) = delete;

  void Start();
  // Stops the workers. Each first reads the datagrams its sockets hold (while its sink admits;
  // at most a full buffer's worth per socket while senders keep it full), then hands its
  // pending batch and a final OnTick to its sink.
  void Stop();

  // The bound port of each configured beacon port, in config order.
  const std::vector<uint16_t>& bound_ports() const { return bound_ports_; }

  uint64_t datagrams() const;  // handed to the sinks
  uint64_t bytes() const;      // their payload bytes
  uint64_t truncated() const;  // over the receive buffer (never for IPv4/IPv6 UDP < 64 KiB)
  uint64_t source_not_allowed() const;  // from senders outside allowed_sources, dropped
  uint64_t receive_errors() const;
  // Dropped by the kernel at the relay's sockets, mostly for a full receive buffer (a sink
  // not admitting, or slower than the senders): the sockets' SO_MEMINFO drop counts.
  uint64_t socket_drops() const;
  // The receive buffer each socket got (the smallest): receive_buffer_bytes, or less where the
  // kernel capped it at net.core.rmem_max (no CAP_NET_ADMIN for SO_RCVBUFFORCE).
  int receive_buffer_bytes() const { return receive_buffer_bytes_; }

  // Registers <prefix>_datagrams_total, _bytes_total, _truncated_total,
  // _source_not_allowed_total, _receive_errors_total, _socket_drops_total, and the gauge
  // <prefix>_receive_buffer_bytes.
  void RegisterMetrics(MetricsRegistry* registry, std::string prefix) const;

 private:
  class Worker;  // one thread's sockets, epoll set, batch and counters (udp_relay.cc)

  UdpRelayConfig config_;
  std::vector<uint16_t> bound_ports_;
  int receive_buffer_bytes_ = 0;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
};

}  // namespace beacon::host
