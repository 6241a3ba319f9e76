// The `fpga` device: beacon_decode on an Alveo card through XRT's native C++ API
// (xrt::device, xrt::hw_context, xrt::kernel, xrt::bo, xrt::run). Built only with XRT.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "host/backend/fpga_device.h"

namespace beacon::host {

class XrtDevice final : public FpgaDevice {
 public:
  // Opens card `index`, registers the xclbin at `xclbin_path` in a shared hardware context and
  // finds the kernel. Throws std::runtime_error (with XRT's message) when any of it fails.
  XrtDevice(unsigned index, const std::string& xclbin_path);
  ~XrtDevice() override;

  std::string Describe() const override;
  bool Start(uint64_t run, CardBuffers* buffers) override;
  std::optional<Finished> Wait(std::chrono::microseconds timeout) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace beacon::host
