// Throughput of the scalar GA v1 decoder (DecodeBatch) on a realistic in-memory mix: analytics.js
// pageviews and events across 64 sites, 40% with extra parameters, 5% /batch bodies, a few bots
// and malformed hits. Reports payload bytes/s and beacons/s.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/decode.h"
#include "kernels/event_batch.h"
#include "kernels/formats/ga_v1.h"
#include "kernels/raw_batch.h"
#include "kernels/reject_reason.h"
#include "kernels/site_registry.h"

namespace beacon::kernels {
namespace {

constexpr int kSites = 64;
constexpr size_t kBatches = 32;  // of kMaxBatchBeacons beacons each
constexpr int64_t kNowMs = 1'700'000'000'000;

constexpr std::string_view kBrowsers[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.43 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
};
constexpr std::string_view kBots[] = {
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
};
constexpr std::string_view kSections[] = {"products",      "blog/2023/11", "category/shoes",
                                          "help/articles", "news",         "account/orders"};
constexpr std::string_view kWords[] = {"running", "trail", "summer", "sale",  "guide",
                                       "review",  "best",  "cheap",  "new",   "men",
                                       "women",   "kids",  "red",    "black", "waterproof"};
constexpr std::string_view kTitles[] = {
    "Laufschuhe%20%E2%80%93%20Shop",
    "Best%20trail%20running%20shoes%20of%202023%20%7C%20Blog",
    "Caf%C3%A9%20cr%C3%A8me%20%E2%80%93%20Recettes",
    "Order%20history%20-%20My%20account",
};

template <typename... Parts>
void Append(std::string* out, const Parts&... parts) {
  (out->append(std::string_view(parts)), ...);
}

class MixGenerator {
 public:
  // One hit, form-urlencoded as analytics.js sends it.
  std::string Hit() {
    const int site = 1 + Zipf(kSites);
    const bool event = rng_() % 10 < 3;
    std::string path;
    Append(&path, "/", Pick(kSections), "/", Pick(kWords), "-", Pick(kWords), "-",
           std::to_string(Zipf(500)));
    std::string hit;
    Append(&hit, "v=1&_v=j101&a=", std::to_string(rng_() % 2'000'000'000),
           "&t=", event ? "event" : "pageview", "&_s=", std::to_string(1 + rng_() % 20),
           "&dl=https%3A%2F%2Fwww.site", std::to_string(site), ".example", Escape(path));
    if (rng_() % 4 == 0) Append(&hit, "%3Futm_source%3Dnewsletter%26utm_medium%3Demail");
    Append(&hit, "&ul=en-us&de=UTF-8&sd=24-bit&sr=1920x1080&vp=1903x969&je=0");
    if (event) {
      std::string label;
      Append(&label, Pick(kWords), " ", Pick(kWords));
      Append(&hit, "&ec=", Pick(kWords), "&ea=", Pick(kWords), "&el=", Escape(label));
    }
    if (rng_() % 10 < 4) {
      Append(&hit, "&dt=", Pick(kTitles), "&dr=https%3A%2F%2Fwww.google.com%2Fsearch%3Fq%3D",
             Pick(kWords), "%2B", Pick(kWords), "&ua=", Escape(Pick(kBrowsers)),
             "&cd1=member&cd2=", Pick(kWords), "&cm1=", std::to_string(rng_() % 100));
    }
    Append(&hit,
           "&_u=QACAAEABAAAAACAAI~&jid=&gjid=&cid=", std::to_string(100'000'000 + Zipf(50'000)),
           ".1700000000&tid=UA-", std::to_string(1000 + site), "-1");
    if (rng_() % 100 == 0) Append(&hit, "&tid=");            // still valid: the first tid wins
    if (rng_() % 100 == 1) Append(&hit, "&qt=99999999999");  // rejected: bad_queue_time
    Append(&hit, "&_gid=", std::to_string(rng_() % 1'000'000'000),
           ".1700000000&gtm=2wgb10&z=", std::to_string(rng_() % 2'000'000'000));
    return hit;
  }

  // One beacon: 95% /collect, 5% /batch of 2..20 hits.
  void AddBeacon(RawBatch* raw, size_t* payload_bytes) {
    const bool batch = rng_() % 100 < 5;
    std::string payload = Hit();
    if (batch) {
      const int hits = 2 + static_cast<int>(rng_() % 19);
      for (int i = 1; i < hits; ++i) {
        const std::string next = Hit();
        if (payload.size() + 1 + next.size() > kGaMaxBatchBytes) break;
        Append(&payload, "\n", next);
      }
    }
    const std::string_view ua = rng_() % 50 == 0 ? Pick(kBots) : Pick(kBrowsers);
    raw->Add(batch ? Endpoint::kGaBatch : Endpoint::kGaCollect, IngressKind::kHttp, payload, ua,
             IpAddress::FromV4(0xC0A80000 | (rng_() & 0xFFFF)), kNowMs + (rng_() % 60'000));
    *payload_bytes += payload.size();
  }

 private:
  template <typename T, size_t N>
  std::string_view Pick(const T (&items)[N]) {
    return items[rng_() % N];
  }
  // Roughly Zipf-distributed in [0, n): small values are much more frequent.
  int Zipf(int n) {
    const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
    return static_cast<int>(static_cast<double>(n) * u * u * u) % n;
  }
  static std::string Escape(std::string_view s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : s) {
      const auto b = static_cast<unsigned char>(c);
      if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '-' ||
          b == '.' || b == '_') {
        out += c;
      } else if (b == ' ') {
        out += '+';
      } else {
        out += '%';
        out += kHex[b >> 4];
        out += kHex[b & 15];
      }
    }
    return out;
  }

  std::mt19937_64 rng_{20261128};
};

SiteRegistry MakeRegistry() {
  std::string text;
  for (int s = 1; s <= kSites; ++s) {
    const std::string id = std::to_string(s);
    Append(&text, id, " site", id, " UA-", std::to_string(1000 + s), "-1 site", id,
           ".example,*.site", id, ".example\n");
  }
  return SiteRegistry::Parse(text, "benchmark registry");
}

void BM_DecodeGaMix(benchmark::State& state) {
  const SiteRegistry sites = MakeRegistry();
  RejectCounters rejects;
  const DecodeContext ctx{&sites, &rejects, 0x9e3779b97f4a7c15ULL, {}};
  MixGenerator mix;
  std::vector<RawBatch> batches(kBatches);
  size_t payload_bytes = 0;
  size_t beacons = 0;
  for (auto& raw : batches) {
    while (raw.size() < kMaxBatchBeacons) mix.AddBeacon(&raw, &payload_bytes);
    beacons += raw.size();
  }
  EventBatch events;
  events.Reserve(kMaxBatchBeacons * 2, 64 * 1024);
  size_t accepted = 0;
  for (auto _ : state) {
    for (const auto& raw : batches) {
      events.Clear();
      DecodeBatch(raw, ctx, &events);
      accepted += events.size();
      benchmark::DoNotOptimize(events.visitor.data());
    }
  }
  const auto iterations = static_cast<int64_t>(state.iterations());
  state.SetBytesProcessed(iterations * static_cast<int64_t>(payload_bytes));
  state.SetItemsProcessed(iterations * static_cast<int64_t>(beacons));
  state.counters["mean_payload_bytes"] = static_cast<double>(payload_bytes) / beacons;
  state.counters["accepted_per_beacon"] =
      static_cast<double>(accepted) / static_cast<double>(iterations * beacons);
  state.counters["rejects_per_beacon"] =
      static_cast<double>(rejects.Total()) / static_cast<double>(iterations * beacons);
}
BENCHMARK(BM_DecodeGaMix);

}  // namespace
}  // namespace beacon::kernels

BENCHMARK_MAIN();
