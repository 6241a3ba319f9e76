// The node checks of beaconctl doctor and setup.
#include "appliance/ctl/node_checks.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string_view>
#include <thread>

#include "host/forward/clickhouse_client.h"
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
  // beacond's start makes the state dir with its parents (SaltStore: EnsurePrivateDirectory).
  out->push_back(CheckDirectory("state dir", config.state_dir, true));
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

// The mode of a directory beacond writes: 0700; group access (the packaged unit's
// StateDirectoryMode) is advice, world access a warning, either fixed by its owner's chmod.
// Nothing when it does not exist yet (CheckDirectory's finding).
void CheckMode(const std::string& check, const std::string& path, std::vector<Finding>* out) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return;
  const unsigned mode = st.st_mode & 07777;
  char octal[8];
  std::snprintf(octal, sizeof(octal), "%04o", mode);
  if (mode == 0700) {
    out->push_back(Ok(check, path + " has mode 0700"));
    return;
  }
  const bool fixable = st.st_uid == geteuid() || geteuid() == 0;
  const Severity severity =
      !fixable ? Severity::kError : ((mode & 07) != 0 ? Severity::kWarning : Severity::kAdvice);
  std::function<std::string()> apply;
  if (fixable) {
    apply = [path] {
      std::error_code ec;
      fs::permissions(path, fs::perms::owner_all, ec);
      return ec ? path + ": " + ec.message() : std::string();
    };
  }
  out->push_back(
      {severity, check,
       path + " has mode " + octal + ", not 0700 (visitor salts and raw beacons are private)" +
           (fixable ? "" : "; owned by uid " + std::to_string(st.st_uid) + ", not this user"),
       "chmod 700 " + path, std::move(apply)});
}

// Free space where `path` (or its nearest existing ancestor) lives, beside `need` bytes (0: no
// configured bound, reported as advice).
Finding CheckSpace(const std::string& check, const std::string& path, uint64_t need,
                   const std::string& setting) {
  fs::path at = path;
  std::error_code ec;
  while (!at.empty() && !fs::exists(at, ec)) at = at.parent_path();
  struct statvfs vfs {};
  if (at.empty() || statvfs(at.c_str(), &vfs) != 0) {
    return {Severity::kWarning, check, "cannot read the free space of " + path, "", {}};
  }
  const uint64_t free_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  const std::string gib = [](uint64_t b) {
    char text[32];
    std::snprintf(text, sizeof(text), "%.1f GiB", static_cast<double>(b) / (1 << 30));
    return std::string(text);
  }(free_bytes);
  if (need == 0) {
    return {Severity::kAdvice,
            check,
            path + ": " + gib + " free and no size bound configured",
            "set " + setting,
            {}};
  }
  const std::string what = path + ": " + gib + " free for up to " + std::to_string(need >> 20) +
                           " MiB (" + setting + ")";
  if (free_bytes >= need) return Ok(check, what);
  return {Severity::kWarning,
          check,
          what + ": the disk fills before the bound does",
          "free space, or lower " + setting,
          {}};
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

std::vector<Finding> CheckStorage(const Config& config) {
  std::vector<Finding> out;
  CheckMode("state dir", config.state_dir, &out);
  const std::string& spool = config.forwarder.spool_dir;
  if (!spool.empty()) {
    CheckMode("spool dir", spool, &out);
    const uint64_t shards = std::max<size_t>(1, config.forwarder.shards.size());
    out.push_back(CheckSpace("spool space", spool, config.forwarder.spool_max_bytes * shards,
                             "[clickhouse] spool_max_mb"));
  }
  if (config.archive.enabled) {
    const std::string& archive = config.archive.writer.directory;
    // The archive writer makes its directory, not the parents; the state dir (with its
    // parents) is made before it.
    const bool in_state_dir = fs::path(archive).lexically_normal().parent_path() ==
                              fs::path(config.state_dir + "/").lexically_normal().parent_path();
    out.push_back(CheckDirectory("archive dir", archive, in_state_dir));
    CheckMode("archive dir", archive, &out);
    out.push_back(CheckSpace("archive space", archive, config.archive.retention_max_bytes,
                             "[archive] max_gb"));
  }
  return out;
}

std::vector<Finding> CheckClickHouse(const Config& config) {
  std::vector<std::string> urls;
  for (const auto& replicas : config.forwarder.shards) {
    urls.insert(urls.end(), replicas.begin(), replicas.end());
  }
  if (urls.empty()) urls.push_back(config.forwarder.clickhouse.url);
  std::vector<Finding> out;
  for (const std::string& url : urls) {
    host::ClickHouseEndpoint endpoint = config.forwarder.clickhouse;
    endpoint.url = url;
    endpoint.timeout_ms = 2000;
    host::ClickHouseClient client(endpoint);
    const host::ClickHouseResult result = client.Execute("SELECT 1");
    if (result.ok()) {
      out.push_back(Ok("clickhouse", url + " answers SELECT 1"));
      continue;
    }
    const std::string why = !result.error.empty() ? result.error
                                                  : "HTTP " + std::to_string(result.status) + ": " +
                                                        result.body.substr(0, 200);
    out.push_back({Severity::kWarning,
                   "clickhouse",
                   url + " does not answer SELECT 1 (" + why +
                       "); beacond starts anyway and holds epochs (or spools them) until it does",
                   "start ClickHouse, or correct [clickhouse] url/shards, user and password",
                   {}});
  }
  return out;
}

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
