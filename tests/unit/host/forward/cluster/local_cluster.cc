// Starts and stops a cluster through scripts/clickhouse-cluster for the tests.
#include "tests/unit/host/forward/cluster/local_cluster.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <sstream>

#include "tests/unit/host/forward/run_script.h"

namespace beacon::host {
namespace {

std::unique_ptr<LocalCluster>& SharedSlot() {
  static std::unique_ptr<LocalCluster> shared;
  return shared;
}

class SharedClusterEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { SharedSlot().reset(); }
};

[[maybe_unused]] ::testing::Environment* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new SharedClusterEnvironment);

}  // namespace

LocalCluster::LocalCluster(int shards, int replicas) {
  std::string pattern = (std::filesystem::temp_directory_path() / "beacon-cluster-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  dir_ = pattern;
  const std::string output =
      RunScript(std::string(BEACON_CLICKHOUSE_CLUSTER) + " start " + dir_ + " --shards " +
                std::to_string(shards) + " --replicas " + std::to_string(replicas) + " --watch " +
                std::to_string(getpid()) + " 2>&1");
  urls_.assign(shards, std::vector<std::string>(replicas));
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    int s = 0;
    int r = 0;
    char url[256];
    if (std::sscanf(line.c_str(), "SHARD_%d_REPLICA_%d_URL=%255s", &s, &r, url) == 3 && s >= 1 &&
        s <= shards && r >= 1 && r <= replicas) {
      urls_[s - 1][r - 1] = url;
    }
  }
  for (const auto& replica_urls : urls_) {
    for (const auto& url : replica_urls) {
      if (url.empty()) {
        std::fprintf(stderr, "clickhouse-cluster printed no URL for every server:\n%s\n",
                     output.c_str());
        std::abort();
      }
    }
  }
}

LocalCluster::~LocalCluster() {
  RunScript(std::string(BEACON_CLICKHOUSE_CLUSTER) + " stop " + dir_ + " 2>&1");
  std::filesystem::remove_all(dir_);
}

LocalCluster& LocalCluster::Shared() {
  auto& shared = SharedSlot();
  if (shared == nullptr) shared = std::make_unique<LocalCluster>(2, 2);
  return *shared;
}

const std::string& LocalCluster::url(int shard, int replica) const {
  return urls_.at(shard - 1).at(replica - 1);
}

std::vector<std::string> LocalCluster::all_urls() const {
  std::vector<std::string> all;
  for (const auto& replica_urls : urls_)
    all.insert(all.end(), replica_urls.begin(), replica_urls.end());
  return all;
}

void LocalCluster::StopServer(int shard, int replica) {
  RunScript(std::string(BEACON_CLICKHOUSE_CLUSTER) + " stop-server " + dir_ + " " +
            std::to_string(shard) + " " + std::to_string(replica) + " 2>&1");
}

void LocalCluster::StartServer(int shard, int replica) {
  RunScript(std::string(BEACON_CLICKHOUSE_CLUSTER) + " start-server " + dir_ + " " +
            std::to_string(shard) + " " + std::to_string(replica) + " 2>&1");
}

}  // namespace beacon::host
