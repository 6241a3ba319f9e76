// One worker lcore of the data plane (private to dpdk/): its RX queues, its reassembly table,
// its passive mirror, its raw batch in front of its sink, and its counters.
#pragma once

#include <rte_ip_frag.h>
#include <rte_mbuf.h>
#include <rte_spinlock.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "dpdk/data_plane.h"

namespace beacon::dpdk::internal {

inline constexpr uint16_t kMaxBurst = 64;

struct RxQueue {
  uint16_t port_id = 0;
  uint16_t queue = 0;
};

// A worker's share of the exception path: its queue pair on the kernel-facing port (TAP) and the
// TX queue of the NIC port that the kernel's frames leave by. When the TAP has fewer queue pairs
// than there are workers, workers share them: each sends to the kernel under the queue's lock,
// and only the first of them reads the kernel's frames from it.
struct ExceptionQueues {
  uint16_t kernel_port = 0;
  uint16_t kernel_queue = 0;
  uint16_t nic_port = 0;
  uint16_t nic_tx_queue = 0;
  bool reads_kernel = true;                  // this worker polls the kernel queue's RX
  rte_spinlock_t* kernel_tx_lock = nullptr;  // non-null when another worker sends on it too
};

// The lock of one shared TX queue of the kernel-facing port, on a cache line of its own.
struct alignas(RTE_CACHE_LINE_SIZE) SharedQueueLock {
  rte_spinlock_t lock = RTE_SPINLOCK_INITIALIZER;
};

// One worker lcore's share-nothing state. Counters are plain fields written by the lcore and
// published to relaxed atomics on each tick and idle round for the telemetry and metrics
// threads.
class LcoreWorker {
 public:
  // Runs until `stop` is set (it outlives the worker). Throws std::runtime_error when the
  // reassembly table does not fit the EAL's memory.
  LcoreWorker(unsigned lcore, const DataPlaneConfig& config, kernels::BeaconSink* sink,
              const std::atomic<bool>* stop);
  ~LcoreWorker();
  LcoreWorker(const LcoreWorker&) = delete;
  LcoreWorker& operator=(const LcoreWorker&) = delete;

  void AddQueue(RxQueue queue) { queues_.push_back(queue); }
  void SetExceptionPath(ExceptionQueues queues) { exception_ = queues; }

  // The lcore loop: runs until `stop`, then takes the mirror's complete requests held past a
  // hole and hands the last batch and a final tick to the sink.
  void Run();

  DataPlaneCounters Snapshot() const;

 private:
  // Parses, reassembles and batches `n` received mbufs; frees or keeps (reassembly) each one.
  void ProcessBurst(rte_mbuf** mbufs, uint16_t n, uint64_t tsc);
  // The kernel's frames (ARP replies, TCP, ICMP) out of the NIC port; returns how many.
  uint16_t ForwardFromKernel(rte_mbuf** burst, uint16_t burst_size);
  // Frames the fast path does not own to the kernel; a full queue's are dropped and counted.
  void SendToKernel(rte_mbuf** frames, uint16_t n);
  // The frame's bytes: in place when one segment holds them, else copied to scratch_.
  const uint8_t* Contiguous(const rte_mbuf* m);
  void Accept(const uint8_t* frame, const ParsedFrame& parsed);
  // Adds the datagram's payload where it lies in `m` when the buffer's tailroom holds the
  // padding (the mbuf is then held until the batch is handed on); returns false otherwise.
  bool AcceptInPlace(rte_mbuf* m, const uint8_t* frame, const ParsedFrame& parsed);
  // Hands the batch to the sink and frees the mbufs its payloads lay in.
  void Deliver();
  void Mirror(const uint8_t* frame, const ParsedFrame& parsed);
  // Hands the fragment to the lcore's table; a completed datagram is parsed once more.
  void Reassemble(rte_mbuf* m, const ParsedFrame& parsed, uint64_t tsc);
  // Every tick_ms: the batch handed on, expired fragments dropped, the sink's OnTick, the
  // counters published.
  void Tick(uint64_t tsc);
  void ReapDeathRow();
  void Publish();

  const DataPlaneConfig& config_;
  const kernels::SourceFilter sources_;
  kernels::BeaconSink* sink_;
  const std::atomic<bool>* stop_;
  std::vector<RxQueue> queues_;
  std::optional<ExceptionQueues> exception_;
  rte_ip_frag_tbl* table_ = nullptr;
  rte_ip_frag_death_row death_row_{};
  std::vector<uint8_t> scratch_;
  kernels::SinkBatch batch_;
  bool in_place_ = false;              // the sink keeps no batch: payloads may stay in their mbufs
  std::vector<rte_mbuf*> held_;        // the mbufs of the batch's in-place payloads
  std::unique_ptr<TcpMirror> mirror_;  // null without mirror ports
  int64_t now_ms_ = 0;

  FrameCounters counters_;
  uint64_t reassembled_ = 0;
  uint64_t fragments_dropped_ = 0;
  uint64_t beacons_ = 0;
  uint64_t payload_bytes_ = 0;
  uint64_t to_kernel_ = 0;
  uint64_t from_kernel_ = 0;
  uint64_t exception_dropped_ = 0;
  std::array<std::atomic<uint64_t>, kFrameOutcomeCount> published_frames_{};
  std::atomic<uint64_t> published_reassembled_{0};
  std::atomic<uint64_t> published_dropped_{0};
  std::atomic<uint64_t> published_beacons_{0};
  std::atomic<uint64_t> published_bytes_{0};
  std::atomic<uint64_t> published_to_kernel_{0};
  std::atomic<uint64_t> published_from_kernel_{0};
  std::atomic<uint64_t> published_exception_dropped_{0};
  std::array<std::atomic<uint64_t>, kMirrorCounterCount> published_mirror_{};
  std::array<std::atomic<uint64_t>, kernels::kHttpRejectCount> published_mirror_rejects_{};
  std::atomic<uint64_t> published_mirror_flows_{0};
  std::atomic<uint64_t> published_mirror_bytes_{0};
};

}  // namespace beacon::dpdk::internal
