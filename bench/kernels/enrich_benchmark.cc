// Cost of enrichment per beacon: user-agent class with a warm per-worker cache on ~200
// distinct user agents drawn Zipf-like (s = 1), plus referrer host, campaign, page path and
// country; and the cold cost of classifying a user agent never seen (a cache miss).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/enrich/attribution.h"
#include "kernels/enrich/user_agent.h"

namespace beacon::kernels {
namespace {

constexpr size_t kBatch = 256;  // kMaxBatchBeacons
constexpr size_t kBeacons = 64 * kBatch;

const UserAgentClassifier& Classifier() {
  static const std::unique_ptr<const UserAgentClassifier> classifier = UserAgentClassifier::Load();
  return *classifier;
}

// ~200 distinct user agents in the shape real traffic has: browser versions across desktop,
// phone and tablet, in-app browsers and some bots.
std::vector<std::string> DistinctUserAgents() {
  std::vector<std::string> uas;
  for (int v = 100; v < 140; ++v) {
    const std::string chrome = std::to_string(v) + ".0.0.0";
    uas.push_back(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
        "Gecko) Chrome/" +
        chrome + " Safari/537.36");
    uas.push_back(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, "
        "like Gecko) Chrome/" +
        chrome + " Safari/537.36");
    uas.push_back("Mozilla/5.0 (Linux; Android 1" + std::to_string(v % 5) +
                  "; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/" + chrome +
                  " Mobile Safari/537.36");
    uas.push_back("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:" + std::to_string(v) +
                  ".0) Gecko/20100101 Firefox/" + std::to_string(v) + ".0");
  }
  for (int major = 14; major < 18; ++major) {
    for (int minor = 0; minor < 7; ++minor) {
      const std::string ios = std::to_string(major) + "_" + std::to_string(minor);
      const std::string version = std::to_string(major) + "." + std::to_string(minor);
      uas.push_back("Mozilla/5.0 (iPhone; CPU iPhone OS " + ios +
                    " like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/" + version +
                    " Mobile/15E148 Safari/604.1");
      uas.push_back("Mozilla/5.0 (iPad; CPU OS " + ios +
                    " like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/" + version +
                    " Mobile/15E148 Safari/604.1");
    }
  }
  const char* kOthers[] = {
      "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
      "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
      "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
      "Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/440.0.0.0;FBBV/1]",
      "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
      "Gecko) Mobile/15E148 Instagram 300.0.0.0",
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.61",
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/120.0.0.0 Safari/537.36",
      "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
      "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
      "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
      "curl/8.4.0",
      "python-requests/2.31.0",
  };
  for (const char* ua : kOthers) uas.emplace_back(ua);
  return uas;
}

// Beacon `i` of the mix: user agent drawn Zipf-like, page URL (20% with UTM), referrer (search,
// social, self, none), country header.
struct Mix {
  std::vector<std::string> uas;
  std::vector<std::string_view> beacon_ua;
  std::vector<std::string> page_url;
  std::vector<std::string> referrer;
  std::vector<std::string> country;

  Mix() : uas(DistinctUserAgents()) {
    std::mt19937_64 rng(42);
    std::vector<double> weights;
    for (size_t r = 1; r <= uas.size(); ++r) weights.push_back(1.0 / static_cast<double>(r));
    std::discrete_distribution<size_t> zipf(weights.begin(), weights.end());
    const char* kReferrers[] = {
        "https://www.google.com/", "https://www.facebook.com/", "https://shop.example/cart", "", "",
        "https://t.co/abc"};
    const char* kCountries[] = {"DE", "US", "GB", "FR", "XX", ""};
    for (size_t i = 0; i < kBeacons; ++i) {
      beacon_ua.push_back(uas[zipf(rng)]);
      std::string url = "https://shop.example/products/item-" + std::to_string(rng() % 500) + "/";
      if (rng() % 5 == 0)
        url += "?utm_source=newsletter&utm_medium=email&utm_campaign=spring%20sale";
      page_url.push_back(std::move(url));
      referrer.emplace_back(kReferrers[rng() % 6]);
      country.emplace_back(kCountries[rng() % 6]);
    }
  }
};

const Mix& TheMix() {
  static const Mix mix;
  return mix;
}

void BM_UserAgentWarm(benchmark::State& state) {
  const Mix& mix = TheMix();
  UserAgentCache cache(Classifier());
  std::vector<UaClass> out(kBatch);
  for (size_t b = 0; b < kBeacons; b += kBatch) {
    cache.ClassifyBatch(mix.beacon_ua.data() + b, kBatch, out.data());  // warm up
  }
  size_t b = 0;
  for (auto _ : state) {
    cache.ClassifyBatch(mix.beacon_ua.data() + b, kBatch, out.data());
    benchmark::DoNotOptimize(out.data());
    b = (b + kBatch) % kBeacons;
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["per_beacon"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kBatch),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["misses"] = static_cast<double>(cache.misses());
}
BENCHMARK(BM_UserAgentWarm);

void BM_EnrichWarm(benchmark::State& state) {
  const Mix& mix = TheMix();
  UserAgentCache cache(Classifier());
  std::vector<UaClass> out(kBatch);
  for (size_t b = 0; b < kBeacons; b += kBatch) {
    cache.ClassifyBatch(mix.beacon_ua.data() + b, kBatch, out.data());
  }
  Site site;
  site.hostnames = {"shop.example", "*.shop.example"};
  char host[kMaxReferrerHostBytes];
  char path[kMaxPagePathBytes];
  size_t b = 0;
  uint64_t sink = 0;
  for (auto _ : state) {
    cache.ClassifyBatch(mix.beacon_ua.data() + b, kBatch, out.data());
    for (size_t i = b; i < b + kBatch; ++i) {
      const std::string& url = mix.page_url[i];
      const std::string_view url_path(url.data() + 20, url.size() - 20);  // after the authority
      sink += ReferrerHost(mix.referrer[i], "shop.example", &site, host);
      const Campaign campaign = ParseCampaign(url, "", "", "");
      sink += campaign.source_size;
      sink += NormalisePagePath(url_path, path);
      sink += CountryFromHeader(mix.country[i]);
    }
    benchmark::DoNotOptimize(sink);
    benchmark::DoNotOptimize(out.data());
    b = (b + kBatch) % kBeacons;
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["per_beacon"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kBatch),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_EnrichWarm);

void BM_UserAgentCold(benchmark::State& state) {
  // Every user agent distinct and a 2-slot cache: each classification is a miss.
  const Mix& mix = TheMix();
  std::vector<std::string> unique;
  for (size_t i = 0; i < 4096; ++i) {
    std::string ua(mix.uas[i % mix.uas.size()]);
    const size_t paren = ua.find(')');
    ua.insert(paren == std::string::npos ? ua.size() : paren, "; build " + std::to_string(i));
    unique.push_back(std::move(ua));
  }
  UserAgentCache cache(Classifier(), 1);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(cache.Classify(unique[i]));
    i = (i + 1) % unique.size();
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["per_ua"] =
      benchmark::Counter(static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["misses"] = static_cast<double>(cache.misses());
}
BENCHMARK(BM_UserAgentCold);

void BM_ClassifierBuild(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(UserAgentClassifier::Load());
}
BENCHMARK(BM_ClassifierBuild)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace
}  // namespace beacon::kernels

BENCHMARK_MAIN();
