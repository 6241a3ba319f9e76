// beacond: the appliance daemon. Wires the site registry, the kernel-socket HTTP ingress and
// the ingresses the config enables (appliance/ingress.h), one pipeline per ingress worker, the
// forwarder and the management listener; drains on SIGTERM.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "appliance/config.h"
#include "appliance/ingress.h"
#include "appliance/management.h"
#include "host/archive/file_system.h"
#include "host/backend/backend_registry.h"
#include "host/forward/forwarder.h"
#include "host/metrics/metrics.h"
#include "host/net/http_server.h"
#include "host/pipeline/worker_pipeline.h"
#include "host/salt_store.h"
#include "kernels/enrich/user_agent.h"
#include "kernels/site_registry.h"

namespace beacon::app {
namespace {

using Clock = std::chrono::steady_clock;

void WriteReadyFile(const std::string& path, uint16_t http_port, uint16_t management_port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << "http_port=" << http_port << "\nmanagement_port=" << management_port << "\n";
    if (!out) throw std::runtime_error("cannot write ready file '" + tmp + "'");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    throw std::runtime_error("cannot rename ready file to '" + path + "'");
  }
}

// Blocks until SIGTERM or SIGINT; SIGHUP is reported and otherwise ignored. Every minute it
// asks the salt store for the current salts, so that the daily rotation (and the deletion of
// salts older than 48 h) happens even when no beacon arrives.
void WaitForStopSignal(const sigset_t& signals, host::SaltStore* salts) {
  const timespec minute{60, 0};
  for (;;) {
    const int sig = sigtimedwait(&signals, nullptr, &minute);
    if (sig < 0) {
      salts->Current();
      continue;
    }
    if (sig == SIGHUP) {
      std::fprintf(stderr,
                   "beacond: SIGHUP: the site registry is read at start only; restart "
                   "beacond to load a changed registry\n");
      continue;
    }
    std::fprintf(stderr, "beacond: %s: draining\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    return;
  }
}

// uap-core's patterns compiled for the workers, with what landed in which tier on stderr; null
// when `path` is empty (bots by beacond's markers alone).
std::unique_ptr<const kernels::UserAgentClassifier> LoadUserAgentClassifier(
    const std::string& path) {
  if (path.empty()) {
    std::fprintf(stderr,
                 "beacond: [enrich] user_agents is empty: no device, browser or OS; bots by "
                 "beacond's own markers only\n");
    return nullptr;
  }
  const auto start = std::chrono::steady_clock::now();
  auto classifier = kernels::UserAgentClassifier::Load(path);
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

// Blocks SIGTERM, SIGINT and SIGHUP, so that they reach only the main thread's sigtimedwait,
// and ignores SIGPIPE. Call before any thread starts.
sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return signals;
}

// Every ingress worker's pipeline, numbered in the order they are made: the HTTP workers first,
// then [udp]'s and [dpdk]'s.
class Pipelines {
 public:
  Pipelines(const host::PipelineConfig& config, const kernels::SiteRegistry* sites,
            host::Forwarder* forwarder)
      : config_(config), sites_(sites), forwarder_(forwarder) {}

  // `count` new pipelines, as the sinks of one ingress.
  std::vector<kernels::BeaconSink*> Make(int count) {
    std::vector<kernels::BeaconSink*> sinks;
    for (int w = 0; w < count; ++w) {
      all_.push_back(std::make_unique<host::WorkerPipeline>(static_cast<uint32_t>(all_.size()),
                                                            config_, sites_, forwarder_));
      if (const int error = all_.back()->OpenArchive(file_system_); error != 0) {
        throw std::runtime_error("archive " + config_.archive.writer.directory + ": " +
                                 std::strerror(error));
      }
      sinks.push_back(all_.back().get());
    }
    return sinks;
  }

  // Closes every open epoch and offers it until the forwarder has taken them all; false when it
  // still refuses at `deadline`.
  bool Flush(Clock::time_point deadline) {
    bool closed = false;
    while (!closed && Clock::now() < deadline) {
      closed = true;
      for (auto& p : all_) closed = p->Flush() && closed;
      if (!closed) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return closed;
  }

  uint64_t accepted_events() const {
    uint64_t accepted = 0;
    for (const auto& p : all_) accepted += p->accepted_events();
    return accepted;
  }

  const std::vector<std::unique_ptr<host::WorkerPipeline>>* all() const { return &all_; }

 private:
  host::PipelineConfig config_;
  const kernels::SiteRegistry* sites_;
  host::Forwarder* forwarder_;
  host::PosixFileSystem file_system_;
  std::vector<std::unique_ptr<host::WorkerPipeline>> all_;
};

host::PipelineConfig PipelineConfigOf(const Config& config, const host::Backend& backend,
                                      host::SaltStore* salts,
                                      const kernels::UserAgentClassifier* user_agents) {
  host::PipelineConfig pipeline = config.pipeline;
  pipeline.archive = config.archive;
  pipeline.user_agents = user_agents;
  pipeline.bytes = &backend.byte_kernels;
  pipeline.make_device = backend.make_device;
  pipeline.salts = salts;
  return pipeline;
}

int HttpWorkers(const Config& config) {
  return config.http_workers > 0
             ? config.http_workers
             : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// The example config's visitor_key is public: ids hashed with it can be recomputed by anyone.
void WarnOfExampleVisitorKey(const Config& config) {
  if (config.pipeline.visitor_key != DefaultConfig().pipeline.visitor_key) return;
  std::fprintf(stderr,
               "beacond: warning: [pipeline] visitor_key is the example value; set a secret key "
               "of your own (16 hex digits) so that visitor ids cannot be recomputed\n");
}

// A card backend decodes after a beacon was archived and answered: budgets there drop beacons
// from the aggregates without refusing them, and a replay of the archive re-admits them.
void NoteBudgetsOnACard(const host::SiteBudgets& budgets, const host::Backend& backend) {
  if (!budgets.enabled() || !backend.make_device) return;
  std::fprintf(stderr,
               "beacond: [limits] site budgets on a card backend: beacons over budget are "
               "dropped from the aggregates, not refused with 429 (host/pipeline/README.md)\n");
}

void LogServing(const Config& config, size_t sites, const host::Backend& backend,
                const host::HttpServer& http, int http_workers,
                const host::HttpServer& management) {
  const std::string destination =
      config.forwarder.shards.empty()
          ? config.forwarder.clickhouse.url
          : std::to_string(config.forwarder.shards.size()) + " shards" +
                (config.forwarder.cluster.empty() ? "" : " of cluster " + config.forwarder.cluster);
  std::fprintf(stderr,
               "beacond: %zu sites; decode backend %s; HTTP ingress on %s:%u with %d workers; "
               "management on %s:%u; forwarding to %s database %s\n",
               sites, host::Describe(backend).c_str(), config.http.address.c_str(), http.port(),
               http_workers, config.management.address.c_str(), management.port(),
               destination.c_str(), config.forwarder.clickhouse.database.c_str());
}

// What reached ClickHouse, and what waits in the spool when the drain timed out. Returns the
// exit code: 0, or 3 when not everything was drained.
int ReportStopped(const Pipelines& pipelines, const host::Forwarder& forwarder, bool drained,
                  int drain_timeout_s) {
  const uint64_t accepted = pipelines.accepted_events();
  const uint64_t acked = forwarder.acknowledged_events();
  std::fprintf(stderr, "beacond: stopped; %llu events accepted, %llu acknowledged by ClickHouse\n",
               static_cast<unsigned long long>(accepted), static_cast<unsigned long long>(acked));
  const host::Forwarder::Totals sent = forwarder.totals();
  std::fprintf(
      stderr,
      "beacond: forwarded %llu site rows and %llu breakdown rows in %llu inserts; %llu bytes "
      "of RowBinary, %llu bytes sent\n",
      static_cast<unsigned long long>(sent.site_rows),
      static_cast<unsigned long long>(sent.breakdown_rows),
      static_cast<unsigned long long>(sent.inserts),
      static_cast<unsigned long long>(sent.rowbinary_bytes),
      static_cast<unsigned long long>(sent.wire_bytes));
  if (drained) return 0;
  std::fprintf(stderr,
               "beacond: drain timed out after %d s: %llu events not acknowledged; %llu "
               "batches (%llu bytes) wait in the spool for the next start\n",
               drain_timeout_s,
               static_cast<unsigned long long>(accepted > acked ? accepted - acked : 0),
               static_cast<unsigned long long>(forwarder.spooled_records()),
               static_cast<unsigned long long>(forwarder.spooled_bytes()));
  return 3;
}

int Run(const Config& config, const std::string& ready_file, int drain_timeout_s) {
  const kernels::SiteRegistry sites = kernels::SiteRegistry::Load(config.sites_path);
  WarnOfExampleVisitorKey(config);
  const sigset_t signals = BlockStopSignals();
  const host::Backend backend = host::ChooseBackend(config.backend);
  host::SaltStore salts(config.state_dir);
  const std::unique_ptr<const kernels::UserAgentClassifier> user_agents =
      LoadUserAgentClassifier(config.user_agent_regexes);
  host::Forwarder forwarder(config.forwarder);
  host::SiteBudgets budgets(sites, config.site_budget);
  NoteBudgetsOnACard(budgets, backend);
  host::PipelineConfig pipeline = PipelineConfigOf(config, backend, &salts, user_agents.get());
  pipeline.budgets = &budgets;
  Pipelines pipelines(pipeline, &sites, &forwarder);
  const int http_workers = HttpWorkers(config);
  host::HttpServer http(config.http, pipelines.Make(http_workers));
  const std::vector<std::unique_ptr<Ingress>> ingresses =
      MakeIngresses(config, [&pipelines](int count) { return pipelines.Make(count); });

  host::MetricsRegistry metrics;
  host::RegisterPipelineMetrics(&metrics, pipelines.all());
  http.RegisterMetrics(&metrics, "beacond_http");
  forwarder.RegisterMetrics(&metrics, "beacond_forward");
  budgets.RegisterMetrics(&metrics);
  metrics.Add([&backend, &salts](host::MetricsWriter& out) {
    host::WriteBackendInfo(backend, out);
    out.Counter("beacond_salt_write_failures_total",
                "Daily salt rotations whose file write failed (salt kept in memory only)", {},
                salts.write_failures());
  });
  for (const auto& ingress : ingresses) ingress->RegisterMetrics(&metrics);
  host::HttpServer management(config.management, {});
  std::atomic<bool> draining{false};
  ServeManagement(&management, &metrics,
                  {pipelines.all(), &forwarder, &draining, config.management_stall_ms},
                  config.management_token);

  forwarder.Start();
  management.Start();
  http.Start();
  for (const auto& ingress : ingresses) ingress->Start();
  LogServing(config, sites.size(), backend, http, http_workers, management);
  if (!ready_file.empty()) WriteReadyFile(ready_file, http.port(), management.port());

  WaitForStopSignal(signals, &salts);
  draining.store(true, std::memory_order_relaxed);

  // Drain: stop RX (pending batches reach the pipelines), close every epoch, flush.
  const auto deadline = Clock::now() + std::chrono::seconds(drain_timeout_s);
  http.Stop();
  for (const auto& ingress : ingresses) ingress->Stop();
  const bool closed = pipelines.Flush(deadline);
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  const bool drained = closed && forwarder.Drain(std::max(left, std::chrono::milliseconds(0)));
  management.Stop();
  return ReportStopped(pipelines, forwarder, drained, drain_timeout_s);
}

}  // namespace
}  // namespace beacon::app

int main(int argc, char** argv) {
  CLI::App cli{"beacond: line-rate ingestion appliance for web-analytics tracking beacons"};
  std::string config_path;
  std::string sites_path;
  std::string ready_file;
  int drain_timeout_s = 60;
  bool check_only = false;
  cli.add_option("-c,--config", config_path, "TOML config file (appliance/examples/beacond.toml)");
  cli.add_option("--sites", sites_path, "Site registry file; overrides [sites] registry");
  cli.add_option("--ready-file", ready_file,
                 "Write http_port=/management_port= here once listening (for scripts)");
  cli.add_option("--drain-timeout", drain_timeout_s, "Seconds SIGTERM may spend flushing")
      ->check(CLI::Range(1, 3600));
  cli.add_flag("--check", check_only, "Validate the config and site registry, then exit");
  CLI11_PARSE(cli, argc, argv);

  try {
    beacon::app::Config config = beacon::app::DefaultConfig();
    if (!config_path.empty()) config = beacon::app::LoadConfig(config_path);
    if (!sites_path.empty()) config.sites_path = sites_path;
    if (config.sites_path.empty()) {
      std::fprintf(stderr, "beacond: no site registry: give --sites FILE or [sites] registry\n");
      return 2;
    }
    if (check_only) {
      const auto sites = beacon::kernels::SiteRegistry::Load(config.sites_path);
      std::printf("config OK; %zu sites\n", sites.size());
      return 0;
    }
    return beacon::app::Run(config, ready_file, drain_timeout_s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "beacond: %s\n", e.what());
    return 2;
  }
}
