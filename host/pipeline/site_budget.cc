// GCRA: a site's bucket is the time its budget is whole again; taking k events moves it k
// intervals on, refused past now + burst.
#include "host/pipeline/site_budget.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace beacon::host {

SiteBudgets::SiteBudgets(const kernels::SiteRegistry& sites, SiteBudgetConfig config) {
  if (config.rate_per_s <= 0) return;
  interval_ns_ = std::max<int64_t>(1, std::llround(1e9 / config.rate_per_s));
  burst_ns_ = static_cast<int64_t>(std::max(1.0, config.burst) * static_cast<double>(interval_ns_));
  for (const kernels::Site& site : sites.sites()) {
    buckets_.emplace(site.site_id, std::make_unique<Bucket>());
  }
}

uint32_t SiteBudgets::Take(uint32_t site_id, uint32_t n, int64_t now_ns) {
  if (interval_ns_ == 0 || n == 0) return n;
  const auto it = buckets_.find(site_id);
  if (it == buckets_.end()) return n;
  Bucket& b = *it->second;
  int64_t tat = b.tat_ns.load(std::memory_order_relaxed);
  uint32_t granted = 0;
  for (;;) {
    const int64_t start = std::max(tat, now_ns);
    const int64_t room = now_ns + burst_ns_ - start;
    granted = room <= 0 ? 0 : static_cast<uint32_t>(std::min<int64_t>(n, room / interval_ns_));
    if (granted == 0) break;
    if (b.tat_ns.compare_exchange_weak(tat, start + granted * interval_ns_,
                                       std::memory_order_relaxed)) {
      break;
    }
  }
  if (granted < n) b.dropped.fetch_add(n - granted, std::memory_order_relaxed);
  return granted;
}

uint64_t SiteBudgets::dropped(uint32_t site_id) const {
  const auto it = buckets_.find(site_id);
  return it == buckets_.end() ? 0 : it->second->dropped.load(std::memory_order_relaxed);
}

void SiteBudgets::RegisterMetrics(MetricsRegistry* registry) const {
  registry->Add([this](MetricsWriter& w) {
    for (const auto& [site_id, bucket] : buckets_) {
      const uint64_t v = bucket->dropped.load(std::memory_order_relaxed);
      if (v == 0) continue;
      w.Counter("beacond_site_budget_dropped_total",
                "events over their site's [limits] budget, dropped before aggregation",
                {{"site", std::to_string(site_id)}, {"reason", "site_rate"}}, v);
    }
  });
}

}  // namespace beacon::host
