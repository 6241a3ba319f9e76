// Live reload: re-reads the config file and the site registry (on SIGHUP or POST /reload) and
// publishes the site registry, the per-site budgets and the user-agent patterns to the worker
// pipelines (host/pipeline/live_settings.h). A file that does not load is refused and the
// running settings stay; keys that only a restart applies are reported, not applied.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "appliance/coalesced_runs.h"
#include "appliance/config.h"
#include "host/metrics/metrics.h"
#include "host/pipeline/live_settings.h"

namespace beacon::app {

struct ReloadOutcome {
  bool ok = false;
  std::string message;  // one line: what changed and what needs a restart, or why refused
};

class Reloader {
 public:
  // Loads `running`'s live settings (throws std::runtime_error when they do not load). A
  // reload reads `config_path` ("" : the defaults) and, when not empty, `sites_override`
  // (beacond --sites) replaces its [sites] registry.
  // Starts the reloader's thread, which inherits the caller's signal mask.
  Reloader(Config running, std::string config_path, std::string sites_override);
  // Stops the thread once the reload running is done; requests still waiting get "refused:
  // beacond is stopping".
  ~Reloader() = default;
  Reloader(const Reloader&) = delete;
  Reloader& operator=(const Reloader&) = delete;

  // Re-reads and publishes on the calling thread; one reload at a time, from any thread. Logs
  // the outcome.
  ReloadOutcome Reload();

  // Asks for a reload on the reloader's own thread and returns at once (SIGHUP on the main
  // thread, POST /reload on the management worker, which go on serving meanwhile). `done`
  // (may be empty) is called on that thread with the outcome of a reload begun after the
  // request: the requests made while a reload runs wait for the next one, which serves them
  // all (it reads the files as they are once the running one is done).
  void Request(std::function<void(const ReloadOutcome&)> done);

  const host::LiveSettingsSource* live() const { return live_.get(); }

  // beacond_config_reloads_total{outcome}, beacond_config_last_reload_successful,
  // beacond_config_last_reload_success_timestamp_seconds and
  // beacond_config_restart_pending_keys.
  void RegisterMetrics(host::MetricsRegistry* registry) const;

 private:
  host::LiveSettings Load(const Config& config, const host::LiveSettings* previous);

  const std::string config_path_;
  const std::string sites_override_;
  std::mutex mutex_;               // serialises Reload
  Config running_;                 // as started, with the live keys of the last good reload
  std::string user_agents_stamp_;  // path and mtime of the loaded patterns
  std::unique_ptr<host::LiveSettingsSource> live_;
  std::atomic<uint64_t> ok_{0};
  std::atomic<uint64_t> refused_{0};
  std::atomic<bool> last_ok_{true};
  std::atomic<int64_t> last_success_s_{0};
  std::atomic<uint64_t> restart_pending_{0};
  CoalescedRuns<ReloadOutcome> runs_;  // last: the reloader's thread, stopped first
};

// uap-core's patterns at `path`, with what landed in which tier on stderr; null when `path` is
// empty (bots by beacond's markers alone). Throws std::runtime_error when they do not load.
std::shared_ptr<const kernels::UserAgentClassifier> LoadUserAgentClassifier(
    const std::string& path);

}  // namespace beacon::app
