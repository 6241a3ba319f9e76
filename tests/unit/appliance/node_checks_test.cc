// beaconctl doctor's checks: on this machine's own /sys (a config without DPDK passes; a DPDK
// port at an address with no device says there is no NIC), on directories it must write, and
// on a sysfs tree of files laid out as the kernel does for a NIC bound to a kernel driver or
// to vfio-pci.
#include "appliance/ctl/node_checks.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "host/private_dir.h"

namespace beacon::app {
namespace {

namespace fs = std::filesystem;

class NodeChecksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("node_checks_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "sites.conf") << "1 shop UA-1-1 shop.example\n";
    config_ = DefaultConfig();
    config_.sites_path = (dir_ / "sites.conf").string();
    config_.state_dir = (dir_ / "state").string();
    fs::create_directories(config_.state_dir);
    config_.user_agent_regexes = "";
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The finding named `check`; fails the test when there is none.
  static Finding Named(const std::vector<Finding>& findings, const std::string& check) {
    const auto it = std::find_if(findings.begin(), findings.end(),
                                 [&check](const Finding& f) { return f.check == check; });
    EXPECT_NE(it, findings.end()) << check;
    return it == findings.end() ? Finding{} : *it;
  }
  static int Errors(const std::vector<Finding>& findings) {
    return static_cast<int>(std::count_if(findings.begin(), findings.end(), [](const Finding& f) {
      return f.severity == Severity::kError;
    }));
  }
  void Write(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text << "\n";
  }
  // A sysfs tree with one NIC at 0000:01:00.0 bound to `driver`, interface eth1 (down).
  NodeEnvironment FakeSys(const std::string& driver) {
    const fs::path sys = dir_ / "sys";
    const fs::path dev = sys / "bus/pci/devices/0000:01:00.0";
    Write(dev / "class", "0x020000");
    fs::create_directories(sys / "bus/pci/drivers" / driver);
    fs::create_directory_symlink(sys / "bus/pci/drivers" / driver, dev / "driver");
    fs::create_directories(dev / "net/eth1");
    Write(sys / "class/net/eth1/operstate", "down");
    fs::create_directories(sys / "bus/pci/drivers/vfio-pci");
    fs::create_directories(sys / "kernel/iommu_groups/7");
    Write(sys / "kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "1024");
    Write(sys / "kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "1024");
    Write(sys / "devices/system/cpu/isolated", "1-3");
    Write(dir_ / "proc/mounts", "hugetlbfs /dev/hugepages hugetlbfs rw 0 0");
    NodeEnvironment env;
    env.sys = sys.string();
    env.proc = (dir_ / "proc").string();
    env.devbind = "/bin/true";
    return env;
  }
  void UsePciPort() {
    config_.dpdk.enabled = true;
    config_.dpdk.data_plane.ports = {"0000:01:00.0"};
    config_.dpdk.eal_args = {"-l", "0-2", "-m", "1024"};
  }

  fs::path dir_;
  Config config_;
};

TEST_F(NodeChecksTest, AConfigWithoutDpdkPassesHere) {
  const auto findings = CheckNode(config_, NodeEnvironment{});
  EXPECT_EQ(Errors(findings), 0);
  EXPECT_NE(Named(findings, "dpdk").message.find("no [dpdk] section"), std::string::npos);
  EXPECT_EQ(Named(findings, "site registry").severity, Severity::kOk);
}

TEST_F(NodeChecksTest, ADpdkPortWithNoDeviceSaysThereIsNoNic) {
  UsePciPort();
  config_.dpdk.data_plane.ports = {"0000:7e:1f.7"};  // no machine this runs on has a device there
  const auto findings = CheckNode(config_, NodeEnvironment{});
  const Finding port = Named(findings, "port 0000:7e:1f.7");
  EXPECT_EQ(port.severity, Severity::kError);
  EXPECT_NE(port.message.find("no PCI device at 0000:7e:1f.7: this machine has no NIC there"),
            std::string::npos)
      << port.message;
  EXPECT_GE(Errors(findings), 1);
}

TEST_F(NodeChecksTest, AVirtualDeviceNeedsNoNic) {
  config_.dpdk.enabled = true;
  config_.dpdk.data_plane.ports = {"net_pcap0,rx_pcap=x.pcap"};
  config_.dpdk.eal_args = {"--no-huge", "-l", "0-1"};
  const auto findings = CheckNode(config_, FakeSys("vfio-pci"));
  EXPECT_EQ(Named(findings, "port net_pcap0,rx_pcap=x.pcap").severity, Severity::kOk);
  EXPECT_EQ(Named(findings, "hugepages").severity, Severity::kAdvice);
  EXPECT_EQ(Errors(findings), 0);
}

// beacond's start makes its state dir with the parents it lacks (the salt store's
// EnsurePrivateDirectory, before anything else writes there): a state dir whose parents are
// missing too is a warning, as beacond starts; an error only where the start fails.
TEST_F(NodeChecksTest, AMissingStateDirIsReportedAndSetupCreatesIt) {
  config_.state_dir = (dir_ / "var/lib/beacond").string();  // parent missing too
  auto findings = CheckNode(config_, NodeEnvironment{});
  Finding state = Named(findings, "state dir");
  EXPECT_EQ(state.severity, Severity::kWarning) << state.message;
  EXPECT_NE(state.message.find("does not exist; beacond creates it at start"), std::string::npos)
      << state.message;
  EXPECT_EQ(ApplyFixes(findings), 0);
  EXPECT_TRUE(fs::is_directory(config_.state_dir));
  EXPECT_EQ((fs::status(config_.state_dir).permissions() & fs::perms::all), fs::perms::owner_all);
  EXPECT_EQ(Named(CheckNode(config_, NodeEnvironment{}), "state dir").severity, Severity::kOk);

  // What the check said, the start does.
  config_.state_dir = (dir_ / "srv/beacond/state").string();
  EXPECT_EQ(Named(CheckNode(config_, NodeEnvironment{}), "state dir").severity, Severity::kWarning);
  EXPECT_NO_THROW(host::EnsurePrivateDirectory(config_.state_dir, "state dir"));
  EXPECT_EQ(Named(CheckNode(config_, NodeEnvironment{}), "state dir").severity, Severity::kOk);
}

// Below a file no start can make the state dir: an error, and the start fails alike.
TEST_F(NodeChecksTest, AStateDirBeacondCannotMakeIsAnError) {
  Write(dir_ / "file", "not a directory");
  config_.state_dir = (dir_ / "file/beacond").string();
  const Finding state = Named(CheckNode(config_, NodeEnvironment{}), "state dir");
  EXPECT_EQ(state.severity, Severity::kError) << state.message;
  EXPECT_NE(state.message.find("beacond cannot create it"), std::string::npos) << state.message;
  EXPECT_THROW(host::EnsurePrivateDirectory(config_.state_dir, "state dir"), std::runtime_error);
}

TEST_F(NodeChecksTest, ABadRegistryIsAnError) {
  std::ofstream(config_.sites_path) << "not a site line\n";
  const Finding sites = Named(CheckNode(config_, NodeEnvironment{}), "site registry");
  EXPECT_EQ(sites.severity, Severity::kError);
  EXPECT_FALSE(sites.fix.empty());
}

TEST_F(NodeChecksTest, ANicOnAKernelDriverNeedsBinding) {
  UsePciPort();
  const auto findings = CheckNode(config_, FakeSys("ixgbe"));
  const Finding port = Named(findings, "port 0000:01:00.0");
  EXPECT_EQ(port.severity, Severity::kError);
  EXPECT_NE(port.message.find("bound to ixgbe (kernel interface eth1), not vfio-pci"),
            std::string::npos)
      << port.message;
  EXPECT_EQ(port.fix, "ip link set eth1 down && /bin/true --bind=vfio-pci 0000:01:00.0");
  EXPECT_TRUE(static_cast<bool>(port.apply));
}

TEST_F(NodeChecksTest, ANodeReadyForDpdkPasses) {
  UsePciPort();
  const auto findings = CheckNode(config_, FakeSys("vfio-pci"));
  EXPECT_EQ(Errors(findings), 0);
  EXPECT_EQ(Named(findings, "port 0000:01:00.0").severity, Severity::kOk);
  EXPECT_EQ(Named(findings, "iommu").severity, Severity::kOk);
  EXPECT_EQ(Named(findings, "hugepages").severity, Severity::kOk);
  EXPECT_EQ(Named(findings, "cpu isolation").severity, Severity::kOk);
}

TEST_F(NodeChecksTest, MissingHugepagesAndIsolationSayWhatToSet) {
  UsePciPort();
  config_.dpdk.eal_args = {"-l", "0-5", "-m", "4096"};  // 2 GB reserved
  const NodeEnvironment env = FakeSys("vfio-pci");
  const auto findings = CheckNode(config_, env);
  const Finding pages = Named(findings, "hugepages");
  EXPECT_EQ(pages.severity, Severity::kError);
  EXPECT_NE(pages.fix.find("echo 2048 > " + env.sys +
                           "/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"),
            std::string::npos)
      << pages.fix;
  const Finding cpus = Named(findings, "cpu isolation");
  EXPECT_EQ(cpus.severity, Severity::kAdvice);
  EXPECT_NE(cpus.fix.find("isolcpus=4,5"), std::string::npos) << cpus.fix;
}

TEST_F(NodeChecksTest, TooFewLcoresForTheWorkersIsAnError) {
  UsePciPort();
  config_.dpdk.workers = 3;  // -l 0-2: the main lcore and two workers
  const auto findings = CheckNode(config_, FakeSys("vfio-pci"));
  const Finding lcores = Named(findings, "dpdk lcores");
  EXPECT_EQ(lcores.severity, Severity::kError);
  EXPECT_NE(lcores.message.find("-l gives 3 lcores; [dpdk] workers = 3 needs 4"), std::string::npos)
      << lcores.message;
}

// beacond creates the archive dir itself but not its parents (only the state dir's, when the
// archive is in it): a missing parent is an error, or beacond exits 2 at start ("archive ...:
// No such file or directory") after --check passed.
TEST_F(NodeChecksTest, AnArchiveDirWhoseParentIsMissingIsAnError) {
  config_.archive.writer.directory = (dir_ / "srv/beacon/archive").string();
  auto findings = CheckStorage(config_);
  const Finding archive = Named(findings, "archive dir");
  EXPECT_EQ(archive.severity, Severity::kError) << archive.message;
  EXPECT_NE(archive.message.find("beacond cannot create it"), std::string::npos) << archive.message;
  EXPECT_EQ(ApplyFixes(findings), 0);
  EXPECT_EQ(Named(CheckStorage(config_), "archive dir").severity, Severity::kOk);

  // In a state dir that does not exist yet: beacond makes the state dir first.
  config_.state_dir = (dir_ / "var/lib/beacond").string();
  config_.archive.writer.directory = config_.state_dir + "/archive";
  EXPECT_EQ(Named(CheckStorage(config_), "archive dir").severity, Severity::kWarning);
}

// beacond --check's storage findings: an existing dir's mode, free space beside the bounds.
TEST_F(NodeChecksTest, StorageChecksModesAndSpace) {
  fs::permissions(config_.state_dir, fs::perms::owner_all | fs::perms::others_read);
  config_.forwarder.spool_dir = (dir_ / "spool").string();
  config_.forwarder.spool_max_bytes = uint64_t{1} << 60;  // more than any disk here
  config_.archive.writer.directory = (dir_ / "state/archive").string();
  fs::create_directories(config_.archive.writer.directory);
  fs::permissions(config_.archive.writer.directory, fs::perms::owner_all);
  config_.archive.retention_max_bytes = 1 << 20;
  const auto findings = CheckStorage(config_);
  const Finding state = Named(findings, "state dir");
  EXPECT_EQ(state.severity, Severity::kWarning);
  EXPECT_EQ(state.fix, "chmod 700 " + config_.state_dir);
  ASSERT_TRUE(state.apply);
  EXPECT_EQ(state.apply(), "");
  EXPECT_EQ(fs::status(config_.state_dir).permissions() & fs::perms::all, fs::perms::owner_all);
  EXPECT_EQ(Named(findings, "spool space").severity, Severity::kWarning);
  EXPECT_EQ(Named(findings, "archive space").severity, Severity::kOk);
  EXPECT_EQ(Errors(findings), 0);
}

}  // namespace
}  // namespace beacon::app
