// GCRA: a site's bucket is the time its budget is whole again; taking k events moves it k
// intervals on, refused past now + burst unless the bucket is full.
#include "host/pipeline/site_budget.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/bytes/hash.h"

namespace beacon::host {
namespace {

constexpr std::string_view kReasonNames[] = {"site_rate", "sampled_out"};

}  // namespace

SiteBudgets::SiteBudgets(const kernels::SiteRegistry& sites, const SiteBudgetConfig& config,
                         const SiteBudgets* previous)
    : over_budget_(config.over_budget), sample_one_in_(std::max(1u, config.sample_one_in)) {
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

bool SiteBudgets::Take(uint32_t site_id, uint32_t n, int64_t now_ns) {
  if (n == 0) return true;
  const auto it = buckets_.find(site_id);
  if (it == buckets_.end() || it->second.interval_ns == 0) return true;
  const Bucket& b = it->second;
  const int64_t cost = static_cast<int64_t>(n) * b.interval_ns;
  State& state = *b.state;
  int64_t tat = state.tat_ns.load(std::memory_order_relaxed);
  for (;;) {
    const int64_t start = std::max(tat, now_ns);
    // More than the burst at once passes a full bucket only, and runs it into debt: the rate
    // holds, and a beacon larger than the burst is not refused forever.
    if (start + cost > now_ns + b.burst_ns && start > now_ns) return false;
    if (state.tat_ns.compare_exchange_weak(tat, start + cost, std::memory_order_relaxed)) {
      return true;
    }
  }
}

void SiteBudgets::Return(uint32_t site_id, uint32_t n) {
  const auto it = buckets_.find(site_id);
  if (it == buckets_.end() || it->second.interval_ns == 0) return;
  it->second.state->tat_ns.fetch_sub(static_cast<int64_t>(n) * it->second.interval_ns,
                                     std::memory_order_relaxed);
}

uint32_t SiteBudgets::Admit(std::span<const std::pair<uint32_t, uint32_t>> site_events,
                            uint64_t sample_hash, int64_t now_ns) {
  size_t taken = 0;
  while (taken < site_events.size() &&
         Take(site_events[taken].first, site_events[taken].second, now_ns)) {
    ++taken;
  }
  if (taken == site_events.size()) return 1;
  for (size_t i = 0; i < taken; ++i) Return(site_events[i].first, site_events[i].second);
  if (over_budget_ == OverBudget::kSample && kernels::Mix64(sample_hash) % sample_one_in_ == 0) {
    return sample_one_in_;
  }
  const auto reason = static_cast<size_t>(
      over_budget_ == OverBudget::kSample ? BudgetDrop::kSampledOut : BudgetDrop::kSiteRate);
  for (const auto& [site, n] : site_events) {
    const auto it = buckets_.find(site);
    if (it != buckets_.end()) {
      it->second.state->dropped[reason].fetch_add(n, std::memory_order_relaxed);
    }
  }
  return 0;
}

uint64_t SiteBudgets::dropped(uint32_t site_id, BudgetDrop reason) const {
  const auto it = buckets_.find(site_id);
  return it == buckets_.end() ? 0
                              : it->second.state->dropped[static_cast<size_t>(reason)].load(
                                    std::memory_order_relaxed);
}

void SiteBudgets::RegisterMetrics(MetricsRegistry* registry) const {
  registry->Add([this](MetricsWriter& w) { WriteMetrics(w); });
}

void SiteBudgets::WriteMetrics(MetricsWriter& out) const {
  for (size_t r = 0; r < kReasons; ++r) {
    for (const auto& [site_id, bucket] : buckets_) {
      const uint64_t v = bucket.state->dropped[r].load(std::memory_order_relaxed);
      if (v == 0) continue;
      out.Counter("beacond_site_budget_dropped_total",
                  "events of beacons over their site's [limits] budget, refused before the "
                  "archive (site_rate) or left out of the sample (sampled_out)",
                  {{"site", std::to_string(site_id)}, {"reason", std::string(kReasonNames[r])}}, v);
    }
  }
}

}  // namespace beacon::host
