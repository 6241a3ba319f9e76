// DecodeBatch per format and per backend (the scalar reference table, then every Highway target
// this CPU supports): payload MB/s and beacons/s on one core, and the ratio to scalar. GA v1 runs
// on beacon-gen's realistic mix; the other formats on small generators of realistic beacons.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench/gen/traffic_model.h"
#include "kernels/decode.h"
#include "kernels/enrich/user_agent.h"
#include "kernels/event_batch.h"
#include "kernels/raw_batch.h"
#include "kernels/reject_reason.h"
#include "kernels/simd/byte_kernels.h"
#include "kernels/site_registry.h"

namespace beacon::kernels {
namespace {

constexpr int64_t kNowMs = 1'700'000'123'456;
constexpr std::string_view kBrowserUa =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36";
constexpr size_t kBeaconsPerFormat = 20'000;

struct Beacon {
  Endpoint endpoint;
  std::string payload;
  std::string query;
  std::string user_agent = std::string(kBrowserUa);
};

// One format's beacons, packed into full RawBatches.
struct Workload {
  std::vector<std::unique_ptr<RawBatch>> batches;
  size_t beacons = 0;
  size_t bytes = 0;  // payload and query bytes
};

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}
  uint64_t Below(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  std::string ClientId() {
    return std::to_string(Below(2'000'000'000)) + "." + std::to_string(Below(2'000'000'000));
  }
  std::string Url() {
    static constexpr std::string_view kPaths[] = {
        "/",      "/cart", "/product/sku-1234", "/caf\xC3\xA9/men\xC3\xBC", "/blog/2023/11/a-post",
        "/search"};
    std::string url = "https://" + std::string(Chance(0.7) ? "shop.example" : "www.shop.example") +
                      std::string(kPaths[Below(std::size(kPaths))]);
    if (Chance(0.3)) url += "?utm_source=news&utm_medium=email&id=" + std::to_string(Below(1000));
    return url;
  }
  std::string Title() {
    static constexpr std::string_view kTitles[] = {"Home", "Caf\xC3\xA9 \xE2\x80\x93 Shop & Bar",
                                                   "100% cotton shirts | Shop", "Checkout"};
    return std::string(kTitles[Below(std::size(kTitles))]);
  }

 private:
  std::mt19937_64 rng_;
};

std::string FormEncode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '-' ||
        u == '_' || u == '.' || u == '~') {
      out += c;
    } else if (u == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

std::string JsonEscape(std::string_view value) {
  std::string out;
  for (const char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string GtagQuery(Gen& g) {
  return "v=2&tid=G-SHOP1&gtm=45je3b70&_p=" + std::to_string(g.Below(1'000'000)) +
         "&cid=" + g.ClientId() + "&ul=en-us&sr=1920x1080&dl=" + FormEncode(g.Url()) +
         "&dt=" + FormEncode(g.Title()) + "&en=page_view&_s=1";
}

std::string GtagBody(Gen& g) {
  std::string body;
  const uint64_t lines = g.Below(4);
  for (uint64_t i = 0; i < lines; ++i) {
    if (i > 0) body += "\r\n";
    body += "en=" + std::string(g.Chance(0.5) ? "scroll" : "user_engagement") +
            "&_et=" + std::to_string(g.Below(9000)) + "&ep.label=" + FormEncode(g.Title());
  }
  return body;
}

std::string MpBody(Gen& g) {
  std::string body = R"({"client_id":")" + g.ClientId() + R"(","events":[)";
  const uint64_t events = 1 + g.Below(3);
  for (uint64_t i = 0; i < events; ++i) {
    if (i > 0) body += ',';
    body += R"({"name":")" + std::string(g.Chance(0.6) ? "page_view" : "purchase") +
            R"(","params":{"page_location":")" + JsonEscape(g.Url()) + R"(","page_title":")" +
            JsonEscape(g.Title()) + R"(","engagement_time_msec":)" + std::to_string(g.Below(5000)) +
            "}}";
  }
  return body + "]}";
}

std::string PlausibleBody(Gen& g) {
  return R"({"name":")" + std::string(g.Chance(0.8) ? "pageview" : "Download") + R"(","url":")" +
         JsonEscape(g.Url()) +
         R"(","domain":"shop.example","referrer":"https://search.example/q?x=1","props":{"t":")" +
         JsonEscape(g.Title()) + R"("}})";
}

std::string SnowplowGet(Gen& g) {
  return "e=pv&url=" + FormEncode(g.Url()) + "&page=" + FormEncode(g.Title()) +
         "&tv=js-3.5.0&tna=sp&aid=shopapp&p=web&duid=d-" + std::to_string(g.Below(100000)) +
         "&eid=e-" + std::to_string(g.Below(100000)) + "&dtm=1700000000000&res=1920x1080&cd=24";
}

std::string SnowplowPost(Gen& g) {
  std::string body =
      R"({"schema":"iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4","data":[)";
  const uint64_t events = 1 + g.Below(4);
  for (uint64_t i = 0; i < events; ++i) {
    if (i > 0) body += ',';
    body += R"({"e":"pv","url":")" + JsonEscape(g.Url()) + R"(","page":")" + JsonEscape(g.Title()) +
            R"(","tv":"js-3.5.0","p":"web","aid":"shopapp","duid":"d)" +
            std::to_string(g.Below(1000)) + R"("})";
  }
  return body + "]}";
}

std::string SyslogDatagram(Gen& g, const std::string& ga_hit) {
  std::string uri;
  std::string body = "-";
  switch (g.Below(3)) {
    case 0:
      uri = "/collect?" + ga_hit;
      break;
    case 1:
      uri = "/api/event";
      body = PlausibleBody(g);
      for (size_t at = 0; (at = body.find('"', at)) != std::string::npos; at += 2) {
        body.insert(at, "\\");
      }
      break;
    default:
      uri = "/i?" + SnowplowGet(g);
      break;
  }
  return "<190>Nov 14 22:15:23 proxy1 beacon: beacon1\t1700000123.000\t192.168.0." +
         std::to_string(g.Below(255)) + "\tGET\t" + uri + "\t" + std::string(kBrowserUa) +
         "\thttps://shop.example/prev\tDE\t" + body;
}

Workload Pack(const std::vector<Beacon>& beacons) {
  Workload w;
  w.batches.push_back(std::make_unique<RawBatch>());
  for (const Beacon& b : beacons) {
    const IpAddress ip = IpAddress::FromV4(0xC0A80001 + static_cast<uint32_t>(w.beacons));
    if (!w.batches.back()->Add(b.endpoint, IngressKind::kHttp, b.payload, b.user_agent, ip, kNowMs,
                               b.query)) {
      w.batches.push_back(std::make_unique<RawBatch>());
      w.batches.back()->Add(b.endpoint, IngressKind::kHttp, b.payload, b.user_agent, ip, kNowMs,
                            b.query);
    }
    ++w.beacons;
    w.bytes += b.payload.size() + b.query.size();
  }
  return w;
}

// Every format's workload, built once.
const std::map<std::string, Workload>& Workloads(const SiteRegistry& sites) {
  static const auto* const workloads = [&sites] {
    auto* all = new std::map<std::string, Workload>;
    bench::TrafficOptions options;
    options.hits = kBeaconsPerFormat;
    const bench::TrafficModel model(sites, options);
    std::vector<Beacon> ga;
    std::vector<Beacon> relay_batches;
    std::vector<std::string> ga_hits;
    for (uint64_t k = 0; k < model.chunk_count(); ++k) {
      for (const bench::Request& request : model.Chunk(k)) {
        std::string text;
        for (const bench::Hit& hit : request.hits) {
          if (!text.empty()) text += '\n';
          text += hit.params;
          if (hit.queue_time_ms >= 0) text += "&qt=" + std::to_string(hit.queue_time_ms);
          ga_hits.push_back(hit.params);
        }
        const bool batch = request.transport == bench::Transport::kBatch;
        ga.push_back(
            {batch ? Endpoint::kGaBatch : Endpoint::kGaCollect, text, {}, request.user_agent});
        if (batch) relay_batches.push_back({Endpoint::kUdpHitBatch, text, {}, request.user_agent});
      }
    }
    Gen g(7);
    std::vector<Beacon> gtag, mp, plausible, sp_get, sp_post, syslog;
    for (size_t i = 0; i < kBeaconsPerFormat; ++i) {
      gtag.push_back({Endpoint::kGa4Gtag, GtagBody(g), GtagQuery(g)});
      mp.push_back({Endpoint::kGa4Mp, MpBody(g), "measurement_id=G-SHOP1&api_secret=s3cret",
                    "python-requests/2.31"});
      plausible.push_back({Endpoint::kPlausibleEvent, PlausibleBody(g), {}});
      sp_get.push_back({Endpoint::kSnowplowGet, SnowplowGet(g), {}});
      sp_post.push_back({Endpoint::kSnowplowPost, SnowplowPost(g), {}});
      syslog.push_back(
          {Endpoint::kUdpSyslog, SyslogDatagram(g, ga_hits[i % ga_hits.size()]), {}, ""});
    }
    (*all)["ga_v1"] = Pack(ga);
    (*all)["ga4_gtag"] = Pack(gtag);
    (*all)["ga4_mp"] = Pack(mp);
    (*all)["plausible"] = Pack(plausible);
    (*all)["snowplow_get"] = Pack(sp_get);
    (*all)["snowplow_post"] = Pack(sp_post);
    (*all)["udp_hit_batch"] = Pack(relay_batches);
    (*all)["udp_syslog"] = Pack(syslog);
    return all;
  }();
  return *workloads;
}

const SiteRegistry& Sites() {
  static const SiteRegistry sites = SiteRegistry::Parse(
      bench::SiteRegistryText(64, 1) +
      "101 shop G-SHOP1,shop.example,shopapp shop.example,*.shop.example api_secrets=s3cret\n");
  return sites;
}

// `classifier`: beacond's user-agent classification through a warm per-worker cache (the
// "+uap" rows); null: bots by markers only, no device, browser or OS.
void BM_Decode(benchmark::State& state, const Workload* workload, ByteKernels bytes,
               const UserAgentClassifier* classifier) {
  RejectCounters rejects;
  std::unique_ptr<UserAgentCache> cache;
  if (classifier != nullptr) cache = std::make_unique<UserAgentCache>(*classifier);
  const DecodeContext ctx{&Sites(), &rejects, 42, {kNowMs / 86'400'000, 7, 8}, &bytes, cache.get()};
  EventBatch events;
  events.Reserve(4 * kMaxBatchBeacons, 64 * 1024);
  size_t rows = 0;
  for (auto _ : state) {
    for (const auto& raw : workload->batches) {
      events.Clear();
      DecodeBatch(*raw, ctx, &events);
      rows += events.size();
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * workload->bytes));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * workload->beacons));
  const double runs = static_cast<double>(state.iterations() * workload->beacons);
  state.counters["bytes_per_beacon"] =
      static_cast<double>(workload->bytes) / static_cast<double>(workload->beacons);
  state.counters["rows_per_beacon"] = static_cast<double>(rows) / runs;
  state.counters["rejects_per_beacon"] = static_cast<double>(rejects.Total()) / runs;
}

// Prints the runs as usual, then per format the MB/s and beacons/s of each backend and the ratio
// to scalar.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      const std::string name = run.benchmark_name();  // "decode/<format>/<backend>"
      const size_t slash = name.rfind('/');
      const auto bytes = run.counters.find("bytes_per_second");
      const auto items = run.counters.find("items_per_second");
      if (slash == std::string::npos || bytes == run.counters.end() ||
          items == run.counters.end()) {
        continue;
      }
      const size_t first = name.find('/');
      rates_[name.substr(first + 1, slash - first - 1)].push_back(
          {name.substr(slash + 1), bytes->second.value, items->second.value});
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\n%-14s %-10s %10s %14s %9s\n", "format", "backend", "MB/s", "beacons/s",
                "x scalar");
    for (const auto& [format, rates] : rates_) {
      // "+uap" rows are compared with "scalar+uap", the others with "scalar".
      double scalar = 0;
      double scalar_uap = 0;
      for (const Rate& r : rates) {
        if (r.backend == "scalar") scalar = r.bytes;
        if (r.backend == "scalar+uap") scalar_uap = r.bytes;
      }
      for (const Rate& r : rates) {
        const double base = r.backend.ends_with("+uap") ? scalar_uap : scalar;
        std::printf("%-14s %-10s %10.0f %14.0f %9.2f\n", format.c_str(), r.backend.c_str(),
                    r.bytes / 1e6, r.items, base > 0 ? r.bytes / base : 0.0);
      }
    }
  }

 private:
  struct Rate {
    std::string backend;
    double bytes;
    double items;
  };
  std::map<std::string, std::vector<Rate>> rates_;
};

}  // namespace
}  // namespace beacon::kernels

int main(int argc, char** argv) {
  using namespace beacon::kernels;  // NOLINT(google-build-using-namespace): main only
  const std::vector<NamedByteKernels> backends = ByteKernelsPerTarget();
  const auto& workloads = Workloads(Sites());
  // The whole decode as beacond runs it: the best target with uap-core's classifier (~5 s to
  // compile at start).
  const std::unique_ptr<const UserAgentClassifier> classifier = UserAgentClassifier::Load();
  for (const auto& [format, workload] : workloads) {
    for (const auto& [backend, table] : backends) {
      benchmark::RegisterBenchmark(("decode/" + format + "/" + backend).c_str(), BM_Decode,
                                   &workload, table, nullptr);
    }
    for (const NamedByteKernels* with_uap :
         {&backends[0], &backends[backends.size() > 1 ? 1 : 0]}) {
      benchmark::RegisterBenchmark(("decode/" + format + "/" + with_uap->name + "+uap").c_str(),
                                   BM_Decode, &workload, with_uap->kernels, classifier.get());
    }
    benchmark::AddCustomContext(format, std::to_string(workload.beacons) + " beacons, " +
                                            std::to_string(workload.bytes / workload.beacons) +
                                            " bytes average");
  }
  benchmark::Initialize(&argc, argv);
  std::printf("best SIMD target on this CPU: %s (SIMD rows force each supported target)\n",
              ActiveSimdTarget().name);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
