// beaconctl schema's work against live servers: the weighted rebuild, then the idempotent DDL.
#include "host/forward/schema_setup.h"

#include <cstdio>
#include <sstream>

namespace beacon::host {
namespace {

// Runs `statements` on `client` in order; false (said on stderr) at the first that fails.
bool Apply(ClickHouseClient& client, const std::string& url,
           const std::vector<std::string>& statements) {
  for (const auto& sql : statements) {
    const auto result = client.Execute(sql);
    if (!result.ok()) {
      std::fprintf(stderr, "beaconctl schema: %s: %s\n  failed: %s%s\n", url.c_str(), sql.c_str(),
                   result.error.empty() ? "" : result.error.c_str(), result.body.c_str());
      return false;
    }
  }
  return true;
}

// Rebuilds the data tables of `url` made before the weighted columns (MigrateWeightedStatements;
// the rows copied when `copy_rows`). False when a statement failed.
bool MigrateWeighted(ClickHouseClient& client, const std::string& url, const SchemaOptions& options,
                     bool copy_rows) {
  const std::string& db = options.database;
  const auto found =
      client.Execute("SELECT name FROM system.tables WHERE database = '" + db +
                     "' AND name NOT IN (SELECT table FROM system.columns WHERE database = '" + db +
                     "' AND name = 'weighted_pageviews') FORMAT TSV");
  if (!found.ok()) {
    std::fprintf(stderr, "beaconctl schema: %s: listing the tables failed: %s%s\n", url.c_str(),
                 found.error.c_str(), found.body.c_str());
    return false;
  }
  std::vector<std::string> existing;
  std::istringstream lines(found.body);
  for (std::string line; std::getline(lines, line);) existing.push_back(line);
  for (const std::string& table : UnweightedTables(options, existing)) {
    if (!Apply(client, url, MigrateWeightedStatements(options, table, copy_rows))) {
      return false;
    }
    std::printf(
        "schema: %s: %s.%s rebuilt with weighted columns (the old one kept as %s_unweighted)\n",
        url.c_str(), db.c_str(), table.c_str(), table.c_str());
  }
  return true;
}

}  // namespace

bool ApplySchema(const ClickHouseEndpoint& endpoint,
                 const std::vector<std::vector<std::string>>& shards,
                 const SchemaOptions& options) {
  const auto statements = SchemaStatements(options);
  for (const auto& replicas : shards) {
    for (const std::string& url : replicas) {
      ClickHouseEndpoint server = endpoint;
      server.url = url;
      ClickHouseClient client(server);
      if (!Apply(client, url, {"CREATE DATABASE IF NOT EXISTS " + options.database}) ||
          !MigrateWeighted(client, url, options, url == replicas.front()) ||
          !Apply(client, url, statements)) {
        return false;
      }
      std::printf("schema OK: %zu statements applied to %s database %s%s\n", statements.size(),
                  url.c_str(), endpoint.database.c_str(),
                  options.cluster.empty() ? "" : (" (cluster " + options.cluster + ")").c_str());
    }
  }
  return true;
}

}  // namespace beacon::host
