// What a reload may change while beacond runs, swapped in whole, RCU style: the reloading thread
// publishes a new LiveSettings; each worker pipeline picks it up between two batches (never in
// the middle of one), and the old one is freed when the last worker has moved on.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "host/pipeline/site_budget.h"
#include "kernels/enrich/user_agent.h"
#include "kernels/site_registry.h"

namespace beacon::host {

struct LiveSettings {
  std::shared_ptr<const kernels::SiteRegistry> sites;               // never null
  std::shared_ptr<SiteBudgets> budgets;                             // null: no budgets
  std::shared_ptr<const kernels::UserAgentClassifier> user_agents;  // null: markers only
};

class LiveSettingsSource {
 public:
  explicit LiveSettingsSource(LiveSettings first) { Publish(std::move(first)); }

  // Makes `next` the settings workers take from their next batch on; one publisher at a time.
  void Publish(LiveSettings next) {
    current_.store(std::make_shared<const LiveSettings>(std::move(next)));
    generation_.fetch_add(1, std::memory_order_release);
  }
  // Rises with every Publish; a worker compares it with the one it holds, once per batch.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  std::shared_ptr<const LiveSettings> Current() const { return current_.load(); }

 private:
  std::atomic<std::shared_ptr<const LiveSettings>> current_;
  std::atomic<uint64_t> generation_{0};
};

}  // namespace beacon::host
