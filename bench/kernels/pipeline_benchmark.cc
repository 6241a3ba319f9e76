// The whole per-beacon cost on one thread, as a worker runs it after ingress: DecodeBatch (GA v1
// decoding and validation, enrichment with a warm user-agent cache over uap-core, visitor ids)
// then MinuteAggregator::Add, an epoch closed every 100 000 events, on beacon-gen's realistic GA
// mix. Each backend (the scalar reference, then the best SIMD target) runs decode alone and the
// full pipeline in the same process, and the table at the end gives ns per beacon of each, the
// aggregation's share (full minus decode) and the full pipeline's speed-up over scalar.
//   ./bench/kernels/pipeline_benchmark --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench/gen/traffic_model.h"
#include "kernels/aggregate/minute_aggregator.h"
#include "kernels/decode.h"
#include "kernels/enrich/attribution.h"
#include "kernels/enrich/user_agent.h"
#include "kernels/raw_batch.h"
#include "kernels/simd/byte_kernels.h"
#include "kernels/site_registry.h"

namespace beacon::kernels {
namespace {

constexpr uint64_t kHits = 50'000;
constexpr uint64_t kEpochEvents = 100'000;
constexpr int64_t kNowMs = 1'764'000'000'000;

const SiteRegistry& Sites() {
  static const SiteRegistry sites = SiteRegistry::Parse(bench::SiteRegistryText(40, 7), "bench");
  return sites;
}

// beacon-gen's GA v1 requests (single hits and batches), packed into full RawBatches once.
struct Workload {
  std::vector<std::unique_ptr<RawBatch>> batches;
  uint64_t beacons = 0;
};

const Workload& Realistic() {
  static const Workload* const workload = [] {
    auto* w = new Workload;
    bench::TrafficOptions options;
    options.hits = kHits;
    const bench::TrafficModel model(Sites(), options);
    w->batches.push_back(std::make_unique<RawBatch>());
    for (uint64_t k = 0; k < model.chunk_count(); ++k) {
      for (const bench::Request& request : model.Chunk(k)) {
        const std::string text = bench::RequestPayload(request);
        const Endpoint endpoint = request.transport == bench::Transport::kBatch
                                      ? Endpoint::kGaBatch
                                      : Endpoint::kGaCollect;
        auto add = [&] {
          return w->batches.back()->Add(endpoint, IngressKind::kHttp, text, request.user_agent,
                                        IpAddress::FromV4(0xC0A80001), kNowMs, {},
                                        CountryFromHeader(request.country_header));
        };
        if (!add()) {
          w->batches.push_back(std::make_unique<RawBatch>());
          add();
        }
        ++w->beacons;
      }
    }
    return w;
  }();
  return *workload;
}

const UserAgentClassifier& Classifier() {
  static const std::unique_ptr<const UserAgentClassifier> classifier = UserAgentClassifier::Load();
  return *classifier;
}

// `aggregate` false: decode (with enrichment) alone, to split the pipeline's cost.
void BM_Pipeline(benchmark::State& state, ByteKernels bytes, bool aggregate) {
  const Workload& w = Realistic();
  RejectCounters rejects;
  UserAgentCache user_agents(Classifier());
  DecodeContext ctx;
  ctx.sites = &Sites();
  ctx.rejects = &rejects;
  ctx.visitor_key = 0x5eed;
  ctx.bytes = &bytes;
  ctx.user_agents = &user_agents;
  EventBatch events;
  events.Reserve(4 * kMaxBatchBeacons, 64 * 1024);
  MinuteAggregator aggregator(0, AggregateLimits{});
  uint64_t rows = 0;
  for (auto _ : state) {
    for (const auto& raw : w.batches) {
      events.Clear();
      DecodeBatch(*raw, ctx, &events);
      rows += events.size();
      if (!aggregate) continue;
      aggregator.Add(events);
      if (aggregator.open_events() >= kEpochEvents)
        benchmark::DoNotOptimize(aggregator.CloseEpoch());
    }
  }
  const double beacons = static_cast<double>(state.iterations() * w.beacons);
  state.SetItemsProcessed(static_cast<int64_t>(beacons));
  state.counters["ns_per_beacon"] =
      benchmark::Counter(beacons, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["ns_per_event"] = benchmark::Counter(
      static_cast<double>(rows), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["events_per_beacon"] = static_cast<double>(rows) / beacons;
  state.counters["rejects_per_beacon"] = static_cast<double>(rejects.Total()) / beacons;
}

// Prints the runs as usual, then per backend decode and full ns per beacon, the aggregation's
// share and the full pipeline's speed-up over scalar (all from this one process).
class PipelineReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      const std::string name = run.benchmark_name();  // "pipeline/<decode|full>/<backend>"
      const auto ns = run.counters.find("ns_per_beacon");
      const size_t slash = name.rfind('/');
      if (ns == run.counters.end() || slash == std::string::npos ||
          run.run_type != Run::RT_Iteration) {
        continue;
      }
      const bool full = name.find("/full/") != std::string::npos;
      Stage& stage = stages_[name.substr(slash + 1)];
      (full ? stage.full : stage.decode) = ns->second.value * 1e9;
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\n%-10s %16s %16s %16s %12s\n", "backend", "decode ns/beacon", "full ns/beacon",
                "aggregate ns", "x scalar");
    const double scalar = stages_.count("scalar") ? stages_["scalar"].full : 0;
    for (const auto& [backend, s] : stages_) {
      std::printf("%-10s %16.0f %16.0f %16.0f %12.2f\n", backend.c_str(), s.decode, s.full,
                  s.full - s.decode, s.full > 0 ? scalar / s.full : 0.0);
    }
  }

 private:
  struct Stage {
    double decode = 0;
    double full = 0;
  };
  std::map<std::string, Stage> stages_;
};

}  // namespace
}  // namespace beacon::kernels

int main(int argc, char** argv) {
  using namespace beacon::kernels;  // NOLINT(google-build-using-namespace): main only
  const std::vector<NamedByteKernels> backends = ByteKernelsPerTarget();
  // The scalar reference and the best target this CPU supports, as beacond picks it.
  for (const NamedByteKernels* backend : {&backends[0], &backends[backends.size() > 1 ? 1 : 0]}) {
    for (const bool full : {false, true}) {
      benchmark::RegisterBenchmark(
          ("pipeline/" + std::string(full ? "full/" : "decode/") + backend->name).c_str(),
          BM_Pipeline, backend->kernels, full)
          ->Unit(benchmark::kMillisecond);
    }
  }
  benchmark::Initialize(&argc, argv);
  Realistic();
  Classifier();
  std::printf("GA v1 realistic mix: %llu beacons in %zu batches; best SIMD target: %s\n",
              static_cast<unsigned long long>(Realistic().beacons), Realistic().batches.size(),
              ActiveSimdTarget().name);
  PipelineReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
