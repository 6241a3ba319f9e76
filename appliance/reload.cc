// Reload: the new settings are built beside the running ones and published whole, or not at all.
#include "appliance/reload.h"

#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <exception>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

namespace beacon::app {
namespace {

int64_t UnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Path and modification time: a changed file at the same path is compiled again.
std::string FileStamp(const std::string& path) {
  struct stat st {};
  if (path.empty() || stat(path.c_str(), &st) != 0) return path;
  return path + "@" + std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

// "+2 -1" sites between two registries, by site id.
std::string SitesDelta(const kernels::SiteRegistry& before, const kernels::SiteRegistry& after) {
  std::set<uint32_t> old_ids;
  for (const auto& site : before.sites()) old_ids.insert(site.site_id);
  size_t added = 0;
  for (const auto& site : after.sites()) added += old_ids.erase(site.site_id) == 0 ? 1 : 0;
  return std::to_string(after.size()) + " sites (+" + std::to_string(added) + " -" +
         std::to_string(old_ids.size()) + ")";
}

std::string Joined(const std::vector<std::string>& keys) {
  std::string out;
  for (const auto& key : keys) out += (out.empty() ? "" : ", ") + key;
  return out;
}

}  // namespace

std::shared_ptr<const kernels::UserAgentClassifier> LoadUserAgentClassifier(
    const std::string& path) {
  if (path.empty()) {
    std::fprintf(stderr,
                 "beacond: [enrich] user_agents is empty: no device, browser or OS; bots by "
                 "beacond's own markers only\n");
    return nullptr;
  }
  const auto start = std::chrono::steady_clock::now();
  std::shared_ptr<const kernels::UserAgentClassifier> classifier =
      kernels::UserAgentClassifier::Load(path);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string tiers;
  static constexpr std::pair<kernels::UaSection, const char*> kSections[] = {
      {kernels::UaSection::kBrowser, "browser"},
      {kernels::UaSection::kOs, "os"},
      {kernels::UaSection::kDevice, "device"},
      {kernels::UaSection::kBots, "bot markers"}};
  for (const auto& [section, name] : kSections) {
    const kernels::UaPatternCounts& c = classifier->counts(section);
    tiers += std::string(tiers.empty() ? "" : "; ") + name + " " + std::to_string(c.native) +
             " native, " + std::to_string(c.prefiltered) + " prefiltered, " +
             std::to_string(c.pcre_only) + " PCRE2-only, " + std::to_string(c.unsupported) +
             " unsupported";
  }
  std::fprintf(stderr, "beacond: user-agent patterns from %s compiled in %.1f s: %s\n",
               path.c_str(), seconds, tiers.c_str());
  return classifier;
}

Reloader::Reloader(Config running, std::string config_path, std::string sites_override)
    : config_path_(std::move(config_path)),
      sites_override_(std::move(sites_override)),
      running_(std::move(running)),
      runs_([this] { return Reload(); },
            ReloadOutcome{false, "refused: beacond is stopping; the running config stays"}) {
  live_ = std::make_unique<host::LiveSettingsSource>(Load(running_, nullptr));
  last_success_s_.store(UnixSeconds(), std::memory_order_relaxed);
}

void Reloader::Request(std::function<void(const ReloadOutcome&)> done) {
  runs_.Request(std::move(done));
}

host::LiveSettings Reloader::Load(const Config& config, const host::LiveSettings* previous) {
  host::LiveSettings next;
  next.sites =
      std::make_shared<const kernels::SiteRegistry>(kernels::SiteRegistry::Load(config.sites_path));
  next.budgets = std::make_shared<host::SiteBudgets>(
      *next.sites, config.site_budget, previous == nullptr ? nullptr : previous->budgets.get());
  const std::string stamp = FileStamp(config.user_agent_regexes);
  if (previous != nullptr && stamp == user_agents_stamp_) {
    next.user_agents = previous->user_agents;
  } else {
    next.user_agents = LoadUserAgentClassifier(config.user_agent_regexes);
    user_agents_stamp_ = stamp;
  }
  return next;
}

ReloadOutcome Reloader::Reload() {
  const std::lock_guard lock(mutex_);
  ReloadOutcome outcome;
  try {
    Config next = config_path_.empty() ? DefaultConfig() : LoadConfig(config_path_);
    if (!sites_override_.empty()) next.sites_path = sites_override_;
    if (next.sites_path.empty()) throw std::runtime_error("no [sites] registry");
    const std::shared_ptr<const host::LiveSettings> previous = live_->Current();
    host::LiveSettings settings = Load(next, previous.get());
    const std::string delta = SitesDelta(*previous->sites, *settings.sites);
    live_->Publish(std::move(settings));
    running_.sites_path = next.sites_path;
    running_.user_agent_regexes = next.user_agent_regexes;
    running_.site_budget = next.site_budget;
    const std::vector<std::string> restart = RestartOnlyChanges(running_, next);
    restart_pending_.store(restart.size(), std::memory_order_relaxed);
    outcome.ok = true;
    outcome.message =
        "ok: " + delta + (restart.empty() ? "" : "; restart needed for: " + Joined(restart));
    ok_.fetch_add(1, std::memory_order_relaxed);
    last_ok_.store(true, std::memory_order_relaxed);
    last_success_s_.store(UnixSeconds(), std::memory_order_relaxed);
  } catch (const std::exception& e) {
    outcome.message = std::string("refused: ") + e.what() + "; the running config stays";
    refused_.fetch_add(1, std::memory_order_relaxed);
    last_ok_.store(false, std::memory_order_relaxed);
  }
  std::fprintf(stderr, "beacond: reload %s\n", outcome.message.c_str());
  return outcome;
}

void Reloader::RegisterMetrics(host::MetricsRegistry* registry) const {
  registry->Add([this](host::MetricsWriter& out) {
    out.Counter("beacond_config_reloads_total", "Reloads (SIGHUP, beaconctl reload) by outcome",
                {{"outcome", "ok"}}, ok_.load(std::memory_order_relaxed));
    out.Counter("beacond_config_reloads_total", "Reloads (SIGHUP, beaconctl reload) by outcome",
                {{"outcome", "refused"}}, refused_.load(std::memory_order_relaxed));
    out.Gauge("beacond_config_last_reload_successful",
              "1 when the last reload (or the start) applied, 0 when it was refused", {},
              last_ok_.load(std::memory_order_relaxed) ? 1 : 0);
    out.Gauge("beacond_config_last_reload_success_timestamp_seconds",
              "Unix time of the start or the last reload that was applied", {},
              static_cast<double>(last_success_s_.load(std::memory_order_relaxed)));
    out.Gauge("beacond_config_restart_pending_keys",
              "Changed config keys the last reload could not apply live (restart needed)", {},
              static_cast<double>(restart_pending_.load(std::memory_order_relaxed)));
  });
}

}  // namespace beacon::app
