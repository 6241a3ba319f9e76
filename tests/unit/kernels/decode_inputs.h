// Beacons of every endpoint for decode comparisons (reference vs SIMD targets vs the card):
// realistic traffic (beacon-gen's GA v1 model, small generators for the other formats),
// adversarial inputs at every offset and limit, and seeded random mutations.
#pragma once

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/raw_batch.h"
#include "kernels/site_registry.h"

namespace beacon::kernels::decode_inputs {

inline constexpr int64_t kNowMs = 1'700'000'123'456;  // 2023-11-14T22:15:23.456Z
inline constexpr std::string_view kBrowserUa =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36";
inline constexpr std::array<Endpoint, 9> kEndpoints = {
    Endpoint::kGaCollect,    Endpoint::kGaBatch,        Endpoint::kGa4Gtag,
    Endpoint::kGa4Mp,        Endpoint::kPlausibleEvent, Endpoint::kSnowplowGet,
    Endpoint::kSnowplowPost, Endpoint::kUdpHitBatch,    Endpoint::kUdpSyslog};

const char* EndpointName(Endpoint e);

struct Input {
  Endpoint endpoint;
  std::string payload;
  std::string query;
  std::string user_agent = std::string(kBrowserUa);
};

// beacon-gen's GA sites (UA-100001-1 ...) plus the sites of the other formats' generators.
std::string RegistryText();

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}

  uint64_t Below(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  template <typename T, size_t N>
  const T& Pick(const std::array<T, N>& items) {
    return items[Below(N)];
  }

  std::string Host() { return std::string(Chance(0.7) ? "shop.example" : Pick(kSubHosts)); }
  std::string Url() {
    std::string url = "https://" + Host() + std::string(Pick(kPaths));
    if (Chance(0.3)) url += "?utm_source=news&utm_medium=email&id=" + std::to_string(Below(1000));
    if (Chance(0.1)) url += "#section-" + std::to_string(Below(9));
    return url;
  }
  std::string Title() { return std::string(Pick(kTitles)); }
  std::string ClientId() {
    return std::to_string(Below(2'000'000'000)) + "." + std::to_string(Below(2'000'000'000));
  }

 private:
  static constexpr std::array<std::string_view, 3> kSubHosts = {"www.shop.example",
                                                                "m.shop.example", "any.example"};
  static constexpr std::array<std::string_view, 7> kPaths = {
      "/",
      "/cart",
      "/product/sku-1234",
      "/caf\xC3\xA9/men\xC3\xBC",
      "/a/b/c/d/e",
      "/\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E/page",
      "/search"};
  static constexpr std::array<std::string_view, 5> kTitles = {
      "Home", "Caf\xC3\xA9 \xE2\x80\x93 Shop & Bar", "100% cotton + more", "\xF0\x9F\x98\x80 deals",
      "A \"quoted\" title\\slash"};
  std::mt19937_64 rng_;
};

// Realistic beacons of every endpoint.
std::vector<Input> RealisticInputs(const SiteRegistry& sites, uint64_t seed);
// Escapes and raw bytes at every offset, limits at their boundaries, empty and huge payloads.
std::vector<Input> AdversarialInputs();
// 1-6 random byte edits of `s`.
std::string Mutate(Gen& g, std::string s);
// `s` with non-printable bytes as \xHH, cut at 400 bytes: for failure messages.
std::string Printable(std::string_view s);

}  // namespace beacon::kernels::decode_inputs
