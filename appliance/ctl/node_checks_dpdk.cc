// The [dpdk] node checks: NIC ports and their driver, vfio-pci, the IOMMU, hugepages and CPU
// isolation, read from sysfs.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>

#include "appliance/ctl/node_checks.h"

namespace beacon::app {
namespace {

namespace fs = std::filesystem;

std::optional<std::string> ReadTrimmed(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::function<std::string()> Runs(std::string command) {
  return [command = std::move(command)]() -> std::string {
    const int rc = std::system(command.c_str());
    return rc == 0 ? "" : "'" + command + "' exited " + std::to_string(rc);
  };
}

std::function<std::string()> Writes(std::string path, std::string value) {
  return [path = std::move(path), value = std::move(value)]() -> std::string {
    std::ofstream out(path);
    out << value << "\n";
    out.close();
    return out ? "" : "cannot write " + path;
  };
}

// `name` is a path to an executable, or an executable on $PATH.
bool Executable(const std::string& name) {
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0;
  std::stringstream path{std::string(std::getenv("PATH") ? std::getenv("PATH") : "")};
  for (std::string dir; std::getline(path, dir, ':');) {
    if (!dir.empty() && access((dir + "/" + name).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// "0000:01:00.0" or "01:00.0" -> the full address; nullopt for a vdev ("net_pcap0,...").
// Matched by hand: GCC 12's std::regex trips -Wmaybe-uninitialized in sanitizer builds.
std::optional<std::string> PciAddress(const std::string& port) {
  std::string full = port.size() == 7 ? "0000:" + port : port;
  // "DDDD:BB:SS.F": hex digits but for the separators, the function 0-7.
  if (full.size() != 12 || full[4] != ':' || full[7] != ':' || full[10] != '.') return std::nullopt;
  for (const size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (!std::isxdigit(static_cast<unsigned char>(full[i]))) return std::nullopt;
  }
  if (full[11] < '0' || full[11] > '7') return std::nullopt;
  return full;
}

// "0-2,4" -> {0, 1, 2, 4}.
std::set<int> CpuList(std::string_view list) {
  std::set<int> cpus;
  std::stringstream in{std::string(list)};
  for (std::string part; std::getline(in, part, ',');) {
    if (part.empty() || !std::isdigit(static_cast<unsigned char>(part[0]))) continue;
    const size_t dash = part.find('-');
    const int first = std::atoi(part.c_str());
    const int last = dash == std::string::npos ? first : std::atoi(part.c_str() + dash + 1);
    for (int c = first; c <= last && c - first < 4096; ++c) cpus.insert(c);
  }
  return cpus;
}

std::string ListText(const std::set<int>& cpus) {
  std::string text;
  for (int c : cpus) text += (text.empty() ? "" : ",") + std::to_string(c);
  return text;
}

// The value after `flag` in the EAL arguments; "" when absent.
std::string EalValue(const std::vector<std::string>& args, std::string_view flag) {
  const auto it = std::find(args.begin(), args.end(), flag);
  return it == args.end() || it + 1 == args.end() ? "" : *(it + 1);
}

// Network-class PCI devices (class 0x02xxxx) and their drivers.
std::vector<std::string> NetworkDevices(const NodeEnvironment& env) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& dev : fs::directory_iterator(env.sys + "/bus/pci/devices", ec)) {
    const auto cls = ReadTrimmed(dev.path() / "class");
    if (!cls || cls->rfind("0x02", 0) != 0) continue;
    const fs::path driver = fs::read_symlink(dev.path() / "driver", ec);
    found.push_back(dev.path().filename().string() + " (" +
                    (ec ? "no driver" : driver.filename().string()) + ")");
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::string Joined(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "" : ", ") + item;
  return text.empty() ? "none" : text;
}

Finding CheckPort(const std::string& port, const std::string& address, const NodeEnvironment& env) {
  const std::string check = "port " + port;
  const fs::path dev = env.sys + "/bus/pci/devices/" + address;
  std::error_code ec;
  if (!fs::exists(dev, ec)) {
    const auto nics = NetworkDevices(env);
    return {Severity::kError,
            check,
            "no PCI device at " + address + ": this machine has no NIC there (network PCI " +
                "devices here: " + Joined(nics) + ")",
            nics.empty()
                ? "this machine has no NIC for DPDK: run the kernel-socket ingress ([http], "
                  "[udp]) without [dpdk], or move the config to a node with a NIC"
                : "set [dpdk] ports to one of the devices above (" + env.devbind +
                      " --status-dev net lists them)",
            {}};
  }
  const fs::path driver_link = fs::read_symlink(dev / "driver", ec);
  const std::string driver = ec ? "" : driver_link.filename().string();
  if (driver == "vfio-pci" || driver == "uio_pci_generic" || driver == "igb_uio") {
    return Ok(check, address + " is bound to " + driver);
  }
  if (driver == "mlx5_core" || driver == "mlx4_core") {
    return Ok(check, address + " uses " + driver + " (bifurcated: DPDK runs beside the kernel)");
  }
  std::string iface;
  for (const auto& net : fs::directory_iterator(dev / "net", ec)) iface = net.path().filename();
  const std::string fix = (iface.empty() ? "" : "ip link set " + iface + " down && ") +
                          env.devbind + " --bind=vfio-pci " + address;
  // An interface that is up may carry the node's own traffic: setup leaves it to a person.
  const bool up = !iface.empty() &&
                  ReadTrimmed(env.sys + "/class/net/" + iface + "/operstate").value_or("") == "up";
  return {Severity::kError, check,
          address + " is bound to " + (driver.empty() ? "no driver" : driver) +
              (iface.empty() ? "" : " (kernel interface " + iface + (up ? ", up" : "") + ")") +
              ", not vfio-pci" + (up ? "; setup --apply leaves an interface that is up alone" : ""),
          fix, up ? std::function<std::string()>() : Runs(fix)};
}

void CheckVfio(const NodeEnvironment& env, std::vector<Finding>* out) {
  std::error_code ec;
  if (fs::exists(env.sys + "/bus/pci/drivers/vfio-pci", ec)) {
    out->push_back(Ok("vfio-pci", "the vfio-pci driver is loaded"));
  } else {
    out->push_back({Severity::kError, "vfio-pci", "the vfio-pci driver is not loaded",
                    "modprobe vfio-pci (persist: echo vfio-pci > /etc/modules-load.d/vfio.conf)",
                    Runs("modprobe vfio-pci")});
  }
  const bool groups = fs::exists(env.sys + "/kernel/iommu_groups", ec) &&
                      !fs::is_empty(env.sys + "/kernel/iommu_groups", ec);
  const auto noiommu = ReadTrimmed(env.sys + "/module/vfio/parameters/enable_unsafe_noiommu_mode");
  if (groups) {
    out->push_back(Ok("iommu", "IOMMU groups present"));
  } else if (noiommu && *noiommu == "Y") {
    out->push_back({Severity::kWarning,
                    "iommu",
                    "no IOMMU; vfio runs in unsafe no-IOMMU mode (the NIC can DMA anywhere)",
                    "enable the IOMMU: intel_iommu=on iommu=pt (AMD: amd_iommu=on)",
                    {}});
  } else {
    out->push_back({Severity::kError,
                    "iommu",
                    "no IOMMU groups: vfio-pci cannot take the NIC",
                    "add intel_iommu=on iommu=pt (AMD: amd_iommu=on) to GRUB_CMDLINE_LINUX, "
                    "update-grub, reboot; without an IOMMU: echo Y > "
                    "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode",
                    {}});
  }
}

// Hugepage memory reserved and free, in MB, over every page size.
void HugepageMb(const NodeEnvironment& env, uint64_t* total, uint64_t* free) {
  *total = *free = 0;
  std::error_code ec;
  for (const auto& dir : fs::directory_iterator(env.sys + "/kernel/mm/hugepages", ec)) {
    const std::string name = dir.path().filename();  // hugepages-2048kB
    const uint64_t kb = std::strtoull(name.c_str() + name.find('-') + 1, nullptr, 10);
    *total +=
        std::strtoull(ReadTrimmed(dir.path() / "nr_hugepages").value_or("0").c_str(), nullptr, 10) *
        kb / 1024;
    *free += std::strtoull(ReadTrimmed(dir.path() / "free_hugepages").value_or("0").c_str(),
                           nullptr, 10) *
             kb / 1024;
  }
}

void CheckHugepages(const DpdkIngressConfig& dpdk, const NodeEnvironment& env,
                    std::vector<Finding>* out) {
  if (std::find(dpdk.eal_args.begin(), dpdk.eal_args.end(), "--no-huge") != dpdk.eal_args.end()) {
    out->push_back({Severity::kAdvice,
                    "hugepages",
                    "eal_args has --no-huge: ordinary pages, for tests and virtual devices only",
                    "drop --no-huge and reserve hugepages on a production node",
                    {}});
    return;
  }
  const std::string m = EalValue(dpdk.eal_args, "-m");
  const uint64_t need = m.empty() ? 1024 : std::strtoull(m.c_str(), nullptr, 10);
  uint64_t total = 0;
  uint64_t free = 0;
  HugepageMb(env, &total, &free);
  const std::string pages = std::to_string((need + 1) / 2);
  const std::string path = env.sys + "/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
  const std::string what = std::to_string(total) + " MB of hugepages reserved, " +
                           std::to_string(free) + " MB free; the EAL needs " +
                           std::to_string(need) + " MB" +
                           (m.empty() ? " (no -m: 1 GB advised)" : "");
  if (free >= need) {
    out->push_back(Ok("hugepages", what));
  } else {
    out->push_back({Severity::kError, "hugepages", what,
                    "echo " + pages + " > " + path + " (persist: vm.nr_hugepages = " + pages +
                        " in /etc/sysctl.d/80-beacond.conf)",
                    Writes(path, pages)});
  }
  const auto mounts = ReadTrimmed(env.proc + "/mounts").value_or("");
  if (mounts.find(" hugetlbfs ") == std::string::npos) {
    out->push_back({Severity::kWarning, "hugetlbfs", "no hugetlbfs mounted",
                    "mount -t hugetlbfs nodev /dev/hugepages",
                    Runs("mkdir -p /dev/hugepages && mount -t hugetlbfs nodev /dev/hugepages")});
  }
}

void CheckIsolation(const DpdkIngressConfig& dpdk, const NodeEnvironment& env,
                    std::vector<Finding>* out) {
  std::set<int> lcores = CpuList(EalValue(dpdk.eal_args, "-l"));
  if (lcores.empty()) {
    out->push_back({Severity::kAdvice,
                    "cpu isolation",
                    "eal_args pins no lcores (-l)",
                    "pass -l MAIN-LAST with one lcore per worker plus the main lcore",
                    {}});
    return;
  }
  const size_t need = static_cast<size_t>(dpdk.workers) + 1;
  if (lcores.size() < need) {
    out->push_back({Severity::kError,
                    "dpdk lcores",
                    "eal_args -l gives " + std::to_string(lcores.size()) +
                        " lcores; [dpdk] workers = " + std::to_string(dpdk.workers) + " needs " +
                        std::to_string(need) + " (one per worker and the main lcore)",
                    "list " + std::to_string(need) + " lcores in -l, or lower [dpdk] workers",
                    {}});
  }
  lcores.erase(lcores.begin());  // the main lcore does not poll
  const std::set<int> isolated =
      CpuList(ReadTrimmed(env.sys + "/devices/system/cpu/isolated").value_or(""));
  std::set<int> shared;
  std::set_difference(lcores.begin(), lcores.end(), isolated.begin(), isolated.end(),
                      std::inserter(shared, shared.begin()));
  if (shared.empty()) {
    out->push_back(Ok("cpu isolation", "worker lcores " + ListText(lcores) + " are isolated"));
    return;
  }
  const std::string list = ListText(shared);
  out->push_back({Severity::kAdvice,
                  "cpu isolation",
                  "worker lcores " + list +
                      " are not isolated: the kernel schedules other work "
                      "on the cores that poll the NIC",
                  "isolcpus=" + list + " nohz_full=" + list + " rcu_nocbs=" + list +
                      " on the kernel command line; IRQBALANCE_BANNED_CPULIST=" + list,
                  {}});
}

}  // namespace

std::vector<Finding> CheckDpdk(const Config& config, const NodeEnvironment& env) {
  std::vector<Finding> out;
  const auto nics = NetworkDevices(env);
  if (!config.dpdk.enabled) {
    out.push_back(Ok("dpdk",
                     "no [dpdk] section: kernel sockets only, no NIC binding, hugepages "
                     "or IOMMU needed (network PCI devices here: " +
                         Joined(nics) + ")"));
    return out;
  }
  bool pci = false;
  for (const std::string& port : config.dpdk.data_plane.ports) {
    const auto address = PciAddress(port);
    if (!address) {
      out.push_back(Ok("port " + port, "a virtual device: no NIC needed"));
      continue;
    }
    pci = true;
    out.push_back(CheckPort(port, *address, env));
  }
  if (pci) {
    if (!Executable(env.devbind)) {
      out.push_back({Severity::kWarning,
                     "dpdk-devbind",
                     env.devbind + " not found",
                     "apt-get install dpdk",
                     {}});
    }
    CheckVfio(env, &out);
  }
  CheckHugepages(config.dpdk, env, &out);
  CheckIsolation(config.dpdk, env, &out);
  return out;
}

}  // namespace beacon::app
