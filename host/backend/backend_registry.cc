// Backend probing and selection. Probing is cheap (a CPUID read) and happens only at start.
#include "host/backend/backend_registry.h"

#include <cstdlib>
#include <stdexcept>

#ifdef BEACON_HAVE_XRT
#include "host/backend/fpga_xrt_device.h"
#endif

namespace beacon::host {
namespace {

constexpr std::string_view kNames[] = {"fpga", "simd", "scalar", "fpga-csim"};

BackendInfo ProbeFpga() {
#ifdef BEACON_HAVE_XRT
  const char* xclbin = std::getenv(kXclbinEnvVar);
  if (xclbin == nullptr || *xclbin == '\0') {
    return {BackendKind::kFpga, "fpga", false,
            std::string("no xclbin: set ") + kXclbinEnvVar + " to hw/'s beacon.xclbin"};
  }
  try {
    return {BackendKind::kFpga, "fpga", true, XrtDevice(0, xclbin).Describe()};
  } catch (const std::runtime_error& e) {
    return {BackendKind::kFpga, "fpga", false, e.what()};
  }
#else
  return {BackendKind::kFpga, "fpga", false,
          "built without Xilinx XRT (configure found no xrt/xrt_device.h; set XILINX_XRT and "
          "BEACON_WITH_XRT=ON)"};
#endif
}

// Available when Highway's best target on this CPU (or the one forced for tests) is a real
// SIMD target, not the one-lane or emulated fallback.
BackendInfo ProbeSimd() {
  const kernels::SimdTarget best = kernels::ActiveSimdTarget();
  const std::string_view name = best.name;
  if (name == "SCALAR" || name == "EMU128") {
    std::string compiled;
    for (const kernels::SimdTarget& t : kernels::CompiledSimdTargets()) {
      compiled += compiled.empty() ? "" : ", ";
      compiled += t.name;
    }
    return {BackendKind::kSimd, "simd", false,
            "this CPU runs none of the compiled SIMD targets (" + compiled + "), only " +
                std::string(name)};
  }
  return {BackendKind::kSimd, "simd", true, std::string(name)};
}

std::string KnownNames() {
  std::string names;
  for (const std::string_view name : kNames) {
    names += names.empty() ? "" : ", ";
    names += name;
  }
  return names;
}

// The best byte kernels this CPU runs: what the card backends decode the rest with.
kernels::ByteKernels HostKernels() {
  return ProbeSimd().available ? kernels::SimdByteKernels() : kernels::ScalarByteKernels();
}

// Only available backends are made.
Backend Make(const BackendInfo& info) {
  switch (info.kind) {
    case BackendKind::kSimd:
    case BackendKind::kScalar: {
      const kernels::ByteKernels kernels = info.kind == BackendKind::kSimd
                                               ? kernels::SimdByteKernels()
                                               : kernels::ScalarByteKernels();
      return {info.kind, std::string(info.name), kernels.target, kernels, nullptr};
    }
    case BackendKind::kFpgaCsim:
      return {info.kind, std::string(info.name), "csim", HostKernels(),
              [] { return std::unique_ptr<FpgaDevice>(new CsimDevice); }};
    case BackendKind::kFpga:
      break;
  }
#ifdef BEACON_HAVE_XRT
  const std::string xclbin = std::getenv(kXclbinEnvVar);
  return {info.kind, std::string(info.name), info.detail, HostKernels(),
          [xclbin] { return std::unique_ptr<FpgaDevice>(new XrtDevice(0, xclbin)); }};
#else
  throw std::logic_error("the fpga backend is never available without XRT");
#endif
}

}  // namespace

std::vector<BackendInfo> ListBackends() {
  return {ProbeFpga(),
          ProbeSimd(),
          {BackendKind::kScalar, "scalar", true, "reference"},
          {BackendKind::kFpgaCsim, "fpga-csim", true,
           "the card's HLS kernels compiled for this CPU, behind the card's batcher (by name "
           "only)"}};
}

Backend ChooseBackend(std::string_view forced) {
  std::string_view source = "the configuration";
  if (forced.empty()) {
    const char* env = std::getenv(kBackendEnvVar);
    if (env != nullptr) forced = env;
    source = kBackendEnvVar;
  }
  const std::vector<BackendInfo> backends = ListBackends();
  if (forced.empty()) {
    for (const BackendInfo& info : backends) {
      if (info.available && info.kind != BackendKind::kFpgaCsim) return Make(info);
    }
  }
  for (const BackendInfo& info : backends) {
    if (info.name != forced) continue;
    if (!info.available) {
      throw std::runtime_error("backend \"" + std::string(forced) + "\" (from " +
                               std::string(source) + ") is not available: " + info.detail);
    }
    return Make(info);
  }
  throw std::invalid_argument("unknown backend \"" + std::string(forced) + "\" (from " +
                              std::string(source) + "); known backends: " + KnownNames());
}

std::string Describe(const Backend& backend) { return backend.name + " (" + backend.target + ")"; }

void WriteBackendInfo(const Backend& backend, MetricsWriter& writer) {
  writer.Gauge("beacon_backend_info", "The decode backend chosen at start and its CPU target.",
               {{"backend", backend.name}, {"target", backend.target}}, 1);
}

}  // namespace beacon::host
