// Applies beacond's ClickHouse schema (schema.h) to live servers: what `beaconctl schema`
// runs, kept here so that the tests run the same code against real servers.
#pragma once

#include <string>
#include <vector>

#include "host/forward/clickhouse_client.h"
#include "host/forward/schema.h"

namespace beacon::host {

// Applies the schema to every server of `shards` (every replica of every shard on a cluster:
// the shard-local tables live on each, and each holds Distributed tables too), `endpoint`
// giving the user, password, database and timeout; the tables made before the weighted
// columns are rebuilt first (their rows copied on each shard's first replica). Idempotent.
// Says what it did on stdout and what failed on stderr; false at the first failure.
bool ApplySchema(const ClickHouseEndpoint& endpoint,
                 const std::vector<std::vector<std::string>>& shards, const SchemaOptions& options);

}  // namespace beacon::host
