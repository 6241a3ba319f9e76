// website_id -> shard by jump consistent hashing (Lamping & Veach, 2014): growing from N to
// N+1 shards moves about 1/(N+1) of the sites, all of them onto the new shard.
#pragma once

#include <cstdint>

namespace beacon::host {

class ShardRing {
 public:
  // Fails fast (std::invalid_argument) unless 1 <= shards <= 65536.
  explicit ShardRing(uint32_t shards);

  // The shard, 0-based, of `site_id`. The site id is mixed first (splitmix64), so
  // consecutive ids spread like random keys.
  uint32_t ShardOf(uint32_t site_id) const;
  uint32_t shards() const { return shards_; }

 private:
  uint32_t shards_;
};

// The jump consistent hash of `key` over `buckets` (>= 1) buckets, as published.
uint32_t JumpConsistentHash(uint64_t key, uint32_t buckets);

}  // namespace beacon::host
