// The traffic model of beacon-gen: Zipf-distributed sites and pages, repeat visitors, real
// user agents, bots and single-fault malformed hits, each hit labelled with beacond's verdict.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kernels/event_batch.h"
#include "kernels/reject_reason.h"
#include "kernels/site_registry.h"

namespace beacon::bench {

// Site registry text for `count` sites, deterministic from `seed` (kernels/README.md format):
// ids 1..count, tracking id UA-<100000+id>-1, hosts <name>.example and *.<name>.example.
std::string SiteRegistryText(uint32_t count, uint64_t seed);

// The malformed classes the model generates: each malformed hit carries exactly one fault.
inline constexpr kernels::RejectReason kMalformedClasses[] = {
    kernels::RejectReason::kUnknownSite,        kernels::RejectReason::kMissingClientId,
    kernels::RejectReason::kMissingTrackingId,  kernels::RejectReason::kBadVersion,
    kernels::RejectReason::kUnknownHitType,     kernels::RejectReason::kMissingPage,
    kernels::RejectReason::kMissingEventFields, kernels::RejectReason::kBadPercentEncoding,
    kernels::RejectReason::kInvalidUtf8,        kernels::RejectReason::kFieldTooLong,
    kernels::RejectReason::kBadQueueTime,       kernels::RejectReason::kHostNotAllowed,
};

enum class Transport : uint8_t {
  kGet,    // GET /collect?<hit>
  kPost,   // POST /collect, the hit as body
  kBatch,  // POST /batch, one hit per line
};

// A browser user agent of the model with what uap-core makes of it (kernels/enrich/README.md):
// the device class, browser and OS family beacond stores for it.
struct HumanAgent {
  std::string_view user_agent;
  std::string_view device;  // DeviceClassName
  std::string_view browser;
  std::string_view os;
};
// The 20 browser user agents visitors use, labelled.
std::span<const HumanAgent> HumanAgents();
// The crawler and script user agents of bot requests (rejected as bot_user_agent).
std::span<const std::string_view> BotAgents();

struct Hit {
  // The URL-encoded parameters, without qt (added at send time, see queue_time_ms).
  std::string params;
  // Preferred GA queue time in ms, or -1 for none. The sender may raise it to keep the
  // hit's event time away from a minute boundary.
  int64_t queue_time_ms = -1;
  // What beacond must do with the hit: nullopt = accept.
  std::optional<kernels::RejectReason> reject;
  uint32_t site_id = 0;  // the registry site (meaningful when accepted)
  kernels::EventKind kind = kernels::EventKind::kPageview;
  std::string visitor;  // cid or uid: the visitor identity of the ground truth
  std::string path;     // the page path beacond stores (pageviews only)
  // The breakdown values beacond must store for the hit; empty = none (no row).
  std::string referrer;  // referrer host, self-referrals dropped
  std::string utm_source;
  std::string utm_medium;
  std::string utm_campaign;
  std::string event_name;             // GA ea of events, the hit type of other non-pageview hits
  std::string country;                // two letters, or empty when unknown
  const HumanAgent* agent = nullptr;  // the visitor's browser (null for bots)
};

struct Request {
  Transport transport = Transport::kGet;
  std::string user_agent;
  std::string country_header;  // sent as CF-IPCountry when not empty
  std::vector<Hit> hits;
  // Unique within a model: chunk * kChunkHits + index in the chunk (a chunk holds at most
  // kChunkHits requests, one hit each at least).
  uint64_t id = 0;
};

struct TrafficOptions {
  uint64_t seed = 1;
  uint64_t hits = 100'000;
  double malformed_share = 0.03;
  double bot_share = 0.05;
  double batch_share = 0.15;      // share of hits that travel in /batch requests
  double queue_time_share = 0.1;  // share of single hits carrying qt (batched hits all do)
  double zipf_sites = 1.1;
  double zipf_pages = 1.0;
  // A flood: every page path, referrer, utm_campaign and event name is random (far beyond any
  // top-K), and every malformed hit is an unknown_site hit with a random tracking id.
  bool flood = false;
  // Sites the collector does not have (yet, or any more): their hits that would be accepted are
  // expected as unknown_site rejects. Use with no malformed hits for exact reject counts.
  std::set<uint32_t> unregistered_sites;
};

// The payload of `request` as the ingress hands it to DecodeBatch: its hits' parameters, one a
// line, each with "&qt=" when it carries a queue time.
std::string RequestPayload(const Request& request);

// Hits are generated in chunks of kChunkHits; chunk k depends only on (seed, k), so senders
// may generate chunks on any thread in any order and still send the same hits.
class TrafficModel {
 public:
  static constexpr uint64_t kChunkHits = 1000;
  static constexpr size_t kMaxBatchBodyBytes = 15'000;  // below /batch's 16 KB cap

  TrafficModel(const kernels::SiteRegistry& sites, TrafficOptions options);
  ~TrafficModel();
  TrafficModel(const TrafficModel&) = delete;
  TrafficModel& operator=(const TrafficModel&) = delete;

  uint64_t chunk_count() const { return (options_.hits + kChunkHits - 1) / kChunkHits; }
  // The requests of chunk `k`, holding exactly min(kChunkHits, hits - k * kChunkHits) hits.
  std::vector<Request> Chunk(uint64_t k) const;

 private:
  struct SiteShape;
  class Rng;

  Hit ValidHit(Rng& rng, const SiteShape& site, const std::string& visitor, bool batched) const;
  void ApplyFault(Rng& rng, kernels::RejectReason fault, Hit* hit) const;
  const SiteShape& PickSite(Rng& rng) const;

  TrafficOptions options_;
  std::vector<SiteShape> sites_;
  std::unordered_map<uint32_t, size_t> site_index_;  // site_id -> index in sites_
  std::vector<double> site_cdf_;
  std::vector<std::string> bot_visitors_;
};

}  // namespace beacon::bench
