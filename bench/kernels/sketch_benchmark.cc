// Visitor columns for ClickHouse 18.16, the two ways considered: (a) distinct-hash arrays that
// a materialized view turns into uniqHLL12 states, (b) uniqHLL12 states written by beacond
// (UniqHll12). On beacon-gen's Zipf traffic: bytes per row and per beacon (RowBinary, and zstd
// level 1 per insert as the forwarder sends it), CPU per beacon on beacond's side (worker add,
// epoch close, forwarder merge across workers, encoding), and the error of both. Plus
// UniqHll12's own costs and its register merge, scalar vs every Highway target.
#include <benchmark/benchmark.h>
#include <zstd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "bench/gen/traffic_model.h"
#include "kernels/bytes/hash.h"
#include "kernels/simd/byte_kernels.h"
#include "kernels/site_registry.h"
#include "kernels/sketch/uniq_hll12.h"

namespace beacon::kernels {
namespace {

constexpr uint32_t kSites = 1000;
constexpr uint32_t kSeconds = 60;  // one minute of traffic
constexpr uint32_t kWorkers = 2;   // beacons alternate between two workers
// The forwarder's zstd level and ClickHouse's compressed-block header (checksum + 9 bytes).
constexpr int kZstdLevel = 1;
constexpr size_t kBlockHeaderBytes = 16 + 9;

struct Beacon {
  uint32_t site;
  uint32_t second;
  uint32_t page;  // index into Traffic::paths; pageviews only, else kNoPage
  uint64_t visitor;
};
constexpr uint32_t kNoPage = ~0u;

struct Traffic {
  uint32_t rate = 0;  // accepted beacons per second
  std::vector<Beacon> beacons;
  std::vector<std::string> paths;
};

// One minute of beacon-gen's accepted hits at `rate` per second: Zipf sites (1.1) and pages
// (1.0), repeat visitors; visitor = Hash64 of the cid/uid keyed by the site, as beacond does.
const Traffic& TrafficAt(uint32_t rate) {
  static std::map<uint32_t, Traffic>* all = new std::map<uint32_t, Traffic>;
  auto [it, fresh] = all->try_emplace(rate);
  Traffic& t = it->second;
  if (!fresh) return t;
  t.rate = rate;
  const SiteRegistry sites = SiteRegistry::Parse(bench::SiteRegistryText(kSites, 1));
  bench::TrafficOptions options;
  options.hits = static_cast<uint64_t>(rate) * kSeconds * 100 / 92;  // ~8 % are rejected
  const bench::TrafficModel model(sites, options);
  std::unordered_map<std::string, uint32_t> page_ids;
  for (uint64_t k = 0; k < model.chunk_count(); ++k) {
    for (const bench::Request& request : model.Chunk(k)) {
      for (const bench::Hit& hit : request.hits) {
        if (hit.reject.has_value() || t.beacons.size() >= uint64_t{rate} * kSeconds) continue;
        Beacon b;
        b.site = hit.site_id;
        b.second = static_cast<uint32_t>(t.beacons.size() / rate);
        b.page = kNoPage;
        if (hit.kind == EventKind::kPageview) {
          auto [page, added] = page_ids.try_emplace(hit.path, t.paths.size());
          if (added) t.paths.push_back(hit.path);
          b.page = page->second;
        }
        b.visitor = Hash64(hit.visitor, Mix64(hit.site_id));
        t.beacons.push_back(b);
      }
    }
  }
  return t;
}

void PutVarUInt(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

template <typename T>
void PutLittleEndian(T value, std::string* out) {
  out->append(reinterpret_cast<const char*>(&value), sizeof(T));
}

size_t ZstdBytes(const std::string& rows, std::string* scratch) {
  if (rows.empty()) return 0;
  scratch->resize(ZSTD_compressBound(rows.size()));
  return kBlockHeaderBytes +
         ZSTD_compress(scratch->data(), scratch->size(), rows.data(), rows.size(), kZstdLevel);
}

// (a) today: a worker collects hashes, sorts and dedups them at epoch close; the forwarder
// unions the workers' sorted sets; RowBinary Array(UInt64).
struct HashArrays {
  std::vector<uint64_t> set;
  void Add(uint64_t v) { set.push_back(v); }
  void Close() {
    std::sort(set.begin(), set.end());
    set.erase(std::unique(set.begin(), set.end()), set.end());
  }
  void Merge(const HashArrays& other, std::vector<uint64_t>* scratch) {
    scratch->clear();
    std::set_union(set.begin(), set.end(), other.set.begin(), other.set.end(),
                   std::back_inserter(*scratch));
    set.swap(*scratch);
  }
  void Encode(std::string* out) const {
    PutVarUInt(set.size(), out);
    out->append(reinterpret_cast<const char*>(set.data()), 8 * set.size());
  }
  UniqHll12 State() const {  // what the materialized view makes of it
    UniqHll12 s;
    for (uint64_t v : set) s.Add(v);
    return s;
  }
};

// (b) beacond writes the state: a worker adds into a UniqHll12, the forwarder merges them.
struct HllStates {
  UniqHll12 sketch;
  void Add(uint64_t v) { sketch.Add(v); }
  void Close() {}
  void Merge(const HllStates& other, std::vector<uint64_t>* /*scratch*/) {
    sketch.Merge(other.sketch);
  }
  void Encode(std::string* out) const { sketch.Serialize(out); }
  UniqHll12 State() const { return sketch; }
};

// The same pipeline without a visitor column: its cost is the harness's (maps, rows, zstd of
// the other columns), to subtract from (a) and (b).
struct NoVisitors {
  void Add(uint64_t /*v*/) {}
  void Close() {}
  void Merge(const NoVisitors& /*other*/, std::vector<uint64_t>* /*scratch*/) {}
  void Encode(std::string* /*out*/) const {}
  UniqHll12 State() const { return {}; }
};

struct ColumnBytes {
  uint64_t rows = 0;
  uint64_t visitor_raw = 0;  // the visitor column alone
  uint64_t row_raw = 0;      // whole rows
  uint64_t row_zstd = 0;     // whole rows, zstd per insert + block header
  uint64_t inserts = 0;
};

struct RunResult {
  ColumnBytes site;       // site_minutes rows: one insert per second
  ColumnBytes breakdown;  // (site, minute, path) rows: held a minute, one insert
  std::vector<UniqHll12> site_minute_states;  // per site: union of its 60 flush rows
};

// One minute through workers, epoch close each second, the forwarder's merge and encoding.
// `with_zstd` adds the compression of every insert; `keep_states` the per-site union (for the
// error), outside of what is timed in production.
template <typename Column>
RunResult RunMinute(const Traffic& t, bool with_zstd, bool keep_states) {
  RunResult result;
  std::string zstd_scratch;
  std::vector<uint64_t> merge_scratch;
  std::unordered_map<uint64_t, Column> held_pages;  // (site, page) -> merged over the minute
  std::vector<std::unordered_map<uint32_t, Column>> site_cells(kWorkers);
  std::vector<std::unordered_map<uint64_t, Column>> page_cells(kWorkers);
  std::unordered_map<uint32_t, UniqHll12> site_union;
  size_t i = 0;
  for (uint32_t second = 0; second < kSeconds; ++second) {
    for (; i < t.beacons.size() && t.beacons[i].second == second; ++i) {
      const Beacon& b = t.beacons[i];
      const uint32_t w = i % kWorkers;
      site_cells[w][b.site].Add(b.visitor);
      if (b.page != kNoPage) page_cells[w][(uint64_t{b.site} << 32) | b.page].Add(b.visitor);
    }
    // Epoch close in every worker, then the forwarder's per-key merge.
    std::map<uint32_t, Column> site_rows;  // sorted by site like the forwarder's batch
    for (uint32_t w = 0; w < kWorkers; ++w) {
      for (auto& [site, cell] : site_cells[w]) {
        cell.Close();
        auto [row, fresh] = site_rows.try_emplace(site, std::move(cell));
        if (!fresh) row->second.Merge(cell, &merge_scratch);
      }
      site_cells[w].clear();
      for (auto& [key, cell] : page_cells[w]) {
        cell.Close();
        auto [row, fresh] = held_pages.try_emplace(key, std::move(cell));
        if (!fresh) row->second.Merge(cell, &merge_scratch);
      }
      page_cells[w].clear();
    }
    std::string rows;
    for (const auto& [site, column] : site_rows) {
      PutLittleEndian<uint32_t>(site, &rows);
      PutLittleEndian<uint32_t>(0, &rows);  // minute
      PutLittleEndian<uint64_t>(1, &rows);  // pageviews
      PutLittleEndian<uint64_t>(1, &rows);  // events
      const size_t before = rows.size();
      column.Encode(&rows);
      result.site.visitor_raw += rows.size() - before;
      if (keep_states) site_union[site].Merge(column.State());
    }
    result.site.rows += site_rows.size();
    result.site.row_raw += rows.size();
    result.site.inserts += rows.empty() ? 0 : 1;
    if (with_zstd) result.site.row_zstd += ZstdBytes(rows, &zstd_scratch);
  }
  std::string rows;
  std::map<uint64_t, const Column*> sorted;
  for (const auto& [key, column] : held_pages) sorted.emplace(key, &column);
  for (const auto& [key, column] : sorted) {
    PutLittleEndian<uint32_t>(static_cast<uint32_t>(key >> 32), &rows);
    PutLittleEndian<uint32_t>(0, &rows);
    const std::string& path = t.paths[key & 0xffffffff];
    PutVarUInt(path.size(), &rows);
    rows += path;
    PutLittleEndian<uint64_t>(1, &rows);
    PutLittleEndian<uint64_t>(0, &rows);
    const size_t before = rows.size();
    column->Encode(&rows);
    result.breakdown.visitor_raw += rows.size() - before;
  }
  result.breakdown.rows = held_pages.size();
  result.breakdown.row_raw = rows.size();
  result.breakdown.inserts = 1;
  if (with_zstd) result.breakdown.row_zstd = ZstdBytes(rows, &zstd_scratch);
  if (keep_states) {
    for (const auto& [site, state] : site_union) {
      if (result.site_minute_states.size() <= site) result.site_minute_states.resize(site + 1);
      result.site_minute_states[site] = state;
    }
  }
  return result;
}

void SetCounters(benchmark::State& state, const Traffic& t, const RunResult& r) {
  const double beacons = static_cast<double>(t.beacons.size());
  const double rows = static_cast<double>(r.site.rows + r.breakdown.rows);
  state.counters["rows/beacon"] = rows / beacons;
  state.counters["site_row_B"] = static_cast<double>(r.site.row_raw) / r.site.rows;
  state.counters["site_visitors_B"] = static_cast<double>(r.site.visitor_raw) / r.site.rows;
  state.counters["page_row_B"] = static_cast<double>(r.breakdown.row_raw) / r.breakdown.rows;
  state.counters["raw_B/beacon"] = (r.site.row_raw + r.breakdown.row_raw) / beacons;
  if (r.site.row_zstd != 0) {
    state.counters["zstd_site_B/beacon"] = r.site.row_zstd / beacons;
    state.counters["zstd_page_B/beacon"] = r.breakdown.row_zstd / beacons;
    state.counters["zstd_B/beacon"] = (r.site.row_zstd + r.breakdown.row_zstd) / beacons;
  }
}

// Args: beacons per second, zstd on (1) or off (0).
template <typename Column>
void BM_VisitorColumn(benchmark::State& state) {
  const Traffic& t = TrafficAt(static_cast<uint32_t>(state.range(0)));
  const bool with_zstd = state.range(1) != 0;
  RunResult last;
  for (auto _ : state) {
    last = RunMinute<Column>(t, with_zstd, false);
    benchmark::DoNotOptimize(last.site.row_raw);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * t.beacons.size()));
  SetCounters(state, t, last);
}
BENCHMARK_TEMPLATE(BM_VisitorColumn, HashArrays)
    ->ArgsProduct({{2'000, 20'000}, {0, 1}})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_VisitorColumn, NoVisitors)
    ->ArgsProduct({{2'000, 20'000}, {0, 1}})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_VisitorColumn, HllStates)
    ->ArgsProduct({{2'000, 20'000}, {0, 1}})
    ->Unit(benchmark::kMillisecond);

// Row sizes, and the error of both columns against the truth, printed once per rate.
void PrintWorkload(uint32_t rate) {
  const Traffic& t = TrafficAt(rate);
  const RunResult a = RunMinute<HashArrays>(t, true, true);
  const RunResult b = RunMinute<HllStates>(t, true, true);
  // Distinct visitors per site_minutes row (per flush) and per breakdown row (per minute).
  std::map<uint64_t, std::unordered_set<uint64_t>> per_flush, per_page, per_site;
  for (const Beacon& beacon : t.beacons) {
    per_flush[(uint64_t{beacon.site} << 32) | beacon.second].insert(beacon.visitor);
    if (beacon.page != kNoPage) {
      per_page[(uint64_t{beacon.site} << 32) | beacon.page].insert(beacon.visitor);
    }
    per_site[beacon.site].insert(beacon.visitor);
  }
  const auto shares = [](const std::map<uint64_t, std::unordered_set<uint64_t>>& rows) {
    size_t small = 0, medium = 0, large = 0;
    for (const auto& [key, set] : rows) {
      small += set.size() <= UniqHll12::kSmallCapacity;
      medium += set.size() > UniqHll12::kSmallCapacity && set.size() <= 331;
      large += set.size() > 331;
    }
    char text[160];
    std::snprintf(text, sizeof(text), "%zu rows: %.1f %% <= 16, %.1f %% 17..331, %.1f %% > 331",
                  rows.size(), 100.0 * small / rows.size(), 100.0 * medium / rows.size(),
                  100.0 * large / rows.size());
    return std::string(text);
  };
  // Error over the minute per site: uniqHLL12Merge of the 60 flush rows vs the truth.
  size_t differing = 0, compared = 0;
  double sum_sq = 0, worst = 0;
  for (const auto& [site, truth] : per_site) {
    const uint64_t ea = a.site_minute_states[site].Estimate();
    const uint64_t eb = b.site_minute_states[site].Estimate();
    differing += ea != eb;
    if (truth.size() <= UniqHll12::kSmallCapacity) continue;
    const double e = (static_cast<double>(eb) - truth.size()) / truth.size();
    sum_sq += e * e;
    worst = std::max(worst, std::abs(e));
    ++compared;
  }
  std::printf(
      "rate %u/s: %zu beacons, %zu sites active; site rows (per 1 s flush) %s; breakdown rows "
      "(per minute) %s\n  site-minute visitors, (a) vs (b): %zu of %zu estimates differ; "
      "error vs truth over %zu sites with > 16 visitors: RMS %.2f %%, largest %.2f %%\n",
      rate, t.beacons.size(), per_site.size(), shares(per_flush).c_str(), shares(per_page).c_str(),
      differing, per_site.size(), compared, 100 * std::sqrt(sum_sq / std::max<size_t>(compared, 1)),
      100 * worst);
}

std::vector<uint64_t> RandomValues(size_t n) {
  std::vector<uint64_t> values(n);
  uint64_t x = 12345;
  for (auto& v : values) v = Mix64(++x);
  return values;
}

// One value at a time into a sketch of `range(0)` distinct values (small: linear search;
// large: hash and register max).
void BM_Add(benchmark::State& state) {
  const auto values = RandomValues(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    UniqHll12 sketch;
    for (uint64_t v : values) sketch.Add(v);
    benchmark::DoNotOptimize(sketch.small_size());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * values.size()));
}
BENCHMARK(BM_Add)->Arg(16)->Arg(1000)->Arg(100'000);

void BM_SerializeLarge(benchmark::State& state) {
  UniqHll12 sketch;
  for (uint64_t v : RandomValues(10'000)) sketch.Add(v);
  std::string out;
  for (auto _ : state) {
    out.clear();
    sketch.Serialize(&out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_SerializeLarge);

void BM_EstimateLarge(benchmark::State& state) {
  UniqHll12 sketch;
  for (uint64_t v : RandomValues(10'000)) sketch.Add(v);
  for (auto _ : state) benchmark::DoNotOptimize(sketch.Estimate());
}
BENCHMARK(BM_EstimateLarge);

// UniqHll12::Merge of a large sketch into a larger one (best target): after the first
// iteration no register is raised, as when a flush's rows merge into a site's minute.
void BM_MergeLarge(benchmark::State& state) {
  UniqHll12 a;
  UniqHll12 b;
  for (uint64_t v : RandomValues(10'000)) a.Add(v);
  for (uint64_t v : RandomValues(20'000)) b.Add(v + 1);
  for (auto _ : state) {
    a.Merge(b);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_MergeLarge);

// The register merge of a sketch of range(2) values into one of range(1) other values:
// range(0) = 0 runs the scalar reference, else the Highway target with those bits (registered
// per supported target in main). Includes copying the 4 KiB of registers.
void BM_MergeRegisters(benchmark::State& state) {
  UniqHll12 minute;
  UniqHll12 flush;
  for (uint64_t v : RandomValues(state.range(1))) minute.Add(v);
  for (uint64_t v : RandomValues(state.range(2))) flush.Add(~v);
  std::vector<uint8_t> dst(UniqHll12::kRegisters), src(UniqHll12::kRegisters);
  for (size_t i = 0; i < dst.size(); ++i) {
    dst[i] = minute.rank(i);
    src[i] = flush.rank(i);
  }
  std::vector<uint32_t> counts(UniqHll12::kMaxRank + 1, 0);
  for (uint8_t r : dst) ++counts[r];
  ForceSimdTargetForTest(state.range(0));
  for (auto _ : state) {
    // From the same registers every time.
    std::vector<uint8_t> merged = dst;
    std::vector<uint32_t> merged_counts = counts;
    if (state.range(0) == 0) {
      hll12::MaxRegistersScalar(merged.data(), src.data(), merged.size(), merged_counts.data());
    } else {
      hll12::MaxRegisters(merged.data(), src.data(), merged.size(), merged_counts.data());
    }
    benchmark::DoNotOptimize(merged.data());
    benchmark::DoNotOptimize(merged_counts.data());
  }
  ForceSimdTargetForTest(0);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * dst.size()));
}

}  // namespace
}  // namespace beacon::kernels

int main(int argc, char** argv) {
  using namespace beacon::kernels;  // NOLINT(google-build-using-namespace): main only
  benchmark::RegisterBenchmark("BM_MergeRegisters/scalar", &BM_MergeRegisters)
      ->ArgsProduct({{0}, {10'000, 100'000}, {1'000}});
  for (const SimdTarget& target : SupportedSimdTargets()) {
    benchmark::RegisterBenchmark((std::string("BM_MergeRegisters/") + target.name).c_str(),
                                 &BM_MergeRegisters)
        ->ArgsProduct({{target.bits}, {10'000, 100'000}, {1'000}});
  }
  benchmark::Initialize(&argc, argv);
  for (uint32_t rate : {2'000u, 20'000u}) PrintWorkload(rate);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
