// The forwarder: takes closed epochs from every worker, merges them, and inserts the
// aggregate rows into ClickHouse about once per flush interval, retrying with capped
// exponential backoff and jitter. Pending data is bounded: when full, Offer refuses and the
// workers shed load (HTTP 503), so memory never grows without bound.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "host/forward/clickhouse_client.h"
#include "host/metrics/metrics.h"
#include "kernels/aggregate/minute_aggregator.h"

namespace beacon::host {

struct ForwarderConfig {
  ClickHouseEndpoint clickhouse;
  int flush_interval_ms = 1000;
  size_t max_pending_bytes = 256 << 20;  // estimated bytes of epochs not yet acknowledged
  int retry_initial_ms = 100;
  int retry_max_ms = 10'000;
};

class Forwarder {
 public:
  explicit Forwarder(ForwarderConfig config);
  ~Forwarder();  // stops the thread without draining; call Drain for a clean stop
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // Starts the sending thread.
  void Start();
  // Thread-safe. Takes a closed epoch, or refuses it (returns false, `rows` untouched) when
  // pending data is at its bound; refusals are counted.
  bool Offer(kernels::EpochRows& rows);
  // Whether an epoch would be taken now; a relaxed read, cheap enough once per event loop.
  bool HasRoom() const;
  // Sends everything pending, retrying until `deadline` passes, then stops the thread.
  // Returns true when every offered epoch was acknowledged by ClickHouse.
  bool Drain(std::chrono::milliseconds deadline);

  uint64_t acknowledged_events() const { return acked_events_.load(std::memory_order_relaxed); }
  void RegisterMetrics(MetricsRegistry* registry, std::string prefix) const;

 private:
  // Implementation-defined members (queue, counters, thread) go below.
  struct Batch;  // merged epochs in flight, defined in forwarder.cc
  void Run();
  // Inserts what `batch` still lacks; true when ClickHouse acknowledged all of it, else
  // `failure` names the table and ClickHouse's error text.
  bool Send(ClickHouseClient& client, Batch& batch, std::string* failure);
  // Waits until `until` (or the drain deadline, if sooner); false when the thread must end.
  bool Sleep(std::chrono::steady_clock::time_point until);

  ForwarderConfig config_;
  std::atomic<uint64_t> acked_events_{0};
  std::atomic<size_t> pending_bytes_{0};  // offered, not yet acknowledged
  std::atomic<uint64_t> epochs_offered_{0};
  std::atomic<uint64_t> epochs_refused_{0};
  std::atomic<uint64_t> site_rows_sent_{0};
  std::atomic<uint64_t> page_rows_sent_{0};
  std::atomic<uint64_t> inserts_ok_{0};
  std::atomic<uint64_t> inserts_failed_{0};
  std::atomic<uint64_t> retries_{0};
  std::atomic<int64_t> last_insert_us_{0};

  std::mutex mu_;  // guards the members below
  std::condition_variable wake_;
  std::deque<kernels::EpochRows> offered_;  // taken by the thread at each flush
  bool stopping_ = false;                   // destructor: end now
  bool draining_ = false;                   // Drain: send everything until drain_deadline_
  std::chrono::steady_clock::time_point drain_deadline_;
  bool drained_ = false;          // set by the thread: nothing left unacknowledged when it ended
  std::unique_ptr<Batch> batch_;  // owned by the thread; kept across Drain calls
  std::thread thread_;
};

}  // namespace beacon::host
