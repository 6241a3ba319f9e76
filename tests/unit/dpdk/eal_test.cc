// The EAL starts without hugepages or PCI devices and finds the virtual ports it was given.
#include "dpdk/eal.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

namespace beacon::dpdk {
namespace {

TEST(EalTest, StartsWithoutHugepagesAndListsVirtualPorts) {
  const std::string prefix = "beacon-eal-test-" + std::to_string(getpid());
  auto eal = Eal::Start({"--no-huge", "-m", "256", "--no-pci", "--no-shconf", "--file-prefix",
                         prefix, "--log-level", "lib.eal:warning", "--vdev", "net_null0", "--vdev",
                         "net_null1", "-l", "0"});
  ASSERT_NE(eal, nullptr);
  EXPECT_EQ(eal->lcore_count(), 1u);
  const auto ports = eal->Ports();
  ASSERT_EQ(ports.size(), 2u);
  EXPECT_EQ(ports[0].name, "net_null0");
  EXPECT_EQ(ports[1].name, "net_null1");
  EXPECT_EQ(ports[0].driver, "net_null");
  EXPECT_GE(ports[0].max_rx_queues, 1u);
  // A second EAL in the same process is refused with a message, not a crash.
  EXPECT_THROW(Eal::Start({"--no-huge"}), std::runtime_error);
}

}  // namespace
}  // namespace beacon::dpdk
