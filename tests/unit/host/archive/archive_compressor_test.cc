// [archive] compressor without a card: cpu and auto give libzstd, saying why; fpga refuses.
#include "host/archive/archive_compressor.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace beacon::host {
namespace {

TEST(ArchiveCompressor, ParsesTheThreeModesOnly) {
  CompressorMode mode = CompressorMode::kCpu;
  for (const CompressorMode m :
       {CompressorMode::kAuto, CompressorMode::kCpu, CompressorMode::kFpga}) {
    ASSERT_TRUE(ParseCompressorMode(CompressorModeName(m), &mode));
    EXPECT_EQ(mode, m);
  }
  EXPECT_FALSE(ParseCompressorMode("gpu", &mode));
  EXPECT_FALSE(ParseCompressorMode("", &mode));
}

TEST(ArchiveCompressor, CpuAndAutoWithoutTheCardGiveLibzstd) {
  const auto cpu = ArchiveCompressor::Choose(CompressorMode::kCpu, true, "beacon.xclbin", 1);
  EXPECT_EQ(cpu->block_compressor(), nullptr);
  EXPECT_EQ(cpu->name(), "cpu");
  EXPECT_EQ(cpu->requested(), CompressorMode::kCpu);
  const auto auto_simd = ArchiveCompressor::Choose(CompressorMode::kAuto, false, "", 1);
  EXPECT_EQ(auto_simd->block_compressor(), nullptr);
  EXPECT_EQ(auto_simd->name(), "cpu");
  EXPECT_EQ(auto_simd->requested(), CompressorMode::kAuto);
  EXPECT_NE(auto_simd->detail().find("not fpga"), std::string::npos) << auto_simd->detail();
  const CompressorCounts counts = auto_simd->counts();
  EXPECT_EQ(counts.card_blocks + counts.fallback_device_error + counts.fallback_timeout +
                counts.fallback_nonconforming,
            0u);
}

TEST(ArchiveCompressor, FpgaRefusesWhenTheCardCannotCompress) {
  try {
    ArchiveCompressor::Choose(CompressorMode::kFpga, false, "", 1);
    FAIL() << "fpga without the fpga backend was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("compressor = \"fpga\" cannot run"), std::string::npos)
        << e.what();
  }
  // With the fpga backend named but no card (or no XRT), auto still settles for libzstd.
  const auto fallback =
      ArchiveCompressor::Choose(CompressorMode::kAuto, true, "/nonexistent.xclbin", 1);
  EXPECT_EQ(fallback->name(), "cpu");
  EXPECT_FALSE(fallback->detail().empty());
}

}  // namespace
}  // namespace beacon::host
