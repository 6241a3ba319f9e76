// Per-site rate budgets shared by every worker pipeline: a token bucket per registered site
// (rate per second, burst), kept as one atomic "theoretical arrival time" (GCRA), so the budget
// holds for the whole node however the sites' traffic spreads over workers and ingresses. A
// beacon is admitted whole or not at all; over budget it is refused, or in sample mode kept
// 1 in N (by a hash of its bytes) with weight N.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "host/metrics/metrics.h"
#include "kernels/site_registry.h"

namespace beacon::host {

struct SiteBudget {
  double rate_per_s = 0;  // accepted events per second; 0: no budget
  double burst = 1;       // events the site may send at once above its rate (at least 1); one
                          // beacon of more events passes when the site's bucket is full
};

// What happens to a beacon over its site's budget.
enum class OverBudget : uint8_t {
  kRefuse,  // refused (HTTP 429), counted
  kSample,  // kept 1 in sample_one_in (deterministically) with that weight, the rest refused
};

struct SiteBudgetConfig {
  SiteBudget every_site;  // each site's budget unless overridden
  // Per site, by registry name or site id.
  std::vector<std::pair<std::string, SiteBudget>> sites;
  OverBudget over_budget = OverBudget::kRefuse;
  uint32_t sample_one_in = 10;  // kSample's N (at least 1)
};

// Why a site's events were dropped: the metric's reason label.
enum class BudgetDrop : uint8_t {
  kSiteRate,    // "site_rate": refused over budget
  kSampledOut,  // "sampled_out": over budget in sample mode, not in the sample
  kCount
};

class SiteBudgets {
 public:
  // Throws std::runtime_error when an override names no site of the registry. With
  // `previous` (a reload's predecessor), a site both know keeps its bucket's state and drop
  // count, shared with `previous` so that workers still on it take from the same bucket.
  SiteBudgets(const kernels::SiteRegistry& sites, const SiteBudgetConfig& config,
              const SiteBudgets* previous = nullptr);

  // Takes `n` events' worth from `site_id`'s budget at `now_ns` (CLOCK_MONOTONIC), all or
  // none; true when taken. More than the burst is taken from a full bucket only, which it runs
  // into debt (later takes wait until the rate has paid it back). A site outside the
  // registry, or no budget configured: true.
  bool Take(uint32_t site_id, uint32_t n, int64_t now_ns);
  // Gives back `n` events' worth that Take took (a beacon refused for another site's budget).
  void Return(uint32_t site_id, uint32_t n);

  // Admits one beacon whose events are `site_events` (site id, count; one entry per site):
  // returns its weight, 1 within every site's budget, sample_one_in when over budget in sample
  // mode and `sample_hash` picks it, 0 when refused (its events counted as dropped).
  uint32_t Admit(std::span<const std::pair<uint32_t, uint32_t>> site_events, uint64_t sample_hash,
                 int64_t now_ns);

  bool enabled() const { return enabled_; }
  uint64_t dropped(uint32_t site_id, BudgetDrop reason = BudgetDrop::kSiteRate) const;

  // beacond_site_budget_dropped_total{site, reason}, for sites that dropped any.
  void RegisterMetrics(MetricsRegistry* registry) const;
  void WriteMetrics(MetricsWriter& out) const;

 private:
  static constexpr size_t kReasons = static_cast<size_t>(BudgetDrop::kCount);
  struct State {
    std::atomic<int64_t> tat_ns{0};  // when the bucket will be full again
    std::array<std::atomic<uint64_t>, kReasons> dropped{};
  };
  struct Bucket {
    int64_t interval_ns = 0;  // one event's worth of time; 0: no budget
    int64_t burst_ns = 0;     // how far ahead of now the arrival time may run
    std::shared_ptr<State> state;
  };
  bool enabled_ = false;
  OverBudget over_budget_ = OverBudget::kRefuse;
  uint32_t sample_one_in_ = 1;
  std::unordered_map<uint32_t, Bucket> buckets_;  // fixed after construction
};

}  // namespace beacon::host
