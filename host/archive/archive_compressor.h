// What compresses the archive's blocks, chosen once at start ([archive] compressor): libzstd on
// the workers, or the card's zstd kernels (XrtZstdCompressor) when built with XRT and the
// decode backend's xclbin holds them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "kernels/archive/block_codec.h"

namespace beacon::host {

enum class CompressorMode : uint8_t {
  kAuto,  // the card when the fpga backend runs and its xclbin has the zstd kernels, else cpu
  kCpu,   // libzstd on each worker (compression_level, dictionary)
  kFpga,  // the card, or beacond does not start
};

// "auto", "cpu", "fpga"; false for anything else.
bool ParseCompressorMode(std::string_view name, CompressorMode* mode);
std::string_view CompressorModeName(CompressorMode mode);

// Blocks the card compressed, and those it handed back to libzstd by reason.
struct CompressorCounts {
  uint64_t card_blocks = 0;
  uint64_t fallback_device_error = 0;
  uint64_t fallback_timeout = 0;
  uint64_t fallback_nonconforming = 0;
};

class ArchiveCompressor {
 public:
  // `fpga_backend`: the decode backend is the card, loaded from `xclbin`. `level`: libzstd's
  // level for the blocks the card hands back. Throws std::runtime_error when kFpga cannot be
  // had (the message says why); kAuto then settles for cpu, saying why in detail().
  static std::unique_ptr<ArchiveCompressor> Choose(CompressorMode mode, bool fpga_backend,
                                                   const std::string& xclbin, int level);
  ~ArchiveCompressor();

  // For SegmentWriterOptions::compressor: null (libzstd on the workers) or the card's.
  kernels::BlockCompressor* block_compressor() const { return card_.get(); }
  std::string_view name() const { return card_ ? "fpga" : "cpu"; }
  CompressorMode requested() const { return requested_; }
  const std::string& detail() const { return detail_; }  // why this one, for the start-up log
  CompressorCounts counts() const;

 private:
  ArchiveCompressor(CompressorMode requested, std::unique_ptr<kernels::BlockCompressor> card,
                    std::string detail);

  CompressorMode requested_;
  std::unique_ptr<kernels::BlockCompressor> card_;
  std::string detail_;
};

}  // namespace beacon::host
