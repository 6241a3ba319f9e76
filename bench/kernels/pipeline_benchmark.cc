// The whole per-beacon cost on one thread, as a worker runs it after ingress: DecodeBatch
// (decoding and validation, enrichment with a warm user-agent cache over uap-core, visitor ids)
// then MinuteAggregator::Add, an epoch closed every 100 000 events. Workloads: beacon-gen's
// realistic GA v1 mix; the same model's hits as GA4 gtag, GA4 Measurement Protocol, Plausible and
// Snowplow requests (bench/gen/format_requests.h, no malformed hits: their faults are GA v1's);
// and its UDP relay capture's hit batches and syslog lines. Each backend (the scalar reference,
// then the best SIMD target) runs decode alone and the full pipeline in the same process. The
// first table gives GA v1's ns per beacon of each stage, the aggregation's share (full minus
// decode) and the speed-up over scalar; the second every format's (a beacon is one hit or event:
// a row or a reject).
//   ./bench/kernels/pipeline_benchmark --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bench/gen/format_requests.h"
#include "bench/gen/pcap_writer.h"
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
constexpr char kGaV1[] = "ga_v1";

const SiteRegistry& Sites() {
  static const SiteRegistry sites =
      SiteRegistry::Parse(bench::TrackerSiteRegistryText(40, 7), "bench");
  return sites;
}

const UserAgentClassifier& Classifier() {
  static const std::unique_ptr<const UserAgentClassifier> classifier = UserAgentClassifier::Load();
  return *classifier;
}

// One format's requests, packed into full RawBatches once.
struct Workload {
  std::vector<std::unique_ptr<RawBatch>> batches;
  uint64_t beacons = 0;  // hits or events: rows plus rejects of one decode

  void Add(Endpoint endpoint, IngressKind ingress, std::string_view payload,
           std::string_view user_agent, const IpAddress& ip, std::string_view query,
           uint16_t country) {
    const auto add = [&] {
      return batches.back()->Add(endpoint, ingress, payload, user_agent, ip, kNowMs, query,
                                 country);
    };
    if (batches.empty() || !add()) {
      batches.push_back(std::make_unique<RawBatch>());
      add();
    }
  }
};

DecodeContext Context(const ByteKernels* bytes, RejectCounters* rejects, UserAgentCache* cache) {
  DecodeContext ctx;
  ctx.sites = &Sites();
  ctx.rejects = rejects;
  ctx.visitor_key = 0x5eed;
  ctx.salts = {kNowMs / 86'400'000, 7, 8};
  ctx.bytes = bytes;
  ctx.user_agents = cache;
  return ctx;
}

// Counts the workload's beacons as the outcomes (rows and rejects) of one scalar decode.
void CountBeacons(Workload* w) {
  RejectCounters rejects;
  const DecodeContext ctx = Context(nullptr, &rejects, nullptr);
  EventBatch events;
  for (const auto& raw : w->batches) {
    events.Clear();
    DecodeBatch(*raw, ctx, &events);
    w->beacons += events.size();
  }
  w->beacons += rejects.Total();
}

// The model's requests in chunk order.
void ForEachRequest(const bench::TrafficOptions& options,
                    const std::function<void(const bench::Request&)>& on_request) {
  const bench::TrafficModel model(Sites(), options);
  for (uint64_t k = 0; k < model.chunk_count(); ++k) {
    for (const bench::Request& request : model.Chunk(k)) on_request(request);
  }
}

// beacon-gen's GA v1 requests (single hits and batches).
Workload GaV1() {
  Workload w;
  bench::TrafficOptions options;
  options.hits = kHits;
  ForEachRequest(options, [&w](const bench::Request& request) {
    const Endpoint endpoint =
        request.transport == bench::Transport::kBatch ? Endpoint::kGaBatch : Endpoint::kGaCollect;
    w.Add(endpoint, IngressKind::kHttp, bench::RequestPayload(request), request.user_agent,
          IpAddress::FromV4(0xC0A80001), {}, CountryFromHeader(request.country_header));
    w.beacons += request.hits.size();
  });
  return w;
}

// The same model's hits (accepted and bots) as another tracker's requests, one client address
// per visitor.
Workload Tracker(bench::TrackerFormat format) {
  Workload w;
  bench::TrafficOptions options;
  options.hits = kHits;
  options.malformed_share = 0;
  const bench::TrackerRenderer renderer(Sites());
  ForEachRequest(options, [&](const bench::Request& request) {
    const IpAddress ip = IpAddress::FromV4(
        0x0A000000 | static_cast<uint32_t>(std::hash<std::string>{}(request.hits[0].visitor)));
    for (const bench::TrackerRequest& r : renderer.Render(format, request)) {
      w.Add(r.endpoint, IngressKind::kHttp, r.payload, r.user_agent, ip, r.query,
            CountryFromHeader(request.country_header));
    }
  });
  CountBeacons(&w);
  return w;
}

// beacon-gen's UDP relay capture (no pcap kept): hit batch datagrams, then syslog lines.
std::pair<Workload, Workload> Relay() {
  bench::RelayCaptureOptions options;
  options.hits = kHits;
  options.syslog_share = 0.5;
  options.time_ms = kNowMs;
  std::pair<Workload, Workload> relay;
  bench::PcapWriter discard("/dev/null");
  bench::WriteRelayCapture(
      Sites(), options, &discard, [&](uint16_t port, std::string_view payload) {
        const bool syslog = port == options.syslog_port;
        (syslog ? relay.second : relay.first)
            .Add(syslog ? Endpoint::kUdpSyslog : Endpoint::kUdpHitBatch, IngressKind::kUdpRelay,
                 payload, {}, IpAddress::FromV4(0xC6120001), {}, 0);
      });
  CountBeacons(&relay.first);
  CountBeacons(&relay.second);
  return relay;
}

const std::map<std::string, Workload>& Workloads() {
  static const auto* const workloads = [] {
    auto* all = new std::map<std::string, Workload>;
    (*all)[kGaV1] = GaV1();
    (*all)["ga4_gtag"] = Tracker(bench::TrackerFormat::kGa4Gtag);
    (*all)["ga4_mp"] = Tracker(bench::TrackerFormat::kGa4Mp);
    (*all)["plausible"] = Tracker(bench::TrackerFormat::kPlausible);
    (*all)["snowplow"] = Tracker(bench::TrackerFormat::kSnowplow);
    auto [batches, syslog] = Relay();
    (*all)["relay_batch"] = std::move(batches);
    (*all)["relay_syslog"] = std::move(syslog);
    return all;
  }();
  return *workloads;
}

// `aggregate` false: decode (with enrichment) alone, to split the pipeline's cost.
void BM_Pipeline(benchmark::State& state, const Workload* w, ByteKernels bytes, bool aggregate) {
  RejectCounters rejects;
  UserAgentCache user_agents(Classifier());
  const DecodeContext ctx = Context(&bytes, &rejects, &user_agents);
  EventBatch events;
  events.Reserve(4 * kMaxBatchBeacons, 64 * 1024);
  MinuteAggregator aggregator(0, AggregateLimits{});
  uint64_t rows = 0;
  for (auto _ : state) {
    for (const auto& raw : w->batches) {
      events.Clear();
      DecodeBatch(*raw, ctx, &events);
      rows += events.size();
      if (!aggregate) continue;
      aggregator.Add(events);
      if (aggregator.open_events() >= kEpochEvents)
        benchmark::DoNotOptimize(aggregator.CloseEpoch());
    }
  }
  const double beacons = static_cast<double>(state.iterations() * w->beacons);
  state.SetItemsProcessed(static_cast<int64_t>(beacons));
  state.counters["ns_per_beacon"] =
      benchmark::Counter(beacons, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["ns_per_event"] = benchmark::Counter(
      static_cast<double>(rows), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["events_per_beacon"] = static_cast<double>(rows) / beacons;
  state.counters["rejects_per_beacon"] = static_cast<double>(rejects.Total()) / beacons;
}

// Prints the runs as usual, then GA v1's table (per backend decode and full ns per beacon, the
// aggregation's share, the full pipeline's speed-up over scalar) and every format's (decode and
// full ns per beacon, full M beacons/s, speed-up over scalar), all from this one process.
class PipelineReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      // "pipeline/<decode|full>/<backend>" (GA v1) or ".../<backend>/<format>".
      const std::string name = run.benchmark_name();
      const auto ns = run.counters.find("ns_per_beacon");
      if (ns == run.counters.end() || run.run_type != Run::RT_Iteration) continue;
      const size_t stage_at = name.find('/') + 1;
      const size_t backend_at = name.find('/', stage_at) + 1;
      const size_t format_at = name.find('/', backend_at);
      const std::string backend = name.substr(backend_at, format_at - backend_at);
      const std::string format =
          format_at == std::string::npos ? kGaV1 : name.substr(format_at + 1);
      Stage& stage = stages_[format][backend];
      (name.compare(stage_at, 5, "full/") == 0 ? stage.full : stage.decode) =
          ns->second.value * 1e9;
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\n%-10s %16s %16s %16s %12s\n", "backend", "decode ns/beacon", "full ns/beacon",
                "aggregate ns", "x scalar");
    auto& ga = stages_[kGaV1];
    for (const auto& [backend, s] : ga) {
      std::printf("%-10s %16.0f %16.0f %16.0f %12.2f\n", backend.c_str(), s.decode, s.full,
                  s.full - s.decode, s.full > 0 ? ga["scalar"].full / s.full : 0.0);
    }
    std::printf("\n%-13s %-10s %10s %10s %14s %9s\n", "format", "backend", "decode ns", "full ns",
                "M beacons/s", "x scalar");
    for (auto& [format, backends] : stages_) {
      for (const auto& [backend, s] : backends) {
        std::printf("%-13s %-10s %10.0f %10.0f %14.3f %9.2f\n", format.c_str(), backend.c_str(),
                    s.decode, s.full, s.full > 0 ? 1e3 / s.full : 0.0,
                    s.full > 0 ? backends["scalar"].full / s.full : 0.0);
      }
    }
  }

 private:
  struct Stage {
    double decode = 0;
    double full = 0;
  };
  std::map<std::string, std::map<std::string, Stage>> stages_;  // format -> backend -> ns
};

}  // namespace
}  // namespace beacon::kernels

int main(int argc, char** argv) {
  using namespace beacon::kernels;  // NOLINT(google-build-using-namespace): main only
  const std::vector<NamedByteKernels> backends = ByteKernelsPerTarget();
  const auto& workloads = Workloads();
  // GA v1 first, as beacon-bench reads it ("pipeline/<stage>/<backend>"), then the others.
  std::vector<std::string> formats = {kGaV1};
  for (const auto& [format, w] : workloads) {
    if (format != kGaV1) formats.push_back(format);
  }
  for (const std::string& format : formats) {
    // The scalar reference and the best target this CPU supports, as beacond picks it.
    for (const NamedByteKernels* backend : {&backends[0], &backends[backends.size() > 1 ? 1 : 0]}) {
      for (const bool full : {false, true}) {
        const std::string name = "pipeline/" + std::string(full ? "full/" : "decode/") +
                                 backend->name + (format == kGaV1 ? "" : "/" + format);
        benchmark::RegisterBenchmark(name.c_str(), BM_Pipeline, &workloads.at(format),
                                     backend->kernels, full)
            ->Unit(benchmark::kMillisecond);
      }
    }
    const Workload& w = workloads.at(format);
    benchmark::AddCustomContext(format, std::to_string(w.beacons) + " beacons in " +
                                            std::to_string(w.batches.size()) + " batches");
  }
  benchmark::Initialize(&argc, argv);
  Classifier();
  std::printf("GA v1 realistic mix: %llu beacons in %zu batches; best SIMD target: %s\n",
              static_cast<unsigned long long>(workloads.at(kGaV1).beacons),
              workloads.at(kGaV1).batches.size(), ActiveSimdTarget().name);
  PipelineReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
