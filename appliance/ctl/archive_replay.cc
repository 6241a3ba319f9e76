// beaconctl archive replay: the node's config turned into a host::ReplayConfig and a ClickHouse
// sink, the replay run, and its summary.
#include "appliance/ctl/archive_replay.h"

#include <time.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "appliance/config.h"
#include "host/archive/dictionary_files.h"
#include "host/archive/file_system.h"
#include "host/pipeline/replay.h"
#include "kernels/archive/dictionary.h"
#include "kernels/bytes/byte_table.h"
#include "kernels/enrich/user_agent.h"
#include "kernels/simd/byte_kernels.h"

namespace beacon::app {
namespace {

// CPU seconds of the process (every thread) so far.
double CpuSeconds() {
  timespec cpu{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
  return static_cast<double>(cpu.tv_sec) + static_cast<double>(cpu.tv_nsec) * 1e-9;
}

// Per second of wall time and of CPU time: on a shared machine the second says more.
void PrintSummary(const host::ReplayStats& stats, double seconds, double cpu_seconds, int threads,
                  std::ostream& out) {
  const auto beacons = static_cast<double>(stats.beacons.load());
  out << "replayed " << stats.beacons.load() << " beacons of " << stats.blocks.load()
      << " blocks in " << stats.segments.load() << " segments with " << threads << " threads in "
      << seconds << " s (CPU " << cpu_seconds
      << " s): " << static_cast<uint64_t>(seconds > 0 ? beacons / seconds : 0) << " beacons/s, "
      << static_cast<uint64_t>(cpu_seconds > 0 ? beacons / cpu_seconds : 0)
      << " beacons per CPU second\n"
      << "events " << stats.events.load() << ", rejects " << stats.rejects.Total()
      << ", other records " << stats.other_records.load() << "\n"
      << "batches inserted " << stats.batches.load() << ", failed " << stats.failed_batches.load()
      << ", damaged blocks " << stats.damaged_blocks.load() << ", unreadable segments "
      << stats.read_errors.load() << "\n";
}

}  // namespace

int ArchiveReplay(const ArchiveReplayOptions& options, std::ostream& out, std::ostream& err) {
  const Config config = LoadConfig(options.config_path);
  const kernels::SiteRegistry registry = kernels::SiteRegistry::Load(config.sites_path);
  std::unique_ptr<const kernels::UserAgentClassifier> user_agents;
  if (!config.user_agent_regexes.empty()) {
    user_agents = kernels::UserAgentClassifier::Load(config.user_agent_regexes);
  }
  host::PosixFileSystem fs;
  host::ReplayConfig replay;
  replay.directory = options.dir.empty() ? config.archive.writer.directory : options.dir;
  // A damaged dictionary file costs only the blocks that need it (damaged blocks, exit 1).
  kernels::DictionarySet dictionaries;
  std::vector<std::string> refused;
  host::LoadDictionaries(fs, replay.directory, &dictionaries, &refused);
  for (const std::string& file : refused) {
    err << "beaconctl archive replay: dictionary not loaded (its blocks are skipped as damaged): "
        << replay.directory << "/" << file << "\n";
  }
  // Results never depend on the byte kernels (kernels/formats/README.md): the fastest here.
  const kernels::ByteKernels bytes = kernels::SimdByteKernels();
  replay.from_ms = options.from_ms;
  replay.to_ms = options.to_ms;
  replay.sites = options.sites;
  replay.threads = options.threads;
  replay.visitor_key = config.pipeline.visitor_key;
  replay.aggregate = config.pipeline.aggregate;
  replay.bytes = &bytes;
  replay.user_agents = user_agents.get();
  replay.registry = &registry;
  replay.dictionaries = &dictionaries;
  host::ReplayTarget target;
  target.clickhouse = config.forwarder.clickhouse;
  target.shards = config.forwarder.shards;
  target.cluster = config.forwarder.cluster;
  target.node = config.archive.writer.node;
  host::ReplayStats stats;
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = CpuSeconds();
  if (const int error = host::ReplayArchive(fs, replay, host::ClickHouseReplaySink(target), &stats);
      error != 0) {
    err << "beaconctl archive replay: cannot list " << replay.directory << ": error " << error
        << "\n";
    return 1;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  PrintSummary(stats, seconds, CpuSeconds() - cpu_start, options.threads, out);
  if (stats.failed_batches.load() != 0) {
    err << "beaconctl archive replay: " << stats.failed_batches.load()
        << " batches not inserted; run the same replay again (what was inserted is dropped as "
           "a duplicate)\n";
  }
  const bool clean = stats.failed_batches.load() == 0 && stats.damaged_blocks.load() == 0 &&
                     stats.read_errors.load() == 0;
  return clean ? 0 : 1;
}

}  // namespace beacon::app
