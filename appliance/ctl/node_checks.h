// beaconctl doctor and setup: can this machine run this beacond config? Each check is a
// finding with the fix an operator would type; `setup --apply` carries out the fixes that
// are safe to automate (directories, hugepages, vfio-pci, binding a NIC).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "appliance/config.h"

namespace beacon::app {

enum class Severity {
  kOk,       // as it should be
  kAdvice,   // runs, but a PoP node should do better (CPU isolation, limits)
  kWarning,  // runs, with a risk named in the message
  kError,    // beacond cannot run this config here
};

struct Finding {
  Severity severity = Severity::kOk;
  std::string check;    // short name: "state dir", "hugepages", "port 0000:01:00.0"
  std::string message;  // what was found
  std::string fix;      // the command or setting that fixes it; "" when nothing to do
  // Carries out `fix` (for setup --apply); returns "" or why it failed. Empty: manual only.
  std::function<std::string()> apply;
};

// Where the checks look: the real /sys and /proc by default, a tree of files in tests.
struct NodeEnvironment {
  std::string sys = "/sys";
  std::string proc = "/proc";
  std::string devbind = "dpdk-devbind.py";  // DPDK's NIC binding tool (Debian's dpdk)
};

// Every check for `config`: its paths and permissions, file limits and, with [dpdk], the
// ports (a PCI address with no device here is an error that says there is no NIC), their
// driver, vfio-pci, the IOMMU, hugepages and CPU isolation.
std::vector<Finding> CheckNode(const Config& config, const NodeEnvironment& env);

// beacond --check's storage checks beyond CheckNode's: the archive dir as a directory beacond
// writes, and for the state, spool and archive dirs the mode (0700, or a chmod that fixes it)
// and the free space beside the configured sizes (spool_max_mb per shard, archive max_gb).
std::vector<Finding> CheckStorage(const Config& config);

// `SELECT 1` on every ClickHouse server of the config, with a short timeout; one that does not
// answer is a warning (beacond starts anyway and holds or spools epochs until it does).
std::vector<Finding> CheckClickHouse(const Config& config);

// The [dpdk] part of CheckNode; with no [dpdk] section, one finding saying none is needed.
std::vector<Finding> CheckDpdk(const Config& config, const NodeEnvironment& env);

// A finding with nothing to fix.
Finding Ok(std::string check, std::string message);

// Prints each finding ("ok", "advice", "WARNING", "ERROR") with its fix; returns 1 when any
// is an error, else 0.
int PrintFindings(const std::vector<Finding>& findings);

// Runs the apply of every finding that is not ok and has one, printing what it did; returns
// how many failed.
int ApplyFixes(const std::vector<Finding>& findings);

// How many findings setup --apply would fix.
int ApplicableFixes(const std::vector<Finding>& findings);

}  // namespace beacon::app
