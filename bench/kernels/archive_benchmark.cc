// Archive write per core on beacon-gen's GA mix: records encoded into blocks and compressed
// (kernels/archive BlockEncoder) at zstd levels -1, 1 and 3, blocks of 128 KiB, 256 KiB and 1 MiB
// raw, with and without a dictionary trained on other traffic of the same model; and the whole
// SegmentWriter (commit "none", files in the temp directory) at level 1. Reports beacons/s,
// raw bytes/s and the compression ratio (raw / written bytes, block headers included).
#include <benchmark/benchmark.h>

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bench/gen/traffic_model.h"
#include "host/archive/file_system.h"
#include "host/archive/segment_writer.h"
#include "kernels/archive/block_codec.h"
#include "kernels/archive/dictionary.h"
#include "kernels/bytes/hash.h"
#include "kernels/enrich/attribution.h"
#include "kernels/site_registry.h"

namespace beacon::kernels {
namespace {

struct Beacon {
  Endpoint endpoint;
  std::string payload;
  std::string user_agent;
  uint16_t country;
  uint64_t address_hash;
};

// One archive record per request, as the HTTP server would archive it: the query of a GET,
// the body of a POST or /batch, its user agent and country.
std::vector<Beacon> Traffic(uint64_t seed, uint64_t hits) {
  const SiteRegistry sites = SiteRegistry::Parse(bench::SiteRegistryText(64, 1));
  bench::TrafficOptions options;
  options.seed = seed;
  options.hits = hits;
  const bench::TrafficModel model(sites, options);
  std::vector<Beacon> beacons;
  for (uint64_t k = 0; k < model.chunk_count(); ++k) {
    for (const bench::Request& request : model.Chunk(k)) {
      Beacon beacon;
      beacon.endpoint =
          request.transport == bench::Transport::kBatch ? Endpoint::kGaBatch : Endpoint::kGaCollect;
      for (const bench::Hit& hit : request.hits) {
        if (!beacon.payload.empty()) beacon.payload += '\n';
        beacon.payload += hit.params;
        if (hit.queue_time_ms >= 0) beacon.payload += "&qt=" + std::to_string(hit.queue_time_ms);
      }
      beacon.user_agent = request.user_agent;
      beacon.country = CountryFromHeader(request.country_header);
      // Stands for the salted address hash: one value per visitor.
      beacon.address_hash = Hash64(request.hits.front().visitor, seed);
      beacons.push_back(std::move(beacon));
    }
  }
  return beacons;
}

const std::vector<Beacon>& Mix() {
  static const auto* const mix = new std::vector<Beacon>(Traffic(1, 200'000));
  return *mix;
}

ArchiveRecord Record(const Beacon& beacon, int64_t receive_time_ms) {
  ArchiveRecord record;
  record.receive_time_ms = receive_time_ms;
  record.address_hash = beacon.address_hash;
  record.ingress = IngressKind::kHttp;
  record.endpoint = beacon.endpoint;
  record.country = beacon.country;
  record.payload = beacon.payload;
  record.user_agent = beacon.user_agent;
  return record;
}

// Trained on another seed of the model: the node's own earlier traffic.
const ArchiveDictionary* Dictionary() {
  static const ArchiveDictionary* const dictionary = [] {
    const std::vector<Beacon> traffic = Traffic(99, 30'000);
    std::vector<ArchiveRecord> samples;
    for (const Beacon& beacon : traffic) samples.push_back(Record(beacon, 0));
    return ArchiveDictionary::Load(TrainArchiveDictionary(samples, 64 << 10)).release();
  }();
  return dictionary;
}

void Report(benchmark::State& state, uint64_t beacons, uint64_t raw, uint64_t written) {
  state.SetItemsProcessed(static_cast<int64_t>(beacons));
  state.SetBytesProcessed(static_cast<int64_t>(raw));
  state.counters["ratio"] = written == 0 ? 0 : static_cast<double>(raw) / written;
  state.counters["raw_bytes_per_beacon"] = static_cast<double>(raw) / beacons;
}

// Args: zstd level, dictionary (0/1), block raw KiB.
void BM_ArchiveEncode(benchmark::State& state) {
  const int level = static_cast<int>(state.range(0));
  const ArchiveDictionary* dictionary = state.range(1) != 0 ? Dictionary() : nullptr;
  const size_t block_bytes = static_cast<size_t>(state.range(2)) << 10;
  const std::vector<Beacon>& mix = Mix();
  BlockEncoder encoder(level, dictionary);
  std::string block;
  uint64_t beacons = 0, raw = 0, written = 0, sequence = 1;
  int64_t now = 1'700'000'000'000;
  for (auto _ : state) {
    for (const Beacon& beacon : mix) {
      encoder.Add(Record(beacon, now++));
      if (encoder.raw_bytes() >= block_bytes) {
        raw += encoder.raw_bytes();
        const uint32_t records = encoder.record_count();
        encoder.Finish(sequence, &block);
        sequence += records;
        written += block.size();
      }
    }
    beacons += mix.size();
  }
  if (!encoder.empty()) encoder.Reset();
  Report(state, beacons, raw, written);
}
BENCHMARK(BM_ArchiveEncode)
    ->ArgNames({"level", "dict", "block_kib"})
    ->ArgsProduct({{-1, 1, 3}, {0, 1}, {128, 256, 1024}})
    ->Unit(benchmark::kMillisecond);

// The worker's Append and the I/O thread's writes, no fdatasync (commit "none").
void BM_SegmentWriter(benchmark::State& state) {
  std::string dir = (std::filesystem::temp_directory_path() / "archive_bench_XXXXXX").string();
  dir = mkdtemp(dir.data());
  host::PosixFileSystem fs;
  host::SegmentWriterOptions options;
  options.directory = dir + "/archive";
  options.commit = host::CommitPolicy::kNone;
  options.compression_level = 1;
  options.dictionary = state.range(0) != 0 ? Dictionary() : nullptr;
  std::unique_ptr<host::SegmentWriter> writer;
  if (host::SegmentWriter::Open(fs, options, &writer) != 0) {
    state.SkipWithError("cannot open the archive directory");
    return;
  }
  const std::vector<Beacon>& mix = Mix();
  int64_t now = 1'700'000'000'000;
  uint64_t beacons = 0;
  for (auto _ : state) {
    for (const Beacon& beacon : mix) writer->Append(Record(beacon, now++));
    beacons += mix.size();
  }
  writer->Flush();
  Report(state, beacons, writer->stats().raw_bytes.load(), writer->stats().bytes.load());
  writer.reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_SegmentWriter)->ArgNames({"dict"})->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace beacon::kernels

BENCHMARK_MAIN();
