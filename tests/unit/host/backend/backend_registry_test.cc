// Backend selection: priority order, forcing by name and by $BEACON_BACKEND, and the messages
// for unknown and unavailable backends.
#include "host/backend/backend_registry.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "kernels/simd/byte_kernels.h"

namespace beacon::host {
namespace {

class BackendRegistryTest : public testing::Test {
 protected:
  void SetUp() override { unsetenv(kBackendEnvVar); }
  void TearDown() override {
    unsetenv(kBackendEnvVar);
    kernels::ForceSimdTargetForTest(0);
  }
};

// The message of the exception `choose` throws, or "" when it throws none.
template <typename Exception, typename Fn>
std::string ThrownMessage(Fn choose) {
  try {
    choose();
  } catch (const Exception& e) {
    return e.what();
  }
  return "";
}

TEST_F(BackendRegistryTest, ListsFpgaSimdScalarInPriorityOrder) {
  const std::vector<BackendInfo> backends = ListBackends();
  ASSERT_EQ(backends.size(), 4u);
  EXPECT_EQ(backends[0].name, "fpga");
  EXPECT_EQ(backends[1].name, "simd");
  EXPECT_EQ(backends[2].name, "scalar");
  EXPECT_EQ(backends[3].name, "fpga-csim");  // listed last: chosen by name only
  EXPECT_TRUE(backends[3].available);
  EXPECT_FALSE(backends[0].available);  // no XRT on a build machine without it
  EXPECT_NE(backends[0].detail.find("XRT"), std::string::npos) << backends[0].detail;
  EXPECT_TRUE(backends[2].available);
  EXPECT_EQ(backends[2].detail, "reference");
}

TEST_F(BackendRegistryTest, ChoosesTheFirstAvailable) {
  const kernels::SimdTarget best = kernels::ActiveSimdTarget();
  const std::string best_name = best.name;
  const Backend backend = ChooseBackend();
  if (best_name == "SCALAR" || best_name == "EMU128") {
    EXPECT_EQ(backend.name, "scalar");
  } else {
    EXPECT_EQ(backend.kind, BackendKind::kSimd);
    EXPECT_EQ(backend.name, "simd");
    EXPECT_EQ(backend.target, best_name);
    EXPECT_STREQ(backend.byte_kernels.target, best.name);
    EXPECT_EQ(Describe(backend), "simd (" + best_name + ")");
  }
}

TEST_F(BackendRegistryTest, ForcesScalarByNameAndByEnvironment) {
  const Backend by_name = ChooseBackend("scalar");
  EXPECT_EQ(by_name.kind, BackendKind::kScalar);
  EXPECT_EQ(by_name.target, "reference");
  EXPECT_STREQ(by_name.byte_kernels.backend, "scalar");
  EXPECT_EQ(Describe(by_name), "scalar (reference)");

  setenv(kBackendEnvVar, "scalar", 1);
  EXPECT_EQ(ChooseBackend().kind, BackendKind::kScalar);
  EXPECT_EQ(ChooseBackend("simd").kind, BackendKind::kSimd);  // a given name beats the variable
  setenv(kBackendEnvVar, "", 1);                              // empty: not forced
  EXPECT_EQ(ChooseBackend().name, ChooseBackend("simd").name);
}

TEST_F(BackendRegistryTest, FpgaCsimIsChosenByNameOnlyAndMakesDevices) {
  EXPECT_NE(ChooseBackend().kind, BackendKind::kFpgaCsim);
  EXPECT_EQ(ChooseBackend().make_device, nullptr);
  setenv(kBackendEnvVar, "fpga-csim", 1);
  const Backend csim = ChooseBackend();
  EXPECT_EQ(csim.kind, BackendKind::kFpgaCsim);
  EXPECT_EQ(Describe(csim), "fpga-csim (csim)");
  // The formats the card does not decode, and fallbacks, run on the best host kernels.
  EXPECT_STREQ(csim.byte_kernels.backend, ChooseBackend("simd").byte_kernels.backend);
  ASSERT_NE(csim.make_device, nullptr);
  const std::unique_ptr<FpgaDevice> a = csim.make_device();
  const std::unique_ptr<FpgaDevice> b = csim.make_device();  // one per worker
  EXPECT_NE(a.get(), b.get());
  EXPECT_EQ(a->Describe(), "fpga-csim");
}

TEST_F(BackendRegistryTest, SelectedKernelsWork) {
  for (const char* name : {"simd", "scalar"}) {
    const Backend backend = ChooseBackend(name);
    char out[8];
    size_t size = 0;
    ASSERT_TRUE(backend.byte_kernels.form_decode("a%3Db+c", out, &size)) << name;
    EXPECT_EQ(std::string_view(out, size), "a=b c") << name;
    EXPECT_FALSE(backend.byte_kernels.is_valid_utf8("\xC0\xAF")) << name;
  }
}

TEST_F(BackendRegistryTest, UnknownNameListsTheKnownOnes) {
  EXPECT_EQ(ThrownMessage<std::invalid_argument>([] { ChooseBackend("gpu"); }),
            "unknown backend \"gpu\" (from the configuration); known backends: fpga, simd, "
            "scalar, fpga-csim");
  setenv(kBackendEnvVar, "SIMD", 1);  // names are case-sensitive
  EXPECT_EQ(ThrownMessage<std::invalid_argument>([] { ChooseBackend(); }),
            "unknown backend \"SIMD\" (from BEACON_BACKEND); known backends: fpga, simd, scalar, "
            "fpga-csim");
}

TEST_F(BackendRegistryTest, UnavailableFpgaSaysWhy) {
  const std::string message = ThrownMessage<std::runtime_error>([] { ChooseBackend("fpga"); });
  EXPECT_EQ(message.rfind("backend \"fpga\" (from the configuration) is not available: ", 0), 0u)
      << message;
  EXPECT_NE(message.find("XRT"), std::string::npos) << message;
}

// A CPU whose best target is the scalar fallback has no simd backend: forcing it fails and
// the automatic choice falls through to scalar.
TEST_F(BackendRegistryTest, SimdUnavailableOnAScalarOnlyCpu) {
  kernels::ForceSimdTargetForTest(kernels::CompiledSimdTargets().back().bits);
  const std::string fallback = kernels::CompiledSimdTargets().back().name;
  EXPECT_FALSE(ListBackends()[1].available);
  setenv(kBackendEnvVar, "simd", 1);
  const std::string message = ThrownMessage<std::runtime_error>([] { ChooseBackend(); });
  EXPECT_EQ(message.rfind("backend \"simd\" (from BEACON_BACKEND) is not available: ", 0), 0u)
      << message;
  EXPECT_NE(message.find("only " + fallback), std::string::npos) << message;
  unsetenv(kBackendEnvVar);
  EXPECT_EQ(ChooseBackend().kind, BackendKind::kScalar);
}

TEST_F(BackendRegistryTest, WritesTheInfoMetric) {
  MetricsWriter writer;
  WriteBackendInfo(ChooseBackend("scalar"), writer);
  EXPECT_NE(writer.text().find("beacon_backend_info{backend=\"scalar\",target=\"reference\"} 1"),
            std::string::npos)
      << writer.text();
}

}  // namespace
}  // namespace beacon::host
