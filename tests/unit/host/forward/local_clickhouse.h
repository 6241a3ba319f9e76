// Test-only: clickhouse-server instances run through scripts/clickhouse-local in fresh temp
// dirs, stopped (and their dirs removed) when the test binary ends, or by the script's
// --watch if the binary dies.
#pragma once

#include <string>

#include "host/forward/clickhouse_client.h"

namespace beacon::host {

class LocalClickHouse {
 public:
  // Starts a server, on `http_port` when nonzero; fails the process with the script's
  // output when it does not come up.
  explicit LocalClickHouse(int http_port = 0);
  ~LocalClickHouse();
  LocalClickHouse(const LocalClickHouse&) = delete;
  LocalClickHouse& operator=(const LocalClickHouse&) = delete;

  const std::string& url() const { return url_; }

  // The binary's shared server, started on first use and stopped at exit.
  static const LocalClickHouse& Shared();

 private:
  std::string dir_;
  std::string url_;
};

// An endpoint for `url` and `database`, the other fields at their defaults.
ClickHouseEndpoint Endpoint(std::string url, std::string database, int timeout_ms = 10'000);
// http://127.0.0.1:`port`
std::string LoopbackUrl(int port);

// Runs OPTIMIZE TABLE `table` FINAL until `table` holds `rows` rows (a TSV count() such as
// "1\n"), for at most about 10 s, and returns the last count() read. The server skips the
// merge without an error while the table's parts are in a background merge of their own.
std::string OptimizeUntilRows(ClickHouseClient& client, const std::string& table,
                              const std::string& rows);

// A TCP port on 127.0.0.1 where nothing listens (bound to port 0, then closed).
int UnusedPort();

}  // namespace beacon::host
