// The ClickHouse schema of beacond's aggregates and the RowBinary encoding of the rows the
// forwarder inserts; kept together because RowBinary must match the column types exactly.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/aggregate/minute_aggregator.h"

namespace beacon::host {

// Where the forwarder inserts on one server: the tables analysts query, rows carrying their
// uniqHLL12 states. On a cluster: the shard-local replicated tables.
inline constexpr std::string_view kSiteMinutesTable = "site_minutes";
inline constexpr std::string_view kBreakdownMinutesTable = "breakdown_minutes";
inline constexpr std::string_view kSiteMinutesLocalTable = "site_minutes_local";
inline constexpr std::string_view kBreakdownMinutesLocalTable = "breakdown_minutes_local";

struct SchemaOptions {
  std::string database = "beacon";
  // Rows carry a batch_id and the tables are ReplicatedSummingMergeTree, so ClickHouse's
  // block deduplication makes a resent batch count once. Empty: one server, a single replica
  // of tables named as the analysts query them. Otherwise the <remote_servers> cluster:
  // shard-local tables (suffix _local) and Distributed tables site_minutes /
  // breakdown_minutes over them.
  std::string cluster;
};

// Idempotent DDL (IF NOT EXISTS), in order, with database-qualified names, creating
// `database` first and dropping the *_in tables and *_mv views of releases that inserted
// visitor-hash arrays (an older beacond must be upgraded first); on a cluster, run it on
// every server. Fails fast on a database or
// cluster name that is not [A-Za-z_][A-Za-z0-9_]*.
std::vector<std::string> SchemaStatements(const SchemaOptions& options);
std::vector<std::string> SchemaStatements(std::string_view database = "beacon");

// The ClickHouse type of breakdown_minutes.dimension: Enum8 of every kernels::Dimension.
std::string DimensionEnumType();

// Appends one row of site_minutes: site_id UInt32, minute DateTime (seconds), pageviews
// UInt64, events UInt64, visitors AggregateFunction(uniqHLL12, UInt64) (the state's bytes,
// kernels/sketch/) — little-endian.
void AppendSiteMinuteRowBinary(const kernels::SiteMinuteRow& row, std::string* out);
// Appends one row of breakdown_minutes: site_id UInt32, minute DateTime, dimension Enum8
// (Int8), value String (varint length), pageviews UInt64, events UInt64, visitors
// AggregateFunction(uniqHLL12, UInt64).
void AppendBreakdownRowBinary(const kernels::BreakdownRow& row, std::string* out);
// Appends the batch_id UInt64 column that ends every row inserted.
void AppendBatchIdRowBinary(uint64_t batch_id, std::string* out);

}  // namespace beacon::host
