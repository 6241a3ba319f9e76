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

// The kernel's C-simulation on the calling thread: Start runs it to the end.
class CsimDevice final : public FpgaDevice {
 public:
  std::string Describe() const override { return "fpga-csim"; }
  bool Start(uint64_t run, CardBuffers* buffers) override;
  std::optional<Finished> Wait(std::chrono::microseconds timeout) override;
  // CPU time spent in the kernel itself, for the batching overhead figure.
  std::chrono::nanoseconds kernel_time() const { return kernel_time_; }

 private:
  std::deque<Finished> finished_;
  std::chrono::nanoseconds kernel_time_{0};
};

}  // namespace beacon::host
