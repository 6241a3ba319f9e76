// The byte kernels per backend on beacon-gen's GA mix, in one run: the scalar reference and
// every Highway target this CPU supports, MB/s of input per core, and the SIMD/scalar ratios.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "bench/gen/traffic_model.h"
#include "kernels/formats/common.h"
#include "kernels/raw_batch.h"
#include "kernels/simd/byte_kernels.h"
#include "kernels/site_registry.h"

namespace beacon::kernels {
namespace {

// The GA mix as the kernels see it: payloads (a GET/POST hit, or a /batch body of hits, one
// per line) padded like a RawBatch, their key and value components, and those decoded.
struct GaMix {
  std::vector<char> arena;
  std::vector<std::string_view> payloads;
  std::vector<std::string_view> batch_bodies;
  std::vector<std::string_view> components;
  std::vector<std::string> decoded;
  std::vector<std::string_view> client_ids;
  size_t payload_bytes = 0;
  size_t batch_bytes = 0;
  size_t component_bytes = 0;
  size_t decoded_bytes = 0;
  size_t client_id_bytes = 0;
};

const GaMix& Mix() {
  static const GaMix* const mix = [] {
    auto* m = new GaMix;
    const SiteRegistry sites = SiteRegistry::Parse(bench::SiteRegistryText(64, 1));
    bench::TrafficOptions options;
    options.hits = 20'000;
    const bench::TrafficModel model(sites, options);
    std::vector<std::string> texts;
    std::vector<bool> is_batch;
    for (uint64_t k = 0; k < model.chunk_count(); ++k) {
      for (const bench::Request& request : model.Chunk(k)) {
        std::string text;
        for (const bench::Hit& hit : request.hits) {
          if (!text.empty()) text += '\n';
          text += hit.params;
          if (hit.queue_time_ms >= 0) text += "&qt=" + std::to_string(hit.queue_time_ms);
        }
        texts.push_back(std::move(text));
        is_batch.push_back(request.transport == bench::Transport::kBatch);
      }
    }
    size_t total = 0;
    for (const std::string& t : texts) total += t.size() + kPayloadPadding;
    m->arena.assign(total, '\0');
    size_t at = 0;
    for (size_t i = 0; i < texts.size(); ++i) {
      std::copy(texts[i].begin(), texts[i].end(), m->arena.begin() + static_cast<ptrdiff_t>(at));
      const std::string_view payload(m->arena.data() + at, texts[i].size());
      at += texts[i].size() + kPayloadPadding;
      m->payloads.push_back(payload);
      m->payload_bytes += payload.size();
      if (is_batch[i]) {
        m->batch_bodies.push_back(payload);
        m->batch_bytes += payload.size();
      }
    }
    for (const std::string_view payload : m->payloads) {
      std::string_view rest = payload;
      while (!rest.empty()) {
        const size_t end = std::min(rest.find_first_of("&\n"), rest.size());
        const std::string_view pair = rest.substr(0, end);
        const size_t eq = std::min(pair.find('='), pair.size());
        m->components.push_back(pair.substr(0, eq));
        if (eq < pair.size()) {
          m->components.push_back(pair.substr(eq + 1));
          if (pair.substr(0, eq) == "cid") m->client_ids.push_back(pair.substr(eq + 1));
        }
        rest.remove_prefix(std::min(end + 1, rest.size()));
      }
    }
    for (const std::string_view c : m->components) {
      m->component_bytes += c.size();
      std::string out(c.size(), '\0');
      size_t size = 0;
      if (!ScalarByteKernels().form_decode(c, out.data(), &size)) continue;  // malformed hits
      out.resize(size);
      m->decoded_bytes += size;
      m->decoded.push_back(std::move(out));
    }
    for (const std::string_view id : m->client_ids) m->client_id_bytes += id.size();
    return m;
  }();
  return *mix;
}

// The byte-level work of decoding the GA mix: /batch bodies split into lines, then each hit
// decoded, its escapes and UTF-8 checked and the output positions of its '&' and '='
// separators written, which the decoders walk into pairs (split_form, with the decoders'
// per-call capacity).
void BM_GaByteWork(benchmark::State& state, ByteKernels k) {
  const GaMix& mix = Mix();
  std::vector<char> out(16384);
  std::vector<uint32_t> positions(kFormSeparatorBlock);
  const FormSeparators separators{positions.data(), kFormSeparatorBlock};
  for (auto _ : state) {
    size_t sum = 0;
    for (const std::string_view p : mix.payloads) {
      for (size_t at = 0; at < p.size();) {
        const size_t line = k.find_byte(p.data() + at, p.size() - at, '\n');
        const FormScan scan = k.split_form(p.substr(at, line), out.data(), separators);
        sum += scan.separators + scan.utf8_ok;
        at += line + 1;
      }
    }
    benchmark::DoNotOptimize(sum);
    benchmark::DoNotOptimize(positions.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * mix.payload_bytes));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * mix.payloads.size()));
}

void BM_Classify(benchmark::State& state, ByteKernels k) {
  const GaMix& mix = Mix();
  std::vector<uint64_t> bits(16384 / 64 + 1);
  for (auto _ : state) {
    for (const std::string_view p : mix.payloads) {
      bits.resize((p.size() + 63) / 64);
      k.classify(p.data(), p.size(), kFormStructurals, bits.data());
      benchmark::DoNotOptimize(bits.data());
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * mix.payload_bytes));
}

void BM_FindLines(benchmark::State& state, ByteKernels k) {
  const GaMix& mix = Mix();
  for (auto _ : state) {
    size_t lines = 0;
    for (const std::string_view body : mix.batch_bodies) {
      for (size_t at = 0; at < body.size(); ++lines) {
        at += k.find_byte(body.data() + at, body.size() - at, '\n') + 1;
      }
    }
    benchmark::DoNotOptimize(lines);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * mix.batch_bytes));
}

void BM_FindPairs(benchmark::State& state, ByteKernels k) {
  constexpr AsciiSet kPairEnds("&\n");
  const GaMix& mix = Mix();
  for (auto _ : state) {
    size_t pairs = 0;
    for (const std::string_view p : mix.payloads) {
      for (size_t at = 0; at < p.size(); ++pairs) {
        at += k.find_any_of(p.data() + at, p.size() - at, kPairEnds) + 1;
      }
    }
    benchmark::DoNotOptimize(pairs);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * mix.payload_bytes));
}

void BM_FormDecodeComponents(benchmark::State& state, ByteKernels k) {
  const GaMix& mix = Mix();
  std::vector<char> out(16384);
  for (auto _ : state) {
    size_t total = 0;
    for (const std::string_view c : mix.components) {
      size_t size = 0;
      total += k.form_decode(c, out.data(), &size) ? size : 0;
    }
    benchmark::DoNotOptimize(total);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * mix.component_bytes));
}

void BM_FormDecodePayloads(benchmark::State& state, ByteKernels k) {
  const GaMix& mix = Mix();
  std::vector<char> out(16384);
  for (auto _ : state) {
    size_t total = 0;
    for (const std::string_view p : mix.payloads) {
      size_t size = 0;
      total += k.form_decode(p, out.data(), &size) ? size : 0;
    }
    benchmark::DoNotOptimize(total);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * mix.payload_bytes));
}

void BM_Utf8Values(benchmark::State& state, ByteKernels k) {
  const GaMix& mix = Mix();
  for (auto _ : state) {
    size_t valid = 0;
    for (const std::string& v : mix.decoded) valid += k.is_valid_utf8(v);
    benchmark::DoNotOptimize(valid);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * mix.decoded_bytes));
}

void BM_Utf8Payloads(benchmark::State& state, ByteKernels k) {
  const GaMix& mix = Mix();
  for (auto _ : state) {
    size_t valid = 0;
    for (const std::string_view p : mix.payloads) valid += k.is_valid_utf8(p);
    benchmark::DoNotOptimize(valid);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * mix.payload_bytes));
}

void BM_Hash64ClientIds(benchmark::State& state, ByteKernels k) {
  const GaMix& mix = Mix();
  std::vector<uint64_t> out(mix.client_ids.size());
  for (auto _ : state) {
    k.hash64_batch(mix.client_ids.data(), mix.client_ids.size(), 42, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * mix.client_id_bytes));
}

using KernelBenchmark = void (*)(benchmark::State&, ByteKernels);
constexpr std::pair<const char*, KernelBenchmark> kBenchmarks[] = {
    {"ga_byte_work", BM_GaByteWork},
    {"classify_structurals", BM_Classify},
    {"find_lines", BM_FindLines},
    {"find_pairs", BM_FindPairs},
    {"form_decode_components", BM_FormDecodeComponents},
    {"form_decode_payloads", BM_FormDecodePayloads},
    {"utf8_decoded_values", BM_Utf8Values},
    {"utf8_payloads", BM_Utf8Payloads},
    {"hash64_client_ids", BM_Hash64ClientIds},
};

// Prints the runs as usual, then per kernel the MB/s of each backend and its ratio to scalar.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      const std::string name = run.benchmark_name();  // "<kernel>/<backend>"
      const size_t slash = name.find('/');
      const auto bytes = run.counters.find("bytes_per_second");
      if (slash == std::string::npos || bytes == run.counters.end()) continue;
      rates_[name.substr(0, slash)].emplace_back(name.substr(slash + 1), bytes->second.value);
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\n%-24s %-10s %12s %8s\n", "kernel", "backend", "MB/s", "x scalar");
    for (const auto& [kernel, rates] : rates_) {
      double scalar = 0;
      for (const auto& [backend, rate] : rates) {
        if (backend == "scalar") scalar = rate;
      }
      for (const auto& [backend, rate] : rates) {
        std::printf("%-24s %-10s %12.0f %8.2f\n", kernel.c_str(), backend.c_str(), rate / 1e6,
                    scalar > 0 ? rate / scalar : 0.0);
      }
    }
  }

 private:
  std::map<std::string, std::vector<std::pair<std::string, double>>> rates_;
};

}  // namespace
}  // namespace beacon::kernels

int main(int argc, char** argv) {
  using namespace beacon::kernels;  // NOLINT(google-build-using-namespace): main only
  const std::vector<NamedByteKernels> backends = ByteKernelsPerTarget();
  for (const auto& [kernel, fn] : kBenchmarks) {
    for (const auto& [backend, table] : backends) {
      benchmark::RegisterBenchmark((std::string(kernel) + "/" + backend).c_str(), fn, table);
    }
  }
  const GaMix& mix = Mix();
  size_t escapes = 0;
  for (const std::string_view p : mix.payloads) {
    for (const char c : p) escapes += c == '%';
  }
  benchmark::AddCustomContext(
      "ga_mix", std::to_string(mix.payloads.size()) + " payloads, " +
                    std::to_string(mix.payload_bytes / mix.payloads.size()) + " bytes average, " +
                    std::to_string(escapes * 1000 / mix.payload_bytes) + " escapes per 1000 bytes");
  benchmark::Initialize(&argc, argv);
  std::printf("best SIMD target on this CPU: %s\n", ActiveSimdTarget().name);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
