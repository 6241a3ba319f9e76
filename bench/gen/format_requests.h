// The traffic model's hits as requests of the other trackers beacond decodes (GA4 gtag and
// Measurement Protocol, Plausible, Snowplow): the same sites, visitors, pages, referrers,
// campaigns, events and user agents as the GA v1 requests, for benchmarks of those decoders.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench/gen/traffic_model.h"
#include "kernels/raw_batch.h"
#include "kernels/site_registry.h"

namespace beacon::bench {

enum class TrackerFormat : uint8_t { kGa4Gtag, kGa4Mp, kPlausible, kSnowplow };

// SiteRegistryText(count, seed) with, per site, the ids the other formats name it by: the
// measurement id G-<100000+id>, the Plausible domain <name>.example, the Snowplow app id
// app-<id>, and the Measurement Protocol api secret secret-<id>.
std::string TrackerSiteRegistryText(uint32_t count, uint64_t seed);

// One HTTP request as the ingress hands it to DecodeBatch.
struct TrackerRequest {
  kernels::Endpoint endpoint = kernels::Endpoint::kGa4Gtag;
  std::string payload;
  std::string query;  // the URL query of a request whose body is the payload
  std::string user_agent;
};

// Renders model requests of accepted and bot hits (build the model without malformed hits:
// their faults are GA v1's). Sites come from a TrackerSiteRegistryText registry.
class TrackerRenderer {
 public:
  explicit TrackerRenderer(const kernels::SiteRegistry& sites);

  // A single hit is one request; a batch is one gtag request with an event line per hit, one MP
  // request, one Snowplow POST, or one Plausible request per hit (Plausible does not batch).
  std::vector<TrackerRequest> Render(TrackerFormat format, const Request& request) const;

 private:
  std::unordered_map<uint32_t, const kernels::Site*> sites_;
};

}  // namespace beacon::bench
