// Per-site rate budgets shared by every worker pipeline: a token bucket per registered site
// (rate per second, burst), kept as one atomic "theoretical arrival time" (GCRA), so the budget
// holds for the whole node however the sites' traffic spreads over workers and ingresses.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <unordered_map>

#include "host/metrics/metrics.h"
#include "kernels/site_registry.h"

namespace beacon::host {

struct SiteBudgetConfig {
  double rate_per_s = 0;  // accepted events per second per site; 0: no budget
  double burst = 1;       // events a site may send at once above its rate (at least 1)
};

class SiteBudgets {
 public:
  SiteBudgets(const kernels::SiteRegistry& sites, SiteBudgetConfig config);

  // Takes up to `n` events' worth from `site_id`'s budget at `now_ns` (CLOCK_MONOTONIC) and
  // returns how many it granted; the rest are counted as dropped. A site outside the registry,
  // or no budget configured: all granted.
  uint32_t Take(uint32_t site_id, uint32_t n, int64_t now_ns);
  bool enabled() const { return interval_ns_ > 0; }
  uint64_t dropped(uint32_t site_id) const;

  // beacond_site_budget_dropped_total{site, reason="site_rate"}, for sites that dropped any.
  void RegisterMetrics(MetricsRegistry* registry) const;

 private:
  struct Bucket {
    std::atomic<int64_t> tat_ns{0};  // when the bucket will be full again
    std::atomic<uint64_t> dropped{0};
  };
  int64_t interval_ns_ = 0;  // one event's worth of time
  int64_t burst_ns_ = 0;     // how far ahead of now the arrival time may run
  std::unordered_map<uint32_t, std::unique_ptr<Bucket>> buckets_;  // fixed after construction
};

}  // namespace beacon::host
