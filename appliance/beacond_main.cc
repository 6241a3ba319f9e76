// beacond: the appliance daemon. Wires the site registry, the kernel-socket HTTP ingress and
// the ingresses the config enables (appliance/ingress.h), one pipeline per ingress worker, the
// forwarder and the management listener; drains on SIGTERM.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "appliance/config.h"
#include "appliance/ctl/node_checks.h"
#include "appliance/ingress.h"
#include "appliance/management.h"
#include "appliance/reload.h"
#include "appliance/service_notify.h"
#include "host/archive/archive_compressor.h"
#include "host/archive/file_system.h"
#include "host/archive/retention_runner.h"
#include "host/backend/backend_registry.h"
#include "host/forward/forwarder.h"
#include "host/forward/watermarks.h"
#include "host/metrics/metrics.h"
#include "host/net/http_server.h"
#include "host/pipeline/worker_pipeline.h"
#include "host/private_dir.h"
#include "host/salt_store.h"
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

// Tells whoever waits for beacond to serve: the --ready-file, and systemd (a Type=notify unit
// is started now, and systemd holds `systemctl reload` until then).
void AnnounceServing(const std::string& ready_file, uint16_t http_port, uint16_t management_port) {
  if (!ready_file.empty()) WriteReadyFile(ready_file, http_port, management_port);
  if (!NotifyServiceManager("READY=1\nSTATUS=serving")) {
    std::fprintf(stderr, "beacond: cannot notify the service manager at $NOTIFY_SOCKET: %s\n",
                 std::strerror(errno));
  }
}

// Blocks until SIGTERM or SIGINT; SIGHUP reloads. Every minute it asks the salt store for the
// current salts, so that the daily rotation (and the deletion of salts older than 48 h) happens
// even when no beacon arrives.
void WaitForStopSignal(const sigset_t& signals, host::SaltStore* salts, Reloader* reloader) {
  const timespec minute{60, 0};
  for (;;) {
    const int sig = sigtimedwait(&signals, nullptr, &minute);
    if (sig < 0) {
      salts->Current();
      continue;
    }
    if (sig == SIGHUP) {
      reloader->Request({});  // on the reloader's thread, as POST /reload
      continue;
    }
    std::fprintf(stderr, "beacond: %s: draining\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    return;
  }
}

sigset_t StopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  return signals;
}

// SIGTERM, SIGINT and SIGHUP blocked from beacond's first instruction on (below): one sent
// during the start (systemd's ExecReload right after it, a quick restart) waits, pending, for
// the main thread's sigtimedwait once beacond serves: a SIGHUP reloads then, a SIGTERM drains.
// Their default action would kill beacond instead. The threads inherit the mask, so these
// signals reach only the main thread's sigtimedwait.
void BlockStopSignalsAtStart(int, char**, char**) {
  const sigset_t signals = StopSignals();
  sigprocmask(SIG_BLOCK, &signals, nullptr);
}
// .preinit_array runs before every library's initialisers and main: the earliest code of the
// program (only the dynamic loader's mapping and relocation come before it).
[[gnu::section(".preinit_array"),
  gnu::used]] void (*const kBlockStopSignalsAtStart)(int, char**,
                                                     char**) = &BlockStopSignalsAtStart;

// The stop signals as blocked at start, and SIGPIPE ignored.
sigset_t BlockStopSignals() {
  const sigset_t signals = StopSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return signals;
}

// --check and --print-config are not the daemon: a stop signal ends them as it always did.
void UnblockStopSignals() {
  const sigset_t signals = StopSignals();
  pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);
}

// Every ingress worker's pipeline, numbered in the order they are made: the HTTP workers first,
// then [udp]'s and [dpdk]'s.
class Pipelines {
 public:
  // `watermarks` (may be null) keep each worker's archive numbering above them.
  Pipelines(const host::PipelineConfig& config, const host::LiveSettingsSource* live,
            host::Forwarder* forwarder, const host::WatermarkStore* watermarks)
      : config_(config), live_(live), forwarder_(forwarder), watermarks_(watermarks) {}

  // `count` new pipelines, as the sinks of one ingress.
  std::vector<kernels::BeaconSink*> Make(int count) {
    std::vector<kernels::BeaconSink*> sinks;
    for (int w = 0; w < count; ++w) {
      const auto worker = static_cast<uint32_t>(all_.size());
      all_.push_back(std::make_unique<host::WorkerPipeline>(worker, config_, live_, forwarder_));
      const uint64_t above = watermarks_ != nullptr ? watermarks_->Highest(worker) + 1 : 0;
      if (const int error = all_.back()->OpenArchive(file_system_, above); error != 0) {
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

  // Events the workers still hold, in epochs never taken by the forwarder (after Flush).
  uint64_t held_events() const {
    uint64_t held = 0;
    for (const auto& p : all_) held += p->held_events();
    return held;
  }

  const std::vector<std::unique_ptr<host::WorkerPipeline>>* all() const { return &all_; }

 private:
  host::PipelineConfig config_;
  const host::LiveSettingsSource* live_;
  host::Forwarder* forwarder_;
  const host::WatermarkStore* watermarks_;
  host::PosixFileSystem file_system_;
  std::vector<std::unique_ptr<host::WorkerPipeline>> all_;
};

// [archive] compressor, reported at start; throws when "fpga" cannot be had. Without an archive
// nothing is compressed: libzstd stands, whatever was asked.
std::unique_ptr<host::ArchiveCompressor> ChooseArchiveCompressor(const Config& config,
                                                                 const host::Backend& backend) {
  const char* xclbin = std::getenv(host::kXclbinEnvVar);
  std::unique_ptr<host::ArchiveCompressor> compressor = host::ArchiveCompressor::Choose(
      config.archive.enabled ? config.archive_compressor : host::CompressorMode::kCpu,
      backend.kind == host::BackendKind::kFpga, xclbin != nullptr ? xclbin : "",
      config.archive.writer.compression_level);
  if (config.archive.enabled) {
    std::fprintf(stderr, "beacond: archive compressor %s ([archive] compressor = \"%s\"): %s\n",
                 std::string(compressor->name()).c_str(),
                 std::string(host::CompressorModeName(config.archive_compressor)).c_str(),
                 compressor->detail().c_str());
  }
  return compressor;
}

void WriteArchiveCompressorMetrics(const host::ArchiveCompressor& compressor,
                                   host::MetricsWriter& out) {
  out.Gauge("beacond_archive_compressor_info",
            "What compresses the archive's blocks (chosen at start), and what was asked for.",
            {{"compressor", compressor.name()},
             {"requested", host::CompressorModeName(compressor.requested())}},
            1);
  const host::CompressorCounts counts = compressor.counts();
  out.Counter("beacond_archive_card_blocks_total", "Archive blocks compressed on the card.", {},
              counts.card_blocks);
  constexpr char kFallbackHelp[] = "Archive blocks the card handed back to libzstd, by reason.";
  out.Counter("beacond_archive_compressor_fallback_total", kFallbackHelp,
              {{"reason", "device_error"}}, counts.fallback_device_error);
  out.Counter("beacond_archive_compressor_fallback_total", kFallbackHelp, {{"reason", "timeout"}},
              counts.fallback_timeout);
  out.Counter("beacond_archive_compressor_fallback_total", kFallbackHelp,
              {{"reason", "nonconforming"}}, counts.fallback_nonconforming);
}

// The registry, budgets and user-agent patterns come from the reloader's live settings.
host::PipelineConfig PipelineConfigOf(const Config& config, const host::Backend& backend,
                                      const host::ArchiveCompressor& compressor,
                                      host::SaltStore* salts) {
  host::PipelineConfig pipeline = config.pipeline;
  pipeline.archive = config.archive;
  pipeline.archive.writer.compressor = compressor.block_compressor();
  pipeline.bytes = &backend.byte_kernels;
  pipeline.make_device = backend.make_device;
  pipeline.salts = salts;
  pipeline.breakdown_flush_interval_ms = config.forwarder.breakdown_flush_interval_ms;
  return pipeline;
}

// The watermark files of <state dir>/watermarks; null when the archive is off (nothing to replay).
std::unique_ptr<host::WatermarkStore> OpenWatermarks(const Config& config, host::FileSystem& fs) {
  if (!config.archive.enabled) return nullptr;
  const std::string dir = config.state_dir + "/watermarks";
  host::EnsurePrivateDirectory(dir, "beacond: watermarks");
  const size_t shards = std::max<size_t>(1, config.forwarder.shards.size());
  // Coalesced: one file write (two fsyncs) per worker per 100 ms at most, not per insert.
  auto store = std::make_unique<host::WatermarkStore>(fs, dir, shards, /*coalesce_ms=*/100);
  std::string detail;
  if (const int error = store->Load(&detail); error != 0) {
    throw std::runtime_error("watermarks in " + dir + ": " +
                             (detail.empty() ? std::strerror(error) : detail));
  }
  return store;
}

// Before ingress opens: each worker replays its archive from its watermark through its own
// pipeline, and the forwarder sends what ClickHouse had not acknowledged. A worker whose
// replay the forwarder refuses (ClickHouse down, its memory full) does not wait: it is behind,
// and hands the rest on from the archive once the forwarder takes epochs again, while ingress
// is open (WorkerPipeline::Replay). A worker without a watermark (the first start of this
// release over an existing archive) starts at the end.
void ReplayArchives(const std::vector<std::unique_ptr<host::WorkerPipeline>>& workers,
                    host::WatermarkStore* watermarks) {
  if (watermarks == nullptr) return;
  for (const auto& w : workers) {
    if (w->archive() == nullptr) continue;
    const uint64_t last = w->archive()->next_sequence() - 1;
    if (!watermarks->Has(w->worker())) {
      if (const int error = watermarks->SetAll(w->worker(), last); error != 0) {
        throw std::runtime_error("cannot write the watermark of worker " +
                                 std::to_string(w->worker()) + ": " + std::strerror(error));
      }
      continue;
    }
    const uint64_t from = watermarks->ReplayStart(w->worker());
    const auto start = Clock::now();
    const host::WorkerReplayStats stats = w->Replay(from);
    if (stats.error != 0) {
      throw std::runtime_error("cannot replay the archive of worker " +
                               std::to_string(w->worker()) + ": " + std::strerror(stats.error));
    }
    std::fprintf(stderr,
                 "beacond: worker %u: replayed %llu records and %llu epochs of the archive from "
                 "sequence %llu through %llu in %.1f s%s\n",
                 w->worker(), static_cast<unsigned long long>(stats.records),
                 static_cast<unsigned long long>(stats.epochs),
                 static_cast<unsigned long long>(from), static_cast<unsigned long long>(last),
                 std::chrono::duration<double>(Clock::now() - start).count(),
                 stats.behind ? "; the forwarder is full (ClickHouse down?): the epochs it did "
                                "not take are handed on from the archive once it takes them"
                              : "");
  }
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
               "beacond: node %s (id %016llx); %zu sites; decode backend %s; HTTP ingress on "
               "%s:%u with %d workers; management on %s:%u; forwarding to %s database %s\n",
               config.node_name.c_str(), static_cast<unsigned long long>(config.node_id), sites,
               host::Describe(backend).c_str(), config.http.address.c_str(), http.port(),
               http_workers, config.management.address.c_str(), management.port(),
               destination.c_str(), config.forwarder.clickhouse.database.c_str());
}

// How the drain ended: whether everything was acknowledged, and whether it ran into its deadline.
struct DrainOutcome {
  bool drained = false;
  bool timed_out = false;
  int timeout_s = 0;
  bool archived = false;  // the archive and its watermarks: the next start replays what is left
};

// Why the drain left data, when it did: its deadline, or (before it) breakdown rows or epochs
// left to the next start's replay.
void ReportUndrained(const DrainOutcome& drain) {
  if (drain.drained) return;
  if (drain.timed_out) {
    std::fprintf(stderr, "beacond: drain timed out after %d s\n", drain.timeout_s);
    return;
  }
  std::fprintf(stderr,
               "beacond: drain ended before its deadline with data left to the next start's "
               "replay of the archive (epochs the archive refused to close, or breakdown rows "
               "held for a cut)\n");
}

// What was forwarded, then, last, where every accepted event is now: acknowledged, in the
// spool, a dead letter, in the archive for the next start's replay, or lost with the process.
// Returns the exit code: 0, or 3 when not everything was drained.
int ReportStopped(const Pipelines& pipelines, const host::Forwarder& forwarder,
                  const DrainOutcome& drain) {
  auto n = [](uint64_t v) { return static_cast<unsigned long long>(v); };
  const host::Forwarder::Totals sent = forwarder.totals();
  std::fprintf(stderr,
               "beacond: forwarded %llu site rows and %llu breakdown rows in %llu inserts; %llu "
               "bytes of RowBinary, %llu bytes sent\n",
               n(sent.site_rows), n(sent.breakdown_rows), n(sent.inserts), n(sent.rowbinary_bytes),
               n(sent.wire_bytes));
  ReportUndrained(drain);
  const uint64_t accepted = pipelines.accepted_events();
  const host::Forwarder::Ledger ledger = forwarder.ledger();
  // Events still in an epoch the forwarder never took, and those it held only in memory; with
  // the archive, both are durable records the next start replays (those a failed write lost
  // were answered 503: lost).
  const uint64_t not_taken = accepted > ledger.offered ? accepted - ledger.offered : 0;
  const uint64_t held = drain.archived ? std::min(pipelines.held_events(), not_taken) : 0;
  const uint64_t in_memory = drain.archived ? 0 : ledger.in_memory;
  const uint64_t replayed = held + (drain.archived ? ledger.in_memory : 0);
  std::fprintf(stderr,
               "beacond: stopped; %llu events accepted, %llu acknowledged by ClickHouse, %llu "
               "spooled for the next start, %llu dead-lettered, %llu lost (%llu never handed "
               "to the forwarder, %llu in memory), %llu left in the archive for the next start's "
               "replay; %llu events of earlier runs' spool acknowledged; the spool holds %llu "
               "batches (%llu bytes)\n",
               n(accepted), n(ledger.acknowledged), n(ledger.spooled), n(ledger.dead_lettered),
               n(not_taken - held + in_memory), n(not_taken - held), n(in_memory), n(replayed),
               n(ledger.replayed), n(forwarder.spooled_records()), n(forwarder.spooled_bytes()));
  return drain.drained ? 0 : 3;
}

// Archive retention on its own timer thread (off the workers), and its metrics; null when the
// archive is off. It never deletes past a worker's replay start (`watermarks`, which outlive
// the runner).
std::unique_ptr<host::RetentionRunner> StartRetention(const Config& config, host::FileSystem& fs,
                                                      const host::WatermarkStore* watermarks,
                                                      host::MetricsRegistry* metrics) {
  if (!config.archive.enabled) return nullptr;
  constexpr int kRetentionIntervalMs = 10'000;
  auto runner = std::make_unique<host::RetentionRunner>(
      fs, config.archive.writer.directory,
      host::RetentionPolicy{config.archive.retention_max_bytes,
                            config.archive.retention_max_age_ms},
      kRetentionIntervalMs,
      watermarks == nullptr ? host::RetentionWatermarks{} : host::RetentionWatermarks{[watermarks] {
        return watermarks->RetentionLimits();
      }});
  metrics->Add([stats = &runner->stats()](host::MetricsWriter& out) {
    out.Counter("beacond_archive_retention_deleted_segments_total",
                "Archive segments deleted by retention ([archive] max_mb / max_gb, max_age_h)", {},
                stats->deleted_segments.load(std::memory_order_relaxed));
    out.Counter("beacond_archive_retention_deleted_bytes_total",
                "Bytes of the archive segments deleted by retention", {},
                stats->deleted_bytes.load(std::memory_order_relaxed));
    out.Counter("beacond_archive_retention_errors_total",
                "Retention runs that failed to list, delete or sync", {},
                stats->errors.load(std::memory_order_relaxed));
    out.Gauge("beacond_archive_disk_bytes", "Bytes of the archive's segments, as of the last run",
              {}, static_cast<double>(stats->disk_bytes.load(std::memory_order_relaxed)));
  });
  runner->Start();
  return runner;
}

// Stops a server as it goes out of scope, before what was declared between the two goes.
class StopFirst {
 public:
  explicit StopFirst(host::HttpServer* server) : server_(server) {}
  StopFirst(const StopFirst&) = delete;
  StopFirst& operator=(const StopFirst&) = delete;
  ~StopFirst() { server_->Stop(); }

 private:
  host::HttpServer* server_;
};

struct CommandLine {
  std::string config_path;
  std::string sites_path;
  std::string ready_file;
  int drain_timeout_s = 60;
  bool check_only = false;
  bool print_config = false;
};

// The management listener's token and the Host names it answers besides IP literals and
// localhost: [management] allowed_hosts and the address it listens on.
ManagementAccess AccessOf(const Config& config) {
  ManagementAccess access{config.management_token, config.management_allowed_hosts};
  access.allowed_hosts.push_back(config.management.address);
  return access;
}

// Drain: stop RX (pending batches reach the pipelines), close every epoch, flush.
DrainOutcome DrainIngress(int timeout_s, host::HttpServer* http,
                          const std::vector<std::unique_ptr<Ingress>>& ingresses,
                          Pipelines* pipelines, host::Forwarder* forwarder, bool archived) {
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  http->Stop();
  for (const auto& ingress : ingresses) ingress->Stop();
  const bool closed = pipelines->Flush(deadline);
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  // Also with epochs left unclosed: a Drain past its deadline still spools what it holds.
  DrainOutcome drain;
  drain.drained = forwarder->Drain(std::max(left, std::chrono::milliseconds(0))) && closed;
  drain.timed_out = Clock::now() >= deadline;
  drain.timeout_s = timeout_s;
  drain.archived = archived;
  return drain;
}

int Run(const Config& config, const CommandLine& args) {
  WarnOfExampleVisitorKey(config);
  const sigset_t signals = BlockStopSignals();
  Reloader reloader(config, args.config_path, args.sites_path);
  const host::Backend backend = host::ChooseBackend(config.backend);
  const std::unique_ptr<host::ArchiveCompressor> compressor =
      ChooseArchiveCompressor(config, backend);
  host::SaltStore salts(config.state_dir);
  host::PosixFileSystem state_fs;
  const std::unique_ptr<host::WatermarkStore> watermarks = OpenWatermarks(config, state_fs);
  host::ForwarderConfig forwarder_config = config.forwarder;
  forwarder_config.watermarks = watermarks.get();
  host::Forwarder forwarder(forwarder_config);
  NoteBudgetsOnACard(*reloader.live()->Current()->budgets, backend);
  Pipelines pipelines(PipelineConfigOf(config, backend, *compressor, &salts), reloader.live(),
                      &forwarder, watermarks.get());
  const int http_workers = HttpWorkers(config);
  host::HttpServer http(config.http, pipelines.Make(http_workers));
  const std::vector<std::unique_ptr<Ingress>> ingresses = MakeIngresses(
      config, backend.byte_kernels, [&pipelines](int count) { return pipelines.Make(count); });

  host::MetricsRegistry metrics;
  host::PosixFileSystem retention_fs;
  const std::unique_ptr<host::RetentionRunner> retention =
      StartRetention(config, retention_fs, watermarks.get(), &metrics);
  host::RegisterPipelineMetrics(&metrics, pipelines.all());
  http.RegisterMetrics(&metrics, "beacond_http");
  forwarder.RegisterMetrics(&metrics, "beacond_forward");
  metrics.Add([live = reloader.live()](host::MetricsWriter& out) {
    live->Current()->budgets->WriteMetrics(out);
  });
  reloader.RegisterMetrics(&metrics);
  metrics.Add([&backend, &compressor, &salts](host::MetricsWriter& out) {
    host::WriteBackendInfo(backend, out);
    WriteArchiveCompressorMetrics(*compressor, out);
    out.Counter("beacond_salt_write_failures_total",
                "Daily salt rotations whose file write failed (salt kept in memory only)", {},
                salts.write_failures());
  });
  for (const auto& ingress : ingresses) ingress->RegisterMetrics(&metrics);
  const ManagementGuard guard(AccessOf(config));
  guard.RegisterMetrics(&metrics);
  host::HttpServer management(config.management, {});
  // Its own parse and limit rejects, connections and evictions, apart from ingress's.
  management.RegisterMetrics(&metrics, "beacond_management_http");
  // /metrics renders on its own thread. On every way out of Run the listener stops first (no
  // scrape asks the renderer any more), then the renderer (its render reads the listener's
  // counters), then the listener goes.
  MetricsRenderer renderer(&metrics);
  const StopFirst stop_management(&management);
  std::atomic<bool> draining{false};
  ServeManagement(&management, &renderer,
                  {pipelines.all(), &forwarder, &draining, config.management_stall_ms}, guard);
  ServeReload(&management, guard, [&reloader](auto done) { reloader.Request(std::move(done)); });

  forwarder.Start();
  ReplayArchives(*pipelines.all(), watermarks.get());
  management.Start();
  http.Start();
  for (const auto& ingress : ingresses) ingress->Start();
  LogServing(config, reloader.live()->Current()->sites->size(), backend, http, http_workers,
             management);
  AnnounceServing(args.ready_file, http.port(), management.port());

  WaitForStopSignal(signals, &salts, &reloader);
  NotifyServiceManager("STOPPING=1\nSTATUS=draining");
  draining.store(true, std::memory_order_relaxed);

  const DrainOutcome drain = DrainIngress(args.drain_timeout_s, &http, ingresses, &pipelines,
                                          &forwarder, watermarks != nullptr);
  management.Stop();
  return ReportStopped(pipelines, forwarder, drain);
}

// --check: the config's paths, files, ClickHouse and [dpdk] as this machine sees them. Exits 2
// on an error, as for a bad config: the unit's RestartPreventExitStatus, no restart loop.
int Check(const Config& config) {
  std::vector<Finding> findings = CheckNode(config, NodeEnvironment{});
  for (auto&& more : {CheckStorage(config), CheckClickHouse(config)}) {
    findings.insert(findings.end(), more.begin(), more.end());
  }
  if (PrintFindings(findings) != 0) return 2;
  std::printf("config OK; %zu sites\n", kernels::SiteRegistry::Load(config.sites_path).size());
  return 0;
}

}  // namespace
}  // namespace beacon::app

int main(int argc, char** argv) {
  CLI::App cli{"beacond: line-rate ingestion appliance for web-analytics tracking beacons"};
  beacon::app::CommandLine args;
  cli.add_option("-c,--config", args.config_path,
                 "TOML config file (appliance/examples/beacond.toml)");
  cli.add_option("--sites", args.sites_path, "Site registry file; overrides [sites] registry");
  cli.add_option("--ready-file", args.ready_file,
                 "Write http_port=/management_port= here once listening (for scripts)");
  cli.add_option("--drain-timeout", args.drain_timeout_s, "Seconds SIGTERM may spend flushing")
      ->check(CLI::Range(1, 3600));
  cli.add_flag("--check", args.check_only,
               "Validate the config, the site registry, every path and permission, ClickHouse's "
               "reachability and [dpdk]; print each finding, exit 2 on an error");
  cli.add_flag("--print-config", args.print_config,
               "Print the effective config as TOML (defaults included, secrets redacted), then "
               "exit");
  CLI11_PARSE(cli, argc, argv);

  try {
    beacon::app::Config config = beacon::app::DefaultConfig();
    if (!args.config_path.empty()) config = beacon::app::LoadConfig(args.config_path);
    if (!args.sites_path.empty()) config.sites_path = args.sites_path;
    if (args.print_config || args.check_only) beacon::app::UnblockStopSignals();
    if (args.print_config) {
      std::fputs(beacon::app::PrintConfig(config, true).c_str(), stdout);
      return 0;
    }
    if (config.sites_path.empty()) {
      std::fprintf(stderr, "beacond: no site registry: give --sites FILE or [sites] registry\n");
      return 2;
    }
    if (args.check_only) return beacon::app::Check(config);
    return beacon::app::Run(config, args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "beacond: %s\n", e.what());
    return 2;
  }
}
