// Host batching for the card (`fpga` and `fpga-csim`): RawBatches gathered into page-aligned
// buffers of 1-4 MiB, a buffer started when full or when its first batch is older than the
// deadline (<= 1 ms), several runs in flight, results delivered in the order the batches were
// added. A run the device refuses, reports failed, does not finish within the run timeout,
// whose output is not all its own (the run id the kernel echoes differs: what an earlier run left
// in the reused buffers) or whose records are malformed is decoded on the host's byte kernels
// instead and counted per reason: every batch is delivered exactly once, card or not. The device
// keeps the buffers of a run that timed out until it reports it; while it keeps max_in_flight of
// them, no run is started (the batches fall back as timeouts), so a hung card does not grow the
// memory.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "host/backend/fpga_decode.h"
#include "host/backend/fpga_device.h"
#include "host/metrics/metrics.h"
#include "kernels/decode.h"
#include "kernels/event_batch.h"
#include "kernels/raw_batch.h"
#include "kernels/simd/byte_kernels.h"

namespace beacon::host {

struct FpgaBatcherConfig {
  size_t buffer_bytes = 2 << 20;  // per run; clamped to [what one full RawBatch needs, 4 MiB]
  std::chrono::microseconds deadline{1000};        // a partly filled buffer waits at most this
  size_t max_in_flight = 4;                        // runs started and not yet delivered
  std::chrono::microseconds run_timeout{100'000};  // a run not finished by then falls back
};

enum class FpgaFallback : uint8_t { kDeviceError, kTimeout, kBadRecords, kStaleOutput, kCount };
// "device_error", "timeout", "bad_records", "stale_output" (a run reported finished whose
// buffers do not hold its whole output, CardResults::fresh): the reason label of
// beacond_fpga_fallback_total.
std::string_view FpgaFallbackName(FpgaFallback reason);

class FpgaBatcher {
 public:
  // Called once per added batch, in the order of Add, with its rows (also when it fell back).
  using Deliver =
      std::function<void(const kernels::RawBatch& raw, const kernels::EventBatch& events)>;

  // `device` outlives the batcher. `host_bytes` (outliving it too) decode the formats the card
  // does not and every batch that falls back: the SIMD backend's table.
  FpgaBatcher(FpgaDevice* device, const FpgaBatcherConfig& config,
              const kernels::ByteKernels* host_bytes, Deliver deliver);
  // Call Flush first: batches still queued are dropped undelivered.
  ~FpgaBatcher();

  // Takes the beacons of `raw`, which comes back empty (its storage swapped with a spare), to
  // be decoded with `ctx` (copied: salts and rejects as of now). May block while
  // max_in_flight runs are under way.
  void Add(kernels::RawBatch& raw, const kernels::DecodeContext& ctx);
  // Starts the open buffer once its deadline passed and delivers what finished. Never blocks.
  void Poll();
  // Starts the open buffer and delivers every batch added so far.
  void Flush();

  uint64_t fallbacks(FpgaFallback reason) const {
    return fallbacks_[static_cast<size_t>(reason)].load(std::memory_order_relaxed);
  }
  uint64_t runs() const { return runs_.load(std::memory_order_relaxed); }
  uint64_t card_bytes() const { return card_bytes_.load(std::memory_order_relaxed); }
  const FpgaBatcherConfig& config() const { return config_; }

 private:
  enum class State : uint8_t { kOpen, kRunning, kDone, kFailed };
  struct Pending {
    std::unique_ptr<kernels::RawBatch> raw;
    kernels::DecodeContext ctx;
  };
  struct Job {
    uint64_t id = 0;
    State state = State::kOpen;
    FpgaFallback reason = FpgaFallback::kDeviceError;
    bool device_released = false;  // the device reported the run (or refused it)
    std::unique_ptr<CardBuffers> buffers;
    std::vector<Pending> batches;
    std::chrono::steady_clock::time_point opened;
    std::chrono::steady_clock::time_point started;
  };

  Job& OpenJob();
  void Start(Job& job);
  void Finished(const FpgaDevice::Finished& finished);
  void TimeOut(std::chrono::steady_clock::time_point now);
  void DeliverReady();
  void DeliverJob(Job& job);
  void WaitForFront();
  size_t InFlight() const;

  FpgaDevice* device_;
  FpgaBatcherConfig config_;
  const kernels::ByteKernels* host_bytes_;
  Deliver deliver_;
  std::deque<Job> jobs_;  // in Add order; only the last may be open
  uint64_t next_id_ = 1;
  std::vector<std::unique_ptr<CardBuffers>> spare_buffers_;
  std::vector<std::unique_ptr<kernels::RawBatch>> spare_raws_;
  // Buffers of runs that timed out: the device may still write them until it reports them.
  std::unordered_map<uint64_t, std::unique_ptr<CardBuffers>> abandoned_;
  kernels::EventBatch events_;
  std::array<std::atomic<uint64_t>, static_cast<size_t>(FpgaFallback::kCount)> fallbacks_{};
  std::atomic<uint64_t> runs_{0};
  std::atomic<uint64_t> card_bytes_{0};
};

// beacond_fpga_fallback_total{reason} and beacond_fpga_runs_total, summed over `batchers`.
void WriteFpgaMetrics(const std::vector<const FpgaBatcher*>& batchers, MetricsWriter& writer);

}  // namespace beacon::host
