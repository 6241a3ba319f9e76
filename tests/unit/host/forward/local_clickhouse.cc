// Starts and stops clickhouse-server through scripts/clickhouse-local for the tests.
#include "tests/unit/host/forward/local_clickhouse.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <thread>
#include <utility>

#include <gtest/gtest.h>

#include "tests/unit/host/forward/run_script.h"

namespace beacon::host {
namespace {

std::unique_ptr<LocalClickHouse>& SharedSlot() {
  static std::unique_ptr<LocalClickHouse> shared;
  return shared;
}

// Stops the shared server after the last test.
class SharedServerEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { SharedSlot().reset(); }
};

[[maybe_unused]] ::testing::Environment* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new SharedServerEnvironment);

}  // namespace

LocalClickHouse::LocalClickHouse(int http_port) {
  std::string pattern = (std::filesystem::temp_directory_path() / "beacon-ch-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  dir_ = pattern;
  std::string command;
  if (http_port != 0) command = "CLICKHOUSE_LOCAL_HTTP_PORT=" + std::to_string(http_port) + " ";
  command += std::string(BEACON_CLICKHOUSE_LOCAL) + " start " + dir_ + " --watch " +
             std::to_string(getpid()) + " 2>&1";
  std::string output = RunScript(command);
  while (!output.empty() && output.back() == '\n') output.pop_back();
  url_ = output.substr(output.rfind('\n') + 1);
}

LocalClickHouse::~LocalClickHouse() {
  RunScript(std::string(BEACON_CLICKHOUSE_LOCAL) + " stop " + dir_ + " 2>&1");
  std::filesystem::remove_all(dir_);
}

const LocalClickHouse& LocalClickHouse::Shared() {
  auto& shared = SharedSlot();
  if (shared == nullptr) shared = std::make_unique<LocalClickHouse>();
  return *shared;
}

ClickHouseEndpoint Endpoint(std::string url, std::string database, int timeout_ms) {
  ClickHouseEndpoint endpoint;
  endpoint.url = std::move(url);
  endpoint.database = std::move(database);
  endpoint.timeout_ms = timeout_ms;
  return endpoint;
}

std::string LoopbackUrl(int port) { return "http://127.0.0.1:" + std::to_string(port); }

std::string OptimizeUntilRows(ClickHouseClient& client, const std::string& table,
                              const std::string& rows) {
  std::string count;
  for (int attempt = 0; attempt < 50 && count != rows; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    client.Execute("OPTIMIZE TABLE " + table + " FINAL");
    count = client.Execute("SELECT count() FROM " + table + " FORMAT TSV").body;
  }
  return count;
}

int UnusedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("binding 127.0.0.1:0");
    std::abort();
  }
  close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace beacon::host
