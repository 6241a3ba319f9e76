// The FPGA path's host cost on beacon-gen's GA v1 mix, with fpga-csim: per MiB of payload, the
// batcher end to end minus the time inside the kernel's C-simulation (packing, finishing the
// records into rows, delivery), and its parts; DecodeBatch on the scalar and SIMD kernels for
// scale. The kernel's C-simulation speed says nothing about a card's (hw/README.md's model).
#include <benchmark/benchmark.h>
#include <time.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/gen/traffic_model.h"
#include "host/backend/fpga_batcher.h"
#include "host/backend/fpga_decode.h"
#include "host/backend/fpga_device.h"
#include "kernels/decode.h"
#include "kernels/simd/byte_kernels.h"

namespace beacon::host {
namespace {

constexpr int64_t kNowMs = 1'700'000'123'456;
constexpr double kMiB = 1 << 20;

struct Workload {
  kernels::SiteRegistry sites = kernels::SiteRegistry::Parse(bench::SiteRegistryText(16, 1));
  std::vector<kernels::RawBatch> batches;
  size_t bytes = 0;
};

// beacon-gen's GA v1 requests (/collect and /batch) in full RawBatches.
const Workload& Ga() {
  static const Workload* const w = [] {
    auto* out = new Workload;
    bench::TrafficOptions options;
    options.hits = 40'000;
    const bench::TrafficModel model(out->sites, options);
    out->batches.emplace_back();
    for (uint64_t k = 0; k < model.chunk_count(); ++k) {
      for (const bench::Request& request : model.Chunk(k)) {
        std::string text;
        for (const bench::Hit& hit : request.hits) {
          if (!text.empty()) text += '\n';
          text += hit.params;
        }
        const auto endpoint = request.transport == bench::Transport::kBatch
                                  ? kernels::Endpoint::kGaBatch
                                  : kernels::Endpoint::kGaCollect;
        const auto add = [&] {
          return out->batches.back().Add(endpoint, kernels::IngressKind::kHttp, text,
                                         request.user_agent, kernels::IpAddress::FromV4(1), kNowMs);
        };
        if (!add()) {
          out->batches.emplace_back();
          add();
        }
        out->bytes += text.size();
      }
    }
    return out;
  }();
  return *w;
}

kernels::DecodeContext Context(const Workload& w, kernels::RejectCounters* rejects,
                               const kernels::ByteKernels* bytes) {
  return {&w.sites, rejects, 42, {kNowMs / 86'400'000, 1, 2}, bytes};
}

std::chrono::nanoseconds ThreadCpuTime() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

void SetBytes(benchmark::State& state, size_t bytes_per_iteration) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes_per_iteration));
}

void BM_DecodeBatch(benchmark::State& state, bool simd) {
  const Workload& w = Ga();
  const kernels::ByteKernels table =
      simd ? kernels::SimdByteKernels() : kernels::ScalarByteKernels();
  kernels::RejectCounters rejects;
  kernels::EventBatch events;
  for (auto _ : state) {
    for (const kernels::RawBatch& raw : w.batches) {
      events.Clear();
      kernels::DecodeBatch(raw, Context(w, &rejects, &table), &events);
    }
    benchmark::DoNotOptimize(events);
  }
  SetBytes(state, w.bytes);
}
BENCHMARK_CAPTURE(BM_DecodeBatch, scalar, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_DecodeBatch, simd, true)->Unit(benchmark::kMillisecond);

// The batcher end to end on fpga-csim; host_us_per_MiB is the CPU time outside the kernel.
void BM_FpgaCsimBatcher(benchmark::State& state) {
  const Workload& w = Ga();
  const kernels::ByteKernels simd = kernels::SimdByteKernels();
  kernels::RejectCounters rejects;
  CsimDevice device;
  size_t rows = 0;
  FpgaBatcher batcher(&device, {.buffer_bytes = static_cast<size_t>(state.range(0)) << 20}, &simd,
                      [&rows](const kernels::RawBatch&, const kernels::EventBatch& events) {
                        rows += events.size();
                      });
  std::vector<kernels::RawBatch> copies(w.batches.size());
  std::chrono::nanoseconds measured{0};
  for (auto _ : state) {
    state.PauseTiming();
    copies = w.batches;  // Add takes the batches' storage
    const auto kernel_before = device.kernel_time();
    state.ResumeTiming();
    const auto begin = ThreadCpuTime();
    for (kernels::RawBatch& raw : copies) batcher.Add(raw, Context(w, &rejects, nullptr));
    batcher.Flush();
    measured += ThreadCpuTime() - begin - (device.kernel_time() - kernel_before);
  }
  SetBytes(state, w.bytes);
  const double mib = static_cast<double>(state.iterations() * w.bytes) / kMiB;
  state.counters["host_us_per_MiB"] =
      std::chrono::duration<double, std::micro>(measured).count() / mib;
  state.counters["csim_kernel_us_per_MiB"] =
      std::chrono::duration<double, std::micro>(device.kernel_time()).count() / mib;
  state.counters["runs"] = static_cast<double>(batcher.runs()) / state.iterations();
  benchmark::DoNotOptimize(rows);
}
BENCHMARK(BM_FpgaCsimBatcher)->Arg(1)->Arg(2)->Arg(4)->Unit(benchmark::kMillisecond);

// The two host steps alone: packing RawBatches into card buffers, finishing records into rows.
void BM_CardPack(benchmark::State& state) {
  const Workload& w = Ga();
  CardBuffers buffers(4 << 20);
  for (auto _ : state) {
    for (const kernels::RawBatch& raw : w.batches) {
      buffers.Clear();
      benchmark::DoNotOptimize(buffers.Append(raw));
    }
  }
  SetBytes(state, w.bytes);
}
BENCHMARK(BM_CardPack)->Unit(benchmark::kMillisecond);

void BM_CardFinish(benchmark::State& state) {
  const Workload& w = Ga();
  const kernels::ByteKernels simd = kernels::SimdByteKernels();
  std::vector<std::unique_ptr<CardBuffers>> runs;
  CsimDevice device;
  for (const kernels::RawBatch& raw : w.batches) {
    runs.push_back(std::make_unique<CardBuffers>(2 << 20));
    runs.back()->Append(raw);
    runs.back()->run_id = runs.size();  // the id the kernel echoes, never 0
    device.Start(runs.size(), runs.back().get());
  }
  kernels::RejectCounters rejects;
  kernels::EventBatch events;
  for (auto _ : state) {
    for (size_t i = 0; i < runs.size(); ++i) {
      CardResults results(*runs[i]);
      events.Clear();
      if (!results.Decode(w.batches[i], Context(w, &rejects, &simd), &events)) {
        state.SkipWithError("the card's records were refused");
        return;
      }
      benchmark::DoNotOptimize(events);
    }
  }
  SetBytes(state, w.bytes);
}
BENCHMARK(BM_CardFinish)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace beacon::host

BENCHMARK_MAIN();
