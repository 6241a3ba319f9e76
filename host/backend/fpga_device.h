// The device the FPGA batcher runs the card decode on: XRT on a card (`fpga`), or the same
// kernel code compiled for the host (`fpga-csim`). Runs are started one by one and finish in
// any order; the batcher restores the order.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "host/backend/fpga_decode.h"

namespace beacon::host {

class FpgaDevice {
 public:
  struct Finished {
    uint64_t run;
    bool ok;  // false: the device reported an error; the outputs are not to be read
  };

  virtual ~FpgaDevice() = default;
  // "fpga-csim", or the card's name and the xclbin for `fpga`.
  virtual std::string Describe() const = 0;
  // Starts the kernel on `buffers` (input filled) as run `run`. False: the device refused it.
  // `buffers` stays untouched by the host until the run is reported finished.
  virtual bool Start(uint64_t run, CardBuffers* buffers) = 0;
  // One started run that finished, waiting at most `timeout`; nullopt when none did.
  virtual std::optional<Finished> Wait(std::chrono::microseconds timeout) = 0;
};

// Faults of the card the C-simulation stands in for, injected by tests into one run: the run
// reports success with its outputs as the previous run left them (kNoWrite: the kernel never
// wrote), or with only the first half of the `records` (kRecordsCut) or `decoded` (kDecodedCut)
// words the run may write brought back (a transfer cut short), the rest as they were.
enum class CsimFault : uint8_t { kNone, kNoWrite, kRecordsCut, kDecodedCut };

// The kernel's C-simulation on the calling thread: Start runs it to the end.
class CsimDevice final : public FpgaDevice {
 public:
  std::string Describe() const override { return "fpga-csim"; }
  bool Start(uint64_t run, CardBuffers* buffers) override;
  std::optional<Finished> Wait(std::chrono::microseconds timeout) override;
  // CPU time spent in the kernel itself, for the batching overhead figure.
  std::chrono::nanoseconds kernel_time() const { return kernel_time_; }
  // Tests only: the next run started suffers `fault`.
  void FailNextRun(CsimFault fault) { next_fault_ = fault; }

 private:
  void Run(CardBuffers* buffers);

  std::deque<Finished> finished_;
  std::chrono::nanoseconds kernel_time_{0};
  CsimFault next_fault_ = CsimFault::kNone;
};

}  // namespace beacon::host
