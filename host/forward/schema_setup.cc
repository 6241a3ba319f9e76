// beaconctl schema's work against live servers: the weighted rebuild, then the idempotent DDL.
#include "host/forward/schema_setup.h"

#include <cstdio>
#include <map>
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

// The answer's lines (TSV rows).
std::vector<std::string> Lines(const std::string& body) {
  std::vector<std::string> lines;
  std::istringstream in(body);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Runs the query `sql` (FORMAT TSV appended); its lines, or false (said on stderr).
bool Select(ClickHouseClient& client, const std::string& url, const std::string& sql,
            std::vector<std::string>* lines) {
  const auto result = client.Execute(sql + " FORMAT TSV");
  if (!result.ok()) {
    std::fprintf(stderr, "beaconctl schema: %s: %s\n  failed: %s%s\n", url.c_str(), sql.c_str(),
                 result.error.c_str(), result.body.c_str());
    return false;
  }
  *lines = Lines(result.body);
  return true;
}

// Before the copy of the weighted rebuild of `table`: makes the rebuilt table (idempotent) and
// sets `*copy` false when another replica has a table on its ZooKeeper path. The copy then
// drops the table and makes it anew (MigrateWeightedStatements), which its only replica may do.
// The shard's servers are migrated one after another, the first one copying, so another replica
// there means the rows were copied by a rebuild that completed (a run earlier, the replicas in
// another order): copying again would count them twice.
bool SharedWithAnotherReplica(ClickHouseClient& client, const std::string& url,
                              const SchemaOptions& options, const std::string& table, bool* copy) {
  const std::string& db = options.database;
  std::vector<std::string> replicas;
  if (!Apply(client, url,
             {MigrateWeightedStatements(options, table, /*copy_rows=*/false).front()}) ||
      !Select(client, url,
              "SELECT total_replicas FROM system.replicas WHERE database = '" + db +
                  "' AND table = '" + table + std::string(kWeightedZkSuffix) + "'",
              &replicas)) {
    return false;
  }
  *copy = replicas == std::vector<std::string>{"1"};
  return true;
}

// Rebuilds the data tables of `url` made before the weighted columns (MigrateWeightedStatements;
// the rows copied when `copy_rows`). False when a statement failed.
bool MigrateWeighted(ClickHouseClient& client, const std::string& url, const SchemaOptions& options,
                     bool copy_rows) {
  const std::string& db = options.database;
  std::vector<std::string> existing;
  if (!Select(client, url,
              "SELECT name FROM system.tables WHERE database = '" + db +
                  "' AND name NOT IN (SELECT table FROM system.columns WHERE database = '" + db +
                  "' AND name = 'weighted_pageviews')",
              &existing)) {
    return false;
  }
  for (const std::string& table : UnweightedTables(options, existing)) {
    bool copy = copy_rows;
    if (copy && !SharedWithAnotherReplica(client, url, options, table, &copy)) return false;
    if (!Apply(client, url, MigrateWeightedStatements(options, table, copy))) return false;
    std::printf(
        "schema: %s: %s.%s rebuilt with weighted columns (the old one kept as %s_unweighted)\n",
        url.c_str(), db.c_str(), table.c_str(), table.c_str());
  }
  return true;
}

// On a cluster, drops the Distributed tables of `url` that CREATE … IF NOT EXISTS would leave
// as they are though they differ from what it makes: over another cluster (the operator renamed
// it, so queries read the old cluster's shards, or fail if it is no longer defined) or with
// columns other than their shard-local table's (a weighted rebuild interrupted between its
// RENAME and the Distributed table made again). The schema's CREATE then makes them anew.
// Safe: a Distributed table holds no rows of beacond's, whose forwarder writes the _local tables
// and never through it (without a sharding key, ClickHouse refuses such inserts on more than
// one shard).
bool DropStaleDistributed(ClickHouseClient& client, const std::string& url,
                          const SchemaOptions& options) {
  const std::string& db = options.database;
  std::vector<std::string> tables;
  std::vector<std::string> columns;
  if (!Select(client, url,
              "SELECT name, engine_full FROM system.tables WHERE database = '" + db +
                  "' AND engine = 'Distributed'",
              &tables) ||
      !Select(client, url,
              "SELECT table, name, type FROM system.columns WHERE database = '" + db + "'",
              &columns)) {
    return false;
  }
  std::map<std::string, std::string> columns_of;  // table: its "name\ttype" lines, in order
  for (const std::string& line : columns) {
    const size_t tab = line.find('\t');
    columns_of[line.substr(0, tab)] += line.substr(tab + 1) + "\n";
  }
  for (const std::string_view local : {kSiteMinutesLocalTable, kBreakdownMinutesLocalTable}) {
    const std::string name(local.substr(0, local.size() - std::string_view("_local").size()));
    const std::string wanted = DistributedEngine(options, local);
    for (const std::string& line : tables) {
      if (!line.starts_with(name + "\t")) continue;
      const std::string engine = line.substr(name.size() + 1);
      if (engine == wanted && columns_of[name] == columns_of[std::string(local)]) continue;
      if (!Apply(client, url, {"DROP TABLE " + db + "." + name})) return false;
      std::printf("schema: %s: %s.%s was %s%s: made again as %s\n", url.c_str(), db.c_str(),
                  name.c_str(), engine.c_str(),
                  engine == wanted ? " with other columns than its local table's" : "",
                  wanted.c_str());
    }
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
          (!options.cluster.empty() && !DropStaleDistributed(client, url, options)) ||
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
