// Aggregation cost per event: MinuteAggregator::Add over decoded event batches, with an epoch
// closed every `epoch events` (the range argument), all ten breakdown dimensions filled;
// close_ns_per_event is CloseEpoch's share (the thread's CPU time in it, per event);
// faults_per_1k_events the thread's minor page faults (README: glibc hands a closed epoch's
// memory back to the kernel here, and the next epoch faults it in again).
//   realistic: beacon-gen's GA v1 mix (Zipf sites and pages, referrers, campaigns, countries,
//              20 user agents classified by uap-core, event names), decoded by DecodeBatch;
//   flood:     the same with --flood (random paths, referrers, campaigns and event names:
//              an eviction per value, every hit).
//   ./bench/kernels/aggregate_benchmark --benchmark_min_time=1
// --dump_events=DIR writes the realistic events (DIR/events.tsv, each with the epoch of 100 000
// events it falls in) and the aggregator's rows of them (DIR/rows.tsv) and exits:
// bench/clickhouse-groupby aggregates the events with ClickHouse's GROUP BY, checks its rows
// against these and compares its time with BM_Aggregate/realistic/100000's.
#include <benchmark/benchmark.h>

#include <sys/resource.h>
#include <time.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bench/gen/traffic_model.h"
#include "kernels/aggregate/minute_aggregator.h"
#include "kernels/decode.h"
#include "kernels/enrich/attribution.h"
#include "kernels/enrich/user_agent.h"
#include "kernels/raw_batch.h"
#include "kernels/site_registry.h"

namespace beacon::kernels {
namespace {

constexpr uint64_t kHits = 200'000;

// The thread's CPU time: a close is timed alone, and other processes' time is not its own.
double ThreadCpuNs() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e9 + static_cast<double>(t.tv_nsec);
}

// The thread's minor page faults so far.
double ThreadMinorFaults() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return static_cast<double>(usage.ru_minflt);
}

struct Workload {
  std::vector<EventBatch> batches;
  uint64_t events = 0;
};

Workload Decode(bool flood) {
  static const SiteRegistry sites = SiteRegistry::Parse(bench::SiteRegistryText(40, 7), "bench");
  static const std::unique_ptr<const UserAgentClassifier> classifier = UserAgentClassifier::Load();
  UserAgentCache user_agents(*classifier);
  RejectCounters rejects;
  DecodeContext ctx;
  ctx.sites = &sites;
  ctx.rejects = &rejects;
  ctx.visitor_key = 0x5eed;
  ctx.user_agents = &user_agents;
  bench::TrafficOptions options;
  options.hits = kHits;
  options.flood = flood;
  const bench::TrafficModel model(sites, options);
  Workload w;
  RawBatch raw;
  auto flush = [&] {
    if (raw.size() == 0) return;
    EventBatch& events = w.batches.emplace_back();
    DecodeBatch(raw, ctx, &events);
    w.events += events.size();
    raw.Clear();
  };
  const int64_t now = 1'764'000'000'000;
  for (uint64_t k = 0; k < model.chunk_count(); ++k) {
    for (const bench::Request& request : model.Chunk(k)) {
      const std::string text = bench::RequestPayload(request);
      const Endpoint endpoint =
          request.transport == bench::Transport::kBatch ? Endpoint::kGaBatch : Endpoint::kGaCollect;
      if (!raw.Add(endpoint, IngressKind::kHttp, text, request.user_agent,
                   IpAddress::FromV4(0xC0A80001), now, {},
                   CountryFromHeader(request.country_header))) {
        flush();
        raw.Add(endpoint, IngressKind::kHttp, text, request.user_agent,
                IpAddress::FromV4(0xC0A80001), now, {}, CountryFromHeader(request.country_header));
      }
    }
  }
  flush();
  return w;
}

void BM_Aggregate(benchmark::State& state, bool flood) {
  static const Workload realistic = Decode(false);
  static const Workload flooded = Decode(true);
  const Workload& w = flood ? flooded : realistic;
  const auto epoch_events = static_cast<uint64_t>(state.range(0));
  MinuteAggregator agg(0, AggregateLimits{});
  uint64_t events = 0, breakdown_rows = 0, site_rows = 0;
  size_t peak_bytes = 0;
  double close_ns = 0;
  const double faults = ThreadMinorFaults();
  for (auto _ : state) {
    for (const EventBatch& batch : w.batches) {
      agg.Add(batch);
      if (agg.open_events() >= epoch_events) {
        peak_bytes = std::max(peak_bytes, agg.memory_bytes());
        const double start = ThreadCpuNs();
        const EpochRows rows = agg.CloseEpoch();
        close_ns += ThreadCpuNs() - start;
        breakdown_rows += rows.breakdowns.size();
        site_rows += rows.site_minutes.size();
      }
    }
    events += w.events;
  }
  const double n = static_cast<double>(events);
  state.SetItemsProcessed(static_cast<int64_t>(events));
  state.counters["ns_per_event"] =
      benchmark::Counter(n, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["close_ns_per_event"] = close_ns / n;
  state.counters["faults_per_1k_events"] = (ThreadMinorFaults() - faults) * 1000 / n;
  state.counters["breakdown_rows_per_event"] = static_cast<double>(breakdown_rows) / n;
  state.counters["site_rows_per_event"] = static_cast<double>(site_rows) / n;
  state.counters["peak_MB"] = static_cast<double>(peak_bytes) / 1e6;
  for (const Dimension d : {Dimension::kPage, Dimension::kReferrer, Dimension::kEventName}) {
    state.counters["folded_" + std::string(DimensionName(d))] =
        static_cast<double>(agg.folded(d)) / n;
  }
}

// The aggregator's rules for the fixed dimensions, private to minute_aggregator.cc and repeated
// here: a country not made of two upper-case letters is in no row; device, browser and OS ids
// beyond their tables count as the first entry.
bool KnownCountry(uint16_t country) {
  return static_cast<unsigned>((country >> 8) - 'A') < 26 &&
         static_cast<unsigned>((country & 0xFF) - 'A') < 26;
}
uint8_t InTable(uint8_t id, uint32_t size) { return id < size ? id : 0; }

// The visitor sketch adds alone: each event's visitor added to its site-minute's sketch and to
// one sketch per dimension it has a value in (the rows MinuteAggregator makes, with the same
// epochs), the sketches side by side in one array and each event's hash computed outside the
// timing. What exact per-row visitor states cost at the least, apart from finding the rows;
// ns_per_event is per aggregated event, so it reads against BM_Aggregate's.
struct SketchAdds {
  std::vector<uint32_t> rows;  // per epoch: the sketches it fills
  std::vector<std::vector<std::pair<uint32_t, UniqHll12::Hashed>>> adds;  // per epoch, in order
  uint64_t events = 0;
};

SketchAdds SketchAddsOf(const Workload& w, uint64_t epoch_events) {
  SketchAdds out;
  std::unordered_map<std::string, uint32_t> rows;
  uint64_t open = 0;
  auto row = [&](const EventBatch& b, size_t i, int d, std::string_view value) {
    std::string key(reinterpret_cast<const char*>(&b.site_id[i]), 4);
    key.append(reinterpret_cast<const char*>(&b.minute[i]), 4);
    key.push_back(static_cast<char>(d));
    key.append(value);
    return rows.emplace(std::move(key), static_cast<uint32_t>(rows.size())).first->second;
  };
  out.adds.emplace_back();
  for (const EventBatch& b : w.batches) {
    for (size_t i = 0; i < b.size(); ++i) {
      const UniqHll12::Hashed v = UniqHll12::Hash(b.visitor[i]);
      auto& adds = out.adds.back();
      adds.emplace_back(row(b, i, 0, {}), v);
      const StrRef strings[] = {b.path[i],       b.referrer[i],     b.utm_source[i],
                                b.utm_medium[i], b.utm_campaign[i], b.event_name[i]};
      for (int d = 0; d < 6; ++d) {
        if (!strings[d].empty()) adds.emplace_back(row(b, i, 1 + d, b.str(strings[d])), v);
      }
      const uint16_t country = b.country[i];
      const uint8_t device = InTable(b.device[i], kDeviceValues);
      const uint8_t browser = InTable(b.browser[i], kBrowserValues);
      const uint8_t os = InTable(b.os[i], kOsValues);
      if (KnownCountry(country))
        adds.emplace_back(
            row(b, i, 7, std::string_view(reinterpret_cast<const char*>(&country), 2)), v);
      adds.emplace_back(row(b, i, 8, {reinterpret_cast<const char*>(&device), 1}), v);
      adds.emplace_back(row(b, i, 9, {reinterpret_cast<const char*>(&browser), 1}), v);
      adds.emplace_back(row(b, i, 10, {reinterpret_cast<const char*>(&os), 1}), v);
    }
    out.events += b.size();
    open += b.size();
    if (open >= epoch_events) {
      out.rows.push_back(static_cast<uint32_t>(rows.size()));
      rows.clear();
      open = 0;
      out.adds.emplace_back();
    }
  }
  out.rows.push_back(static_cast<uint32_t>(rows.size()));
  return out;
}

void BM_VisitorSketchAdds(benchmark::State& state) {
  static const Workload realistic = Decode(false);
  const auto epoch_events = static_cast<uint64_t>(state.range(0));
  const SketchAdds work = SketchAddsOf(realistic, epoch_events);
  // The same rows as the aggregator's (beacon-gen's mix folds nothing, so no (other) rows).
  MinuteAggregator agg(0, AggregateLimits{});
  uint64_t aggregator_rows = 0, rows = 0, adds = 0;
  for (const EventBatch& batch : realistic.batches) {
    agg.Add(batch);
    if (agg.open_events() >= epoch_events) {
      const EpochRows closed = agg.CloseEpoch();
      aggregator_rows += closed.site_minutes.size() + closed.breakdowns.size();
    }
  }
  const EpochRows closed = agg.CloseEpoch();
  aggregator_rows += closed.site_minutes.size() + closed.breakdowns.size();
  for (size_t e = 0; e < work.adds.size(); ++e) {
    rows += work.rows[e];
    adds += work.adds[e].size();
  }
  if (rows != aggregator_rows) {
    state.SkipWithError("the sketch rows differ from the aggregator's");
    return;
  }
  size_t heap = 0;
  for (auto _ : state) {
    for (size_t e = 0; e < work.adds.size(); ++e) {
      std::vector<UniqHll12> sketches(work.rows[e]);
      for (const auto& [row, visitor] : work.adds[e]) heap += sketches[row].Add(visitor);
      benchmark::DoNotOptimize(sketches.data());
    }
  }
  benchmark::DoNotOptimize(heap);
  const double n = static_cast<double>(work.events) * static_cast<double>(state.iterations());
  state.counters["ns_per_event"] =
      benchmark::Counter(n, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["adds_per_event"] = static_cast<double>(adds) / static_cast<double>(work.events);
}

BENCHMARK(BM_VisitorSketchAdds)->Arg(100'000)->Unit(benchmark::kMillisecond);

BENCHMARK_CAPTURE(BM_Aggregate, realistic, false)
    ->Arg(10'000)
    ->Arg(100'000)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Aggregate, flood, true)
    ->Arg(10'000)
    ->Arg(100'000)
    ->Unit(benchmark::kMillisecond);

// One TSV field: tab, newline and backslash escaped as ClickHouse's TabSeparated reads them.
void PutField(std::string_view value, std::FILE* out) {
  for (const char c : value) {
    if (c == '\t' || c == '\n' || c == '\\') {
      std::fputc('\\', out);
      std::fputc(c == '\t' ? 't' : c == '\n' ? 'n' : '\\', out);
    } else {
      std::fputc(c, out);
    }
  }
  std::fputc('\t', out);
}

// The names of a device, browser and OS id in the rows.
std::string_view DeviceName(uint8_t id) {
  return DeviceClassName(static_cast<DeviceClass>(InTable(id, kDeviceValues)));
}
std::string_view BrowserName(uint8_t id) { return kBrowserFamilies[InTable(id, kBrowserValues)]; }
std::string_view OsName(uint8_t id) { return kOsFamilies[InTable(id, kOsValues)]; }

// One batch's events, one line each: epoch, site_id, minute, visitor, pageview (1/0), path,
// referrer, utm_source, utm_medium, utm_campaign, event_name, country (two letters, empty for
// none), device, browser, OS.
void PutEvents(const EventBatch& b, uint64_t epoch, std::FILE* out) {
  for (size_t i = 0; i < b.size(); ++i) {
    std::fprintf(out, "%llu\t%u\t%u\t%llu\t%d\t", static_cast<unsigned long long>(epoch),
                 b.site_id[i], b.minute[i], static_cast<unsigned long long>(b.visitor[i]),
                 b.kind[i] == EventKind::kPageview ? 1 : 0);
    for (const StrRef s : {b.path[i], b.referrer[i], b.utm_source[i], b.utm_medium[i],
                           b.utm_campaign[i], b.event_name[i]}) {
      PutField(b.str(s), out);
    }
    const uint16_t country = b.country[i];
    const char letters[2] = {static_cast<char>(country >> 8), static_cast<char>(country)};
    PutField(KnownCountry(country) ? std::string_view(letters, 2) : std::string_view(), out);
    PutField(DeviceName(b.device[i]), out);
    PutField(BrowserName(b.browser[i]), out);
    const std::string_view os = OsName(b.os[i]);
    std::fprintf(out, "%.*s\n", static_cast<int>(os.size()), os.data());
  }
}

// One epoch's rows: epoch, site_id, minute, dimension (0 for the site-minute row), value,
// pageviews, events, the visitors' uniqHLL12 estimate.
void PutRows(const EpochRows& rows, std::FILE* out) {
  for (const SiteMinuteRow& r : rows.site_minutes) {
    std::fprintf(out, "%llu\t%u\t%u\t0\t\t%llu\t%llu\t%llu\n",
                 static_cast<unsigned long long>(rows.epoch), r.site_id, r.minute,
                 static_cast<unsigned long long>(r.pageviews),
                 static_cast<unsigned long long>(r.events),
                 static_cast<unsigned long long>(r.visitors.Estimate()));
  }
  for (const BreakdownRow& r : rows.breakdowns) {
    std::fprintf(out, "%llu\t%u\t%u\t%d\t", static_cast<unsigned long long>(rows.epoch), r.site_id,
                 r.minute, static_cast<int>(r.dimension));
    PutField(r.value, out);
    std::fprintf(out, "%llu\t%llu\t%llu\n", static_cast<unsigned long long>(r.pageviews),
                 static_cast<unsigned long long>(r.events),
                 static_cast<unsigned long long>(r.visitors.Estimate()));
  }
}

// --dump_events=DIR: the realistic events (DIR/events.tsv) and the rows (DIR/rows.tsv) of
// BM_Aggregate/realistic/100000's epochs, in one pass: each batch is written with the epoch
// the aggregator counts it in, and each epoch's rows when the aggregator closes it.
int Dump(const std::string& dir) {
  const Workload w = Decode(false);
  const std::string events_path = dir + "/events.tsv", rows_path = dir + "/rows.tsv";
  std::FILE* events = std::fopen(events_path.c_str(), "w");
  std::FILE* rows = std::fopen(rows_path.c_str(), "w");
  if (events == nullptr || rows == nullptr) {
    std::perror(events == nullptr ? events_path.c_str() : rows_path.c_str());
    return 1;
  }
  MinuteAggregator agg(0, AggregateLimits{});
  uint64_t epoch = 0;
  for (const EventBatch& batch : w.batches) {
    PutEvents(batch, epoch, events);
    agg.Add(batch);
    if (agg.open_events() >= 100'000) {
      PutRows(agg.CloseEpoch(), rows);
      ++epoch;
    }
  }
  if (agg.open_events() != 0) PutRows(agg.CloseEpoch(), rows);
  const bool closed = std::fclose(events) == 0;
  return std::fclose(rows) == 0 && closed ? 0 : 1;
}

}  // namespace
}  // namespace beacon::kernels

int main(int argc, char** argv) {
  constexpr std::string_view kDump = "--dump_events=";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], kDump.data(), kDump.size()) == 0) {
      return beacon::kernels::Dump(argv[i] + kDump.size());
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
