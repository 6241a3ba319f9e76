// The archive's blocks compressed on the card: Vitis Libraries' xilZstdCompress fed by its
// xilZstdDataMover (hw/README.md), through XRT's native C++ API. Built only with XRT. Whatever
// the card cannot give as conforming frames (one per 32 KiB) is compressed by libzstd instead
// and counted, so the archive's content never depends on the card.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "kernels/archive/block_codec.h"

namespace beacon::host {

// Blocks compressed by libzstd instead of the card, by reason (relaxed atomics).
struct XrtZstdFallbacks {
  std::atomic<uint64_t> device_error{0};   // XRT threw, or a run ended in error
  std::atomic<uint64_t> timeout{0};        // a run did not finish in time
  std::atomic<uint64_t> nonconforming{0};  // not frames that decompress to the block
};

class XrtZstdCompressor final : public kernels::BlockCompressor {
 public:
  // Opens card `index` with the xclbin at `xclbin_path` (linked with VITIS_LIBRARIES) and finds
  // both kernels. Throws std::runtime_error (with XRT's message) when any of it fails.
  // `fallback_level`: libzstd's level for the blocks the card does not compress.
  XrtZstdCompressor(unsigned index, const std::string& xclbin_path, int fallback_level,
                    std::chrono::milliseconds timeout = std::chrono::milliseconds(100));
  ~XrtZstdCompressor() override;

  // Whether the xclbin at `xclbin_path` holds both kernels. Throws std::runtime_error when it
  // cannot be read.
  static bool XclbinHasKernels(const std::string& xclbin_path);

  // Thread-safe: blocks take turns on the card (it has one unit of each kernel).
  void Compress(std::string_view raw, std::string* frames) override;
  uint64_t card_blocks() const { return card_blocks_.load(std::memory_order_relaxed); }
  const XrtZstdFallbacks& fallbacks() const { return fallbacks_; }

 private:
  struct Impl;
  // The card's frames of `raw` into `frames`; false (reason counted) when it has none.
  bool CompressOnCard(std::string_view raw, std::string* frames);

  std::unique_ptr<Impl> impl_;
  std::chrono::milliseconds timeout_;
  std::atomic<uint64_t> card_blocks_{0};
  XrtZstdFallbacks fallbacks_;
};

}  // namespace beacon::host
