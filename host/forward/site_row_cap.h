// A per-site cap on the breakdown rows the forwarder holds while it merges them between
// breakdown flushes, so that one site flooding distinct values (random paths: each epoch brings
// new ones) holds a bounded share of memory instead of filling pending_bytes and pushing every
// other site into 503. Deterministic: each decision is a function of the calls so far, in
// order (the merge order), never of time.
#pragma once

#include <cstdint>
#include <unordered_map>

namespace beacon::host {

class SiteRowCap {
 public:
  // At most `max_rows_per_site` held rows per site, a group's (other) rows included; 0: no cap.
  explicit SiteRowCap(uint64_t max_rows_per_site) : max_rows_(max_rows_per_site) {}

  // Called for a row about to be held anew for `site_id` (not for a row already held, which
  // merges freely). A value row is taken while the site holds fewer than the cap; past it the
  // caller folds the row into its (site, minute, dimension)'s (other) row (counted here), and
  // calls again with `other` when that row is new too. An (other) row is always taken: a site
  // holds at most one per minute and dimension, however it floods.
  bool Admit(uint32_t site_id, bool other);
  // The held rows went out (a breakdown flush): every site starts from none.
  void Clear() { held_.clear(); }

  uint64_t held(uint32_t site_id) const;
  // Value rows folded into (other) by the cap, since construction.
  uint64_t folded_rows() const { return folded_rows_; }

 private:
  uint64_t max_rows_;
  std::unordered_map<uint32_t, uint64_t> held_;  // rows held per site since the last Clear
  uint64_t folded_rows_ = 0;
};

}  // namespace beacon::host
