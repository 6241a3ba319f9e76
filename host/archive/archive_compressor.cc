// [archive] compressor: the choice and its reasons; see archive_compressor.h.
#include "host/archive/archive_compressor.h"

#include <algorithm>
#include <iterator>
#include <stdexcept>
#include <utility>

#ifdef BEACON_HAVE_XRT
#include "host/archive/xrt_zstd_compressor.h"
#endif

namespace beacon::host {
namespace {

// The card's compressor for `xclbin`, or null with `why` set.
std::unique_ptr<kernels::BlockCompressor> OpenCard(bool fpga_backend, const std::string& xclbin,
                                                   int level, std::string* why) {
  if (!fpga_backend) {
    *why = "the decode backend is not fpga";
    return nullptr;
  }
#ifdef BEACON_HAVE_XRT
  try {
    if (!XrtZstdCompressor::XclbinHasKernels(xclbin)) {
      *why = "the xclbin " + xclbin +
             " has no xilZstdCompress/xilZstdDataMover (build it with VITIS_LIBRARIES)";
      return nullptr;
    }
    return std::make_unique<XrtZstdCompressor>(0, xclbin, level);
  } catch (const std::runtime_error& e) {
    *why = e.what();
    return nullptr;
  }
#else
  (void)xclbin;
  (void)level;
  *why = "built without Xilinx XRT";
  return nullptr;
#endif
}

}  // namespace

bool ParseCompressorMode(std::string_view name, CompressorMode* mode) {
  constexpr CompressorMode kModes[] = {CompressorMode::kAuto, CompressorMode::kCpu,
                                       CompressorMode::kFpga};
  const auto* found = std::ranges::find_if(
      kModes, [name](CompressorMode m) { return name == CompressorModeName(m); });
  if (found == std::end(kModes)) return false;
  *mode = *found;
  return true;
}

std::string_view CompressorModeName(CompressorMode mode) {
  switch (mode) {
    case CompressorMode::kAuto:
      return "auto";
    case CompressorMode::kCpu:
      return "cpu";
    case CompressorMode::kFpga:
      return "fpga";
  }
  return "unknown";
}

std::unique_ptr<ArchiveCompressor> ArchiveCompressor::Choose(CompressorMode mode, bool fpga_backend,
                                                             const std::string& xclbin, int level) {
  if (mode == CompressorMode::kCpu) {
    return std::unique_ptr<ArchiveCompressor>(
        new ArchiveCompressor(mode, nullptr, "libzstd on the workers, as configured"));
  }
  std::string why;
  std::unique_ptr<kernels::BlockCompressor> card = OpenCard(fpga_backend, xclbin, level, &why);
  if (card != nullptr) {
    return std::unique_ptr<ArchiveCompressor>(new ArchiveCompressor(
        mode, std::move(card), "the card's zstd kernels in " + xclbin + ", libzstd fallback"));
  }
  if (mode == CompressorMode::kFpga) {
    throw std::runtime_error("[archive] compressor = \"fpga\" cannot run: " + why);
  }
  return std::unique_ptr<ArchiveCompressor>(
      new ArchiveCompressor(mode, nullptr, "libzstd on the workers: " + why));
}

ArchiveCompressor::ArchiveCompressor(CompressorMode requested,
                                     std::unique_ptr<kernels::BlockCompressor> card,
                                     std::string detail)
    : requested_(requested), card_(std::move(card)), detail_(std::move(detail)) {}

ArchiveCompressor::~ArchiveCompressor() = default;

CompressorCounts ArchiveCompressor::counts() const {
  CompressorCounts counts;
#ifdef BEACON_HAVE_XRT
  // The only card compressor there is.
  if (const auto* card = static_cast<const XrtZstdCompressor*>(card_.get())) {
    const XrtZstdFallbacks& fallbacks = card->fallbacks();
    counts.card_blocks = card->card_blocks();
    counts.fallback_device_error = fallbacks.device_error.load(std::memory_order_relaxed);
    counts.fallback_timeout = fallbacks.timeout.load(std::memory_order_relaxed);
    counts.fallback_nonconforming = fallbacks.nonconforming.load(std::memory_order_relaxed);
  }
#endif
  return counts;
}

}  // namespace beacon::host
