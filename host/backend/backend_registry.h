// The decode backends in priority order (simdjson-style): the first one this machine supports
// is chosen once at start, unless a name (config key or $BEACON_BACKEND) forces one. `fpga-csim`
// (the card's kernels compiled for the CPU, behind the same batcher) is chosen by name only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "host/backend/fpga_device.h"
#include "host/metrics/metrics.h"
#include "kernels/simd/byte_kernels.h"

namespace beacon::host {

enum class BackendKind : uint8_t { kFpga, kSimd, kScalar, kFpgaCsim };

// The environment variable read when no backend name is given.
inline constexpr char kBackendEnvVar[] = "BEACON_BACKEND";
// The xclbin (hw/) the `fpga` backend loads onto card 0.
inline constexpr char kXclbinEnvVar[] = "BEACON_XCLBIN";

// A backend as probed on this machine.
struct BackendInfo {
  BackendKind kind;
  std::string_view name;  // "fpga", "simd", "scalar", "fpga-csim"
  bool available;
  std::string detail;  // available: the target that runs ("AVX3", "reference"); else why not
};

// Every known backend, in priority order (fpga, simd, scalar), probed now; then fpga-csim.
std::vector<BackendInfo> ListBackends();

// The chosen backend: decoders take `byte_kernels` from it once per batch. The card backends
// also make one device per worker, which decodes whole RawBatches through an FpgaBatcher
// (host/backend/fpga_batcher.h); their byte kernels (the best SIMD table) decode the formats
// the card does not and every batch that falls back.
struct Backend {
  BackendKind kind;
  std::string name;    // for logs and the beacon_backend_info metric
  std::string target;  // the SIMD target that runs, "reference" for scalar, "csim", or the card
  kernels::ByteKernels byte_kernels;
  std::function<std::unique_ptr<FpgaDevice>()> make_device;  // null: byte kernels only
};

// Chooses the backend, once at start. `forced` names one; when empty, $BEACON_BACKEND does
// (if set and not empty); otherwise the first available of fpga, simd, scalar wins.
// Throws std::invalid_argument for an unknown name (the message lists the known names) and
// std::runtime_error for an unavailable one (the message says why).
Backend ChooseBackend(std::string_view forced = {});

// "simd (AVX3)": for the start-up log line.
std::string Describe(const Backend& backend);

// Writes beacon_backend_info{backend="simd",target="AVX3"} 1.
void WriteBackendInfo(const Backend& backend, MetricsWriter& writer);

}  // namespace beacon::host
