// GCRA: a site's bucket is the time its budget is whole again; taking k events moves it k
// intervals on, refused past now + burst.
#include "host/pipeline/site_budget.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace beacon::host {

SiteBudgets::SiteBudgets(const kernels::SiteRegistry& sites, const SiteBudgetConfig& config,
                         const SiteBudgets* previous) {
  std::vector<bool> used(config.sites.size(), false);
  for (const kernels::Site& site : sites.sites()) {
    SiteBudget budget = config.every_site;
    for (size_t i = 0; i < config.sites.size(); ++i) {
      const std::string& key = config.sites[i].first;
      if (key != site.name && key != std::to_string(site.site_id)) continue;
      budget = config.sites[i].second;
      used[i] = true;
    }
    Bucket bucket;
    if (budget.rate_per_s > 0) {
      bucket.interval_ns = std::max<int64_t>(1, std::llround(1e9 / budget.rate_per_s));
      bucket.burst_ns = static_cast<int64_t>(std::max(1.0, budget.burst) *
                                             static_cast<double>(bucket.interval_ns));
      enabled_ = true;
    }
    if (previous != nullptr) {
      const auto before = previous->buckets_.find(site.site_id);
      if (before != previous->buckets_.end()) bucket.state = before->second.state;
    }
    if (bucket.state == nullptr) bucket.state = std::make_shared<State>();
    buckets_.emplace(site.site_id, std::move(bucket));
  }
  for (size_t i = 0; i < used.size(); ++i) {
    if (!used[i]) {
      throw std::runtime_error("[limits.sites] " + config.sites[i].first +
                               ": no site of that name or id in the registry");
    }
  }
}

uint32_t SiteBudgets::Take(uint32_t site_id, uint32_t n, int64_t now_ns) {
  if (n == 0) return 0;
  const auto it = buckets_.find(site_id);
  if (it == buckets_.end() || it->second.interval_ns == 0) return n;
  const Bucket& b = it->second;
  State& state = *b.state;
  int64_t tat = state.tat_ns.load(std::memory_order_relaxed);
  uint32_t granted = 0;
  for (;;) {
    const int64_t start = std::max(tat, now_ns);
    const int64_t room = now_ns + b.burst_ns - start;
    granted = room <= 0 ? 0 : static_cast<uint32_t>(std::min<int64_t>(n, room / b.interval_ns));
    if (granted == 0) break;
    if (state.tat_ns.compare_exchange_weak(tat, start + granted * b.interval_ns,
                                           std::memory_order_relaxed)) {
      break;
    }
  }
  if (granted < n) state.dropped.fetch_add(n - granted, std::memory_order_relaxed);
  return granted;
}

uint64_t SiteBudgets::dropped(uint32_t site_id) const {
  const auto it = buckets_.find(site_id);
  return it == buckets_.end() ? 0 : it->second.state->dropped.load(std::memory_order_relaxed);
}

void SiteBudgets::RegisterMetrics(MetricsRegistry* registry) const {
  registry->Add([this](MetricsWriter& w) { WriteMetrics(w); });
}

void SiteBudgets::WriteMetrics(MetricsWriter& out) const {
  for (const auto& [site_id, bucket] : buckets_) {
    const uint64_t v = bucket.state->dropped.load(std::memory_order_relaxed);
    if (v == 0) continue;
    out.Counter("beacond_site_budget_dropped_total",
                "events over their site's [limits] budget, dropped before aggregation",
                {{"site", std::to_string(site_id)}, {"reason", "site_rate"}}, v);
  }
}

}  // namespace beacon::host
