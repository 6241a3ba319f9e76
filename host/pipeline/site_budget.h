// Per-site rate budgets shared by every worker pipeline: a token bucket per registered site
// (rate per second, burst), kept as one atomic "theoretical arrival time" (GCRA), so the budget
// holds for the whole node however the sites' traffic spreads over workers and ingresses.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "host/metrics/metrics.h"
#include "kernels/site_registry.h"

namespace beacon::host {

struct SiteBudget {
  double rate_per_s = 0;  // accepted events per second; 0: no budget
  double burst = 1;       // events the site may send at once above its rate (at least 1)
};

struct SiteBudgetConfig {
  SiteBudget every_site;  // each site's budget unless overridden
  // Per site, by registry name or site id.
  std::vector<std::pair<std::string, SiteBudget>> sites;
};

class SiteBudgets {
 public:
  // Throws std::runtime_error when an override names no site of the registry. With
  // `previous` (a reload's predecessor), a site both know keeps its bucket's state and drop
  // count, shared with `previous` so that workers still on it take from the same bucket.
  SiteBudgets(const kernels::SiteRegistry& sites, const SiteBudgetConfig& config,
              const SiteBudgets* previous = nullptr);

  // Takes up to `n` events' worth from `site_id`'s budget at `now_ns` (CLOCK_MONOTONIC) and
  // returns how many it granted; the rest are counted as dropped. A site outside the registry,
  // or no budget configured: all granted.
  uint32_t Take(uint32_t site_id, uint32_t n, int64_t now_ns);
  bool enabled() const { return enabled_; }
  uint64_t dropped(uint32_t site_id) const;

  // beacond_site_budget_dropped_total{site, reason="site_rate"}, for sites that dropped any.
  void RegisterMetrics(MetricsRegistry* registry) const;
  void WriteMetrics(MetricsWriter& out) const;

 private:
  struct State {
    std::atomic<int64_t> tat_ns{0};  // when the bucket will be full again
    std::atomic<uint64_t> dropped{0};
  };
  struct Bucket {
    int64_t interval_ns = 0;  // one event's worth of time; 0: no budget
    int64_t burst_ns = 0;     // how far ahead of now the arrival time may run
    std::shared_ptr<State> state;
  };
  bool enabled_ = false;
  std::unordered_map<uint32_t, Bucket> buckets_;  // fixed after construction
};

}  // namespace beacon::host
