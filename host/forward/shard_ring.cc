// Jump consistent hash over a mixed site id.
#include "host/forward/shard_ring.h"

#include <stdexcept>
#include <string>

#include "kernels/bytes/hash.h"

namespace beacon::host {

uint32_t JumpConsistentHash(uint64_t key, uint32_t buckets) {
  int64_t b = -1;
  int64_t j = 0;
  while (j < static_cast<int64_t>(buckets)) {
    b = j;
    key = key * 2862933555777941757ULL + 1;
    j = static_cast<int64_t>(static_cast<double>(b + 1) * (static_cast<double>(1LL << 31) /
                                                           static_cast<double>((key >> 33) + 1)));
  }
  return static_cast<uint32_t>(b);
}

ShardRing::ShardRing(uint32_t shards) : shards_(shards) {
  if (shards < 1 || shards > 65536) {
    throw std::invalid_argument("shard count " + std::to_string(shards) + " is not in 1..65536");
  }
}

uint32_t ShardRing::ShardOf(uint32_t site_id) const {
  return JumpConsistentHash(kernels::Mix64(site_id), shards_);
}

}  // namespace beacon::host
