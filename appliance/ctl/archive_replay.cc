// beaconctl archive replay: the node's config turned into a host::ReplayConfig and a ClickHouse
// sink, the replay run, and its summary.
#include "appliance/ctl/archive_replay.h"

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include "appliance/config.h"
#include "host/archive/archive_scanner.h"
#include "host/archive/dictionary_files.h"
#include "host/archive/file_system.h"
#include "host/archive/segment_files.h"
#include "host/forward/watermarks.h"
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

// The first record of `worker` in [from, to) that the node has not had acknowledged on every
// shard and table (above `acknowledged`): its sequence and receive time, or false.
bool FirstUnacknowledged(host::ArchiveScanner& scanner, uint32_t worker, uint64_t acknowledged,
                         const ArchiveReplayOptions& options, uint64_t* sequence,
                         int64_t* time_ms) {
  if (acknowledged == UINT64_MAX || scanner.Seek(worker, acknowledged + 1) != 0) return false;
  kernels::ArchiveRecord record;
  while (scanner.Next(sequence, &record)) {
    if (kernels::IsControlRecord(record)) continue;
    *time_ms = record.receive_time_ms;
    if (*time_ms >= options.from_ms && *time_ms < options.to_ms) return true;
  }
  return false;
}

// Whether the node is done with every record of the range: a replay inserts its rows under batch
// ids of its own, so a record that beacond still forwards (live, from its spool, or by its
// startup replay after a kill: above its watermarks) would land twice, as would one received
// after the replay read the archive (a --to in the future). A message on `err` when not.
bool NodeIsDoneWithTheRange(const Config& config, host::FileSystem& fs, const std::string& dir,
                            const kernels::DictionaryStore& dictionaries,
                            const ArchiveReplayOptions& options, std::ostream& err) {
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  if (options.to_ms > now_ms) {
    err << "beaconctl archive replay: refused: --to is in the future; beacond may still archive "
           "and forward records of the range, which the replay would count again. Give a --to "
           "in the past.\n";
    return false;
  }
  host::WatermarkStore watermarks(fs, config.state_dir + "/watermarks",
                                  std::max<size_t>(1, config.forwarder.shards.size()));
  if (const int error = watermarks.Load(); error != 0 && error != ENOENT) {
    err << "beaconctl archive replay: refused: the node's watermarks (" << config.state_dir
        << "/watermarks) cannot be read (" << std::generic_category().message(error)
        << "), so what ClickHouse acknowledged is unknown\n";
    return false;
  }
  std::vector<host::SegmentFile> segments;
  host::ListSegments(fs, dir, &segments);
  std::set<uint32_t> workers;
  for (const host::SegmentFile& segment : segments) workers.insert(segment.worker);
  host::ArchiveScanner scanner(fs, dir, &dictionaries);
  for (const uint32_t worker : workers) {
    if (!watermarks.Has(worker)) continue;  // beacond takes its archive as acknowledged
    uint64_t acknowledged = UINT64_MAX;
    for (const host::ShardWatermark& shard : watermarks.Get(worker)) {
      acknowledged = std::min({acknowledged, shard.site, shard.breakdown});
    }
    uint64_t sequence = 0;
    int64_t time_ms = 0;
    if (FirstUnacknowledged(scanner, worker, acknowledged, options, &sequence, &time_ms)) {
      err << "beaconctl archive replay: refused: worker " << worker << "'s record " << sequence
          << " (received at unix ms " << time_ms << ") is in the range but not yet acknowledged "
          << "by ClickHouse: beacond forwards it itself (live, from its spool, or when it "
          << "starts), and the replay would count it twice. Replay a range that ends before "
          << "it, or wait until beacond has forwarded it (e.g. after stopping it cleanly).\n";
      return false;
    }
  }
  return true;
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
  if (!NodeIsDoneWithTheRange(config, fs, replay.directory, dictionaries, options, err)) return 2;
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
