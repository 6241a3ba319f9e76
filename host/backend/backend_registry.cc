// Backend probing and selection. Probing is cheap (a CPUID read) and happens only at start.
#include "host/backend/backend_registry.h"

#include <cstdlib>
#include <stdexcept>

namespace beacon::host {
namespace {

constexpr std::string_view kNames[] = {"fpga", "simd", "scalar"};

BackendInfo ProbeFpga() {
#ifdef BEACON_HAVE_XRT
  return {BackendKind::kFpga, "fpga", false,
          "the XRT runtime was found but this build has no FPGA decode kernel yet"};
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

// Only available backends are made: simd and scalar (fpga is never available in this build).
Backend Make(const BackendInfo& info) {
  const kernels::ByteKernels kernels =
      info.kind == BackendKind::kSimd ? kernels::SimdByteKernels() : kernels::ScalarByteKernels();
  return {info.kind, std::string(info.name), kernels.target, kernels};
}

}  // namespace

std::vector<BackendInfo> ListBackends() {
  return {ProbeFpga(), ProbeSimd(), {BackendKind::kScalar, "scalar", true, "reference"}};
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
      if (info.available) return Make(info);
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
