// SiteRowCap: a count of held rows per site against one cap.
#include "host/forward/site_row_cap.h"

namespace beacon::host {

bool SiteRowCap::Admit(uint32_t site_id, bool other) {
  uint64_t& held = held_[site_id];
  if (other || max_rows_ == 0 || held < max_rows_) {
    ++held;
    return true;
  }
  ++folded_rows_;
  return false;
}

uint64_t SiteRowCap::held(uint32_t site_id) const {
  const auto it = held_.find(site_id);
  return it == held_.end() ? 0 : it->second;
}

}  // namespace beacon::host
