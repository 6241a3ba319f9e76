// Test-only: a ClickHouse cluster (ZooKeeper + shards x replicas clickhouse-server) run by
// scripts/clickhouse-cluster in a fresh temp dir, stopped (and the dir removed) when the
// test binary ends, or by the script's --watch if the binary dies.
#pragma once

#include <string>
#include <vector>

namespace beacon::host {

class LocalCluster {
 public:
  LocalCluster(int shards, int replicas);
  ~LocalCluster();
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  // The binary's shared 2 x 2 cluster, started on first use and stopped at exit. A test
  // that stops a server starts it again before it ends.
  static LocalCluster& Shared();

  static constexpr const char* kName = "beacon_cluster";
  // The same servers' first shard alone, under a name of its own (a cluster renamed as it grew).
  static constexpr const char* kOneShardName = "beacon_cluster_one_shard";
  // HTTP URL of server (shard, replica), both 1-based.
  const std::string& url(int shard, int replica) const;
  // Replica URLs per shard, as [clickhouse] shards takes them.
  const std::vector<std::vector<std::string>>& shard_urls() const { return urls_; }
  std::vector<std::string> all_urls() const;

  void StopServer(int shard, int replica);
  void StartServer(int shard, int replica);

 private:
  std::string dir_;
  std::vector<std::vector<std::string>> urls_;
};

}  // namespace beacon::host
