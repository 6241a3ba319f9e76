// The node checks of beaconctl doctor and setup.
#include "appliance/ctl/node_checks.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string_view>
#include <thread>

#include "kernels/site_registry.h"

namespace beacon::app {
namespace {

namespace fs = std::filesystem;

std::function<std::string()> MakesDir(std::string path, fs::perms perms) {
  return [path = std::move(path), perms]() -> std::string {
    std::error_code ec;
    fs::create_directories(path, ec);
    if (!ec) fs::permissions(path, perms, ec);
    return ec ? path + ": " + ec.message() : "";
  };
}

// A directory beacond writes: present and writable, or creatable at start.
Finding CheckDirectory(const std::string& check, const std::string& path, bool parents_created) {
  const std::string fix = "mkdir -p -m 700 " + path;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    if (access(path.c_str(), W_OK | X_OK) == 0) return Ok(check, path + " is writable");
    return {Severity::kError,
            check,
            path + " is not writable by uid " + std::to_string(getuid()),
            fix,
            {}};
  }
  if (fs::exists(path, ec)) {
    return {Severity::kError, check, path + " exists and is not a directory", "", {}};
  }
  fs::path ancestor = fs::path(path).parent_path();
  while (parents_created && !ancestor.empty() && !fs::exists(ancestor, ec)) {
    ancestor = ancestor.parent_path();
  }
  const bool creatable = !ancestor.empty() && fs::is_directory(ancestor, ec) &&
                         access(ancestor.c_str(), W_OK | X_OK) == 0;
  Finding finding{
      creatable ? Severity::kWarning : Severity::kError, check,
      path + " does not exist" +
          (creatable ? "; beacond creates it at start"
                     : "; beacond cannot create it (" + ancestor.string() +
                           (ancestor.empty() ? "" : " is missing or not writable") + ")"),
      fix, MakesDir(path, fs::perms::owner_all)};
  return finding;
}

void CheckPaths(const Config& config, std::vector<Finding>* out) {
  if (config.sites_path.empty()) {
    out->push_back({Severity::kError,
                    "site registry",
                    "no [sites] registry is configured",
                    "set [sites] registry (or pass --sites to beacond)",
                    {}});
  } else {
    try {
      const auto registry = kernels::SiteRegistry::Load(config.sites_path);
      out->push_back(Ok("site registry",
                        config.sites_path + ": " + std::to_string(registry.size()) + " sites"));
    } catch (const std::exception& e) {
      out->push_back({Severity::kError,
                      "site registry",
                      e.what(),
                      "correct the file; beaconctl sites FILE checks it",
                      {}});
    }
  }
  out->push_back(CheckDirectory("state dir", config.state_dir, false));
  if (!config.forwarder.spool_dir.empty()) {
    out->push_back(CheckDirectory("spool dir", config.forwarder.spool_dir, true));
  }
  if (!config.user_agent_regexes.empty()) {
    if (access(config.user_agent_regexes.c_str(), R_OK) == 0) {
      out->push_back(Ok("user agents", config.user_agent_regexes + " is readable"));
    } else {
      out->push_back({Severity::kError,
                      "user agents",
                      "cannot read " + config.user_agent_regexes,
                      "apt-get install uap-core, or set [enrich] user_agents = \"\"",
                      {}});
    }
  }
}

void CheckFileLimit(const Config& config, std::vector<Finding>* out) {
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const uint64_t workers =
      config.http_workers > 0 ? static_cast<uint64_t>(config.http_workers) : cores;
  const uint64_t need = workers * config.http.max_connections_per_worker + 1024;
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  const std::string what = "open files: soft limit " + std::to_string(limit.rlim_cur) + ", " +
                           std::to_string(workers) + " HTTP workers x " +
                           std::to_string(config.http.max_connections_per_worker) +
                           " connections + 1024 need " + std::to_string(need);
  if (limit.rlim_cur >= need) {
    out->push_back(Ok("file limit", what));
  } else {
    out->push_back({Severity::kWarning,
                    "file limit",
                    what + " (this shell's limit; beacond.service sets its own)",
                    "LimitNOFILE=" + std::to_string(need) + " in beacond.service, or ulimit -n " +
                        std::to_string(need),
                    {}});
  }
}

}  // namespace

Finding Ok(std::string check, std::string message) {
  return {Severity::kOk, std::move(check), std::move(message), "", {}};
}

std::vector<Finding> CheckNode(const Config& config, const NodeEnvironment& env) {
  std::vector<Finding> findings;
  CheckPaths(config, &findings);
  CheckFileLimit(config, &findings);
  const auto dpdk = CheckDpdk(config, env);
  findings.insert(findings.end(), dpdk.begin(), dpdk.end());
  return findings;
}

int PrintFindings(const std::vector<Finding>& findings) {
  int errors = 0;
  for (const Finding& f : findings) {
    static constexpr const char* kLabels[] = {"ok", "advice", "WARNING", "ERROR"};
    std::printf("%-8s %s: %s\n", kLabels[static_cast<int>(f.severity)], f.check.c_str(),
                f.message.c_str());
    if (f.severity != Severity::kOk && !f.fix.empty())
      std::printf("         fix: %s\n", f.fix.c_str());
    if (f.severity == Severity::kError) ++errors;
  }
  std::printf("%d error(s): %s\n", errors,
              errors == 0 ? "this node can run its config" : "this node cannot run its config");
  return errors == 0 ? 0 : 1;
}

int ApplicableFixes(const std::vector<Finding>& findings) {
  return static_cast<int>(std::count_if(findings.begin(), findings.end(), [](const Finding& f) {
    return f.severity != Severity::kOk && static_cast<bool>(f.apply);
  }));
}

int ApplyFixes(const std::vector<Finding>& findings) {
  int failed = 0;
  for (const Finding& f : findings) {
    if (f.severity == Severity::kOk || !f.apply) continue;
    const std::string error = f.apply();
    std::printf("%-8s %s: %s\n", error.empty() ? "applied" : "FAILED", f.check.c_str(),
                error.empty() ? f.fix.c_str() : error.c_str());
    if (!error.empty()) ++failed;
  }
  return failed;
}

}  // namespace beacon::app
